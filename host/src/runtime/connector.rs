//! A loaded connector and its calls. Each call gets a fresh instance (from the connector's
//! `InstancePre`, in the pooling allocator), its own memory cap, CPU budget and wall-clock
//! timeout, and its own call log. Whatever the guest does — trap, panic, loop, exhaust memory —
//! ends that call with a [`CallError`], never the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::bindings::exports::heph::connector::connector as wit;
use super::bindings::PluginPre;
use super::budget::{parsed_json_bytes, HostBudget};
use super::call::{instantiate_and_call, Op, Raw};
use super::call_log::{CallLog, Entries};
use super::credentials::{CredentialSource, StaticCredentials};
pub use super::error::CallError;
use super::outbound::CallNetwork;
use super::policy::resolve_allowlist;
use super::redact::Redactor;
use super::state::CallState;
use super::Shared;
use crate::manifest::{Auth, Manifest};

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
    /// Whose call it is (a user's id): the key of the fair share of the instance pool.
    pub tenant: String,
}

/// The tenant of calls made by the command line on its own behalf.
pub const LOCAL_TENANT: &str = "local";

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
            tenant: LOCAL_TENANT.to_string(),
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
            tenant: LOCAL_TENANT.to_string(),
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
    /// component was built with), for the checks of packing and installing. An answer larger
    /// than `describe_bytes` is refused, naming the limit.
    pub async fn describe_with_build(&self) -> CallOutcome<Value> {
        let cap = self.shared.limits.describe_bytes;
        self.call(&ConnectionContext::none(), Op::Describe, |raw, checks| {
            checks.json(raw, cap, "its describe() answer", "describe_bytes")
        })
        .await
    }

    /// Runs `test-connection`.
    pub async fn test_connection(&self, conn: &ConnectionContext) -> CallOutcome<Value> {
        let cap = self.shared.limits.result_bytes;
        self.call(conn, Op::Test, |raw, checks| {
            checks.json(raw, cap, "its answer", "result_bytes")
        })
        .await
    }

    /// Runs an action.
    pub async fn run_action(
        &self,
        conn: &ConnectionContext,
        action: &str,
        input: &Value,
    ) -> CallOutcome<Value> {
        let cap = self.shared.limits.result_bytes;
        let op = Op::Action(action.to_string(), input.to_string());
        self.call(conn, op, |raw, checks| {
            checks.json(raw, cap, "its answer", "result_bytes")
        })
        .await
    }

    /// Polls a trigger.
    pub async fn poll(
        &self,
        conn: &ConnectionContext,
        trigger: &str,
        config: &Value,
        cursor: Option<&str>,
    ) -> CallOutcome<PollPage> {
        let op = Op::Poll(
            trigger.to_string(),
            config.to_string(),
            cursor.map(str::to_string),
        );
        self.call(conn, op, |raw, checks| checks.page(raw)).await
    }

    /// Passes a webhook delivery to the connector.
    pub async fn webhook(
        &self,
        conn: &ConnectionContext,
        trigger: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> CallOutcome<Vec<Item>> {
        let op = Op::Webhook(trigger.to_string(), headers, body);
        self.call(conn, op, |raw, checks| match raw {
            Raw::Items(list) => checks.items(list),
            _ => Err(unexpected()),
        })
        .await
    }

    /// One call: a slot in the instance pool, a fresh instance under the limits, the answer
    /// checked against the caps, and everything redacted of the connection's secrets.
    async fn call<T: Redact>(
        &self,
        conn: &ConnectionContext,
        op: Op,
        convert: impl FnOnce(Raw, &Checks) -> Result<T, CallError>,
    ) -> CallOutcome<T> {
        let started = Instant::now();
        let limits = &self.shared.limits;
        let budget = HostBudget::new(limits.charged_host_bytes());
        let log = CallLog::new(budget.clone(), limits.log_bytes);
        let describing = matches!(op, Op::Describe);
        let mut used = Vec::new();
        let result = async {
            let network = self.network(conn, log.clone(), describing)?;
            let _slot = self
                .shared
                .admission
                .admit(&conn.tenant, &self.manifest.id)
                .await
                .map_err(|e| CallError::Busy(e.to_string()))?;
            let wall = limits.wall_time;
            let call = instantiate_and_call(&self.pre, &self.shared, network.clone(), conn, op);
            let raw = tokio::time::timeout(wall, call)
                .await
                .unwrap_or(Err(CallError::WallTime(wall)));
            used = network.used_credentials();
            if let Some(limit) = network.limit_reached() {
                return Err(CallError::Limit(limit));
            }
            convert(
                raw?,
                &Checks {
                    limits,
                    budget: &budget,
                },
            )
        }
        .await;
        let mut result = if budget.exceeded() {
            // What the call made the host hold is let go; the error says why.
            log.clear();
            Err(CallError::HostMemory(limits.host_memory_bytes >> 20))
        } else {
            result
        };
        let mut log = log.snapshot();
        let redactor = conn.credentials.redactor().covering(&used);
        if !redactor.is_empty() {
            match &mut result {
                Ok(value) => value.redact(&redactor),
                Err(e) => redactor.error(e),
            }
            redactor.entries(&mut log);
        }
        CallOutcome {
            result,
            log,
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
        Ok(Arc::new(CallNetwork::new(
            allowed,
            authenticated,
            conn,
            self.manifest.signing_fields().map(str::to_string).collect(),
            self.shared.client.clone(),
            log,
            limits,
            Arc::new(Semaphore::new(concurrency)),
        )))
    }
}

/// The caps an answer is checked against before it is parsed.
struct Checks<'a> {
    limits: &'a super::Limits,
    budget: &'a HostBudget,
}

