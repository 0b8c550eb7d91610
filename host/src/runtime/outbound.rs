//! The connector's only door out: `wasi:http/outgoing-handler`, implemented through
//! wasmtime-wasi-http's hooks. Every request is checked against the allowed hosts, stripped of
//! any credential the guest tried to set, given the connection's credential, sent through the
//! host's pooled client with size caps and timeouts, and recorded in the call log.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{
    Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks,
    DEFAULT_FORBIDDEN_HEADERS,
};

use super::call_log::{CallLog, OutboundRecord};
use super::client::{check_literal, refusal_in, OutboundClient};
use super::connector::ConnectionContext;
use super::credentials::{Credential, CredentialSource};
use super::limits::Limits;
use super::policy::{check_destination, AllowedHost};

/// Headers a connector may never set: the transport's own, and anything that carries a
/// credential (the host adds those itself).
pub fn is_forbidden(name: &HeaderName) -> bool {
    DEFAULT_FORBIDDEN_HEADERS.contains(name)
        || name == AUTHORIZATION
        || name == COOKIE
        || name == PROXY_AUTHORIZATION
}

/// Everything one call's outbound requests need. Shared by the call's requests.
pub struct CallNetwork {
    /// The connection fields that may key HMACs (`sign = true`).
    pub signing: Arc<[String]>,
    /// The credentials applied so far (an OAuth token may be refreshed mid-call): the call's
    /// answer and log are redacted of each.
    used: Mutex<Vec<Credential>>,
    /// The cap the call went past, if it did (the requests per call).
    limit: Mutex<Option<String>>,
    /// The destinations the connection may reach (resolved from the manifest).
    pub allowed: Vec<AllowedHost>,
    /// The destinations that get the credential; `None`: all of `allowed`.
    pub authenticated: Option<Vec<AllowedHost>>,
    /// Whether the admin allowed private networks for this install.
    pub allow_private: bool,
    /// The connection's credential.
    pub credentials: Arc<dyn CredentialSource>,
    /// The pooled client.
    pub client: Arc<OutboundClient>,
    /// Where requests are recorded.
    pub log: CallLog,
    /// Caps and timeouts.
    pub limits: Limits,
    /// Requests in flight for this call.
    pub permits: Arc<Semaphore>,
}

impl CallNetwork {
    /// The network of a call on `conn`.
    pub fn new(
        allowed: Vec<AllowedHost>,
        authenticated: Option<Vec<AllowedHost>>,
        conn: &ConnectionContext,
        signing: Arc<[String]>,
        client: Arc<OutboundClient>,
        log: CallLog,
        limits: Limits,
        permits: Arc<Semaphore>,
    ) -> CallNetwork {
        CallNetwork {
            signing,
            used: Mutex::default(),
            limit: Mutex::default(),
            allowed,
            authenticated,
            allow_private: conn.allow_private_network,
            credentials: conn.credentials.clone(),
            client,
            log,
            limits,
            permits,
        }
    }

