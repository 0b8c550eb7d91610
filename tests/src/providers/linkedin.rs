//! A fake of LinkedIn's member APIs: OpenID userinfo (`/v2/userinfo`), the versioned REST API
//! (`/rest/images?action=initializeUpload`, `/rest/posts`), the image upload URL on
//! www.linkedin.com, and an outside image server (portal.example.test) that must never see
//! the LinkedIn token. It refuses what LinkedIn refuses: a bad token (401), a missing
//! `LinkedIn-Version` (400 `VERSION_MISSING`), a version no longer served (426
//! `NONEXISTENT_VERSION`), a missing `X-Restli-Protocol-Version: 2.0.0`, an upload or a post
//! for another member (403), a post referencing an image that was never uploaded, a delete
//! without `X-RestLi-Method: DELETE`. Like LinkedIn, it cuts a post's commentary short at the
//! first unescaped reserved character of the "little" text format.

use bytes::Bytes;
use serde_json::{json, Value};

use super::oauth::has_scope;
use super::{bearer, json, split, Answer, Received, World};

/// The member's OpenID subject.
pub const MEMBER: &str = "yq3HX_2rA9";
/// The oldest and newest `LinkedIn-Version` served.
pub const VERSIONS: (&str, &str) = ("202512", "202611");
/// The badge image the portal serves.
pub const BADGE_PNG: &[u8] = b"\x89PNG\r\n\x1a\n fake badge image bytes";

/// LinkedIn's state.
#[derive(Default)]
pub struct LinkedIn {
    /// Image URN → its uploaded bytes (none until the PUT).
    pub images: Vec<(String, Option<Vec<u8>>)>,
    /// Published posts, as stored (commentary as LinkedIn keeps it).
    pub posts: Vec<Value>,
    next: u64,
}

impl LinkedIn {
    /// A post by URN.
    pub fn post(&self, urn: &str) -> Option<&Value> {
        self.posts.iter().find(|p| p["id"] == urn)
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    json(
        status,
        &json!({"status": status, "code": code, "message": message}),
    )
}

/// The commentary as LinkedIn keeps it: unescaped up to the first unescaped reserved
/// character, where the post is silently cut.
pub fn little_text(commentary: &str) -> String {
    let mut out = String::new();
    let mut chars = commentary.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => out.push(next),
                None => break,
            },
            '|' | '{' | '}' | '@' | '[' | ']' | '(' | ')' | '<' | '>' | '#' | '*' | '_' | '~' => {
                break
            }
            c => out.push(c),
        }
    }
    out
}

fn member_urn() -> String {
    format!("urn:li:person:{MEMBER}")
}

