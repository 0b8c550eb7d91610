//! A fast local upstream of records for the engine's tests and benchmark, on its own thread
//! and Tokio runtime: `GET /records?after=&limit=` pages through `total` records in id order,
//! `POST /send` answers from a script (429 with `Retry-After`, 503, slow answers) and then 200.
//! It checks the bearer token the host injects and records every request it receives.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

/// The token the connection must carry.
pub const TOKEN: &str = "records-secret-token-0123456789";

/// One scripted answer to `POST /send`.
#[derive(Debug, Clone)]
pub struct Scripted {
    /// The status.
    pub status: u16,
    /// A `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Scripted {
    /// An immediate answer.
    pub fn status(status: u16) -> Scripted {
        Scripted {
            status,
            retry_after: None,
            delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct State {
    total: AtomicUsize,
    page_delay_ms: AtomicU64,
    pages: AtomicUsize,
    script: Mutex<VecDeque<Scripted>>,
    sends: Mutex<Vec<(Instant, Value)>>,
    unauthorized: AtomicUsize,
}

/// A running upstream.
pub struct RecordsUpstream {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<State>,
}

/// Record number `i` (1-based).
pub fn record(i: usize) -> Value {
    json!({
        "id": format!("r{i:06}"),
        "title": format!("Record {i} — Zoë's “notes”"),
        "count": i,
        "tags": ["learning", format!("t{}", i % 7)],
        "updated": "2024-01-02T03:04:05Z",
    })
}

impl RecordsUpstream {
    /// Starts one with `total` records.
    pub fn start(total: usize) -> RecordsUpstream {
        let state = Arc::new(State::default());
        state.total.store(total, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("upstream runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("report the address");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let state = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req: hyper::Request<Incoming>| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(answer(&state, req).await) }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        let addr = rx.recv().expect("the upstream starts");
        RecordsUpstream {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// Every page of `/records` waits this long.
    pub fn set_page_delay(&self, delay: Duration) {
        self.state
            .page_delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Changes how many records there are.
    pub fn set_total(&self, total: usize) {
        self.state.total.store(total, Ordering::Relaxed);
    }

    /// The next answers to `POST /send` (then 200s).
    pub fn script(&self, answers: Vec<Scripted>) {
        self.state.script.lock().unwrap().extend(answers);
    }

    /// Pages of `/records` served.
    pub fn pages_served(&self) -> usize {
        self.state.pages.load(Ordering::Relaxed)
    }

    /// Every `POST /send` received: when, and its body.
    pub fn sends(&self) -> Vec<(Instant, Value)> {
        self.state.sends.lock().unwrap().clone()
    }

    /// Requests refused for a missing or wrong token.
    pub fn unauthorized(&self) -> usize {
        self.state.unauthorized.load(Ordering::Relaxed)
    }
}

fn respond(status: u16, headers: &[(&str, String)], body: Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

async fn answer(state: &State, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"));
    let path = req.uri().path().to_string();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if !authorized {
        state.unauthorized.fetch_add(1, Ordering::Relaxed);
        return respond(401, &[], json!({"error": "missing or wrong bearer token"}));
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/me") => respond(200, &[], json!({"name": "records upstream"})),
        ("GET", "/records") => {
            let delay = state.page_delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let after = get("after").unwrap_or_default();
            let limit: usize = get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100)
                .clamp(1, 1000);
            let start = if after.is_empty() {
                1
            } else {
                after.trim_start_matches('r').parse::<usize>().unwrap_or(0) + 1
            };
            let total = state.total.load(Ordering::Relaxed);
            let end = (start + limit).min(total + 1);
            let records: Vec<Value> = (start..end).map(record).collect();
            let next = (end <= total).then(|| format!("r{:06}", end - 1));
            state.pages.fetch_add(1, Ordering::Relaxed);
            respond(200, &[], json!({"records": records, "next": next}))
        }
        ("POST", "/send") => {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            state
                .sends
                .lock()
                .unwrap()
                .push((Instant::now(), body.clone()));
            let scripted = state.script.lock().unwrap().pop_front();
            match scripted {
                Some(s) => {
                    if !s.delay.is_zero() {
                        tokio::time::sleep(s.delay).await;
                    }
                    let headers: Vec<(&str, String)> = s
                        .retry_after
                        .map(|r| ("retry-after", r.to_string()))
                        .into_iter()
                        .collect();
                    respond(
                        s.status,
                        &headers,
                        json!({"status": s.status, "received": body}),
                    )
                }
                None => respond(200, &[], json!({"ok": true, "received": body})),
            }
        }
        _ => respond(404, &[], json!({"error": "no such path"})),
    }
}

/// A connector directory with the `records_source` component and a manifest for an upstream
/// at any URL (the connection says which), limited to `requests_per_second` if given.
pub fn records_dir(requests_per_second: Option<f64>) -> std::path::PathBuf {
    let (_, _, wasm) = crate::GUESTS
        .iter()
        .find(|(n, ..)| *n == "records_source")
        .expect("the records_source guest");
    let dir = std::env::temp_dir().join(format!(
        "heph-records-{}",
        hex::encode(heph::vault::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).expect("connector dir");
    let limits = requests_per_second
        .map(|r| format!("\n[limits]\nrequests_per_second = {r}\nburst = 1\n"))
        .unwrap_or_default();
    let manifest = format!(
        r#"id = "records"
name = "Records"
version = "0.1.0"
publisher = "heph-tests"
contract = "0.1.0"
description = "Test connector: pages of records from a local upstream."

[auth]
kind = "bearer"
token = "{{token}}"

[[connection.fields]]
name = "base_url"
title = "Upstream URL"
format = "uri"
required = true

[[connection.fields]]
name = "token"
title = "Token"
secret = true
required = true

[capabilities]
hosts = ["{{base_url}}"]
{limits}"#
    );
    std::fs::write(dir.join("heph.toml"), manifest).expect("manifest");
    std::fs::write(dir.join("records_source.wasm"), wasm).expect("component");
    dir
}
