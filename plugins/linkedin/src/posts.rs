//! Sharing: a text post, a post with an image (initialize the upload, PUT the bytes,
//! reference the image), an article link; deleting a post; and the "add to profile" URL of a
//! certification, which LinkedIn offers instead of an API write.

use heph_sdk::{http, json, percent_encode, Context, Error, Value};

use crate::api;

fn text<'a>(input: &'a Value, field: &str) -> Option<&'a str> {
    input
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn author(ctx: &Context, input: &Value) -> Result<String, Error> {
    match text(input, "author") {
        Some(urn) => Ok(urn.to_string()),
        None => api::member_urn(ctx),
    }
}

/// Publishes a post with optional `content`; returns its URN (from `x-restli-id`).
fn publish(
    ctx: &Context,
    input: &Value,
    author: &str,
    content: Option<Value>,
) -> Result<Value, Error> {
    let commentary = text(input, "text").unwrap_or("");
    let mut body = json!({
        "author": author,
        "commentary": api::escape_little(commentary),
        "visibility": text(input, "visibility").unwrap_or("PUBLIC"),
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": false,
    });
    if let Some(content) = content {
        body["content"] = content;
    }
    let response = api::check(ctx, api::rest(ctx, "POST", "/posts").json(&body).send()?)?;
    let urn = response
        .header("x-restli-id")
        .ok_or_else(|| {
            Error::Permanent("LinkedIn created the post but sent no x-restli-id".into())
        })?
        .to_string();
    Ok(json!({
        "post_urn": urn,
        "url": format!("https://www.linkedin.com/feed/update/{urn}/"),
        "author": author,
    }))
}

/// A text post.
pub fn share_text(ctx: &Context, input: &Value) -> Result<Value, Error> {
    text(input, "text").ok_or_else(|| Error::bad_field("text", "the post's text"))?;
    let author = author(ctx, input)?;
    publish(ctx, input, &author, None)
}

/// The image's bytes: fetched from `image_url` (on the connection's `media_source`) or decoded
/// from `image_base64`.
fn image_bytes(input: &Value) -> Result<(Vec<u8>, String), Error> {
    if let Some(data) = text(input, "image_base64") {
        let bytes =
            base64_decode(data).ok_or_else(|| Error::bad_field("image_base64", "base64"))?;
        let kind = text(input, "image_content_type")
            .unwrap_or("image/png")
            .to_string();
        return Ok((bytes, kind));
    }
    let url = text(input, "image_url")
        .ok_or_else(|| Error::InvalidInput("give `image_url` or `image_base64`".into()))?;
    let response = http::get(url).header("accept", "image/*").send()?;
    let response = response.error_for_status()?;
    let kind = response
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_string();
    if !kind.starts_with("image/") {
        return Err(Error::InvalidInput(format!(
            "{url} is `{kind}`, not an image"
        )));
    }
    Ok((response.body, kind))
}

/// A post with an image.
pub fn share_image(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let author = author(ctx, input)?;
    let (bytes, kind) = image_bytes(input)?;
    let init = api::rest(ctx, "POST", "/images")
        .query("action", "initializeUpload")
        .json(&json!({"initializeUploadRequest": {"owner": author}}));
    let init: Value = api::check(ctx, init.send()?)?.json()?;
    let upload_url = init
        .pointer("/value/uploadUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Permanent("initializeUpload gave no uploadUrl".into()))?;
    let image = init
        .pointer("/value/image")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Permanent("initializeUpload gave no image URN".into()))?
        .to_string();
    api::check(ctx, http::put(upload_url).body(bytes, &kind).send()?)?;
    let mut media = json!({"id": image});
    if let Some(title) = text(input, "title") {
        media["title"] = json!(title);
    }
    if let Some(alt) = text(input, "alt_text") {
        media["altText"] = json!(alt);
    }
    let mut post = publish(ctx, input, &author, Some(json!({"media": media})))?;
    post["image_urn"] = json!(image);
    Ok(post)
}

/// A post sharing a link.
pub fn share_article(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let url = text(input, "url").ok_or_else(|| Error::bad_field("url", "the article's URL"))?;
    let author = author(ctx, input)?;
    let mut article = json!({"source": url});
    for (from, to) in [
        ("title", "title"),
        ("description", "description"),
        ("thumbnail_urn", "thumbnail"),
    ] {
        if let Some(v) = text(input, from) {
            article[to] = json!(v);
        }
    }
    if article.get("title").is_none() {
        return Err(Error::bad_field(
            "title",
            "the article's title (LinkedIn requires one)",
        ));
    }
    publish(ctx, input, &author, Some(json!({"article": article})))
}

/// Deletes a post; one already gone is not an error.
pub fn delete(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let urn =
        text(input, "post_urn").ok_or_else(|| Error::bad_field("post_urn", "the post's URN"))?;
    // Rest.li wants the method named again in a header for a DELETE.
    let response = api::rest(ctx, "DELETE", &format!("/posts/{}", percent_encode(urn)))
        .header("x-restli-method", "DELETE")
        .send()?;
    if response.status == 404 {
        return Ok(json!({"post_urn": urn, "deleted": false}));
    }
    api::check(ctx, response)?;
    Ok(json!({"post_urn": urn, "deleted": true}))
}

/// The URL that opens LinkedIn's "Add licence or certification" form, filled in.
pub fn add_to_profile_url(input: &Value) -> Result<Value, Error> {
    let name =
        text(input, "name").ok_or_else(|| Error::bad_field("name", "the certification's name"))?;
    let mut url = heph_sdk::Url::parse("https://www.linkedin.com/profile/add")?;
    url.append_query("startTask", "CERTIFICATION_NAME");
    url.append_query("name", name);
    match (
        input.get("organization_id"),
        text(input, "organization_name"),
    ) {
        (Some(Value::Number(id)), _) => url.append_query("organizationId", &id.to_string()),
        (Some(Value::String(id)), _) if !id.is_empty() => url.append_query("organizationId", id),
        (_, Some(org)) => url.append_query("organizationName", org),
        _ => {
            return Err(Error::InvalidInput(
                "give `organization_id` or `organization_name`".into(),
            ))
        }
    }
    for (field, param) in [
        ("issue_year", "issueYear"),
        ("issue_month", "issueMonth"),
        ("expiration_year", "expirationYear"),
        ("expiration_month", "expirationMonth"),
        ("cert_url", "certUrl"),
        ("cert_id", "certId"),
    ] {
        match input.get(field) {
            Some(Value::Number(n)) => url.append_query(param, &n.to_string()),
            Some(Value::String(s)) if !s.is_empty() => url.append_query(param, s),
            _ => {}
        }
    }
    Ok(json!({"url": url.to_string()}))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.split_once(";base64,").map(|(_, d)| d).unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_text_markup_is_escaped() {
        assert_eq!(
            api::escape_little("C# (basics) #1 @me_2"),
            "C\\# \\(basics\\) \\#1 \\@me\\_2"
        );
    }

    #[test]
    fn the_add_to_profile_url_is_filled_in() {
        let out = add_to_profile_url(
            &json!({"name": "Rust & WASM", "organization_name": "Heph Academy",
            "issue_year": 2026, "issue_month": 11, "cert_id": "B-42"}),
        )
        .unwrap();
        assert_eq!(
            out["url"],
            "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&name=Rust%20%26%20WASM&organizationName=Heph%20Academy&issueYear=2026&issueMonth=11&certId=B-42"
        );
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(base64_decode("aGVwaA==").unwrap(), b"heph");
        assert_eq!(
            base64_decode("data:image/png;base64,aGVwaA").unwrap(),
            b"heph"
        );
    }
}
