//! The real WordPress of the tests, started (once per machine, reused afterwards) by
//! `tests/wordpress/start.sh`, and a plain REST client to compare the connector against.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Map, Value};

use heph::runtime::{ConnectionContext, Connector};

/// What start.sh reports.
#[derive(Debug, Clone)]
pub struct WordPress {
    /// The site with pretty permalinks (`/wp-json/`).
    pub site_url: String,
    /// The same site on a server without rewrites (`?rest_route=` only).
    pub plain_site_url: String,
    /// The administrator.
    pub username: String,
    /// Their Application Password.
    pub application_password: String,
    /// Users seeded.
    pub users: usize,
    /// Posts seeded (every status).
    pub posts: usize,
}

static WORDPRESS: OnceLock<WordPress> = OnceLock::new();

/// Tests that change the site (or count on it not changing) take turns.
static SITE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the site for one test.
pub fn site_lock() -> std::sync::MutexGuard<'static, ()> {
    SITE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The test WordPress, started if it is not running.
pub fn wordpress() -> &'static WordPress {
    WORDPRESS.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("wordpress/start.sh");
        let output = Command::new("bash").arg(&script).output().expect("cannot run tests/wordpress/start.sh");
        assert!(
            output.status.success(),
            "the test WordPress did not start (install its packages with scripts/install-test-deps):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let env: Value = serde_json::from_str(text.lines().last().unwrap_or("")).expect("start.sh prints JSON");
        let s = |k: &str| env[k].as_str().unwrap_or_default().to_string();
        WordPress {
            site_url: s("site_url"),
            plain_site_url: s("plain_site_url"),
            username: s("username"),
            application_password: s("application_password"),
            users: env["users"].as_u64().unwrap_or(0) as usize,
            posts: env["posts"].as_u64().unwrap_or(0) as usize,
        }
    })
}

impl WordPress {
    /// The connection fields, as a connection file holds them.
    pub fn values(&self, plain: bool, password: &str) -> Map<String, Value> {
        let site = if plain {
            &self.plain_site_url
        } else {
            &self.site_url
        };
        json!({"site_url": site, "username": self.username, "application_password": password})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// A connection to this site for the WordPress connector (private network allowed: it is
    /// on loopback).
    pub fn connection(&self, connector: &Connector, plain: bool) -> ConnectionContext {
        ConnectionContext::from_values(
            connector.manifest(),
            &self.values(plain, &self.application_password),
            true,
        )
        .expect("connection")
    }

    /// A REST call as WordPress's own client would make it: `route` is everything after
    /// `/wp-json`, such as `/wp/v2/posts?context=edit`.
    pub async fn rest(
        &self,
        method: &str,
        route: &str,
        body: Option<Value>,
    ) -> (u16, Vec<(String, String)>, Value) {
        let url = format!("{}/wp-json{route}", self.site_url);
        let (status, headers, bytes) = http(
            method,
            &url,
            Some((&self.username, &self.application_password)),
            body,
        )
        .await;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, value)
    }

    /// Every item of a collection route, following `X-WP-TotalPages` (`route` has a query).
    pub async fn all(&self, route: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let (status, headers, body) = self
                .rest("GET", &format!("{route}&per_page=100&page={page}"), None)
                .await;
            assert_eq!(status, 200, "{route} page {page}: {body}");
            items.extend(body.as_array().cloned().unwrap_or_default());
            let pages: u32 = headers
                .iter()
                .find(|(n, _)| n == "x-wp-totalpages")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(1);
            if page >= pages {
                return items;
            }
            page += 1;
        }
    }
}

/// A plain HTTP request (keep-alive client, optional Basic auth, optional JSON body).
pub async fn http(
    method: &str,
    url: &str,
    basic: Option<(&str, &str)>,
    body: Option<Value>,
) -> (u16, Vec<(String, String)>, Bytes) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::builder().method(method).uri(url);
    if let Some((user, password)) = basic {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request = request.header("authorization", format!("Basic {token}"));
    }
    let body = match body {
        Some(value) => {
            request = request.header("content-type", "application/json");
            Full::new(Bytes::from(value.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = client
        .request(request.body(body).expect("request"))
        .await
        .expect("HTTP request");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, bytes)
}
