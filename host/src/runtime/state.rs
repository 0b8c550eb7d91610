//! The data of one call's store: WASI with nothing granted, wasi-http through the outbound
//! hooks, the memory limits and resource caps, the CPU clock, the call log, and the host side
//! of the `log` and `signature` imports.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::heph::connector::{log, signature};
use super::call::CpuClock;
use super::call_log::{truncate, CallLog};
use super::credentials::CredentialSource;
use super::limits::{Limits, FIELDS_BYTES};
use super::outbound::{CallNetwork, OutboundHooks};
use super::output::CapturedOutput;

/// The `T` of a call's `Store<T>`.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    /// Memory caps.
    pub limits: StoreLimits,
    log: CallLog,
    credentials: Arc<dyn CredentialSource>,
    signing: Arc<[String]>,
    output: CapturedOutput,
    /// The guest's CPU time.
    pub cpu: CpuClock,
}

impl CallState {
    /// A state with no ambient authority: no preopened directory, no environment, no
    /// arguments, no sockets or name lookups; stdout and stderr are captured (up to the call's
    /// output bytes) for the log. Its resource table and header maps are capped so that what
    /// the guest's resources make the host hold stays within half of the host budget.
    pub fn new(
        network: Arc<CallNetwork>,
        store_limits: StoreLimits,
        cpu: CpuClock,
        limits: &Limits,
    ) -> CallState {
        let output = CapturedOutput::new(limits.output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resources());
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(FIELDS_BYTES);
        CallState {
            wasi,
            table,
            http,
            log: network.log.clone(),
            credentials: network.credentials.clone(),
            signing: network.signing.clone(),
            hooks: OutboundHooks(network),
            limits: store_limits,
            output,
            cpu,
        }
    }

    /// Moves what the connector printed into the call log.
    pub fn flush_output(&self) {
        let (text, dropped) = self.output.contents();
        if !text.is_empty() || dropped > 0 {
            self.log.output(&text, dropped, self.output.cap());
        }
    }

    /// Whether the call went over its host budget.
    pub fn budget_exceeded(&self) -> bool {
        self.log.budget().exceeded()
    }

    /// A secret usable as an HMAC key: a field the manifest marks `sign = true`.
    fn signing_key(&self, field: &str, what: &str) -> Option<String> {
        if !self.signing.iter().any(|f| f == field) {
            self.log.line(
                "warn",
                format!("{what}: `{field}` is not a signing key of this connector (only fields marked `sign = true` in its manifest are)"),
            );
            return None;
        }
        let secret = self.credentials.secret(field);
        if secret.is_none() {
            self.log.line(
                "warn",
                format!("{what}: the connection has no secret `{field}`"),
            );
        }
        secret
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The longest log line kept; a connector cannot flood the log store.
const MAX_LINE: usize = 8 * 1024;

impl log::Host for CallState {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.log.line(level, truncate(message, MAX_LINE));
    }
}

impl signature::Host for CallState {
    fn verify_hmac_sha256(
        &mut self,
        secret_field: String,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> bool {
        let Some(secret) = self.signing_key(&secret_field, "signature check") else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(&message);
        mac.verify_slice(&signature).is_ok()
    }

    fn sign_hmac_sha256(&mut self, secret_field: String, message: Vec<u8>) -> Option<Vec<u8>> {
        let secret = self.signing_key(&secret_field, "signing")?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
        mac.update(&message);
        Some(mac.finalize().into_bytes().to_vec())
    }
}