    /// The credentials the call's requests carried.
    pub fn used_credentials(&self) -> Vec<Credential> {
        self.used.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The cap the call went past, if any.
    pub fn limit_reached(&self) -> Option<String> {
        self.limit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn remember(&self, credential: &Credential) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if *credential != Credential::None && !used.contains(credential) {
            used.push(credential.clone());
        }
    }
}

/// The wasi-http hooks of one call.
pub struct OutboundHooks(pub Arc<CallNetwork>);

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn is_forbidden_header(&mut self, name: &HeaderName) -> bool {
        is_forbidden(name)
    }

    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(is_forbidden)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let network = self.0.clone();
        Box::new(async move {
            let response = network.send(request, options).await?;
            // The pooled client drives its connections itself; there is no per-request I/O task.
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

impl CallNetwork {
    async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let started = Instant::now();
        let method = request.method().to_string();
        let url = request.uri().to_string();
        let record = |status: Option<u16>, error: Option<String>| {
            self.log.request(OutboundRecord {
                method: method.clone(),
                url: url.clone(),
                status,
                bytes: 0,
                duration: started.elapsed(),
                error,
            })
        };
        let refuse = |reason: String, code: HttpError| {
            self.log.refusal(format!("refused {method} {reason}"));
            record(None, Some(format!("refused: {reason}")));
            Err(code)
        };

        let cap = self.limits.requests_per_call;
        if self.log.request_count() >= cap {
            let message = format!(
                "the call tried to make more than the {cap} requests one call may make (requests_per_call)"
            );
            let mut limit = self.limit.lock().unwrap_or_else(|p| p.into_inner());
            if limit.is_none() {
                self.log
                    .line("error", format!("{method} {url}: refused: {message}"));
                *limit = Some(message.clone());
            }
            return Err(HttpError::InternalError(Some(message)));
        }

        let uri = request.uri().clone();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or("").to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        if let Err(refusal) = check_destination(&self.allowed, &url, &scheme, &host, port) {
            return refuse(refusal.to_string(), HttpError::HttpRequestDenied);
        }
        if let Err(refusal) = check_literal(&host, self.allow_private) {
            return refuse(
                format!("{url}: {refusal}"),
                HttpError::DestinationIpProhibited,
            );
        }
        if let Err(refusal) = self.client.check_mapped(&host, uri.port_u16()) {
            return refuse(
                format!("{url}: {refusal}"),
                HttpError::DestinationIpProhibited,
            );
        }

        // The guest cannot set these (forbidden headers), but never trust one that slipped in.
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
            request.headers_mut().remove(name);
        }
        let first_byte = options
            .and_then(|o| o.first_byte_timeout)
            .unwrap_or(self.limits.first_byte_timeout)
            .min(self.limits.first_byte_timeout);
        let request_cap = self.limits.request_body_bytes;

        // A host outside the authenticated ones (images on the user's own site) gets no
        // credential, and does not count against the connection's rate limit.
        let authenticated = match &self.authenticated {
            None => true,
            Some(hosts) => check_destination(hosts, &url, &scheme, &host, port).is_ok(),
        };
        let credential = if authenticated {
            self.credentials.admit().await;
            match self.credentials.credential().await {
                Ok(c) => {
                    self.remember(&c);
                    c
                }
                Err(e) => {
                    record(None, Some(format!("no credential: {e}")));
                    return Err(HttpError::InternalError(Some(format!(
                        "the connection's credential is unavailable: {e}"
                    ))));
                }
            }
        } else {
            Credential::None
        };

        if !authenticated || !self.credentials.refreshable() {
            apply_credential(&mut request, &credential)?;
            let (parts, body) = request.into_parts();
            let body = Capped::new(body, request_cap, None, None, move |_| {
                HttpError::HttpRequestBodySize(Some(request_cap))
            })
            .boxed_unsync();
            let request = http::Request::from_parts(parts, body);
            return self
                .dispatch(request, first_byte, &record, &refuse, &url)
                .await;
        }

        // A credential that can be refreshed (OAuth): keep the body, so that a 401 can be
        // answered by refreshing the token and sending the same request once more.
        let (parts, body) = request.into_parts();
        let body = Capped::new(body, request_cap, None, None, move |_| {
            HttpError::HttpRequestBodySize(Some(request_cap))
        })
        .collect()
        .await
        .map_err(|e| {
            record(None, Some(format!("reading the request body: {e}")));
            e
        })?
        .to_bytes();
        // The body is kept for the retry after a refresh: host memory held for the call.
        if self.log.budget().charge(body.len()).is_err() {
            record(
                None,
                Some("the request body does not fit the call's host memory budget".into()),
            );
            return Err(HttpError::HttpRequestBodySize(Some(body.len() as u64)));
        }
        let build = |credential: &Credential| -> Result<http::Request<WasiBody>, HttpError> {
            let mut request = http::Request::builder()
                .method(parts.method.clone())
                .uri(parts.uri.clone())
                .version(parts.version)
                .body(
                    http_body_util::Full::new(body.clone())
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                )
                .map_err(|_| HttpError::HttpRequestUriInvalid)?;
            *request.headers_mut() = parts.headers.clone();
            apply_credential(&mut request, credential)?;
            Ok(request)
        };
        let response = self
            .dispatch(build(&credential)?, first_byte, &record, &refuse, &url)
            .await?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        match self.credentials.rejected(&credential).await {
            Ok(fresh) if fresh != credential => {
                self.remember(&fresh);
                drop(response);
                self.log.line(
                    "info",
                    format!("{method} {url}: the token was refused (401); refreshed it and retrying once"),
                );
                self.dispatch(build(&fresh)?, first_byte, &record, &refuse, &url)
                    .await
            }
            Ok(_) => Ok(response),
            Err(e) => {
                self.log.line(
                    "warn",
                    format!("{method} {url}: the token was refused (401) and could not be refreshed: {e}"),
                );
                Ok(response)
            }
        }
    }

    /// Sends a checked, credentialed request through the pool; caps and records the answer.
    async fn dispatch(
        &self,
        request: http::Request<WasiBody>,
        first_byte: Duration,
        record: &impl Fn(Option<u16>, Option<String>) -> usize,
        refuse: &impl Fn(String, HttpError) -> Result<http::Response<WasiBody>, HttpError>,
        url: &str,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let request_cap = self.limits.request_body_bytes;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HttpError::ConnectionLimitReached)?;
        let answer = tokio::time::timeout(
            first_byte,
            self.client.pool(self.allow_private).request(request),
        )
        .await;
        let response = match answer {
            Err(_) => {
                record(None, Some(format!("no answer within {first_byte:?}")));
                return Err(HttpError::HttpResponseTimeout);
            }
            Ok(Err(error)) => {
                if let Some(refusal) = refusal_in(&error) {
                    return refuse(
                        format!("{url}: {refusal}"),
                        HttpError::DestinationIpProhibited,
                    );
                }
                if request_body_too_large(&error) {
                    record(
                        None,
                        Some(format!(
                            "the request body is larger than the {request_cap} bytes allowed"
                        )),
                    );
                    return Err(HttpError::HttpRequestBodySize(Some(request_cap)));
                }
                let detail = error_chain(&error);
                record(None, Some(detail.clone()));
                return Err(if error.is_connect() {
                    if detail.contains("timed out") {
                        HttpError::ConnectionTimeout
                    } else if detail.contains("dns") || detail.contains("failed to lookup") {
                        HttpError::DnsError {
                            rcode: Some(detail),
                            info_code: None,
                        }
                    } else {
                        HttpError::ConnectionRefused
                    }
                } else {
                    HttpError::HttpProtocolError
                });
            }
            Ok(Ok(response)) => response,
        };

        // The answer's headers become a header map the guest may keep as long as it likes:
        // host memory held for the call.
        let header_bytes: usize = response
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 64)
            .sum();
        if self.log.budget().charge(header_bytes).is_err() {
            record(
                Some(response.status().as_u16()),
                Some("the answer's headers do not fit the call's host memory budget".into()),
            );
            return Err(HttpError::HttpResponseHeaderSectionSize(
                u32::try_from(header_bytes).ok(),
            ));
        }
        let status = response.status().as_u16();
        if status == 429 {
            // Whatever the connector makes of it, the connection's other calls hold off too.
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            self.credentials.throttled(retry_after);
        }
        let cap = self.limits.response_body_bytes;
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > cap) {
            let index = record(Some(status), None);
            self.log.fail(
                index,
                format!(
                    "the answer declares {} bytes, more than the {cap} allowed",
                    declared.unwrap_or(0)
                ),
            );
            return Err(HttpError::HttpResponseBodySize(declared));
        }
        let index = record(Some(status), None);
        let log = self.log.clone();
        let (parts, body) = response.into_parts();
        let body = Capped::new(
            body,
            cap,
            Some((log, index, permit)),
            Some(self.limits.between_bytes_timeout),
            move |_| HttpError::HttpResponseBodySize(Some(cap)),
        );
        Ok(http::Response::from_parts(parts, body.boxed_unsync()))
    }
}

