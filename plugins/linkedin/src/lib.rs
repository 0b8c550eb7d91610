//! The LinkedIn connector: the member's posts through the versioned REST API, with an OAuth 2.0
//! token (`openid profile email w_member_social`) that the host keeps. LinkedIn has no member
//! webhooks, so the connector has actions only.

mod api;
mod posts;

use heph_sdk::{export_connector, json, Connector, Context, Error, Value};

struct LinkedIn;

fn post_output() -> Value {
    json!({"type": "object", "properties": {
        "post_urn": {"type": "string", "description": "urn:li:share:… or urn:li:ugcPost:…"},
        "url": {"type": "string", "format": "uri"},
        "author": {"type": "string"},
        "image_urn": {"type": "string"}}})
}

fn share_fields(extra: Value, required: &[&str]) -> Value {
    let mut properties = json!({
        "text": {"type": "string", "maxLength": 3000, "description": "The post's text; LinkedIn's markup characters are escaped for you."},
        "visibility": {"type": "string", "enum": ["PUBLIC", "CONNECTIONS"], "default": "PUBLIC"},
        "author": {"type": "string", "description": "The author's URN; default: the connected member."}
    });
    if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
}

impl Connector for LinkedIn {
    fn describe() -> Value {
        json!({
            "actions": [
                {"name": "whoami", "title": "Who am I",
                 "description": "The connected member (OpenID userinfo) and their URN.",
                 "input": {"type": "object", "additionalProperties": false, "properties": {}},
                 "output": {"type": "object", "properties": {
                     "urn": {"type": "string"}, "sub": {"type": "string"}, "name": {"type": "string"},
                     "email": {"type": "string"}, "picture": {"type": "string"}}}},
                {"name": "share_text", "title": "Share a post",
                 "description": "A text post on the member's feed; LinkedIn's reserved characters are escaped so the text arrives whole.",
                 "input": share_fields(json!({}), &["text"]), "output": post_output()},
                {"name": "share_image", "title": "Share a post with an image",
                 "description": "Uploads the image to LinkedIn, then posts it with the text.",
                 "input": share_fields(json!({
                     "image_url": {"type": "string", "format": "uri", "description": "An image on the connection's `Images from` site."},
                     "image_base64": {"type": "string", "description": "Or: the image itself, base64 (a data: URL works too)."},
                     "image_content_type": {"type": "string", "default": "image/png"},
                     "title": {"type": "string"},
                     "alt_text": {"type": "string", "maxLength": 4086}
                 }), &[]),
                 "output": post_output()},
                {"name": "share_article", "title": "Share a link",
                 "description": "A post sharing an article's URL, with its title (LinkedIn requires one) and an optional description and thumbnail.",
                 "input": share_fields(json!({
                     "url": {"type": "string", "format": "uri"},
                     "title": {"type": "string", "minLength": 1},
                     "description": {"type": "string"},
                     "thumbnail_urn": {"type": "string", "description": "An image URN uploaded before."}
                 }), &["url", "title"]),
                 "output": post_output()},
                {"name": "delete_post", "title": "Delete a post",
                 "description": "Deletes one of the member's posts by URN; one already gone is not an error.",
                 "input": {"type": "object", "additionalProperties": false, "required": ["post_urn"],
                           "properties": {"post_urn": {"type": "string"}}},
                 "output": {"type": "object", "properties": {"post_urn": {"type": "string"}, "deleted": {"type": "boolean"}}}},
                {"name": "add_to_profile_url", "title": "Add-to-profile link for a certification",
                 "description": "The URL that opens LinkedIn's form to add a certification to the member's profile, filled in (LinkedIn has no API to write it).",
                 "input": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
                     "name": {"type": "string", "minLength": 1},
                     "organization_id": {"type": ["integer", "string"], "description": "The issuer's LinkedIn organization id."},
                     "organization_name": {"type": "string", "description": "Or: the issuer's name."},
                     "issue_year": {"type": "integer"}, "issue_month": {"type": "integer", "minimum": 1, "maximum": 12},
                     "expiration_year": {"type": "integer"}, "expiration_month": {"type": "integer", "minimum": 1, "maximum": 12},
                     "cert_url": {"type": "string", "format": "uri"}, "cert_id": {"type": "string"}}},
                 "output": {"type": "object", "properties": {"url": {"type": "string", "format": "uri"}}}}
            ],
            "triggers": []
        })
    }

    fn test_connection(ctx: &Context) -> Result<Value, Error> {
        whoami(ctx)
    }

    fn run_action(ctx: &Context, action: &str, input: Value) -> Result<Value, Error> {
        match action {
            "whoami" => whoami(ctx),
            "share_text" => posts::share_text(ctx, &input),
            "share_image" => posts::share_image(ctx, &input),
            "share_article" => posts::share_article(ctx, &input),
            "delete_post" => posts::delete(ctx, &input),
            "add_to_profile_url" => posts::add_to_profile_url(&input),
            other => Err(Error::unknown_action(other)),
        }
    }
}

fn whoami(ctx: &Context) -> Result<Value, Error> {
    let me = api::userinfo(ctx)?;
    let sub = me.get("sub").and_then(Value::as_str).unwrap_or_default();
    Ok(json!({
        "urn": format!("urn:li:person:{sub}"),
        "sub": sub,
        "name": me.get("name"),
        "email": me.get("email"),
        "picture": me.get("picture"),
    }))
}

export_connector!(LinkedIn);
