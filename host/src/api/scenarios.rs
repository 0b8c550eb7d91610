//! `/api/scenarios` (CRUD, versions, enable/disable, run), `/api/runs` (list, show with items
//! and steps, cancel), `/api/store/{collection}` (the data store) and the webhook receiver
//! `POST /hooks/{scenario}/{token}`.

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::Caller;
use super::pagination::{self, cursor, page, with_cursor, PageQuery};
use super::ApiError;
use crate::app::{App, AppError};
use crate::engine::scenario::Scenario;
use crate::engine::webhook::MAX_DELIVERY_BYTES;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, replace, remove))
        .routes(routes!(versions))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(run))
        .routes(routes!(runs))
        .routes(routes!(show_run))
        .routes(routes!(cancel_run))
        .routes(routes!(collections))
        .routes(routes!(records))
        .routes(routes!(record, put_record, delete_record))
        .route(
            "/hooks/{scenario}/{token}",
            axum::routing::post(webhook).layer(DefaultBodyLimit::max(MAX_DELIVERY_BYTES)),
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
        let body = super::extract::body_bytes(request, state).await?;
        // Up to 2 MiB of text to read: off the request threads, as checking is.
        crate::background::run("reading the definition", move || {
            Definition::read(&body, yaml)
        })
        .await?
    }
}

impl Definition {
    fn read(body: &[u8], yaml: bool) -> Result<Definition, ApiError> {
        let value = if yaml {
            let text = std::str::from_utf8(body).map_err(|_| {
                ApiError(AppError::invalid("the body is not UTF-8").with_code("invalid_body"))
            })?;
            crate::strict::yaml(text).map_err(|e| {
                ApiError(
                    AppError::invalid(format!("not valid YAML: {e}")).with_code("invalid_yaml"),
                )
            })?
        } else {
            crate::strict::json(body).map_err(|e| {
                ApiError(
                    AppError::invalid(format!("not valid JSON: {e}")).with_code("invalid_json"),
                )
            })?
        };
        if !value.is_object() {
            return Err(ApiError(
                AppError::invalid(format!(
                    "a scenario definition is an object (name, trigger, nodes), not {}",
                    crate::strict::kind(&value)
                ))
                .with_code("invalid_json"),
            ));
        }
        Ok(Definition(value))
    }
}

/// The caller's scenarios.
#[utoipa::path(get, path = "/api/scenarios", tag = "scenarios", params(PageQuery),
    responses((status = 200, description = "`{\"scenarios\": [...], \"next_cursor\"}`", body = Object)))]
async fn list(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let all = app.list_scenarios(&user).await?;
    let (scenarios, next) = page(all, |s| (s.created_at, s.id.clone()), &q)?;
    Ok(Json(with_cursor(json!({ "scenarios": scenarios }), next)))
}

/// Creates a scenario from its definition (validated: nodes, templates, schemas).
#[utoipa::path(post, path = "/api/scenarios", tag = "scenarios", request_body(description = "The scenario definition, JSON or YAML (`Content-Type: application/yaml`). It is checked as a whole: each problem (an unknown connector, action or node, a template that does not compile, an input its schema refuses) comes back in a 422 `invalid_scenario` with `details.problems`", content((Scenario = "application/json"), (Scenario = "application/yaml"))),
    responses((status = 201, description = "The scenario", body = Object)))]
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

/// One scenario.
#[utoipa::path(get, path = "/api/scenarios/{id}", tag = "scenarios", params(("id" = String, Path, description = "The scenario's id or name")),
    responses((status = 200, description = "The scenario", body = Object)))]
async fn show(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.get_scenario(&user, &id).await?)))
}

/// Replaces a scenario's definition (a new version).
#[utoipa::path(put, path = "/api/scenarios/{id}", tag = "scenarios", params(("id" = String, Path, description = "The scenario's id or name")), request_body(description = "The scenario definition, JSON or YAML (`Content-Type: application/yaml`). It is checked as a whole: each problem (an unknown connector, action or node, a template that does not compile, an input its schema refuses) comes back in a 422 `invalid_scenario` with `details.problems`", content((Scenario = "application/json"), (Scenario = "application/yaml"))),
    responses((status = 200, description = "The scenario", body = Object)))]
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

/// Deletes a scenario.
#[utoipa::path(delete, path = "/api/scenarios/{id}", tag = "scenarios", params(("id" = String, Path, description = "The scenario's id or name")),
    responses((status = 204, description = "Deleted")))]
async fn remove(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_scenario(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Earlier versions of a scenario.
#[utoipa::path(get, path = "/api/scenarios/{id}/versions", tag = "scenarios", params(("id" = String, Path, description = "The scenario's id or name")),
    responses((status = 200, description = "`{\"versions\": [...]}`", body = Object)))]
async fn versions(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "versions": app.scenario_versions(&user, &id).await? }),
    ))
}

/// Enables a scenario's trigger.
#[utoipa::path(post, path = "/api/scenarios/{id}/enable", tag = "scenarios", params(("id" = String, Path, description = "The scenario's id or name")),
    responses((status = 200, description = "The scenario", body = Object)))]
async fn enable(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.set_scenario_enabled(&user, &id, true).await?
    )))
}

/// Disables a scenario's trigger.
#[utoipa::path(post, path = "/api/scenarios/{id}/disable", tag = "scenarios", params(("id" = String, Path, description = "The scenario's id or name")),
    responses((status = 200, description = "The scenario", body = Object)))]
async fn disable(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.set_scenario_enabled(&user, &id, false).await?
    )))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    /// The item of a manual run.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    input: Option<Value>,
}

