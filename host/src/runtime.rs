//! The connector runtime: a wasmtime engine with the pooling allocator and epoch interruption,
//! compiled components cached on disk, one `InstancePre` per connector and a fresh instance per
//! call, the outbound HTTP policy with credential injection, and the `log` import.
//!
//! ```text
//! Runtime::new(config) ─ load(manifest, component) ─▶ Connector ─ run_action/poll/… ─▶ CallOutcome
//!   call: admission (a fair slot) → instance (limits, CPU clock, host budget) → export
//!         → answer checked against the caps → redaction of the connection's secrets
//! ```
//!
//! Every limit is in [`Limits`]; `admission` shares the pool, `budget` the host memory of a
//! call, `call` runs it, `redact` scrubs what it hands back, `outbound` and `policy` guard
//! the network.

mod admission;
mod bindings;
pub mod budget;
pub mod cache;
mod call;
pub mod call_log;
mod client;
mod connector;
pub mod credentials;
mod error;
pub mod host_http;
pub mod limits;
mod outbound;
mod output;
pub mod policy;
pub mod redact;
mod state;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::Origin;
pub use client::ResolveOverrides;
pub use connector::{
    CallError, CallOutcome, ConnectionContext, Connector, Item, PollPage, LOCAL_TENANT,
};
pub use credentials::{Credential, CredentialFuture, CredentialSource, StaticCredentials};
pub use limits::Limits;

use crate::manifest::Manifest;
use admission::Admission;
use bindings::PluginPre;
use cache::ComponentCache;
use client::OutboundClient;
use state::CallState;

/// How the runtime is set up.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// Per-call limits.
    pub limits: Limits,
    /// Where compiled components are cached (none: compile every time).
    pub cache_dir: Option<PathBuf>,
    /// Names resolved to fixed addresses (tests; hosts without DNS). Still policy-checked.
    pub resolve_overrides: ResolveOverrides,
    /// Root certificates (DER) trusted besides the web PKI's (a test CA; a corporate proxy).
    pub extra_root_certs: Vec<Vec<u8>>,
}

/// Why the runtime or a connector could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the configuration.
    #[error("cannot start the WebAssembly engine: {0:#}")]
    Engine(wasmtime::Error),
    /// The outbound client could not be set up.
    #[error("cannot set up outbound HTTP: {0}")]
    Network(String),
    /// The component is not a valid connector.
    #[error("connector `{id}`: {message}")]
    Component {
        /// The connector.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// What every connector shares.
pub(crate) struct Shared {
    engine: Engine,
    client: Arc<OutboundClient>,
    limits: Limits,
    admission: Admission,
}

/// The runtime. Create one per process.
pub struct Runtime {
    shared: Arc<Shared>,
    linker: Linker<CallState>,
    cache: ComponentCache,
    ticker: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

/// The most core instances, memories and tables one connector instance may have. A Rust
/// guest has a handful of each (its module, the WASI adapter, shims); a language runtime more.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 8;

impl Runtime {
    /// Starts the engine, the epoch ticker and the outbound client. Needs a Tokio runtime.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        // The pool holds `instances` connector instances with everything each may need, so
        // that a call admitted to a slot (see `admission`) always gets its instance.
        let instances = config.limits.instances.max(1);
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(instances)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .total_core_instances(instances * CORE_INSTANCES_PER_COMPONENT)
            .total_memories(instances * MEMORIES_PER_COMPONENT)
            .total_tables(instances * TABLES_PER_COMPONENT)
            .max_memory_size(config.limits.memory_bytes.max(1 << 20))
            // A call's instance is short-lived: resetting its first pages with memset on reuse
            // is cheaper than giving them back to the kernel (madvise) after every call.
            .linear_memory_keep_resident(64 << 10)
            .table_keep_resident(64 << 10);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&wasm).map_err(RuntimeError::Engine)?;

        let mut linker = Linker::new(&engine);
        // All of WASI, so that any language's standard library links; the context grants
        // nothing (see `CallState::new`).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(RuntimeError::Engine)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(RuntimeError::Engine)?;
        bindings::heph::connector::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(RuntimeError::Engine)?;
        bindings::heph::connector::signature::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(RuntimeError::Engine)?;

        let ticker = start_ticker(engine.clone()).map_err(|e| {
            RuntimeError::Engine(wasmtime::Error::msg(format!(
                "cannot start the epoch thread: {e}"
            )))
        })?;
        let cache = ComponentCache::new(&engine, config.cache_dir.clone());
        let client = Arc::new(
            OutboundClient::new(
                config.limits.connect_timeout,
                config.resolve_overrides,
                &config.extra_root_certs,
            )
            .map_err(|e| RuntimeError::Network(e.to_string()))?,
        );
        Ok(Runtime {
            shared: Arc::new(Shared {
                engine,
                client,
                admission: Admission::new(&config.limits),
                limits: config.limits,
            }),
            linker,
            cache,
            ticker: Some(ticker),
        })
    }

    /// Compiles (or loads from the cache) and links a connector.
    pub fn load(
        &self,
        manifest: Manifest,
        component: &[u8],
    ) -> Result<(Connector, Origin), RuntimeError> {
        let id = manifest.id.clone();
        let fail = |message: String| RuntimeError::Component {
            id: id.clone(),
            message,
        };
        let (compiled, origin) = self
            .cache
            .load(&self.shared.engine, component)
            .map_err(|e| fail(format!("not a valid WebAssembly component: {e:#}")))?;
        let pre = self.linker.instantiate_pre(&compiled).map_err(|e| {
            fail(format!(
                "it imports something this host does not provide: {e:#}"
            ))
        })?;
        let pre = PluginPre::new(pre).map_err(|e| {
            fail(format!(
                "it does not export heph:connector/connector@0.1.0: {e:#}"
            ))
        })?;
        let digest = cache::digest(component);
        Ok((
            Connector::new(manifest, digest, pre, self.shared.clone()),
            origin,
        ))
    }

    /// The names of the interfaces a component imports and exports (`wasi:http/types@0.2.12`,
    /// `heph:connector/connector@0.1.0`), read from its compiled type: what packing checks.
    pub fn interfaces(&self, component: &[u8]) -> Result<Interfaces, RuntimeError> {
        let (compiled, _) = self
            .cache
            .load(&self.shared.engine, component)
            .map_err(|e| RuntimeError::Component {
                id: "(package)".into(),
                message: format!("not a valid WebAssembly component: {e:#}"),
            })?;
        let ty = compiled.component_type();
        let engine = &self.shared.engine;
        Ok(Interfaces {
            imports: ty.imports(engine).map(|(n, _)| n.to_string()).collect(),
            exports: ty.exports(engine).map(|(n, _)| n.to_string()).collect(),
        })
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

/// What a component imports and exports, by name.
#[derive(Debug, Clone, Default)]
pub struct Interfaces {
    /// Imported instance names.
    pub imports: Vec<String>,
    /// Exported instance names.
    pub exports: Vec<String>,
}

/// Advances the engine's epoch every [`limits::EPOCH_TICK`]: the clock of CPU deadlines.
fn start_ticker(engine: Engine) -> std::io::Result<(Arc<AtomicBool>, JoinHandle<()>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("heph-epoch".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(limits::EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
    Ok((stop, handle))
}
