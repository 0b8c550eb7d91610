//! HTTP for connectors, over `wasi:http/outgoing-handler`.
//!
//! Every request goes through the host's outbound policy: a host that the manifest does not
//! list, or an address it does not allow, fails with a `permanent` error and the reason lands in
//! the call's log. Credentials are added by the host; setting `Authorization` here is refused.
//!
//! [`Request::send`] returns any HTTP answer as a [`Response`]; [`Response::error_for_status`]
//! maps failures onto [`Error`] the way the engine expects. [`send_all`] runs several requests at
//! once (for fetching the remaining pages of a listing).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, FutureIncomingResponse, Headers, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::{time, Error, Url};

/// How many redirects a request follows by default. Each hop is checked by the host again.
pub const DEFAULT_MAX_REDIRECTS: u8 = 5;

/// An HTTP request under construction.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: Result<Url, Error>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    max_redirects: u8,
}

/// A `GET` request.
pub fn get(url: &str) -> Request {
    Request::new("GET", url)
}

/// A `POST` request.
pub fn post(url: &str) -> Request {
    Request::new("POST", url)
}

/// A `PUT` request.
pub fn put(url: &str) -> Request {
    Request::new("PUT", url)
}

/// A `PATCH` request.
pub fn patch(url: &str) -> Request {
    Request::new("PATCH", url)
}

/// A `DELETE` request.
pub fn delete(url: &str) -> Request {
    Request::new("DELETE", url)
}

impl Request {
    /// A request with any method. An invalid URL is reported by `send`.
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_ascii_uppercase(),
            url: Url::parse(url),
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
            max_redirects: DEFAULT_MAX_REDIRECTS,
        }
    }

    /// Adds a query parameter (percent-encoded).
    pub fn query(mut self, key: &str, value: impl ToString) -> Request {
        if let Ok(url) = &mut self.url {
            url.append_query(key, &value.to_string());
        }
        self
    }

    /// Sets a header, replacing one of the same name.
    pub fn header(mut self, name: &str, value: impl ToString) -> Request {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_string()));
        self
    }

    /// Sends `value` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Request {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.body(body, "application/json")
    }

    /// Sends raw bytes with a content type.
    pub fn body(mut self, bytes: Vec<u8>, content_type: &str) -> Request {
        self.body = Some(bytes);
        self.header("content-type", content_type)
    }

    /// How many redirects to follow (0: return the 3xx answer itself).
    pub fn max_redirects(mut self, n: u8) -> Request {
        self.max_redirects = n;
        self
    }

    /// The URL this request goes to.
    pub fn url(&self) -> Result<&Url, Error> {
        self.url.as_ref().map_err(Clone::clone)
    }

    /// Sends the request and returns the answer, whatever its status (redirects followed).
    pub fn send(self) -> Result<Response, Error> {
        send_all(vec![self])
            .pop()
            .unwrap_or_else(|| Err(Error::Permanent("no response".into())))
    }
}

/// An HTTP answer, body read in full (the host caps its size).
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The URL that answered (after redirects).
    pub url: Url,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Permanent(format!(
                "{} answered with a body that is not the JSON expected ({e}): {}",
                self.url,
                snippet(&self.body)
            ))
        })
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Itself when 2xx, otherwise the [`Error`] its status means (see [`error_for`]).
    pub fn error_for_status(self) -> Result<Response, Error> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(error_for(&self))
        }
    }
}

/// The default mapping of a failed HTTP answer onto [`Error`]: 400/422 → invalid input,
/// 401/403 → unauthorized, 404/410 → not found, 429 → rate limited (with `Retry-After`),
/// 408 and 5xx → transient, anything else → permanent. The message carries the status and the
/// start of the body, which usually says what went wrong.
pub fn error_for(response: &Response) -> Error {
    let message = format!(
        "{} {} answered {}: {}",
        "HTTP",
        response.url,
        response.status,
        snippet(&response.body)
    );
    match response.status {
        400 | 422 => Error::InvalidInput(message),
        401 | 403 => Error::Unauthorized(message),
        404 | 410 => Error::NotFound(message),
        429 => Error::RateLimited(retry_after(response)),
        408 | 500..=599 => Error::Transient(message),
        _ => Error::Permanent(message),
    }
}

/// Seconds from a `Retry-After` header: a number of seconds, or an HTTP date compared with
/// the answer's `Date`.
pub fn retry_after(response: &Response) -> Option<u32> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(seconds);
    }
    let at = time::parse_http_date(value)?;
    let now = response.header("date").and_then(time::parse_http_date)?;
    Some(at.saturating_sub(now).min(u32::MAX as i64) as u32)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Sends several requests at once and returns their answers in the same order. The host may