impl Checks<'_> {
    /// Checks a JSON text's size (`setting` names the limit) and charges its parsed size.
    fn text(&self, text: &str, cap: usize, what: &str, setting: &str) -> Result<(), CallError> {
        if text.len() > cap {
            return Err(CallError::Limit(format!(
                "the connector handed back {what} of {} bytes, more than the {cap} bytes allowed ({setting})",
                text.len()
            )));
        }
        self.budget
            .charge(parsed_json_bytes(text))
            .map_err(|_| CallError::HostMemory(self.limits.host_memory_bytes >> 20))
    }

    fn json(&self, raw: Raw, cap: usize, what: &str, setting: &str) -> Result<Value, CallError> {
        let Raw::Json(text) = raw else {
            return Err(unexpected());
        };
        self.text(&text, cap, what, setting)?;
        parse_json(&text)
    }

    fn items(&self, list: Vec<wit::Item>) -> Result<Vec<Item>, CallError> {
        let cap = self.limits.items_per_call;
        if list.len() > cap {
            return Err(CallError::Limit(format!(
                "the connector handed back {} items at once, more than the {cap} one poll page or webhook delivery may hold (items_per_call)",
                list.len()
            )));
        }
        let total: usize = list.iter().map(|i| i.id.len() + i.data.len()).sum();
        let cap = self.limits.result_bytes;
        if total > cap {
            return Err(CallError::Limit(format!(
                "the connector handed back items of {total} bytes in all, more than the {cap} bytes allowed (result_bytes)"
            )));
        }
        list.into_iter()
            .map(|i| {
                self.text(&i.data, cap, "an item", "result_bytes")?;
                Ok(Item {
                    id: i.id,
                    data: parse_json(&i.data)?,
                })
            })
            .collect()
    }

    fn page(&self, raw: Raw) -> Result<PollPage, CallError> {
        let Raw::Page(page) = raw else {
            return Err(unexpected());
        };
        let cap = self.limits.cursor_bytes;
        if let Some(cursor) = page.cursor.as_ref().filter(|c| c.len() > cap) {
            return Err(CallError::Limit(format!(
                "the connector handed back a cursor of {} bytes, more than the {cap} bytes allowed (cursor_bytes): a cursor is stored and sent back with every poll",
                cursor.len()
            )));
        }
        Ok(PollPage {
            items: self.items(page.items)?,
            cursor: page.cursor,
            has_more: page.has_more,
        })
    }
}

fn unexpected() -> CallError {
    CallError::Host("the connector's answer is not of the kind the call expects".into())
}

fn parse_json(text: &str) -> Result<Value, CallError> {
    serde_json::from_str(text)
        .map_err(|e| CallError::Host(format!("the connector answered with invalid JSON: {e}")))
}

/// What a call hands back, redacted of secrets in place.
trait Redact {
    fn redact(&mut self, redactor: &Redactor);
}

impl Redact for Value {
    fn redact(&mut self, redactor: &Redactor) {
        redactor.value(self);
    }
}

impl Redact for Vec<Item> {
    fn redact(&mut self, redactor: &Redactor) {
        redactor.items(self);
    }
}

impl Redact for PollPage {
    fn redact(&mut self, redactor: &Redactor) {
        redactor.items(&mut self.items);
        if let Some(cursor) = &mut self.cursor {
            redactor.text(cursor);
        }
    }
}
