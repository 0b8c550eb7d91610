//! API errors: every failure is `{"error": {"code", "message", "details"}}` with the status
//! of its [`AppError`]. Internal errors are logged in full and answered generically.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::AppError;
use crate::store::StoreError;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = if status.is_server_error() && e.code == "internal" {
            tracing::error!(error = %e.message, "internal error");
            "something went wrong on the server; the log has the details".to_string()
        } else {
            e.message
        };
        let mut body = json!({"error": {"code": e.code, "message": message}});
        if let Some(details) = e.details {
            body["error"]["details"] = details;
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"heph\""),
            );
        }
        response
    }
}
