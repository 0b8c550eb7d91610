//! Talking to a WordPress site's REST API: the two URL forms, and WordPress's error bodies.

use std::cell::Cell;

use heph_sdk::http::{self, Request, Response};
use heph_sdk::{Context, Error, Value};

/// How the site exposes its REST routes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RestForm {
    /// `{site}/wp-json/wp/v2/...` (pretty permalinks).
    Pretty,
    /// `{site}/?rest_route=/wp/v2/...` (plain permalinks).
    Plain,
}

thread_local! {
    // One call runs in one fresh instance, so this remembers the form for the rest of the call.
    static FORM: Cell<Option<RestForm>> = const { Cell::new(None) };
}

/// A REST route on the connection's site, such as `/wp/v2/posts`.
pub struct Route {
    site: String,
    path: String,
}

/// The route `path` (starting with `/wp/v2`) on the connection's site.
pub fn route(ctx: &Context, path: &str) -> Result<Route, Error> {
    let site = ctx.field("site_url")?.trim_end_matches('/').to_string();
    Ok(Route {
        site,
        path: path.to_string(),
    })
}

impl Route {
    fn url(&self, form: RestForm) -> String {
        match form {
            RestForm::Pretty => format!("{}/wp-json{}", self.site, self.path),
            RestForm::Plain => format!("{}/?rest_route={}", self.site, self.path),
        }
    }

    /// Sends a request built by `build` from the method and URL, and maps WordPress errors.
    /// A site without pretty permalinks answers `/wp-json/` with an HTML 404: the request is
    /// then made again in the `?rest_route=` form, which is kept for the rest of the call.
    pub fn send(
        &self,
        method: &str,
        build: impl Fn(Request) -> Request,
    ) -> Result<Response, Error> {
        let form = FORM.get().unwrap_or(RestForm::Pretty);
        let response = build(Request::new(method, &self.url(form))).send()?;
        if form == RestForm::Pretty && response.status == 404 && wp_error_code(&response).is_none()
        {
            let retry = build(Request::new(method, &self.url(RestForm::Plain))).send()?;
            if wp_error_code(&retry).is_some() || retry.is_success() {
                FORM.set(Some(RestForm::Plain));
                return check(retry);
            }
            return check(response);
        }
        if response.is_success() {
            FORM.set(Some(form));
        }
        check(response)
    }

    /// A request for several numbered pages at once (see `heph_sdk::paging::fetch_pages`).
    pub fn page_request(&self, build: impl Fn(Request) -> Request) -> impl Fn(u32) -> Request {
        let form = FORM.get().unwrap_or(RestForm::Pretty);
        let base = self.url(form);
        move |page| build(http::get(&base)).query("page", page)
    }
}

/// The `code` of a WordPress error body (`{"code", "message", "data": {"status"}}`).
pub fn wp_error_code(response: &Response) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    body.get("code")?.as_str().map(str::to_string)
}

/// Passes a 2xx answer through; maps anything else onto the connector error, keeping
/// WordPress's own code and message.
pub fn check(response: Response) -> Result<Response, Error> {
    if response.is_success() {
        return Ok(response);
    }
    let Some(code) = wp_error_code(&response) else {
        return Err(http::error_for(&response));
    };
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let text = format!("WordPress answered {} {code}: {message}", response.status);
    Err(match (response.status, code.as_str()) {
        (404, "rest_no_route") => Error::Permanent(format!(
            "{text} (is the REST API enabled, and is the site URL right?)"
        )),
        (401, _) => Error::Unauthorized(text),
        (403, "rest_forbidden_context") => Error::Unauthorized(format!(
            "{text} (the user needs the list_users or edit_posts capability)"
        )),
        (403, _) => Error::Unauthorized(text),
        (404, _) | (410, _) => Error::NotFound(text),
        (429, _) => Error::RateLimited(http::retry_after(&response)),
        (400, _) | (422, _) => Error::InvalidInput(text),
        (s, _) if s >= 500 => Error::Transient(text),
        _ => Error::Permanent(text),
    })
}

/// Reads the total number of pages from `X-WP-TotalPages`.
pub fn total_pages(response: &Response) -> u32 {
    response
        .header("x-wp-totalpages")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
}

/// The answer's `Date` as `YYYY-MM-DDTHH:MM:SS` GMT: the site's "now".
pub fn server_now(response: &Response) -> Option<String> {
    let date = response.header("date")?;
    heph_sdk::time::parse_http_date(date).map(heph_sdk::time::format_iso)
}

/// A JSON array body.
pub fn items(response: &Response) -> Result<Vec<Value>, Error> {
    response.json()
}
