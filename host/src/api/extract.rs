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

/// A JSON body; malformed JSON is a 400 `invalid_json` with the reason, a body of the wrong
/// shape (a missing field, an unknown value) a 422 `invalid_json`, a body sent as another
/// content type a 415.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError(AppError::new(
                "invalid_json",
                rejection.status().as_u16(),
                rejection.body_text(),
            ))),
        }
    }
}
