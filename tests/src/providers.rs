//! Local fakes of the APIs that cannot run here (Notion, Google Calendar, LinkedIn, monday.com), served
//! over HTTPS under their real names: one TLS server on loopback with a certificate for every
//! name, signed by a test CA. `heph` reaches it through `--resolve NAME=127.0.0.1:PORT` and
//! trusts the CA through `--extra-ca-cert`, so the connector under test is the shipped
//! component calling `https://api.notion.com/…` as it would in production.
//!
//! Each fake refuses what the real API refuses (version headers, bearer tokens, malformed
//! bodies, page sizes over the limit) with the real error shapes, paginates, and can be told
//! to answer 429. Every request is recorded for the tests to inspect.

pub mod google;
pub mod linkedin;
pub mod monday;
pub mod notion;
pub mod oauth;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;

use crate::upstream::{serve_connection, Handler};
pub use crate::upstream::{Answer, Received};

/// The names the fakes answer for.
pub const NAMES: &[&str] = &[
    "api.notion.com",
    "www.googleapis.com",
    "accounts.google.com",
    "oauth2.googleapis.com",
    "api.linkedin.com",
    "www.linkedin.com",
    "portal.example.test",
    "api.monday.com",
];

/// Everything the fakes hold, shared with the test.
#[derive(Default)]
pub struct World {
    /// Bearer tokens the APIs accept.
    pub tokens: HashSet<String>,
    /// Every request, in order, with the name it was sent to.
    pub received: Vec<(String, Received)>,
    /// Answer the next N API requests with 429 (and `Retry-After: 1`).
    pub rate_limit_next: u32,
    /// Notion's state.
    pub notion: notion::Notion,
    /// Google Calendar's state.
    pub google: google::Calendar,
    /// LinkedIn's state.
    pub linkedin: linkedin::LinkedIn,
    /// monday.com's state.
    pub monday: monday::Monday,
    /// The authorization server the token endpoints forward to (oidc-provider's issuer).
    pub authorization_server: Option<String>,
    /// Access token → the scopes granted with it (tokens the OAuth front handed out).
    pub scopes: HashMap<String, String>,
    /// Tokens revoked through Google's revocation endpoint.
    pub revoked: Vec<String>,
}

/// The running fakes.
pub struct Providers {
    /// The loopback port of the TLS server.
    pub port: u16,
    /// The test CA's certificate (PEM file).
    pub ca_file: PathBuf,
    /// The fakes' state.
    pub world: Arc<Mutex<World>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Providers {
    /// Generates the CA and the certificate, and starts the server on its own thread.
    pub fn start() -> Providers {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "heph tests CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("key");
        let names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("certificate");
        let dir = std::env::temp_dir().join(format!(
            "heph-providers-{}",
            hex::encode(heph::vault::random_bytes::<6>())
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("CA file");

        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let world = Arc::new(Mutex::new(World::default()));
        let shared = world.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(serve(listener, acceptor, shared));
        });
        Providers {
            port,
            ca_file,
            world,
            _thread: thread,
        }
    }

    /// `HEPH_RESOLVE` and `HEPH_EXTRA_CA_CERT` for a `heph` that should reach the fakes.
    pub fn env(&self) -> Vec<(String, String)> {
        let resolve: Vec<String> = NAMES
            .iter()
            .map(|n| format!("{n}=127.0.0.1:{}", self.port))
            .collect();
        vec![
            ("HEPH_RESOLVE".into(), resolve.join(",")),
            (
                "HEPH_EXTRA_CA_CERT".into(),
                self.ca_file.display().to_string(),
            ),
        ]
    }

    /// Accepts `token` as a valid bearer token.
    pub fn accept_token(&self, token: &str) {
        self.world.lock().unwrap().tokens.insert(token.into());
    }

    /// Sends the token endpoints' requests on to `issuer` (oidc-provider).
    pub fn use_authorization_server(&self, issuer: &str) {
        self.world.lock().unwrap().authorization_server = Some(issuer.into());
    }

    /// The requests received by `name`.
    pub fn received(&self, name: &str) -> Vec<Received> {
        self.world
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    world: Arc<Mutex<World>>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    let handler: Arc<Handler> = Arc::new(move |request: &Received| {
        let host = request
            .header("host")
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        world
            .lock()
            .unwrap()
            .received
            .push((host.clone(), request.clone()));
        if let Some(answer) = oauth::token_front(&world, &host, request) {
            return answer;
        }
        answer(&mut world.lock().unwrap(), &host, request)
    });
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                serve_connection(tls, handler).await;
            }
        });
    }
}

fn answer(world: &mut World, host: &str, request: &Received) -> Answer {
    match host {
        "api.notion.com" => notion::answer(world, request),
        "www.googleapis.com" => google::answer(world, request),
        "api.monday.com" => monday::answer(world, request),
        "api.linkedin.com" | "www.linkedin.com" | "portal.example.test" => {
            linkedin::answer(world, host, request)
        }
        _ => json(
            404,
            &serde_json::json!({"error": format!("no fake for {host}")}),
        ),
    }
}

/// A JSON answer.
pub fn json(status: u16, body: &Value) -> Answer {
    (
        status,
        vec![("content-type".into(), "application/json".into())],
        Bytes::from(body.to_string()),
    )
}

/// An answer with no body.
pub fn empty(status: u16) -> Answer {
    (status, vec![], Bytes::new())
}

/// The bearer token of a request, if it has one.
pub fn bearer(request: &Received) -> Option<&str> {
    request.header("authorization")?.strip_prefix("Bearer ")
}

/// Path and query split, the query decoded.
pub fn split(request: &Received) -> (String, Vec<(String, String)>) {
    let url = url::Url::parse(&format!("https://x{}", request.uri)).expect("uri");
    (
        url.path().to_string(),
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

/// Now as `YYYY-MM-DDTHH:MM:00.000Z`: Notion's minute-precise timestamps.
pub fn minute_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:00.000Z")
        .to_string()
}
