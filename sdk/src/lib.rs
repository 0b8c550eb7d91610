//! # heph-sdk — write a Heph connector in Rust
//!
//! A connector is a WebAssembly component that Heph runs in a sandbox. It describes its actions
//! and triggers, and calls its upstream API over HTTP; the host decides which hosts it may reach
//! and adds the credentials itself, so connector code never handles a secret.
//!
//! With this crate a connector holds only its API logic:
//!
//! ```ignore
//! use heph_sdk::{export_connector, http, json, Connector, Context, Error, Value};
//!
//! struct Hello;
//!
//! impl Connector for Hello {
//!     fn describe() -> Value {
//!         json!({"actions": [{"name": "whoami", "title": "Who am I",
//!                 "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
//!     }
//!     fn run_action(ctx: &Context, action: &str, _input: Value) -> Result<Value, Error> {
//!         match action {
//!             "whoami" => http::get(&format!("{}/me", ctx.field("base_url")?))
//!                 .send()?
//!                 .error_for_status()?
//!                 .json(),
//!             other => Err(Error::unknown_action(other)),
//!         }
//!     }
//! }
//!
//! export_connector!(Hello);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`, and give it a `heph.toml`
//! manifest that names the hosts it calls (see the README).
//!
//! - [`Connector`]: the trait to implement; every method but `describe` has a default.
//! - [`http`]: requests with JSON bodies, query strings and headers; upstream answers mapped onto
//!   [`Error`] (401/403 → unauthorized, 404 → not found, 429 → rate limited, 5xx → transient).
//! - [`paging`]: cursors as JSON, and fetching several pages at once.
//! - [`log`]: lines for the run's step log.
#![deny(missing_docs)]

pub mod bindings;
mod connector;
mod error;
pub mod http;
pub mod log;
pub mod paging;
pub mod time;
mod url;

pub use connector::{BuildInfo, Connector, Context, Exported, Item, Page};
pub use error::Error;
pub use serde_json::{json, Map, Value};
pub use url::{encode as percent_encode, Url};

/// Checks an HMAC-SHA256 webhook signature against the connection's secret field
/// `secret_field`, without the secret ever entering the connector.
pub fn verify_hmac_sha256(secret_field: &str, message: &[u8], signature: &[u8]) -> bool {
    bindings::heph::connector::signature::verify_hmac_sha256(secret_field, message, signature)
}

/// The HMAC-SHA256 of `message` keyed by the connection's secret field `secret_field`, or
/// `None` when the connection has no such secret. The connector gets the tag, never the key:
/// use it for tokens handed to an upstream and checked with [`verify_hmac_sha256`] later.
pub fn sign_hmac_sha256(secret_field: &str, message: &[u8]) -> Option<Vec<u8>> {
    bindings::heph::connector::signature::sign_hmac_sha256(secret_field, message)
}

/// Exports a type that implements [`Connector`] as the component's `connector` interface.
/// Use it once, in the connector crate's `lib.rs`.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        // The manifest next to the crate's Cargo.toml goes into the component, so that packing
        // can check that the component and the manifest it ships with agree.
        struct __HephBuild;
        impl $crate::BuildInfo for __HephBuild {
            const MANIFEST: &'static str =
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/heph.toml"));
        }
        type __HephExportedConnector = $crate::Exported<$connector, __HephBuild>;
        $crate::bindings::export!(__HephExportedConnector with_types_in $crate::bindings);
    };
}

/// Hexadecimal text, for signatures and tokens.
pub mod hex {
    /// Lower-case hex of `bytes`.
    pub fn encode(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The bytes of hex `text` (either case), or `None` if it is not hex.
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect()
    }
}
