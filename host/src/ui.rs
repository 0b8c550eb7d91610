//! The web dashboard: a page and its scripts, embedded in the binary so that `heph serve` is
//! all it takes. The page talks to the public API (`/api/…`) with the browser's session
//! cookie and CSRF token, like any other client; nothing here reads the store.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The dashboard's files: (path under `/ui/`, content type, text).
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css", include_str!("ui/assets/app.css")),
    ("app.js", JS, include_str!("ui/assets/app.js")),
    ("api.js", JS, include_str!("ui/assets/api.js")),
    ("dom.js", JS, include_str!("ui/assets/dom.js")),
    (
        "schema_form.js",
        JS,
        include_str!("ui/assets/schema_form.js"),
    ),
    (
        "views/login.js",
        JS,
        include_str!("ui/assets/views/login.js"),
    ),
    ("views/home.js", JS, include_str!("ui/assets/views/home.js")),
    (
        "views/connections.js",
        JS,
        include_str!("ui/assets/views/connections.js"),
    ),
    (
        "views/scenarios.js",
        JS,
        include_str!("ui/assets/views/scenarios.js"),
    ),
    (
        "views/builder.js",
        JS,
        include_str!("ui/assets/views/builder.js"),
    ),
    (
        "views/graph.js",
        JS,
        include_str!("ui/assets/views/graph.js"),
    ),
    (
        "views/inspector.js",
        JS,
        include_str!("ui/assets/views/inspector.js"),
    ),
    (
        "views/mapping.js",
        JS,
        include_str!("ui/assets/views/mapping.js"),
    ),
    ("views/runs.js", JS, include_str!("ui/assets/views/runs.js")),
    (
        "views/store.js",
        JS,
        include_str!("ui/assets/views/store.js"),
    ),
    (
        "views/account.js",
        JS,
        include_str!("ui/assets/views/account.js"),
    ),
    (
        "views/admin.js",
        JS,
        include_str!("ui/assets/views/admin.js"),
    ),
    (
        "views/registry.js",
        JS,
        include_str!("ui/assets/views/registry.js"),
    ),
];

const JS: &str = "text/javascript";

const INDEX: &str = include_str!("ui/assets/index.html");

/// Scripts and styles come from this server only; no frame may hold the dashboard.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `/` and `/ui/…`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route("/ui/{*file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, text)) => page(kind, text),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

fn page(kind: &'static str, text: &'static str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // The files change with the binary; a reload after an upgrade must not mix versions.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_scripts_import_is_served() {
        for (name, _, text) in ASSETS.iter().chain([("index.html", "", INDEX)].iter()) {
            for line in text.lines() {
                let Some(rest) = line.split(" from \"").nth(1) else {
                    continue;
                };
                let target = rest.split('"').next().unwrap_or_default();
                let base = name.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
                let resolved = match target.strip_prefix("../") {
                    Some(up) => up.to_string(),
                    None => {
                        let own = target.trim_start_matches("./");
                        if base.is_empty() {
                            own.to_string()
                        } else {
                            format!("{base}/{own}")
                        }
                    }
                };
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == resolved),
                    "{name} imports {target} ({resolved}), which is not served"
                );
            }
        }
    }
}
