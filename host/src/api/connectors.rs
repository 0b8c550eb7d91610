//! `/api/connectors`: what is installed, its connection form, its actions and triggers; the
//! admin's decisions (private-network access, the OAuth app).

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Caller, JsonBody};
use super::pagination::{page, with_cursor, PageQuery};
use super::ApiError;
use crate::app::{App, AppError};
use crate::runtime::Connector;
use crate::store::InstalledConnector;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, update, super::packages::remove))
        .routes(routes!(show_oauth_app, set_oauth_app, delete_oauth_app))
}

async fn summary(app: &App, id: &str) -> Result<Value, AppError> {
    let connector = app.connector(id)?;
    let installed = app.store.connector(id).await?;
    Ok(view(app, &connector, &installed))
}

/// A loaded connector as the API shows it, with its install record; `digest` is what this
/// process runs (another process may have installed a newer one a moment ago).
fn view(app: &App, connector: &Connector, installed: &InstalledConnector) -> Value {
    let m = connector.manifest();
    json!({
        "id": m.id, "name": m.name, "version": m.version, "publisher": m.publisher,
        "description": m.description, "auth": m.auth.kind(), "hosts": m.capabilities.hosts,
        "digest": app.catalog.installed_digest(&m.id), "source": installed.source,
        "status": installed.status, "previous_digest": installed.previous_digest,
        "pending_digest": installed.pending_digest, "pending_reason": installed.pending_reason,
        "allow_private_network": installed.allow_private_network,
        "connection_schema": m.connection_schema(),
    })
}

/// Installed connectors, by id: their connection form (JSON Schema), actions and triggers.
#[utoipa::path(get, path = "/api/connectors", tag = "connectors", params(PageQuery),
    responses((status = 200, description = "`{\"connectors\": [...], \"next_cursor\"}`", body = Object)))]
async fn list(
    State(app): State<Arc<App>>,
    Caller(_caller): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let mut list = Vec::new();
    for installed in app.store.connectors().await? {
        if let Some(connector) = app.catalog.get(&installed.id) {
            list.push(view(&app, &connector, &installed));
        } else if installed.status == "pending" {
            // A version awaiting its first approval is not loaded, but the admin must see it.
            list.push(json!({ "id": installed.id, "version": installed.version,
                "status": installed.status, "pending_digest": installed.pending_digest,
                "pending_reason": installed.pending_reason }));
        }
    }
    let (list, next) = page(
        list,
        |c| (0, c["id"].as_str().unwrap_or("").to_string()),
        &q,
    )?;
    Ok(Json(with_cursor(json!({ "connectors": list }), next)))
}

/// One connector, with its actions and triggers and their schemas.
#[utoipa::path(get, path = "/api/connectors/{id}", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses((status = 200, description = "The connector", body = Object)))]
async fn show(
    State(app): State<Arc<App>>,
    Caller(_caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut body = summary(&app, &id).await?;
    let described = app.connector(&id)?.describe().await;
    body["describe"] = described.result.unwrap_or(Value::Null);
    Ok(Json(body))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConnectorUpdate {
    allow_private_network: Option<bool>,
}

/// Lets an install reach private networks, or not (admins).
#[utoipa::path(patch, path = "/api/connectors/{id}", tag = "connectors", params(("id" = String, Path, description = "The connector's id")), request_body = ConnectorUpdate,
    responses((status = 200, description = "The connector", body = Object)))]
async fn update(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ConnectorUpdate>,
) -> Result<Json<Value>, ApiError> {
    App::require_admin(&user)?;
    app.connector(&id)?;
    if let Some(allow) = body.allow_private_network {
        app.store.set_allow_private_network(&id, allow).await?;
        tracing::info!(admin = %user.name, connector = %id, allow, "private-network access changed");
    }
    Ok(Json(summary(&app, &id).await?))
}

/// The OAuth app of a connector, without its secret (admins).
#[utoipa::path(get, path = "/api/connectors/{id}/oauth-app", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses((status = 200, description = "The app", body = Object)))]
async fn show_oauth_app(
    State(app): State<Arc<App>>,
    Caller(_caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.oauth_app_view(&id).await?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OAuthAppBody {
    /// The client id the provider gave the app (not blank).
    #[schema(pattern = r"\S")]
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

/// Sets the OAuth client id and secret of a connector (admins).
#[utoipa::path(put, path = "/api/connectors/{id}/oauth-app", tag = "connectors", params(("id" = String, Path, description = "The connector's id")), request_body = OAuthAppBody,
    responses((status = 200, description = "The app", body = Object)))]
async fn set_oauth_app(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OAuthAppBody>,
) -> Result<Json<Value>, ApiError> {
    let view = app
        .set_oauth_app(&user, &id, &body.client_id, body.client_secret.as_deref())
        .await?;
    Ok(Json(json!(view)))
}

/// Removes the OAuth app of a connector (admins).
#[utoipa::path(delete, path = "/api/connectors/{id}/oauth-app", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses((status = 204, description = "Removed")))]
async fn delete_oauth_app(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    App::require_admin(&user)?;
    app.store.delete_oauth_app(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
