//! Requests to LinkedIn: the versioned REST API (`/rest/…` with `LinkedIn-Version` and
//! `X-Restli-Protocol-Version: 2.0.0` on every call), OpenID userinfo, and LinkedIn's errors
//! (`{"status", "serviceErrorCode", "code", "message"}`).

use heph_sdk::http::{self, Request, Response};
use heph_sdk::{Context, Error, Value};

/// The REST API's base URL.
pub const REST: &str = "https://api.linkedin.com/rest";
/// OpenID Connect userinfo.
pub const USERINFO: &str = "https://api.linkedin.com/v2/userinfo";
const DEFAULT_VERSION: &str = "202609";

/// A request to the versioned REST API.
pub fn rest(ctx: &Context, method: &str, path: &str) -> Request {
    let version = ctx
        .optional_field("linkedin_version")
        .unwrap_or(DEFAULT_VERSION);
    Request::new(method, &format!("{REST}{path}"))
        .header("linkedin-version", version)
        .header("x-restli-protocol-version", "2.0.0")
}

/// Passes a 2xx answer through; maps LinkedIn's errors otherwise.
pub fn check(ctx: &Context, response: Response) -> Result<Response, Error> {
    if response.is_success() {
        return Ok(response);
    }
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let code = body.get("code").and_then(Value::as_str).unwrap_or("");
    if message.is_empty() && code.is_empty() {
        return Err(http::error_for(&response));
    }
    let text = format!("LinkedIn answered {} {code}: {message}", response.status);
    Err(match response.status {
        426 => Error::Permanent(format!(
            "{text} (LinkedIn-Version {} is no longer served: set the connection's linkedin_version to a newer YYYYMM)",
            ctx.optional_field("linkedin_version").unwrap_or(DEFAULT_VERSION)
        )),
        429 => Error::RateLimited(http::retry_after(&response)),
        401 => Error::Unauthorized(text),
        403 => Error::Unauthorized(format!("{text} (the token needs the w_member_social scope)")),
        404 => Error::NotFound(text),
        400 | 409 | 422 => Error::InvalidInput(text),
        s if s >= 500 => Error::Transient(text),
        _ => Error::Permanent(text),
    })
}

/// The member's OpenID userinfo.
pub fn userinfo(ctx: &Context) -> Result<Value, Error> {
    check(ctx, heph_sdk::http::get(USERINFO).send()?)?.json()
}

/// The member's URN (`urn:li:person:{sub}`).
pub fn member_urn(ctx: &Context) -> Result<String, Error> {
    let me = userinfo(ctx)?;
    let sub = me
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Permanent("userinfo has no `sub`".into()))?;
    Ok(format!("urn:li:person:{sub}"))
}

/// Escapes text for LinkedIn's "little" text format, where these characters are markup: an
/// unescaped one cuts the post short.
pub fn escape_little(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '|' | '{'
                | '}'
                | '@'
                | '['
                | ']'
                | '('
                | ')'
                | '<'
                | '>'
                | '#'
                | '\\'
                | '*'
                | '_'
                | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
