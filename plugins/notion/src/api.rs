//! Requests to the Notion API: the base URL, the `Notion-Version` header on every call, and
//! Notion's error bodies (`{"object": "error", "status", "code", "message"}`) mapped onto the
//! contract's errors.

use heph_sdk::http::{self, Request, Response};
use heph_sdk::{Context, Error, Value};

/// The API's base URL.
pub const BASE: &str = "https://api.notion.com/v1";
/// The version used when the connection names none (the manifest's default fills it).
const DEFAULT_VERSION: &str = "2026-03-11";
/// At most this many items per page (Notion refuses more).
pub const MAX_PAGE_SIZE: usize = 100;

/// The connection's `Notion-Version`.
pub fn version(ctx: &Context) -> &str {
    ctx.optional_field("notion_version")
        .unwrap_or(DEFAULT_VERSION)
}

/// Whether this version renames `archived` to `in_trash` (2026-03-11 and later).
pub fn uses_in_trash(ctx: &Context) -> bool {
    version(ctx) >= "2026-03-11"
}

/// A request to `path` (such as `/pages`) with the version header.
pub fn request(ctx: &Context, method: &str, path: &str) -> Request {
    Request::new(method, &format!("{BASE}{path}")).header("notion-version", version(ctx))
}

/// Sends a request and returns its JSON body, or the error Notion's answer means.
pub fn send(request: Request) -> Result<Value, Error> {
    check(request.send()?)?.json()
}

/// Passes a 2xx answer through; maps Notion's error codes otherwise.
pub fn check(response: Response) -> Result<Response, Error> {
    if response.is_success() {
        return Ok(response);
    }
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let code = body.get("code").and_then(Value::as_str).unwrap_or("");
    if code.is_empty() {
        return Err(http::error_for(&response));
    }
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let text = format!("Notion answered {} {code}: {message}", response.status);
    Err(match (response.status, code) {
        (429, _) | (529, _) | (_, "rate_limited") => {
            Error::RateLimited(http::retry_after(&response).or(Some(1)))
        }
        (401, _) | (_, "unauthorized") => Error::Unauthorized(text),
        (403, _) | (_, "restricted_resource") => Error::Unauthorized(format!(
            "{text} (share the page or data source with the integration)"
        )),
        (404, _) | (_, "object_not_found") => {
            Error::NotFound(format!("{text} (is it shared with the integration?)"))
        }
        (409, _) | (_, "conflict_error") => Error::Transient(text),
        (400, _) => Error::InvalidInput(text),
        (s, _) if s >= 500 => Error::Transient(text),
        _ => Error::Permanent(text),
    })
}

/// Every result of a paginated list (`start_cursor`/`has_more`/`next_cursor`), up to `limit`.
/// `page(cursor, size)` builds the request for one page.
pub fn collect(
    limit: usize,
    page: impl Fn(Option<&str>, usize) -> Request,
) -> Result<Vec<Value>, Error> {
    let mut results = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let size = (limit - results.len()).min(MAX_PAGE_SIZE);
        let answer = send(page(cursor.as_deref(), size))?;
        if let Some(items) = answer.get("results").and_then(Value::as_array) {
            results.extend(items.iter().take(limit - results.len()).cloned());
        }
        cursor = answer
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        let more = answer.get("has_more").and_then(Value::as_bool) == Some(true);
        if !more || cursor.is_none() || results.len() >= limit {
            return Ok(results);
        }
    }
}

/// A page id from an id or a Notion URL (`…/My-Page-1429989fe8ac4effbc8f57f56486db54?pvs=4`):
/// its last 32 hex digits, dashed as the API writes them.
pub fn page_id(text: &str) -> Result<String, Error> {
    let path = text.split(['?', '#']).next().unwrap_or(text);
    let digits: Vec<char> = path.chars().filter(char::is_ascii_hexdigit).collect();
    if digits.len() < 32 {
        return Err(Error::InvalidInput(format!(
            "`{text}` is not a Notion id (32 hexadecimal digits, with or without dashes)"
        )));
    }
    let hex: String = digits[digits.len() - 32..]
        .iter()
        .collect::<String>()
        .to_ascii_lowercase();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_ids_and_urls() {
        let id = "1429989f-e8ac-4eff-bc8f-57f56486db54";
        for text in [
            id,
            "1429989FE8AC4EFFBC8F57F56486DB54",
            "https://www.notion.so/team/My-Cafe-Notes-1429989fe8ac4effbc8f57f56486db54?pvs=4",
        ] {
            assert_eq!(page_id(text).unwrap(), id, "{text}");
        }
        assert!(page_id("notes").is_err());
    }
}
