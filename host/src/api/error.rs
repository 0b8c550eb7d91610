//! API errors: every failure is `{"error": {"code", "message", "details"}}` with the status
//! of its [`AppError`]. Internal errors are logged in full and answered generically.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
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
        let retry_after = e
            .details
            .as_ref()
            .and_then(|d| d.get("retry_after_seconds"))
            .and_then(serde_json::Value::as_u64);
        let mut body = json!({"error": {"code": e.code, "message": message}});
        if let Some(details) = e.details {
            body["error"]["details"] = details;
        }
        let mut response = (status, Json(body)).into_response();
        // A refusal that says when to come back says it in the standard header too.
        if let Some(seconds) = retry_after.filter(|_| {
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
        }) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"heph\""),
            );
        }
        response
    }
}

/// The framework's own refusals come as plain text (a query string that does not parse, a
/// path segment that is not UTF-8) or empty (a method the route does not take). Under `/api`
/// this middleware rewrites them in the error shape, so that every error a client reads is
/// JSON with a code; the status and the other headers (`Allow`) stay.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = if !text.is_empty() {
        text
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("other methods");
        format!("this endpoint does not take {method}; it takes {allowed}")
    } else {
        status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_string()
    };
    let (answer, body) = ApiError(AppError::new(code, status.as_u16(), message))
        .into_response()
        .into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    // The error's headers (its content type) replace the originals of the same name.
    parts.headers.extend(answer.headers);
    Response::from_parts(parts, body)
}
