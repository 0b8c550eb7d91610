//! The data of one call's store: WASI with nothing granted, wasi-http through the outbound
//! hooks, the memory limits, the call log, and the host side of the `log` and `signature`
//! imports.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::heph::connector::{log, signature};
use super::call_log::CallLog;
use super::credentials::CredentialSource;
use super::outbound::{CallNetwork, OutboundHooks};

/// How much of the connector's stdout/stderr is kept.
const OUTPUT_CAPACITY: usize = 64 * 1024;

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
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    /// Epoch ticks of CPU time left.
    pub cpu_ticks_left: u64,
}

impl CallState {
    /// A state with no ambient authority: no preopened directory, no environment, no
    /// arguments, no sockets or name lookups; stdout and stderr are captured for the log.
    pub fn new(network: Arc<CallNetwork>, limits: StoreLimits, cpu_ticks: u64) -> CallState {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            log: network.log.clone(),
            credentials: network.credentials.clone(),
            hooks: OutboundHooks(network),
            limits,
            stdout,
            stderr,
            cpu_ticks_left: cpu_ticks,
        }
    }

    /// Moves what the connector printed into the call log.
    pub fn flush_output(&self) {
        for pipe in [&self.stdout, &self.stderr] {
            let bytes = pipe.contents();
            if !bytes.is_empty() {
                self.log.output(&String::from_utf8_lossy(&bytes));
            }
        }
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
/// The most log lines kept per call.
const MAX_LINES: usize = 10_000;

impl log::Host for CallState {
    fn log(&mut self, level: log::Level, message: String) {
        if self.log.line_count() >= MAX_LINES {
            return;
        }
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        let mut message = message;
        if message.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        self.log.line(level, message);
    }
}

impl signature::Host for CallState {
    fn verify_hmac_sha256(
        &mut self,
        secret_field: String,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> bool {
        let Some(secret) = self.credentials.secret(&secret_field) else {
            self.log.line(
                "warn",
                format!("signature check: the connection has no secret `{secret_field}`"),
            );
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(&message);
        mac.verify_slice(&signature).is_ok()
    }

    fn sign_hmac_sha256(&mut self, secret_field: String, message: Vec<u8>) -> Option<Vec<u8>> {
        let Some(secret) = self.credentials.secret(&secret_field) else {
            self.log.line(
                "warn",
                format!("signing: the connection has no secret `{secret_field}`"),
            );
            return None;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
        mac.update(&message);
        Some(mac.finalize().into_bytes().to_vec())
    }
}
