//! The HTTP API (axum): `/api/…` for users, tokens, connectors, connections, scenarios, runs
//! and the data store; `/oauth/callback` for providers' redirects and `/hooks/…` for webhooks. Handlers are thin: they authenticate the
//! caller, parse the request and call the service layer ([`App`]); errors come back as
//! `{"error": {"code", "message", "details"}}` with a stable code.

mod authn;
pub mod body;
mod connections;
mod connectors;
mod docs;
mod error;
mod extract;
mod idempotency;
pub mod limits;
mod mappings;
mod packages;
mod pagination;
mod scenarios;
pub mod server;
mod session;
mod users;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;

pub use authn::ApiConfig;
pub use error::ApiError;

/// The whole router.
pub fn router(app: Arc<App>, config: ApiConfig) -> Router {
    let body_timeout = config.body_timeout;
    let gate = Arc::new(authn::Gate {
        app: app.clone(),
        config,
        limits: limits::RateLimits::default(),
    });
    let (routes, document) = documented_routes().split_for_parts();
    let document = Arc::new(docs::finish(document));
    Router::new()
        .merge(routes)
        .merge(crate::ui::router())
        .route("/health", get(health))
        .route(
            "/api/openapi.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .route(
            "/api/docs",
            get(|| async { axum::response::Html(docs::REFERENCE_PAGE) }),
        )
        .fallback(not_found)
        // Layers run bottom-up: the log sees every request, then the caller is resolved, then
        // idempotency keys (which are per caller) apply.
        .layer(middleware::from_fn_with_state(
            gate.clone(),
            idempotency::idempotent,
        ))
        .layer(middleware::from_fn_with_state(gate, authn::authenticate))
        .layer(middleware::from_fn(error::json_errors))
        .layer(middleware::from_fn(log_request))
        // Before anything reads a body: its limit and its deadline.
        .layer(middleware::from_fn_with_state(body_timeout, body::bounded))
        .layer(axum::extract::DefaultBodyLimit::max(body::DEFAULT_LIMIT))
        .with_state(app)
}

/// Every route with its documentation.
fn documented_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(session::routes())
        .merge(users::routes())
        .merge(connectors::routes())
        .merge(packages::routes())
        .merge(connections::routes())
        .merge(scenarios::routes())
        .merge(mappings::routes())
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

/// Serves the API until `shutdown` resolves, within the connection limits of `config`.
pub async fn serve(
    app: Arc<App>,
    config: ApiConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = config.connections.clone();
    server::serve(router(app, config), limits, listener, shutdown).await
}
