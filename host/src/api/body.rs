//! Request bodies: each route's size limit and a deadline, applied before anything reads the
//! body. The middleware runs first, so the idempotency layer (which buffers a body to hash it)
//! and every extractor see a body that ends with 413 past the route's limit and with an error
//! when it stops arriving, instead of buffering whatever a client sends, as slowly as it likes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};

use super::ApiError;
use crate::app::AppError;

/// The body limit of most routes (the default of axum's extractors, set to the same value).
pub const DEFAULT_LIMIT: usize = 2 * 1024 * 1024;

/// What a body error says when the body did not arrive in time (the extractors' rejection
/// carries it, and [`super::extract::body_bytes`] answers 408 for it).
pub const TIMED_OUT: &str = "the request body did not arrive in time";

/// The limit of a route, by path.
pub fn limit_for(path: &str) -> usize {
    if path.starts_with("/hooks/") {
        crate::engine::webhook::MAX_DELIVERY_BYTES
    } else {
        DEFAULT_LIMIT
    }
}

/// The middleware: refuses a declared length over the limit at once, and wraps the body.
pub async fn bounded(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let limit = limit_for(request.uri().path());
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(limit).into_response();
    }
    let (parts, body) = request.into_parts();
    let body = Deadline {
        inner: http_body_util::Limited::new(body, limit),
        deadline: Box::pin(tokio::time::sleep(timeout)),
        timeout,
    };
    next.run(Request::from_parts(parts, Body::new(body))).await
}

/// 413 for a body over `limit`.
pub fn too_large(limit: usize) -> ApiError {
    ApiError(AppError::new(
        "payload_too_large",
        413,
        format!(
            "the request body is larger than this call takes ({} KiB)",
            limit / 1024
        ),
    ))
}

/// A body that fails once its deadline passes while it is still arriving.
struct Deadline {
    inner: http_body_util::Limited<Body>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending if this.deadline.as_mut().poll(cx).is_ready() => Poll::Ready(Some(Err(
                format!("{TIMED_OUT} ({} s)", this.timeout.as_secs()).into(),
            ))),
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
