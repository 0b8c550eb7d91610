//! `/api/connections` (create, list, show, edit, delete, test, run an action, OAuth connect)
//! and `/oauth/callback`, where providers send the user's browser back.

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Caller, JsonBody};
use super::pagination::{self, PageQuery};
use super::ApiError;
use crate::app::App;
use crate::connections::{CallbackParams, CreateConnection, EditConnection, StartAuthorization};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(start_oauth))
        .routes(routes!(show, edit, remove))
        .routes(routes!(test))
        .routes(routes!(reauthorize))
        .routes(routes!(run_action))
        .routes(routes!(sample_trigger))
        .routes(routes!(callback))
}

/// The caller's connections.
#[utoipa::path(get, path = "/api/connections", tag = "connections", params(PageQuery),
    responses((status = 200, description = "`{\"connections\": [...]}`", body = Object)))]
async fn list(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let all = app.list_connections(&user).await?;
    let (connections, next) = pagination::page(all, |c| (c.created_at, c.id.clone()), &q)?;
    Ok(Json(pagination::with_cursor(
        json!({ "connections": connections }),
        next,
    )))
}

/// Connects an account: validates the fields against the connector's form and tests it. The
/// first connection of a connector needs the user's consent (`"consent": true`).
#[utoipa::path(post, path = "/api/connections", tag = "connections", request_body = CreateConnection,
    responses((status = 201, description = "The connection", body = Object)))]
async fn create(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<CreateConnection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    app.require_consent(&user, &body.connector, body.consent)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!(app.create_connection(&user, body).await?)),
    ))
}

/// One connection (never its secrets).
#[utoipa::path(get, path = "/api/connections/{id}", tag = "connections", params(("id" = String, Path, description = "`con_…`")),
    responses((status = 200, description = "The connection", body = Object)))]
async fn show(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.get_connection(&user, &id).await?)))
}

/// Renames, changes fields of, enables or disables a connection.
#[utoipa::path(patch, path = "/api/connections/{id}", tag = "connections", params(("id" = String, Path, description = "`con_…`")), request_body = EditConnection,
    responses((status = 200, description = "The connection", body = Object)))]
async fn edit(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EditConnection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.edit_connection(&user, &id, body).await?)))
}

/// Deletes a connection (revoking its OAuth tokens at the provider).
#[utoipa::path(delete, path = "/api/connections/{id}", tag = "connections", params(("id" = String, Path, description = "`con_…`")),
    responses((status = 200, description = "What was done", body = Object)))]
async fn remove(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.delete_connection(&user, &id).await?)))
}

/// Tests a connection and records who the account is.
#[utoipa::path(post, path = "/api/connections/{id}/test", tag = "connections", params(("id" = String, Path, description = "`con_…`")),
    responses((status = 200, description = "`ok`, the account, the error", body = Object)))]
async fn test(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.test_connection(&user, &id).await?)))
}

/// Runs one action of the connector through this connection.
#[utoipa::path(post, path = "/api/connections/{id}/actions/{action}", tag = "connections",
    params(("id" = String, Path, description = "`con_…`"), ("action" = String, Path, description = "The action's name")),
    request_body(content = Object, description = "The action's input"),
    responses((status = 200, description = "`output` and the outbound `requests`", body = Object),
              (status = 502, description = "The connector failed: `error` with its code and the requests", body = Object),
              (status = 503, description = "`busy`: no connector instance came free in time; try again after `Retry-After`", body = Object)))]
