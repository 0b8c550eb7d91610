//! `/api/scenarios` (CRUD, versions, enable/disable, run), `/api/runs` (list, show with items
//! and steps, cancel), `/api/store/{collection}` (the data store) and the webhook receiver
//! `POST /hooks/{scenario}/{token}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::Caller;
use super::ApiError;
use crate::app::{App, AppError};
use crate::engine::webhook::MAX_DELIVERY_BYTES;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/scenarios", get(list).post(create))
        .route("/api/scenarios/{id}", get(show).put(replace).delete(remove))
        .route("/api/scenarios/{id}/versions", get(versions))
        .route("/api/scenarios/{id}/enable", post(enable))
        .route("/api/scenarios/{id}/disable", post(disable))
        .route("/api/scenarios/{id}/run", post(run))
        .route("/api/runs", get(runs))
        .route("/api/runs/{id}", get(show_run))
        .route("/api/runs/{id}/cancel", post(cancel_run))
        .route("/api/store", get(collections))
        .route("/api/store/{collection}", get(records))
        .route(
            "/api/store/{collection}/{id}",
            get(record).put(put_record).delete(delete_record),
        )
        .route(
            "/hooks/{scenario}/{token}",
            post(webhook).layer(DefaultBodyLimit::max(MAX_DELIVERY_BYTES)),
        )
}

/// A scenario definition: JSON, or YAML when the content type says so.
struct Definition(Value);

impl FromRequest<Arc<App>> for Definition {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<App>) -> Result<Self, ApiError> {
        let yaml = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("yaml"));
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError(AppError::invalid(e.body_text()).with_code("invalid_body")))?;
        let value = if yaml {
            let text = std::str::from_utf8(&body).map_err(|_| {
                ApiError(AppError::invalid("the body is not UTF-8").with_code("invalid_body"))
            })?;
            serde_yaml_ng::from_str::<Value>(text).map_err(|e| {
                ApiError(
                    AppError::invalid(format!("not valid YAML: {e}")).with_code("invalid_yaml"),
                )
            })?
        } else {
            serde_json::from_slice::<Value>(&body).map_err(|e| {
                ApiError(
                    AppError::invalid(format!("not valid JSON: {e}")).with_code("invalid_json"),
                )
            })?
        };
        Ok(Definition(value))
    }
}

async fn list(State(app): State<Arc<App>>, Caller(user): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "scenarios": app.list_scenarios(&user).await? }),
    ))
}

async fn create(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Definition(definition): Definition,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(json!(app.create_scenario(&user, definition).await?)),
    ))
}

async fn show(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.get_scenario(&user, &id).await?)))
}

async fn replace(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Definition(definition): Definition,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.update_scenario(&user, &id, definition).await?
    )))
}

async fn remove(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_scenario(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn versions(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "versions": app.scenario_versions(&user, &id).await? }),
    ))
}

async fn enable(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.set_scenario_enabled(&user, &id, true).await?
    )))
}

async fn disable(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.set_scenario_enabled(&user, &id, false).await?
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    /// The item of a manual run.
    #[serde(default)]
    input: Option<Value>,
}

async fn run(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: RunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RunRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError(AppError::invalid(format!("not valid JSON: {e}")).with_code("invalid_json"))
        })?
    };
    let started = app.start_run(&user, &id, request.input).await?;
    let status = if started.new {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!(started))))
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    scenario: Option<String>,
    limit: Option<i64>,
}

async fn runs(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(q): Query<RunsQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "runs": app.list_runs(&user, q.scenario.as_deref(), q.limit.unwrap_or(50)).await? }),
    ))
}

#[derive(Debug, Deserialize)]
struct WindowQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn show_run(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Query(q): Query<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.get_run(&user, &id, q.after.unwrap_or(0), q.limit.unwrap_or(100))
            .await?
    )))
}

async fn cancel_run(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.cancel_run(&user, &id).await?)))
}

async fn collections(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "collections": app.list_collections(&user).await? }),
    ))
}

#[derive(Debug, Deserialize)]
struct RecordsQuery {
    after: Option<String>,
    limit: Option<i64>,
}

async fn records(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(collection): Path<String>,
    Query(q): Query<RecordsQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        app.list_records(
            &user,
            &collection,
            q.after.as_deref(),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

async fn record(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.get_record(&user, &collection, &id).await?)))
}

async fn put_record(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path((collection, id)): Path<(String, String)>,
    super::extract::JsonBody(data): super::extract::JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.put_record(&user, &collection, &id, &data).await?
    )))
}

async fn delete_record(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path((collection, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.delete_record(&user, &collection, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A delivery: answered 202 once its runs are stored.
async fn webhook(
    State(app): State<Arc<App>>,
    Path((scenario, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let headers = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let accepted = app
        .receive_webhook(&scenario, &token, headers, body.to_vec())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!(accepted))))
}
