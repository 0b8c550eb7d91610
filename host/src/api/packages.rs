//! The install lifecycle over HTTP (admins only): install from a registry or an uploaded
//! package, approve, roll back, remove; the kept versions; the trusted publishers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Caller, JsonBody};
use super::ApiError;
use crate::app::{App, AppError};
use crate::packages::InstallOutcome;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/connectors/install", post(install))
        .route("/api/connectors/packages", post(upload))
        .route("/api/connectors/{id}/approve", post(approve))
        .route("/api/connectors/{id}/rollback", post(rollback))
        .route("/api/connectors/{id}/versions", get(versions))
        .route("/api/publishers", get(publishers).post(trust))
        .route("/api/publishers/{name}", axum::routing::delete(untrust))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallBody {
    /// The connector's name in the registry.
    name: String,
    /// A version, or `latest` (the default).
    #[serde(default)]
    version: Option<String>,
    /// The registry's URL.
    registry: String,
    /// The admin approves what the review shows.
    #[serde(default)]
    approve: bool,
}

fn outcome(outcome: InstallOutcome) -> (StatusCode, Json<Value>) {
    let status = match outcome {
        InstallOutcome::AwaitingApproval { .. } => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    (status, Json(json!(outcome)))
}

async fn install(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<InstallBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let version = body.version.as_deref().unwrap_or("latest");
    let done = app
        .install_from_registry(&user, &body.registry, &body.name, version, body.approve)
        .await?;
    Ok(outcome(done))
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    approve: bool,
    digest: Option<String>,
}

async fn upload(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(query): Query<UploadQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let done = app
        .install_package(
            &user,
            &body,
            query.digest.as_deref(),
            "upload",
            query.approve,
        )
        .await?;
    Ok(outcome(done))
}

async fn approve(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let review = app.approve_connector(&user, &id).await?;
    Ok(Json(json!({ "status": "installed", "review": review })))
}

async fn rollback(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = app.rollback_connector(&user, &id).await?;
    Ok(Json(json!(row)))
}

#[derive(Deserialize)]
pub(super) struct RemoveQuery {
    #[serde(default)]
    disable_scenarios: bool,
}

/// `DELETE /api/connectors/{id}` (routed with the connector's other methods).
pub(super) async fn remove(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Query(query): Query<RemoveQuery>,
) -> Result<Json<Value>, ApiError> {
    let disabled = app
        .remove_connector(&user, &id, query.disable_scenarios)
        .await?;
    Ok(Json(
        json!({ "removed": id, "disabled_scenarios": disabled }),
    ))
}

async fn versions(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    App::require_admin(&user)?;
    let installed = app.store.connector(&id).await.map_err(AppError::from)?;
    let packages = app.store.packages_of(&id).await.map_err(AppError::from)?;
    Ok(Json(
        json!({ "installed": installed, "versions": packages }),
    ))
}

async fn publishers(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    App::require_admin(&user)?;
    let list = app
        .store
        .trusted_publishers()
        .await
        .map_err(AppError::from)?;
    let list: Vec<Value> = list
        .into_iter()
        .map(|(name, key)| json!({ "name": name, "public_key": key }))
        .collect();
    Ok(Json(json!({ "publishers": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustBody {
    name: String,
    public_key: String,
}

async fn trust(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<TrustBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    app.trust_publisher(&user, &body.name, &body.public_key)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": body.name, "public_key": body.public_key })),
    ))
}

async fn untrust(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    App::require_admin(&user)?;
    app.store
        .untrust_publisher(&name)
        .await
        .map_err(AppError::from)?;
    Ok(StatusCode::NO_CONTENT)
}
