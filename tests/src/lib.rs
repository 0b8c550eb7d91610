//! Support for Heph's end-to-end tests: the test connectors, a local upstream server that
//! records what it receives, a plain HTTP client, the real WordPress, a real OAuth server,
//! PostgreSQL, and `heph serve` run as a user runs it.

pub mod heph_server;
pub mod oauth_server;
pub mod postgres;
pub mod providers;
pub mod records;
pub mod upstream;
pub mod wordpress;

use std::sync::Arc;

use heph::catalog;
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
    let builtin = catalog::builtin("wordpress").expect("wordpress is built in");
    let (connector, _) = catalog::load(runtime, "wordpress", builtin.manifest, builtin.component)
        .expect("wordpress loads");
    Arc::new(connector)
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

/// Runs a command to its end: its exit code (-1 when killed by a signal), stdout and stderr.
pub fn output(command: &mut std::process::Command) -> (i32, String, String) {
    let out = command.output().expect("run the command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `heph` binary that `cargo test --workspace` built beside the test binary.
pub fn heph_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin = dir.join("heph");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or scripts/test)",
        bin.display()
    );
    bin
}

/// A connector directory holding the `oauth_probe` test component with a manifest for the
/// provider at `issuer`: id `id`, client authentication `client_auth` (`basic` or `body`).
pub fn oauth_probe_dir(issuer: &str, id: &str, client_auth: &str) -> std::path::PathBuf {
    let (_, _, wasm) = GUESTS
        .iter()
        .find(|(n, ..)| *n == "oauth_probe")
        .expect("the oauth_probe guest");
    let dir = std::env::temp_dir().join(format!(
        "heph-{id}-{}",
        hex::encode(heph::vault::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).expect("connector dir");
    let manifest = format!(
        r#"id = "{id}"
name = "OAuth probe"
version = "0.1.0"
publisher = "heph-tests"
contract = "0.1.0"
description = "Test connector: calls the provider's userinfo endpoint with the host's token."

[auth]
kind = "oauth2"
authorize_url = "{issuer}/auth"
token_url = "{issuer}/token"
revoke_url = "{issuer}/token/revocation"
scopes = ["openid", "profile", "email"]
client_auth = "{client_auth}"
authorize_params = {{ prompt = "consent" }}

[[connection.fields]]
name = "api_base"
title = "Provider URL"
format = "uri"
required = true

[capabilities]
hosts = ["{{api_base}}"]
"#
    );
    std::fs::write(dir.join("heph.toml"), manifest).expect("manifest");
    std::fs::write(dir.join("oauth_probe.wasm"), wasm).expect("component");
    dir
}