async fn run_action(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path((id, action)): Path<(String, String)>,
    JsonBody(input): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let outcome = app.call_action(&user, &id, &action, &input).await?;
    Ok(answer(
        outcome.log.requests.as_slice(),
        outcome.result.map(|output| json!({ "output": output })),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct SampleQuery {
    /// How many items to return (1–20, default 3).
    #[param(minimum = 1, maximum = 20)]
    limit: Option<i64>,
}

/// Reads the first page of a polling trigger through this connection and returns its first items, keeping no cursor: the samples a scenario's mapping is built from.
#[utoipa::path(post, path = "/api/connections/{id}/triggers/{trigger}/sample", tag = "connections",
    params(("id" = String, Path, description = "`con_…`"), ("trigger" = String, Path, description = "The polling trigger's name"), SampleQuery),
    request_body(content = Object, description = "The trigger's configuration"),
    responses((status = 200, description = "`items` (`{id, data}`) and the outbound `requests`", body = Object),
              (status = 502, description = "The connector failed: `error` with its code and the requests", body = Object),
              (status = 503, description = "`busy`: no connector instance came free in time; try again after `Retry-After`", body = Object)))]
async fn sample_trigger(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path((id, trigger)): Path<(String, String)>,
    Query(query): Query<SampleQuery>,
    JsonBody(config): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let limit = pagination::limit(query.limit, 3, 20)? as usize;
    let outcome = app.sample_trigger(&user, &id, &trigger, &config).await?;
    Ok(answer(
        outcome.log.requests.as_slice(),
        outcome
            .result
            .map(|page| json!({"items": page.items.into_iter().take(limit).collect::<Vec<_>>()})),
    ))
}

/// A connector call's answer: its result with the outbound requests, or a 502 with both.
fn answer(
    log: &[crate::runtime::call_log::OutboundRecord],
    result: Result<Value, crate::runtime::CallError>,
) -> Response {
    let requests: Vec<Value> = log
        .iter()
        .map(|r| json!({"method": r.method, "url": r.url, "status": r.status, "error": r.error}))
        .collect();
    match result {
        Ok(Value::Object(mut fields)) => {
            fields.insert("requests".into(), json!(requests));
            Json(Value::Object(fields)).into_response()
        }
        Ok(other) => Json(json!({"output": other, "requests": requests})).into_response(),
        // The host's pool was full: nothing is wrong with the connector; come back shortly.
        Err(e @ crate::runtime::CallError::Busy(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            Json(json!({"error": {"code": "busy", "message": e.to_string(),
                                   "details": {"connector_code": e.code(), "requests": requests}}})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"error": {
                "code": "connector_error",
                "message": e.to_string(),
                "details": {"connector_code": e.code(), "requests": requests},
            }})),
        )
            .into_response(),
    }
}

/// Starts connecting an OAuth account: answers the URL to open in the browser.
#[utoipa::path(post, path = "/api/connections/oauth/start", tag = "connections", request_body = StartAuthorization,
    responses((status = 200, description = "`authorize_url`, `redirect_uri`, `expires_at`", body = Object)))]
async fn start_oauth(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<StartAuthorization>,
) -> Result<Json<Value>, ApiError> {
    if let Some(connector) = &body.connector {
        app.require_consent(&user, connector, body.consent).await?;
    }
    Ok(Json(json!(
        app.start_authorization(&user, body, None).await?
    )))
}

/// Starts the OAuth flow again for a connection that needs it.
#[utoipa::path(post, path = "/api/connections/{id}/reauthorize", tag = "connections", params(("id" = String, Path, description = "`con_…`")),
    responses((status = 200, description = "`authorize_url`, `redirect_uri`, `expires_at`", body = Object)))]
async fn reauthorize(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.start_authorization(&user, StartAuthorization::default(), Some(&id))
            .await?
    )))
}

/// The provider's redirect. Answers a small page for the person in the browser; the status
/// code says the same for programs.
#[utoipa::path(get, path = "/oauth/callback", tag = "connections", security(()),
    params(CallbackParams),
    responses((status = 200, description = "Connected (a page)", content_type = "text/html", body = String),
              (status = "4XX", description = "Refused: no such authorization, expired, or denied by the provider (a page saying why)", content_type = "text/html", body = String),
              (status = "5XX", description = "The provider failed (a page saying why)", content_type = "text/html", body = String)))]
async fn callback(State(app): State<Arc<App>>, Query(params): Query<CallbackParams>) -> Response {
    match app.finish_authorization(params).await {
        Ok((_, connection)) => page(
            StatusCode::OK,
            "Connected",
            &format!(
                "Your {} account is connected as “{}” (status: {}).",
                connection.connector,
                connection.name,
                connection.status.as_str()
            ),
            (
                &format!("/#/connections/{}", connection.id),
                "Open it in the dashboard",
            ),
        ),
        Err(e) => page(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            "Not connected",
            &format!("{} ({})", e.message, e.code),
            ("/#/connections", "Back to your connections"),
        ),
    }
}

/// The page after the redirect, with a way back to the dashboard.
fn page(status: StatusCode, title: &str, text: &str, (href, label): (&str, &str)) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · heph</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem\">\
         <h1>{t}</h1><p>{x}</p><p><a href=\"{h}\">{l}</a></p></body></html>",
        t = escape(title),
        x = escape(text),
        h = escape(href),
        l = escape(label)
    );
    (status, Html(html)).into_response()
}
