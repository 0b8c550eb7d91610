//! A local HTTP server standing in for an upstream API: it answers from a handler and records
//! every request (method, path and query, headers) so tests can check what really left the host.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl Received {
    /// A request from its parts and its whole body.
    pub fn new(parts: &hyper::http::request::Parts, body: Bytes) -> Received {
        Received {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: status, headers, body.
pub type Answer = (u16, Vec<(String, String)>, Bytes);

/// What answers requests.
pub type Handler = dyn Fn(&Received) -> Answer + Send + Sync;

/// Serves HTTP/1 or HTTP/2 on one accepted connection (plain or TLS), each request answered by
/// `handler` with its whole body read first.
pub async fn serve_connection<IO>(io: IO, handler: Arc<Handler>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let handler = handler.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let (status, headers, body) = handler(&Received::new(&parts, body));
            let mut response = hyper::Response::builder().status(status);
            for (n, v) in headers {
                response = response.header(n, v);
            }
            Ok::<_, Infallible>(response.body(Full::new(body)).unwrap())
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// A running upstream. It stops when the Tokio runtime it was started on stops.
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Upstream {
    /// Starts a server on 127.0.0.1 with a free port, on the current Tokio runtime.
    pub async fn start(handler: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let handler: Arc<Handler> = Arc::new(move |request: &Received| {
            let answer = handler(request);
            log.lock().unwrap().push(request.clone());
            answer
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_connection(stream, handler.clone()));
            }
        });
        Upstream { addr, received }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A plain answer.
pub fn text(status: u16, body: &str) -> Answer {
    (
        status,
        vec![("content-type".into(), "text/plain".into())],
        Bytes::from(body.to_string()),
    )
}
