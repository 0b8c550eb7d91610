//! Requests to the Calendar API and its error bodies
//! (`{"error": {"code", "message", "errors": [{"reason"}]}}`).

use heph_sdk::http::{self, Request, Response};
use heph_sdk::{percent_encode, Error, Value};

/// The API's base URL.
pub const BASE: &str = "https://www.googleapis.com/calendar/v3";

/// A request to `path` under the base.
pub fn request(method: &str, path: &str) -> Request {
    Request::new(method, &format!("{BASE}{path}"))
}

/// `/calendars/{id}` with the id percent-encoded (`primary`, an address, a holiday calendar).
pub fn calendar(id: &str) -> String {
    format!("/calendars/{}", percent_encode(id))
}

/// Sends a request and returns its JSON body (`null` for an empty one).
pub fn send(request: Request) -> Result<Value, Error> {
    let response = check(request.send()?)?;
    if response.body.is_empty() {
        return Ok(Value::Null);
    }
    response.json()
}

/// The first `reason` of a Google error body.
pub fn reason(response: &Response) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    body.pointer("/error/errors/0/reason")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Passes a 2xx answer through; maps Google's errors otherwise. Quota errors (403
/// `rateLimitExceeded`/`userRateLimitExceeded`, and 429) are rate limits.
pub fn check(response: Response) -> Result<Response, Error> {
    if response.is_success() {
        return Ok(response);
    }
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let Some(message) = body.pointer("/error/message").and_then(Value::as_str) else {
        return Err(http::error_for(&response));
    };
    let reason = reason(&response).unwrap_or_default();
    let text = format!(
        "Google Calendar answered {} {reason}: {message}",
        response.status
    );
    Err(match (response.status, reason.as_str()) {
        (429, _) | (403, "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded") => {
            Error::RateLimited(http::retry_after(&response))
        }
        (401, _) => Error::Unauthorized(text),
        (403, _) => Error::Unauthorized(format!(
            "{text} (does the connection have the scope, and access to that calendar?)"
        )),
        (404, _) | (410, _) => Error::NotFound(text),
        (400, _) | (409, _) | (412, _) => Error::InvalidInput(text),
        (s, _) if s >= 500 => Error::Transient(text),
        _ => Error::Permanent(text),
    })
}
