//! `Idempotency-Key` on creating calls: a `POST` that carries one is done once per key and
//! caller. A retry with the same key and the same request gets the first answer again (with
//! `Idempotent-Replayed: true`); one while the first still runs gets 409
//! `idempotency_key_in_use`; the same key with another request gets 422
//! `idempotency_key_reused`. Answers are kept 24 hours, their bodies sealed by the vault (a new
//! API token is in one). A first call that fails on the server (5xx) frees its key, so that the
//! retry does the work.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};
use sha2::{Digest, Sha256};

use super::authn::{Authenticated, Gate};
use super::ApiError;
use crate::app::{App, AppError};
use crate::store::{new_id, IdempotencyClaim};

/// The header.
pub const HEADER: &str = "idempotency-key";

/// The largest answer an idempotent call may keep. Requests are held to their route's limit
/// before this middleware reads them ([`super::body`]).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The middleware; it runs after [`super::authn::authenticate`].
pub async fn idempotent(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    let Some(caller) = request.extensions().get::<Authenticated>().cloned() else {
        // The route will answer 401 (or needs no caller, and keys mean nothing to it).
        return next.run(request).await;
    };
    match run_once(&gate.app, &caller, &key, request, next).await {
        Ok(response) => response,
        Err(e) => ApiError(e).into_response(),
    }
}

async fn run_once(
    app: &App,
    caller: &Authenticated,
    header: &HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let key = header
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| {
            AppError::invalid("the Idempotency-Key header must be 1–255 visible ASCII characters")
        })?
        .to_string();
    let (parts, body) = request.into_parts();
    let limit = super::body::limit_for(parts.uri.path());
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let text = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
        if text.contains(super::body::TIMED_OUT) {
            AppError::new("request_timeout", 408, text)
        } else {
            super::body::too_large(limit).0
        }
    })?;
    let mut digest = Sha256::new();
    digest.update(parts.method.as_str().as_bytes());
    digest.update(b" ");
    digest.update(parts.uri.to_string().as_bytes());
    digest.update(b"\n");
    digest.update(&bytes);
    let request_hash = hex::encode(digest.finalize());
    let owner = caller.credential.id();
    let claim = app
        .store
        .claim_idempotency_key(owner, &key, &request_hash, &new_id("idem"))
        .await?;
    let id = match claim {
        IdempotencyClaim::New { id } => id,
        IdempotencyClaim::InFlight => {
            return Err(AppError::new(
                "idempotency_key_in_use",
                409,
                "a request with this Idempotency-Key is still running; retry when it has answered",
            ))
        }
        IdempotencyClaim::Mismatch => {
            return Err(AppError::new(
                "idempotency_key_reused",
                422,
                "this Idempotency-Key was used for a different request; use a new key for a new request",
            ))
        }
        IdempotencyClaim::Done { id, status } => return replay(app, &id, status).await,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    if status.is_server_error() {
        app.store.release_idempotency_key(&id).await?;
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            app.store.release_idempotency_key(&id).await?;
            return Err(AppError::internal(format!(
                "cannot read the answer to keep it: {e}"
            )));
        }
    };
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let sealed = vec![
        ("body".to_string(), app.vault.seal(&id, "body", &bytes)?),
        app.vault.seal_str(&id, "content_type", &content_type)?,
    ];
    app.store.put_secrets(&id, &sealed).await?;
    app.store
        .finish_idempotency_key(&id, status.as_u16())
        .await?;
    parts.headers.insert(HEADER, header.clone());
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

async fn replay(app: &App, id: &str, status: u16) -> Result<Response, AppError> {
    let mut body = Vec::new();
    let mut content_type = "application/json".to_string();
    for (field, sealed) in app.store.secrets_of(id).await? {
        match field.as_str() {
            "body" => body = app.vault.open_value(id, "body", &sealed)?,
            "content_type" => content_type = app.vault.open_string(id, "content_type", &sealed)?,
            _ => {}
        }
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}
