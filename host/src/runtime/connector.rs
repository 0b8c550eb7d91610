//! A loaded connector and its calls. Each call gets a fresh instance (from the connector's
//! `InstancePre`, in the pooling allocator), its own memory cap, CPU budget and wall-clock
//! timeout, and its own call log. Whatever the guest does — trap, panic, loop, exhaust memory —
//! ends that call with a [`CallError`], never the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};

use super::bindings::exports::heph::connector::connector as wit;
use super::bindings::PluginPre;
use super::call_log::{CallLog, Entries};
use super::credentials::{CredentialSource, StaticCredentials};
use super::limits::{Limits, EPOCH_TICK};
use super::outbound::CallNetwork;
use super::policy::resolve_allowlist;
use super::state::CallState;
use super::Shared;
use crate::manifest::{Auth, Manifest};

/// Why a call failed. `code()` is stable for the API and the engine's retry decisions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The connector says the input is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The connector says the credentials were refused.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The connector says the thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The upstream asked to slow down (seconds to wait).
    #[error("rate limited{}", .0.map(|s| format!(": retry after {s} s")).unwrap_or_default())]
    RateLimited(Option<u32>),
    /// A failure worth retrying.
    #[error("transient: {0}")]
    Transient(String),
    /// A failure not worth retrying.
    #[error("{0}")]
    Permanent(String),
    /// The guest trapped or panicked.
    #[error("the connector crashed: {0}")]
    Trap(String),
    /// The guest ran out of CPU time.
    #[error("the connector used more than its {0:?} of CPU time (an endless loop?)")]
    CpuTime(Duration),
    /// The call ran out of wall-clock time.
    #[error("the call took longer than its {0:?} limit")]
    WallTime(Duration),
    /// The guest wanted more memory than allowed.
    #[error("the connector needed more than its {0} MiB of memory")]
    Memory(usize),
    /// The host could not make the call (configuration, a connector answer that breaks the
    /// contract).
    #[error("{0}")]
    Host(String),
}

impl CallError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::InvalidInput(_) => "invalid_input",
            CallError::Unauthorized(_) => "unauthorized",
            CallError::NotFound(_) => "not_found",
            CallError::RateLimited(_) => "rate_limited",
            CallError::Transient(_) => "transient",
            CallError::Permanent(_) => "permanent",
            CallError::Trap(_) => "trap",
            CallError::CpuTime(_) => "cpu_time_exceeded",
            CallError::WallTime(_) => "timeout",
            CallError::Memory(_) => "memory_exceeded",
            CallError::Host(_) => "host_error",
        }
    }
}

impl From<wit::Error> for CallError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::InvalidInput(m) => CallError::InvalidInput(m),
            wit::Error::Unauthorized(m) => CallError::Unauthorized(m),
            wit::Error::NotFound(m) => CallError::NotFound(m),
            wit::Error::RateLimited(s) => CallError::RateLimited(s),
            wit::Error::Transient(m) => CallError::Transient(m),
            wit::Error::Permanent(m) => CallError::Permanent(m),
        }
    }
}

/// The result of a call and what it did.
#[derive(Debug)]
pub struct CallOutcome<T> {
    /// The answer.
    pub result: Result<T, CallError>,
    /// Log lines, outbound requests, refusals, output.
    pub log: Entries,
    /// How long the call took.
    pub duration: Duration,
}

/// One item from a trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The upstream's id.
    pub id: String,
    /// The record.
    pub data: Value,
}

/// One page from a polling trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollPage {
    /// Items.
    pub items: Vec<Item>,
    /// The next cursor.
    pub cursor: Option<String>,
    /// Whether to poll again at once.
    pub has_more: bool,
}

/// What a call knows about the connection it runs for.
#[derive(Clone)]
pub struct ConnectionContext {
    /// The non-secret fields, as a JSON object; these fill `{field}` host templates and are
    /// given to the connector.
    pub public: Value,
    /// Where the credential comes from.
    pub credentials: Arc<dyn CredentialSource>,
    /// Whether the admin allowed private networks for this install.
    pub allow_private_network: bool,
    /// The run the call belongs to.
    pub run_id: String,
}

impl ConnectionContext {
    /// A connection built from a map of fields and secrets (the CLI's connection file).
    pub fn from_values(
        manifest: &Manifest,
        values: &serde_json::Map<String, Value>,
        allow_private_network: bool,
    ) -> Result<ConnectionContext, crate::manifest::ManifestError> {
        let (public, secrets) = manifest.split_connection(values)?;
        let public = manifest.with_defaults(&public);
        let credentials = Arc::new(StaticCredentials::new(&manifest.auth, &public, secrets));
        Ok(ConnectionContext {
            public,
            credentials,
            allow_private_network,
            run_id: String::new(),
        })
    }

