//! `/api/connectors`: what is installed, its connection form, its actions and triggers; the
//! admin's decisions (private-network access, the OAuth app).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Caller, JsonBody};
use super::ApiError;
use crate::app::{App, AppError};
use crate::runtime::Connector;
use crate::store::InstalledConnector;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/connectors", get(list))
        .route(
            "/api/connectors/{id}",
            get(show).patch(update).delete(super::packages::remove),
        )
        .route(
            "/api/connectors/{id}/oauth-app",
            get(show_oauth_app)
                .put(set_oauth_app)
                .delete(delete_oauth_app),
        )
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

async fn list(State(app): State<Arc<App>>, Caller(_): Caller) -> Result<Json<Value>, ApiError> {
    let mut list = Vec::new();
    for installed in app.store.connectors().await.map_err(AppError::from)? {
        if let Some(connector) = app.catalog.get(&installed.id) {
            list.push(view(&app, &connector, &installed));
        } else if installed.status == "pending" {
            // A version awaiting its first approval is not loaded, but the admin must see it.
            list.push(json!({ "id": installed.id, "version": installed.version,
                "status": installed.status, "pending_digest": installed.pending_digest,
                "pending_reason": installed.pending_reason }));
        }
    }
    Ok(Json(json!({ "connectors": list })))
}

async fn show(
    State(app): State<Arc<App>>,
    Caller(_): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut body = summary(&app, &id).await?;
    let described = app.connector(&id)?.describe().await;
    body["describe"] = described.result.unwrap_or(Value::Null);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorUpdate {
    allow_private_network: Option<bool>,
}

async fn update(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ConnectorUpdate>,
) -> Result<Json<Value>, ApiError> {
    App::require_admin(&user)?;
    app.connector(&id)?;
    if let Some(allow) = body.allow_private_network {
        app.store
            .set_allow_private_network(&id, allow)
            .await
            .map_err(AppError::from)?;
        tracing::info!(admin = %user.name, connector = %id, allow, "private-network access changed");
    }
    Ok(Json(summary(&app, &id).await?))
}

async fn show_oauth_app(
    State(app): State<Arc<App>>,
    Caller(_): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.oauth_app_view(&id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthAppBody {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

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

async fn delete_oauth_app(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    App::require_admin(&user)?;
    app.store
        .delete_oauth_app(&id)
        .await
        .map_err(AppError::from)?;
    Ok(StatusCode::NO_CONTENT)
}
