//! The install lifecycle over HTTP (admins only): install from a registry or an uploaded
//! package, approve, roll back, remove; the kept versions; the trusted publishers.

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Caller, JsonBody};
use super::pagination::{page, with_cursor, PageQuery};
use super::ApiError;
use crate::app::App;
use crate::packages::InstallOutcome;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(install))
        .routes(routes!(upload))
        .routes(routes!(approve))
        .routes(routes!(rollback))
        .routes(routes!(versions))
        .routes(routes!(publishers, trust))
        .routes(routes!(untrust))
        .routes(routes!(registry_search))
        .routes(routes!(registry_connector))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct InstallBody {
    /// The connector's name in the registry: lower-case letters, digits, `-` or `_`.
    #[schema(pattern = r"^[a-z0-9_-]+$")]
    name: String,
    /// A version, or `latest` (the default).
    #[serde(default)]
    version: Option<String>,
    /// The registry's URL (default: the server's, `heph serve --registry`).
    #[serde(default)]
    #[schema(pattern = r"^$|^https?://")]
    registry: Option<String>,
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

/// Installs a connector from a registry after checking its digest, signature and component (admins). A first install, or an upgrade asking for more, waits for approval (202).
#[utoipa::path(post, path = "/api/connectors/install", tag = "connectors", request_body = InstallBody,
    responses((status = 200, description = "Installed (or 202: awaiting approval, with the capability review)", body = Object)))]
async fn install(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<InstallBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let version = body.version.as_deref().unwrap_or("latest");
    let done = app
        .install_from_registry(
            &user,
            body.registry.as_deref(),
            &body.name,
            version,
            body.approve,
        )
        .await?;
    Ok(outcome(done))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct UploadQuery {
    #[serde(default)]
    approve: bool,
    digest: Option<String>,
}

/// Installs an uploaded package file (admins).
#[utoipa::path(post, path = "/api/connectors/packages", tag = "connectors", params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "Installed (or 202: awaiting approval)", body = Object)))]
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

/// Approves the version awaiting approval (admins).
#[utoipa::path(post, path = "/api/connectors/{id}/approve", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses((status = 200, description = "Installed, with the review", body = Object)))]
async fn approve(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let review = app.approve_connector(&user, &id).await?;
    Ok(Json(json!({ "status": "installed", "review": review })))
}

/// Goes back to the previous version (admins).
#[utoipa::path(post, path = "/api/connectors/{id}/rollback", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses((status = 200, description = "The install record", body = Object)))]
async fn rollback(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = app.rollback_connector(&user, &id).await?;
    Ok(Json(json!(row)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct RemoveQuery {
    #[serde(default)]
    disable_scenarios: bool,
}

/// Removes a connector (admins); refused while enabled scenarios use it, unless `disable_scenarios`.
#[utoipa::path(delete, path = "/api/connectors/{id}", tag = "connectors", params(("id" = String, Path, description = "The connector's id")), params(RemoveQuery),
    responses((status = 200, description = "Removed", body = Object)))]
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

/// The versions of a connector this host has accepted.
#[utoipa::path(get, path = "/api/connectors/{id}/versions", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses((status = 200, description = "`{\"versions\": [...]}`", body = Object)))]
async fn versions(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    App::require_admin(&user)?;
    let installed = app.store.connector(&id).await?;
    let packages = app.store.packages_of(&id).await?;
    Ok(Json(
        json!({ "installed": installed, "versions": packages }),
    ))
}

/// Publishers whose signatures this host trusts, by name.
#[utoipa::path(get, path = "/api/publishers", tag = "connectors", params(PageQuery),
    responses((status = 200, description = "`{\"publishers\": [...], \"next_cursor\"}`", body = Object)))]
async fn publishers(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    App::require_admin(&user)?;
    let all = app.store.trusted_publishers().await?;
    let (list, next) = page(all, |(name, _)| (0, name.clone()), &q)?;
    let list: Vec<Value> = list
        .into_iter()
        .map(|(name, key)| json!({ "name": name, "public_key": key }))
        .collect();
    Ok(Json(with_cursor(json!({ "publishers": list }), next)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TrustBody {
    /// The publisher's name, as its packages are signed (1–64 characters).
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// `ed25519:BASE64`, as `heph keygen` prints it.
    #[schema(pattern = r"^ed25519:[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
    public_key: String,
}

/// Trusts a publisher's key (admins).
#[utoipa::path(post, path = "/api/publishers", tag = "connectors", request_body = TrustBody,
    responses((status = 201, description = "Trusted", body = Object)))]
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

/// Stops trusting a publisher (admins).
#[utoipa::path(delete, path = "/api/publishers/{name}", tag = "connectors", params(("name" = String, Path, description = "The publisher")),
    responses((status = 204, description = "Removed")))]
async fn untrust(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    App::require_admin(&user)?;
    app.store.untrust_publisher(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
struct RegistryQuery {
    /// Words to look for in names, titles, descriptions and publishers (default: every connector).
    #[serde(default)]
    q: String,
    /// The registry's URL (default: the server's, `heph serve --registry`).
    #[param(pattern = r"^$|^https?://")]
    registry: Option<String>,
}

/// Searches the registry (admins): each connector with its versions, capabilities and what is installed here.
#[utoipa::path(get, path = "/api/registry/connectors", tag = "connectors", params(RegistryQuery),
    responses((status = 200, description = "`{\"registry\", \"connectors\": [...]}`", body = Object)))]
async fn registry_search(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(query): Query<RegistryQuery>,
) -> Result<Json<Value>, ApiError> {
    let (registry, connectors) = app
        .registry_search(&user, query.registry.as_deref(), &query.q)
        .await?;
    Ok(Json(
        json!({ "registry": registry, "connectors": connectors }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct RegistryNamed {
    /// The registry's URL (default: the server's).
    #[param(pattern = r"^$|^https?://")]
    registry: Option<String>,
}

/// One connector of the registry with all its versions (admins).
#[utoipa::path(get, path = "/api/registry/connectors/{name}", tag = "connectors", params(("name" = String, Path, description = "The connector's name in the registry")), params(RegistryNamed),
    responses((status = 200, description = "The connector, its versions and `installed`", body = Object)))]
async fn registry_connector(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(name): Path<String>,
    Query(query): Query<RegistryNamed>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        app.registry_connector(&user, query.registry.as_deref(), &name)
            .await?,
    ))
}