/// Whether sending failed because the request body passed its cap (see `Capped`).
fn request_body_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if matches!(
            e.downcast_ref::<HttpError>(),
            Some(HttpError::HttpRequestBodySize(_))
        ) {
            return true;
        }
        current = e.source();
    }
    false
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Adds the credential to a request bound for one of the connection's own hosts.
fn apply_credential(
    request: &mut http::Request<WasiBody>,
    credential: &Credential,
) -> Result<(), HttpError> {
    let bad = |_| {
        HttpError::InternalError(Some(
            "the connection's credential is not a valid header value".into(),
        ))
    };
    let mut secret = |name: HeaderName, value: String| -> Result<(), HttpError> {
        let mut value = HeaderValue::from_str(&value).map_err(bad)?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
        Ok(())
    };
    match credential {
        Credential::None => Ok(()),
        Credential::Basic { username, password } => {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            secret(AUTHORIZATION, format!("Basic {token}"))
        }
        Credential::Bearer(token) => secret(AUTHORIZATION, format!("Bearer {token}")),
        Credential::Header { name, value } => {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                HttpError::InternalError(Some(format!("`{name}` is not a header name")))
            })?;
            secret(name, value.clone())
        }
        Credential::Query { name, value } => {
            let uri = request.uri();
            let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let sep = if pq.contains('?') { '&' } else { '?' };
            let pq = format!("{pq}{sep}{}={}", encode(name), encode(value));
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(pq.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?);
            *request.uri_mut() =
                http::Uri::from_parts(parts).map_err(|_| HttpError::HttpRequestUriInvalid)?;
            Ok(())
        }
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A body that fails once more than `cap` bytes pass, optionally counts them into the call
/// log, holds the request's concurrency permit until it ends, and fails after a pause longer
/// than `idle`.
struct Capped<B> {
    inner: B,
    remaining: u64,
    record: Option<(CallLog, usize, OwnedSemaphorePermit)>,
    /// The longest pause allowed, and the timer measuring the current pause. The timer is
    /// armed only when the body has to wait: most answers arrive already buffered.
    idle: Option<(Duration, Option<Pin<Box<tokio::time::Sleep>>>)>,
    exceeded: Box<dyn Fn(u64) -> HttpError + Send + Sync>,
}

