//! Extractors: the authenticated caller (resolved by [`super::authn`]) and JSON bodies whose
//! errors come back in the API's error shape.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::authn::{Authenticated, Credential, Unauthenticated};
use super::ApiError;
use crate::app::AppError;
use crate::store::User;

/// The caller: a user with a valid API token or a signed-in browser.
pub struct Caller(pub User);

/// The caller with the credential they used.
pub struct CallerWith(pub User, pub Credential);

fn authenticated(parts: &Parts) -> Result<Authenticated, ApiError> {
    if let Some(caller) = parts.extensions.get::<Authenticated>() {
        return Ok(caller.clone());
    }
    let why = parts
        .extensions
        .get::<Unauthenticated>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| "sign in, or send an API token".into());
    Err(ApiError(AppError::new("unauthenticated", 401, why)))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        authenticated(parts).map(|a| Caller(a.user))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CallerWith {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        authenticated(parts).map(|a| CallerWith(a.user, a.credential))
    }
}

/// A JSON object body, read strictly ([`crate::strict`]): malformed JSON, a key twice or a
/// body that is not an object is a 400 `invalid_json` with the reason, a body of the wrong
/// shape (a missing field, an unknown value) a 422 `invalid_json`, a body sent as another
/// content type a 415, one over the route's size a 413 `payload_too_large`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = json_bytes(request, state).await?;
        match crate::strict::json_object(&body) {
            Ok(value) => Ok(JsonBody(value)),
            Err(crate::strict::BodyError::Syntax(e)) => Err(not_json(e)),
            Err(crate::strict::BodyError::Shape(e)) => Err(ApiError(AppError::new(
                "invalid_json",
                422,
                format!("the body does not fit this call: {e}"),
            ))),
        }
    }
}

/// Any JSON value as the body (a data store record), read as strictly as [`JsonBody`].
pub struct AnyJson(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for AnyJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = json_bytes(request, state).await?;
        crate::strict::json(&body).map(AnyJson).map_err(not_json)
    }
}

fn not_json(reason: String) -> ApiError {
    ApiError(AppError::new(
        "invalid_json",
        400,
        format!("the body is not valid JSON: {reason}"),
    ))
}

/// The body of a request sent as JSON (415 otherwise), within the route's limit.
async fn json_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    let json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !json {
        return Err(ApiError(AppError::new(
            "invalid_json",
            415,
            "Expected request with `Content-Type: application/json`",
        )));
    }
    body_bytes(request, state).await
}

/// A request's body, within the route's limit: over it, 413 `payload_too_large`; a body that
/// stopped arriving, 408 `request_timeout`.
pub async fn body_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            let status = rejection.status().as_u16();
            let text = rejection.body_text();
            ApiError(match status {
                413 => AppError::new("payload_too_large", 413, text),
                _ if text.contains(super::body::TIMED_OUT) => {
                    AppError::new("request_timeout", 408, text)
                }
                _ => AppError::new("invalid_body", status.max(400), text),
            })
        })
}