    /// No connection: no hosts, no credential (for `describe`).
    pub fn none() -> ConnectionContext {
        ConnectionContext {
            public: Value::Object(Default::default()),
            credentials: Arc::new(StaticCredentials::new(
                &Auth::None,
                &Value::Null,
                Default::default(),
            )),
            allow_private_network: false,
            run_id: String::new(),
        }
    }
}

/// A connector ready to be called: its manifest and its pre-linked component.
pub struct Connector {
    manifest: Arc<Manifest>,
    digest: String,
    pre: PluginPre<CallState>,
    shared: Arc<Shared>,
}

enum Op {
    Describe,
    Test,
    Action(String, String),
    Poll(String, String, Option<String>),
    Webhook(String, Vec<(String, String)>, Vec<u8>),
}

enum Raw {
    Json(String),
    Page(wit::Page),
    Items(Vec<wit::Item>),
}

/// The CPU budget ran out (raised from the epoch callback).
#[derive(Debug, thiserror::Error)]
#[error("CPU time exhausted")]
struct CpuExhausted;

impl Connector {
    pub(super) fn new(
        manifest: Manifest,
        digest: String,
        pre: PluginPre<CallState>,
        shared: Arc<Shared>,
    ) -> Connector {
        Connector {
            manifest: Arc::new(manifest),
            digest,
            pre,
            shared,
        }
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The component's sha256.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The actions and triggers, parsed, without what the SDK adds about the build.
    pub async fn describe(&self) -> CallOutcome<Value> {
        let mut outcome = self.describe_with_build().await;
        if let Ok(Value::Object(fields)) = &mut outcome.result {
            fields.remove("build");
        }
        outcome
    }

    /// `describe()` as the component answers it, with the SDK's `build` entry (the manifest the
    /// component was built with), for the checks of packing and installing.
    pub async fn describe_with_build(&self) -> CallOutcome<Value> {
        self.json(self.invoke(&ConnectionContext::none(), Op::Describe).await)
    }

    /// Runs `test-connection`.
    pub async fn test_connection(&self, conn: &ConnectionContext) -> CallOutcome<Value> {
        self.json(self.invoke(conn, Op::Test).await)
    }

    /// Runs an action.
    pub async fn run_action(
        &self,
        conn: &ConnectionContext,
        action: &str,
        input: &Value,
    ) -> CallOutcome<Value> {
        self.json(
            self.invoke(conn, Op::Action(action.to_string(), input.to_string()))
                .await,
        )
    }

    /// Polls a trigger.
    pub async fn poll(
        &self,
        conn: &ConnectionContext,
        trigger: &str,
        config: &Value,
        cursor: Option<&str>,
    ) -> CallOutcome<PollPage> {
        let outcome = self
            .invoke(
                conn,
                Op::Poll(
                    trigger.to_string(),
                    config.to_string(),
                    cursor.map(str::to_string),
                ),
            )
            .await;
        map_outcome(outcome, |raw| match raw {
            Raw::Page(page) => Ok(PollPage {
                items: items(page.items)?,
                cursor: page.cursor,
                has_more: page.has_more,
            }),
            _ => Err(CallError::Host("unexpected answer".into())),
        })
    }

    /// Passes a webhook delivery to the connector.
    pub async fn webhook(
        &self,
        conn: &ConnectionContext,
        trigger: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> CallOutcome<Vec<Item>> {
        let outcome = self
            .invoke(conn, Op::Webhook(trigger.to_string(), headers, body))
            .await;
        map_outcome(outcome, |raw| match raw {
            Raw::Items(list) => items(list),
            _ => Err(CallError::Host("unexpected answer".into())),
        })
    }

    fn json(&self, outcome: CallOutcome<Raw>) -> CallOutcome<Value> {
        map_outcome(outcome, |raw| match raw {
            Raw::Json(text) => parse_json(&text),
            _ => Err(CallError::Host("unexpected answer".into())),
        })
    }

    async fn invoke(&self, conn: &ConnectionContext, op: Op) -> CallOutcome<Raw> {
        let started = Instant::now();
        let limits = &self.shared.limits;
        let log = CallLog::default();
        let describing = matches!(op, Op::Describe);
        let result = match self.network(conn, log.clone(), describing) {
            Ok(network) => {
                let wall = limits.wall_time;
                match tokio::time::timeout(
                    wall,
                    self.instantiate_and_call(network, limits, conn, op),
                )
                .await
                {
                    Ok(result) => result,
                    Err(_) => Err(CallError::WallTime(wall)),
                }
            }
            Err(e) => Err(e),
        };
        CallOutcome {
            result,
            log: log.snapshot(),
            duration: started.elapsed(),
        }
    }

    fn network(
        &self,
        conn: &ConnectionContext,
        log: CallLog,
        describing: bool,
    ) -> Result<Arc<CallNetwork>, CallError> {
        // `describe` makes no requests and has no connection to fill host templates from.
        let (allowed, authenticated) = if describing {
            (Vec::new(), None)
        } else {
            let resolve = |entries: &[String]| {
                resolve_allowlist(entries, &conn.public).map_err(|e| CallError::Host(e.to_string()))
            };
            let authenticated = match &self.manifest.capabilities.authenticated_hosts {
                Some(entries) => Some(resolve(entries)?),
                None => None,
            };
            (resolve(&self.manifest.capabilities.hosts)?, authenticated)
        };
        let limits = self.shared.limits.clone();
        let concurrency = self
            .manifest
            .limits
            .max_concurrent_requests
            .unwrap_or(limits.concurrent_requests)
            .clamp(1, limits.concurrent_requests);
        Ok(Arc::new(CallNetwork {
            allowed,
            authenticated,
            allow_private: conn.allow_private_network,
            credentials: conn.credentials.clone(),
            client: self.shared.client.clone(),
            log,
            limits,
            permits: Arc::new(Semaphore::new(concurrency)),
        }))
    }

    async fn instantiate_and_call(
        &self,
        network: Arc<CallNetwork>,
        limits: &Limits,
        conn: &ConnectionContext,
        op: Op,
    ) -> Result<Raw, CallError> {
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .trap_on_grow_failure(true)
            .build();
        let cpu_ticks = (limits.cpu_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        let mut store = Store::new(
            &self.shared.engine,
            CallState::new(network, store_limits, cpu_ticks),
        );
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.cpu_ticks_left == 0 {
                return Err(CpuExhausted.into());
            }
            state.cpu_ticks_left -= 1;
            // Yielding lets the wall-clock timeout fire even while the guest spins.
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);

        let ctx = wit::Context {
            connection: Some(conn.public.to_string()),
            run_id: conn.run_id.clone(),
        };
        let result = async {
            let plugin = self.pre.instantiate_async(&mut store).await?;
            let exports = plugin.heph_connector_connector();
            Ok::<_, wasmtime::Error>(match op {
                Op::Describe => Ok(Raw::Json(exports.call_describe(&mut store).await?)),
                Op::Test => exports
                    .call_test_connection(&mut store, &ctx)
                    .await?
                    .map(Raw::Json),
                Op::Action(name, input) => exports
                    .call_run_action(&mut store, &ctx, &name, &input)
                    .await?
                    .map(Raw::Json),
                Op::Poll(trigger, config, cursor) => exports
                    .call_poll(&mut store, &ctx, &trigger, &config, cursor.as_deref())
                    .await?
                    .map(Raw::Page),
                Op::Webhook(trigger, headers, body) => exports
                    .call_webhook(&mut store, &ctx, &trigger, &headers, &body)
                    .await?
                    .map(Raw::Items),
            })
        }
        .await;
        store.data().flush_output();
        match result {
            Ok(answer) => answer.map_err(CallError::from),
            Err(error) => Err(self.classify(error)),
        }
    }

    /// Turns a wasmtime error into what went wrong, in words an admin can act on.
    fn classify(&self, error: wasmtime::Error) -> CallError {
        let limits = &self.shared.limits;
        if error.downcast_ref::<CpuExhausted>().is_some() {
            return CallError::CpuTime(limits.cpu_time);
        }
        let chain = format!("{error:#}");
        if chain.contains("growing memory") || chain.contains("memory growth failure") {
            return CallError::Memory(limits.memory_bytes >> 20);
        }
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::StackOverflow) => {
                CallError::Trap("stack overflow (unbounded recursion?)".into())
            }
            Some(wasmtime::Trap::UnreachableCodeReached) => CallError::Trap(
                "the connector panicked or aborted (see its output in the call log)".into(),
            ),
            Some(trap) => CallError::Trap(trap.to_string()),
            None => CallError::Trap(first_line(&chain)),
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

fn parse_json(text: &str) -> Result<Value, CallError> {
    serde_json::from_str(text)
        .map_err(|e| CallError::Host(format!("the connector answered with invalid JSON: {e}")))
}

fn items(list: Vec<wit::Item>) -> Result<Vec<Item>, CallError> {
    list.into_iter()
        .map(|i| {
            Ok(Item {
                id: i.id,
                data: parse_json(&i.data)?,
            })
        })
        .collect()
}

fn map_outcome<A, B>(
    outcome: CallOutcome<A>,
    f: impl FnOnce(A) -> Result<B, CallError>,
) -> CallOutcome<B> {
    CallOutcome {
        result: outcome.result.and_then(f),
        log: outcome.log,
        duration: outcome.duration,
    }
}