/// Answers a request to api.linkedin.com, www.linkedin.com (uploads) or portal.example.test.
pub fn answer(world: &mut World, host: &str, request: &Received) -> Answer {
    let (path, pairs) = split(request);
    if host == "portal.example.test" {
        return match path.as_str() {
            "/badges/rust-101.png" => (
                200,
                vec![("content-type".into(), "image/png".into())],
                Bytes::from_static(BADGE_PNG),
            ),
            _ => (
                404,
                vec![("content-type".into(), "text/html".into())],
                Bytes::from_static(b"<h1>Not found</h1>"),
            ),
        };
    }
    if !bearer(request).is_some_and(|t| world.tokens.contains(t)) {
        return json(
            401,
            &json!({"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN", "message": "Invalid access token"}),
        );
    }
    if world.rate_limit_next > 0 {
        world.rate_limit_next -= 1;
        return error(
            429,
            "TOO_MANY_REQUESTS",
            "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
        );
    }
    let token = bearer(request).unwrap_or("");
    let scope = if path == "/v2/userinfo" {
        "openid"
    } else {
        "w_member_social"
    };
    if !has_scope(world, token, scope) {
        return error(
            403,
            "ACCESS_DENIED",
            &format!("Not enough permissions to access: the token lacks {scope}"),
        );
    }
    let linkedin = &mut world.linkedin;
    if host == "www.linkedin.com" {
        let Some(urn) = path
            .strip_prefix("/dms-uploads/sp/")
            .and_then(|p| p.split('/').next())
        else {
            return error(404, "NOT_FOUND", "Not Found");
        };
        let urn = format!("urn:li:image:{urn}");
        return match (
            request.method.as_str(),
            linkedin.images.iter_mut().find(|(u, _)| *u == urn),
        ) {
            ("PUT", Some(image)) if !request.body.is_empty() => {
                image.1 = Some(request.body.to_vec());
                (201, vec![], Bytes::new())
            }
            ("PUT", Some(_)) => error(400, "EMPTY_UPLOAD", "The upload has no content."),
            _ => error(404, "NOT_FOUND", "Not Found"),
        };
    }
    if path == "/v2/userinfo" {
        return json(
            200,
            &json!({"sub": MEMBER, "email_verified": true, "name": "Ada Learner", "locale": {"country": "GB", "language": "en"},
            "given_name": "Ada", "family_name": "Learner", "email": "ada@example.test", "picture": "https://media.licdn.com/dms/image/ada"}),
        );
    }
    let Some(rest) = path.strip_prefix("/rest/") else {
        return error(404, "NOT_FOUND", "Not Found");
    };
    let Some(version) = request.header("linkedin-version") else {
        return error(400, "VERSION_MISSING", "A version must be present. Please specify a version by adding the LinkedIn-Version header.");
    };
    if version.len() != 6
        || !version.bytes().all(|b| b.is_ascii_digit())
        || version < VERSIONS.0
        || version > VERSIONS.1
    {
        return error(
            426,
            "NONEXISTENT_VERSION",
            &format!("Requested version {version} is not active"),
        );
    }
    if request.header("x-restli-protocol-version") != Some("2.0.0") {
        return error(
            400,
            "ILLEGAL_ARGUMENT",
            "This endpoint requires X-Restli-Protocol-Version: 2.0.0",
        );
    }
    let body: Value = if request.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(v) => v,
            Err(_) => {
                return error(
                    400,
                    "ILLEGAL_ARGUMENT",
                    "Unable to parse the request body as JSON",
                )
            }
        }
    };
    let action = pairs
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.as_str());
    match (request.method.as_str(), rest, action) {
        ("POST", "images", Some("initializeUpload")) => {
            let owner = body
                .pointer("/initializeUploadRequest/owner")
                .and_then(Value::as_str)
                .unwrap_or("");
            if owner != member_urn() {
                return error(
                    403,
                    "ACCESS_DENIED",
                    &format!("Not enough permissions to access: owner {owner}"),
                );
            }
            linkedin.next += 1;
            let id = format!("D4E10AQ{:06}", linkedin.next);
            linkedin.images.push((format!("urn:li:image:{id}"), None));
            json(
                200,
                &json!({"value": {"uploadUrlExpiresAt": chrono::Utc::now().timestamp_millis() + 86_400_000,
                "uploadUrl": format!("https://www.linkedin.com/dms-uploads/sp/{id}/uploaded-image/0?ca=vector_feedshare&cn=uploads&m=AQ&app=1&sync=0&v=beta"),
                "image": format!("urn:li:image:{id}")}}),
            )
        }
        ("POST", "posts", None) => {
            if body.get("author").and_then(Value::as_str) != Some(member_urn().as_str()) {
                return error(
                    403,
                    "ACCESS_DENIED",
                    "Not enough permissions to access: partnerApiPostsExternal.CREATE.20260901",
                );
            }
            for field in ["commentary", "visibility", "distribution", "lifecycleState"] {
                if body.get(field).is_none() {
                    return error(
                        422,
                        "UNPROCESSABLE_ENTITY",
                        &format!(
                            "/{field} :: field is required but not found and has no default value"
                        ),
                    );
                }
            }
            if body
                .pointer("/distribution/feedDistribution")
                .and_then(Value::as_str)
                .is_none()
            {
                return error(422, "UNPROCESSABLE_ENTITY", "/distribution/feedDistribution :: field is required but not found and has no default value");
            }
            if let Some(image) = body.pointer("/content/media/id").and_then(Value::as_str) {
                if !linkedin
                    .images
                    .iter()
                    .any(|(u, bytes)| u == image && bytes.is_some())
                {
                    return error(
                        422,
                        "UNPROCESSABLE_ENTITY",
                        &format!("/content/media/id :: {image} is not an uploaded image"),
                    );
                }
            }
            if body.pointer("/content/article").is_some()
                && body.pointer("/content/article/title").is_none()
            {
                return error(422, "UNPROCESSABLE_ENTITY", "/content/article/title :: field is required but not found and has no default value");
            }
            linkedin.next += 1;
            let urn = format!("urn:li:share:74{:017}", linkedin.next);
            let mut post = body.clone();
            post["id"] = json!(urn);
            post["commentary"] = json!(little_text(body["commentary"].as_str().unwrap_or("")));
            linkedin.posts.push(post);
            (
                201,
                vec![
                    ("x-restli-id".into(), urn),
                    ("x-linkedin-id".into(), String::new()),
                ],
                Bytes::new(),
            )
        }
        ("DELETE", rest, None) if rest.starts_with("posts/") => {
            if request
                .header("x-restli-method")
                .map(str::to_ascii_uppercase)
                .as_deref()
                != Some("DELETE")
            {
                return error(
                    400,
                    "ILLEGAL_ARGUMENT",
                    "X-RestLi-Method: DELETE is required",
                );
            }
            let urn = percent_encoding::percent_decode_str(&rest["posts/".len()..])
                .decode_utf8_lossy()
                .into_owned();
            let before = linkedin.posts.len();
            linkedin.posts.retain(|p| p["id"] != urn.as_str());
            if linkedin.posts.len() == before {
                return error(404, "NOT_FOUND", &format!("Post {urn} not found"));
            }
            (204, vec![], Bytes::new())
        }
        _ => error(404, "NOT_FOUND", "Not Found"),
    }
}
