//! Support for Heph's end-to-end tests: the test connectors, a local upstream server that
//! records what it receives, a plain HTTP client, and the real WordPress fixture.

pub mod upstream;
pub mod wordpress;

use std::sync::Arc;

use heph::catalog::Catalog;
use heph::manifest::Manifest;
use heph::runtime::{ConnectionContext, Connector, Limits, Runtime, RuntimeConfig};
use serde_json::{json, Value};

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// A runtime with the given limits and no disk cache.
pub fn runtime(limits: Limits) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Loads the test connector `name` (a directory of `tests/guests`).
pub fn guest(runtime: &Runtime, name: &str) -> Arc<Connector> {
    let (_, manifest, wasm) = GUESTS
        .iter()
        .find(|(n, ..)| *n == name)
        .unwrap_or_else(|| panic!("no guest {name}"));
    let manifest = Manifest::parse(manifest).expect("guest manifest");
    Arc::new(runtime.load(manifest, wasm).expect("guest loads").0)
}

/// The built-in WordPress connector.
pub fn wordpress_connector(runtime: &Runtime) -> Arc<Connector> {
    Catalog::first_party(runtime)
        .expect("first-party connectors")
        .get("wordpress")
        .expect("wordpress is built in")
        .clone()
}

/// A connection for a test connector: `site_url` (the one allowed host) and Basic credentials.
pub fn connection(connector: &Connector, site_url: &str, allow_private: bool) -> ConnectionContext {
    let values =
        json!({"site_url": site_url, "username": "heph-user", "password": "s3cret-from-vault"});
    ConnectionContext::from_values(
        connector.manifest(),
        values.as_object().unwrap(),
        allow_private,
    )
    .expect("connection")
}

/// A multi-threaded Tokio runtime for a test.
pub fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

/// Parses JSON text or panics with it.
pub fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
