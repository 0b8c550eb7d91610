//! The OpenAPI 3.1 document of the API, generated from the handlers' annotations (utoipa), and a
//! reference page that reads it. What every operation shares is added here once: the two ways
//! to authenticate, the error shape as the answer to every failure, and the
//! `Idempotency-Key` header of creating calls.

use serde_json::{json, Value};
use utoipa::OpenApi;

/// The document's fixed part; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Heph API",
        description = "Everything Heph does: connectors and registry installs, connections and OAuth connect, scenarios, runs and their steps, the data store, users, sessions and API tokens.\n\nAuthenticate with `Authorization: Bearer heph_…` (an API token; its scopes `read`, `write`, `admin` limit what it may do) or, in a browser, with the session cookie of `POST /api/session` plus `X-CSRF-Token` on every call that changes something. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}` with a stable `code`. Lists page with `limit` and `cursor` (answer: `next_cursor`). A `POST` may carry `Idempotency-Key`: repeating it replays the first answer. Each credential has a rate limit (429 `rate_limited`, `Retry-After`).",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "accounts", description = "Signing in, sessions, passwords, consents"),
        (name = "users", description = "Users and API tokens"),
        (name = "connectors", description = "Installed connectors, registry installs, publishers"),
        (name = "connections", description = "Connected accounts and OAuth connect"),
        (name = "scenarios", description = "Scenarios, runs and their steps"),
        (name = "store", description = "The data store's collections and records"),
    )
)]
pub struct ApiDoc;

/// The error every failing call answers.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Stable machine code: `unauthenticated`, `forbidden`, `not_found`, `invalid_input`, `invalid_json`, `conflict`, `rate_limited`, `busy`, `payload_too_large`, `request_timeout`, `record_too_large`, `address_not_allowed`, `csrf_failed`, `insufficient_scope`, `consent_required`, …"},
                    "message": {"type": "string", "description": "What happened and what to do"},
                    "details": {"description": "Structured details (field errors, a connector's error code)"}
                }
            }
        }
    })
}

/// The finished document: `paths` from the routers plus what all operations share.
pub fn finish(document: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(&document).unwrap_or_else(|_| json!({}));
    doc["openapi"] = json!("3.1.0");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let components = &mut doc["components"];
    if !components.is_object() {
        *components = json!({});
    }
    components["schemas"]["Error"] = error_schema();
    components["responses"]["Error"] = json!({
        "description": "The call failed; `error.code` says why",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    components["securitySchemes"] = json!({
        "token": {"type": "http", "scheme": "bearer", "description": "An API token (`heph_…`)"},
        "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::sessions::COOKIE,
                     "description": "A browser session; changing calls also need `X-CSRF-Token`"}
    });
    doc["security"] = json!([{"token": []}, {"session": []}]);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                let Some(operation) = operation.as_object_mut() else {
                    continue;
                };
                let responses = operation.entry("responses").or_insert_with(|| json!({}));
                // Pages for browsers (the OAuth callback) document every answer themselves.
                let answers_pages = responses["200"]["content"]["text/html"].is_object();
                if !answers_pages {
                    responses["default"] = json!({"$ref": "#/components/responses/Error"});
                }
                if method == "post" {
                    let parameters = operation.entry("parameters").or_insert_with(|| json!([]));
                    if let Some(list) = parameters.as_array_mut() {
                        list.push(json!({
                            "name": "Idempotency-Key", "in": "header", "required": false,
                            "description": "Do this call once: a repeat with the same key replays the first answer",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}
                        }));
                    }
                }
            }
        }
    }
    doc
}

/// The reference page: the document, browsable.
pub const REFERENCE_PAGE: &str = include_str!("../ui/assets/reference.html");