/// cap how many run concurrently; the rest wait their turn.
pub fn send_all(requests: Vec<Request>) -> Vec<Result<Response, Error>> {
    let started: Vec<_> = requests.iter().map(start).collect();
    let mut answers = wait_all(started);
    for (answer, request) in answers.iter_mut().zip(requests) {
        if let Ok(response) = answer {
            if is_redirect(response.status) && request.max_redirects > 0 {
                *answer = follow_redirects(request, response.clone());
            }
        }
    }
    answers
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

fn follow_redirects(mut request: Request, mut response: Response) -> Result<Response, Error> {
    for _ in 0..request.max_redirects {
        if !is_redirect(response.status) {
            return Ok(response);
        }
        let Some(location) = response.header("location") else {
            return Ok(response);
        };
        let next = response.url.join(location)?;
        if response.status == 303
            || (matches!(response.status, 301 | 302) && request.method == "POST")
        {
            request.method = "GET".into();
            request.body = None;
            request.headers.retain(|(n, _)| n != "content-type");
        }
        request.url = Ok(next);
        response = wait_all(vec![start(&request)])
            .pop()
            .unwrap_or_else(|| Err(Error::Permanent("no response".into())))?;
    }
    if is_redirect(response.status) {
        return Err(Error::Permanent(format!(
            "too many redirects (more than {}) from {}",
            request.max_redirects, response.url
        )));
    }
    Ok(response)
}

/// A request in flight.
struct InFlight {
    url: Url,
    future: FutureIncomingResponse,
}

fn start(request: &Request) -> Result<InFlight, Error> {
    let url = request.url()?.clone();
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.append(name, value.as_bytes()).map_err(|e| {
            Error::InvalidInput(format!(
                "the header `{name}` cannot be set ({e:?}); credentials are added by the host"
            ))
        })?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    };
    let scheme = if url.scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let invalid = |what: &str| Error::InvalidInput(format!("{what} of `{url}` is not valid"));
    outgoing
        .set_method(&method)
        .map_err(|_| invalid("the method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|_| invalid("the scheme"))?;
    outgoing
        .set_authority(Some(&url.authority))
        .map_err(|_| invalid("the host"))?;
    outgoing
        .set_path_with_query(Some(&url.path_and_query))
        .map_err(|_| invalid("the path"))?;
    // A request without a body never takes the body resource: the host then sends an empty,
    // fixed-length body, with no stream to pump.
    let body = match &request.body {
        Some(_) => Some(
            outgoing
                .body()
                .map_err(|_| Error::Permanent("the request body was already taken".into()))?,
        ),
        None => None,
    };
    let future = outgoing_handler::handle(outgoing, None).map_err(|e| transport_error(&url, e))?;
    if let (Some(body), Some(bytes)) = (body, &request.body) {
        let stream = body
            .write()
            .map_err(|_| Error::Permanent("the request body cannot be written".into()))?;
        // A write fails when the host stopped reading (the body passed its cap, the upstream
        // closed): stop writing, and let the response future tell why.
        let written = bytes
            .chunks(4096)
            .all(|chunk| stream.blocking_write_and_flush(chunk).is_ok());
        drop(stream);
        if written {
            OutgoingBody::finish(body, None).map_err(|e| transport_error(&url, e))?;
        }
    }
    Ok(InFlight { url, future })
}

fn wait_all(started: Vec<Result<InFlight, Error>>) -> Vec<Result<Response, Error>> {
    let mut answers: Vec<Option<Result<Response, Error>>> = Vec::with_capacity(started.len());
    let mut pending = Vec::new();
    for (i, s) in started.into_iter().enumerate() {
        match s {
            Ok(flight) => {
                answers.push(None);
                pending.push((i, flight));
            }
            Err(e) => answers.push(Some(Err(e))),
        }
    }
    while !pending.is_empty() {
        let pollables: Vec<_> = pending.iter().map(|(_, f)| f.future.subscribe()).collect();
        let refs: Vec<_> = pollables.iter().collect();
        let ready = crate::bindings::wasi::io::poll::poll(&refs);
        drop(refs);
        drop(pollables);
        let mut ready: Vec<usize> = ready.into_iter().map(|r| r as usize).collect();
        ready.sort_unstable_by(|a, b| b.cmp(a));
        for r in ready {
            let (index, flight) = pending.remove(r);
            answers[index] = Some(finish(flight));
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(Error::Permanent("no response".into()))))
        .collect()
}

fn finish(flight: InFlight) -> Result<Response, Error> {
    let url = flight.url;
    let incoming = match flight.future.get() {
        Some(Ok(Ok(incoming))) => incoming,
        Some(Ok(Err(e))) => return Err(transport_error(&url, e)),
        Some(Err(())) | None => {
            return Err(Error::Permanent(format!(
                "the response from {url} was lost"
            )))
        }
    };
    read_response(url, incoming)
}

fn read_response(url: Url, incoming: IncomingResponse) -> Result<Response, Error> {
    let status = incoming.status();
    let headers = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let body = incoming
        .consume()
        .map_err(|_| Error::Permanent("the response body was already taken".into()))?;
    let stream = body
        .stream()
        .map_err(|_| Error::Permanent("the response body cannot be read".into()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                let detail = e.to_debug_string();
                drop(stream);
                return Err(
                    match crate::bindings::wasi::http::types::http_error_code(&e) {
                        Some(code) => transport_error(&url, code),
                        None => Error::Transient(format!("reading the answer of {url}: {detail}")),
                    },
                );
            }
        }
    }
    drop(stream);
    Ok(Response {
        status,
        headers,
        body: bytes,
        url,
    })
}

/// Maps a wasi:http error onto the connector error: refusals by the host's policy and
/// oversized bodies are permanent; network trouble is transient.
fn transport_error(url: &Url, code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied => Error::Permanent(format!(
            "the host refused the request to {url}: it is outside this connector's allowed \
             hosts or addresses (the call log says why)"
        )),
        ErrorCode::DestinationIpProhibited => Error::Permanent(format!(
            "the host refused the request to {url}: the address is not allowed for this \
             connection (private networks need the admin's approval)"
        )),
        ErrorCode::HttpResponseBodySize(_) => Error::Permanent(format!(
            "the answer of {url} is larger than the host allows"
        )),
        ErrorCode::HttpRequestBodySize(_) => Error::InvalidInput(format!(
            "the request body for {url} is larger than the host allows"
        )),
        ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::HttpResponseIncomplete
        | ErrorCode::HttpResponseTimeout => {
            Error::Transient(format!("request to {url} failed: {code:?}"))
        }
        other => Error::Permanent(format!("request to {url} failed: {other:?}")),
    }
}