impl<B> Capped<B> {
    fn new(
        inner: B,
        cap: u64,
        record: Option<(CallLog, usize, OwnedSemaphorePermit)>,
        idle: Option<Duration>,
        exceeded: impl Fn(u64) -> HttpError + Send + Sync + 'static,
    ) -> Self {
        Capped {
            inner,
            remaining: cap,
            record,
            idle: idle.map(|d| (d, None)),
            exceeded: Box::new(exceeded),
        }
    }
}

impl<B> Body for Capped<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<HttpError>,
{
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some((_, sleep)) = &mut this.idle {
                    *sleep = None; // data came: the pause is over
                }
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                if let Some((log, index, _)) = &this.record {
                    log.add_bytes(*index, n);
                }
                if n > this.remaining {
                    if let Some((log, index, _)) = &this.record {
                        log.fail(*index, "the body is larger than the host allows".into());
                    }
                    return Poll::Ready(Some(Err((this.exceeded)(n))));
                }
                this.remaining -= n;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.record = None; // releases the concurrency permit
                Poll::Ready(None)
            }
            Poll::Pending => {
                if let Some((duration, sleep)) = &mut this.idle {
                    let sleep =
                        sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(*duration)));
                    if sleep.as_mut().poll(cx).is_ready() {
                        if let Some((log, index, _)) = &this.record {
                            log.fail(*index, format!("no data for {duration:?}"));
                        }
                        return Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)));
                    }
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
