//! Extractors: the authenticated user (an API token in `Authorization: Bearer …`) and JSON
//! bodies whose errors come back in the API's error shape.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::app::{App, AppError};
use crate::auth::api_tokens;
use crate::store::User;

/// The caller, authenticated by an API token.
pub struct Caller(pub User);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let unauthenticated = |m: &str| ApiError(AppError::new("unauthenticated", 401, m));
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthenticated("send an API token: `Authorization: Bearer heph_…` (`heph user create` or `heph token create` makes one)"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>`"))?;
        let user = app
            .store
            .user_for_token(&api_tokens::hash(token))
            .await
            .map_err(|e| ApiError(e.into()))?
            .ok_or_else(|| {
                unauthenticated("this API token is not valid (revoked, or never issued)")
            })?;
        Ok(Caller(user))
    }
}

/// A JSON body; malformed JSON or a wrong shape is a 400 `invalid_json` with the reason.
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
