//! The HTTP API (axum): `/api/…` for users, tokens, connectors, connections, scenarios, runs
//! and the data store; `/oauth/callback` for providers' redirects and `/hooks/…` for webhooks. Handlers are thin: they authenticate the
//! caller, parse the request and call the service layer ([`App`]); errors come back as
//! `{"error": {"code", "message", "details"}}` with a stable code.

mod connections;
mod connectors;
mod error;
mod extract;
mod packages;
mod scenarios;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::app::App;

pub use error::ApiError;

/// The whole router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .merge(users::routes())
        .merge(connectors::routes())
        .merge(packages::routes())
        .merge(connections::routes())
        .merge(scenarios::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(app)
}

/// For load balancers and start-up checks; outside `/api`, it says nothing about the data.
async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn not_found() -> ApiError {
    crate::app::AppError::not_found("no such endpoint").into()
}

/// One log line per request: method, path (never the query: it may carry an OAuth code),
/// status and duration.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = loggable_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(%method, %path, status, ms, "request");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
    }
    response
}

/// The path as logged: a webhook URL's token is a secret.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/hooks/") {
        Some(rest) => match rest.split_once('/') {
            Some((scenario, _)) => format!("/hooks/{scenario}/***"),
            None => path.to_string(),
        },
        None => path.to_string(),
    }
}

/// Serves the API until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