/// Queues a run of a scenario now; follow it at `GET /api/runs/{id}`.
#[utoipa::path(post, path = "/api/scenarios/{id}/run", tag = "scenarios", params(("id" = String, Path, description = "The scenario's id or name")), request_body(content = RunRequest, description = "`{\"input\": …}`: the item of a manual run (the body may be empty)"),
    responses((status = 202, description = "`{\"run\", \"new\": true}`: the queued run", body = Object),
              (status = 200, description = "`{\"run\", \"new\": false}`: a poll run was already queued or running, and this is it", body = Object)))]
async fn run(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: RunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RunRequest::default()
    } else {
        crate::strict::json_object(&body).map_err(|e| {
            let (status, e) = match e {
                crate::strict::BodyError::Syntax(e) => (400, e),
                crate::strict::BodyError::Shape(e) => (422, e),
            };
            ApiError(AppError::new(
                "invalid_json",
                status,
                format!("not valid JSON: {e}"),
            ))
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct RunsQuery {
    /// Only this scenario's runs (its id or name).
    scenario: Option<String>,
    /// Runs per page (1–1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Runs, newest first: status, duration, item counts.
#[utoipa::path(get, path = "/api/runs", tag = "scenarios", params(RunsQuery),
    responses((status = 200, description = "`{\"runs\": [...], \"next_cursor\"}`", body = Object)))]
async fn runs(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(q): Query<RunsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = pagination::limit(q.limit, 50, 1000)?;
    let position = pagination::position(q.cursor.as_deref())?;
    let runs = app
        .list_runs(&user, q.scenario.as_deref(), limit, position)
        .await?;
    let next = (runs.len() as i64 == limit)
        .then(|| runs.last().map(|r| cursor(r.created_at, &r.id)))
        .flatten();
    Ok(Json(with_cursor(json!({ "runs": runs }), next)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct WindowQuery {
    /// Items whose sequence number is above this one (the last `seq` seen; default 0).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Items per answer (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// One run with its items and steps: input, output, error, attempts and outbound requests.
#[utoipa::path(get, path = "/api/runs/{id}", tag = "scenarios", params(("id" = String, Path, description = "`run_…`")), params(WindowQuery),
    responses((status = 200, description = "The run", body = Object)))]
async fn show_run(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Query(q): Query<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(AppError::invalid("`after` must be 0 or more").into());
    }
    let limit = pagination::limit(q.limit, 100, 1000)?;
    Ok(Json(json!(app.get_run(&user, &id, after, limit).await?)))
}

/// Cancels a run.
#[utoipa::path(post, path = "/api/runs/{id}/cancel", tag = "scenarios", params(("id" = String, Path, description = "`run_…`")),
    responses((status = 200, description = "The run", body = Object)))]
async fn cancel_run(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.cancel_run(&user, &id).await?)))
}

/// The caller's data store collections, by name, and their sizes.
#[utoipa::path(get, path = "/api/store", tag = "store", params(PageQuery),
    responses((status = 200, description = "`{\"collections\": [...], \"next_cursor\"}`", body = Object)))]
async fn collections(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let all = app.list_collections(&user).await?;
    let (collections, next) = page(all, |c| (0, c.name.clone()), &q)?;
    Ok(Json(with_cursor(
        json!({ "collections": collections }),
        next,
    )))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct RecordsQuery {
    /// The key after which to start (records are in key order).
    after: Option<String>,
    /// `next_cursor` of the previous page (the same as `after`).
    cursor: Option<String>,
    /// Records per page (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A page of a collection's records.
#[utoipa::path(get, path = "/api/store/{collection}", tag = "store", params(("collection" = String, Path, description = "The collection: 1–64 ASCII letters, digits, `-` and `_`", pattern = r"^[A-Za-z0-9_-]{1,64}$"), RecordsQuery),
    responses((status = 200, description = "`{\"records\": [...], \"total\", \"next_cursor\"}`", body = Object)))]
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
            q.cursor.as_deref().or(q.after.as_deref()),
            pagination::limit(q.limit, 100, 1000)?,
        )
        .await?,
    ))
}

/// One record.
#[utoipa::path(get, path = "/api/store/{collection}/{id}", tag = "store", params(("collection" = String, Path, description = "The collection: 1–64 ASCII letters, digits, `-` and `_`", pattern = r"^[A-Za-z0-9_-]{1,64}$"), ("id" = String, Path, description = "The record's key (1–512 characters)", min_length = 1, max_length = 512)),
    responses((status = 200, description = "The record", body = Object)))]
async fn record(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.get_record(&user, &collection, &id).await?)))
}

/// Creates or replaces a record.
#[utoipa::path(put, path = "/api/store/{collection}/{id}", tag = "store", params(("collection" = String, Path, description = "The collection: 1–64 ASCII letters, digits, `-` and `_`", pattern = r"^[A-Za-z0-9_-]{1,64}$"), ("id" = String, Path, description = "The record's key (1–512 characters)", min_length = 1, max_length = 512)), request_body(content = Value, description = "The record's data: any JSON value"),
    responses((status = 200, description = "The record", body = Object)))]
async fn put_record(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path((collection, id)): Path<(String, String)>,
    super::extract::AnyJson(data): super::extract::AnyJson,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.put_record(&user, &collection, &id, &data).await?
    )))
}

/// Deletes a record.
#[utoipa::path(delete, path = "/api/store/{collection}/{id}", tag = "store", params(("collection" = String, Path, description = "The collection: 1–64 ASCII letters, digits, `-` and `_`", pattern = r"^[A-Za-z0-9_-]{1,64}$"), ("id" = String, Path, description = "The record's key (1–512 characters)", min_length = 1, max_length = 512)),
    responses((status = 204, description = "Deleted")))]
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
