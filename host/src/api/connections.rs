//! `/api/connections` (create, list, show, edit, delete, test, run an action, OAuth connect)
//! and `/oauth/callback`, where providers send the user's browser back.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::extract::{Caller, JsonBody};
use super::ApiError;
use crate::app::App;
use crate::connections::{CallbackParams, CreateConnection, EditConnection, StartAuthorization};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/connections", get(list).post(create))
        .route("/api/connections/oauth/start", post(start_oauth))
        .route(
            "/api/connections/{id}",
            get(show).patch(edit).delete(remove),
        )
        .route("/api/connections/{id}/test", post(test))
        .route("/api/connections/{id}/reauthorize", post(reauthorize))
        .route("/api/connections/{id}/actions/{action}", post(run_action))
        .route("/oauth/callback", get(callback))
}

async fn list(State(app): State<Arc<App>>, Caller(user): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "connections": app.list_connections(&user).await? }),
    ))
}

async fn create(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<CreateConnection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(json!(app.create_connection(&user, body).await?)),
    ))
}

async fn show(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.get_connection(&user, &id).await?)))
}

async fn edit(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EditConnection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.edit_connection(&user, &id, body).await?)))
}

async fn remove(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.delete_connection(&user, &id).await?)))
}

async fn test(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.test_connection(&user, &id).await?)))
}

async fn run_action(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path((id, action)): Path<(String, String)>,
    JsonBody(input): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let outcome = app.call_action(&user, &id, &action, &input).await?;
    let requests: Vec<Value> = outcome
        .log
        .requests
        .iter()
        .map(|r| json!({"method": r.method, "url": r.url, "status": r.status, "error": r.error}))
        .collect();
    Ok(match outcome.result {
        Ok(output) => Json(json!({"output": output, "requests": requests})).into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"error": {
                "code": "connector_error",
                "message": e.to_string(),
                "details": {"connector_code": e.code(), "requests": requests},
            }})),
        )
            .into_response(),
    })
}

async fn start_oauth(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<StartAuthorization>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.start_authorization(&user, body, None).await?
    )))
}

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
async fn callback(State(app): State<Arc<App>>, Query(params): Query<CallbackParams>) -> Response {
    match app.finish_authorization(params).await {
        Ok((_, connection)) => page(
            StatusCode::OK,
            "Connected",
            &format!(
                "Your {} account is connected as “{}” (status: {}). You can close this window.",
                connection.connector,
                connection.name,
                connection.status.as_str()
            ),
        ),
        Err(e) => page(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            "Not connected",
            &format!("{} ({})", e.message, e.code),
        ),
    }
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
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
         <h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    );
    (status, Html(html)).into_response()
}
