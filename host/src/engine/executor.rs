//! Runs one trigger item through a scenario's tree of nodes and records every step: its
//! input, output, error, attempts, duration, the outbound requests it made and the
//! connector's log lines. Retries follow the connector's typed errors.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::value::Value as JinjaValue;
use serde_json::{json, Value};

use super::plan::{Plan, PlanKind};
use super::retry::{backoff, RetryDecision};
use super::scenario::{OnError, StoreOp};
use crate::app::App;
use crate::connections::ConnectionHandle;
use crate::runtime::call_log::Entries;
use crate::runtime::CallError;
use crate::store::{now_ms, StepRecord};

/// What a run shares between its items.
pub struct RunScope {
    /// The app.
    pub app: Arc<App>,
    /// The compiled scenario.
    pub plan: Arc<Plan>,
    /// The run.
    pub run_id: String,
    /// The scenario's owner.
    pub user_id: String,
    /// The open connections, by id.
    pub connections: HashMap<String, Arc<ConnectionHandle>>,
    /// `vars` and `run`, as template values.
    pub globals: BTreeMap<String, JinjaValue>,
    /// Set when the run should stop at the next item.
    pub stop: Arc<AtomicBool>,
    /// Data store writes not yet committed: they go into the store with the page's steps, in
    /// one transaction, and later reads in the run see them.
    pub pending: std::sync::Mutex<HashMap<(String, String), Option<Value>>>,
    /// Set once this attempt committed an item that waits (the run then has waits to read
    /// before it ends).
    pub waited: AtomicBool,
}

impl RunScope {
    /// A write not yet committed: `Some(None)` is a pending delete.
    fn pending_write(&self, collection: &str, key: &str) -> Option<Option<Value>> {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .get(&(collection.to_string(), key.to_string()))
            .cloned()
    }

    fn write(&self, collection: &str, key: &str, data: Option<Value>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.insert((collection.to_string(), key.to_string()), data);
    }

    /// Takes the pending writes, for a commit.
    pub fn take_writes(&self) -> Vec<crate::store::RecordWrite> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .drain()
            .map(|((collection, id), data)| crate::store::RecordWrite {
                user_id: self.user_id.clone(),
                collection,
                id,
                data,
            })
            .collect()
    }
}

/// How an item ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemEnd {
    /// It went through.
    Done,
    /// A filter stopped it.
    Filtered,
    /// A node failed and said `skip`.
    Skipped(String),
    /// A node failed and said `stop`: the run stops.
    Failed(String),
    /// A connection needs re-authorization: the scenario pauses. (connection id, reason)
    Paused(String, String),
    /// It waits in a delay node until `due_at` (Unix ms); `state` is the rest of its walk.
    Waiting {
        /// When it goes on.
        due_at: i64,
        /// Its frames and the step count so far ([`resume_item`] reads it).
        state: Value,
    },
}

impl ItemEnd {
    /// The item's stored status.
    pub fn status(&self) -> &'static str {
        match self {
            ItemEnd::Done => "done",
            ItemEnd::Filtered => "filtered",
            ItemEnd::Skipped(_) => "skipped",
            ItemEnd::Failed(_) => "failed",
            // Not an end: the item runs again once its connection is fixed.
            ItemEnd::Paused(..) => "paused",
            ItemEnd::Waiting { .. } => "waiting",
        }
    }

    /// Its error, if any.
    pub fn error(&self) -> Option<String> {
        match self {
            ItemEnd::Done | ItemEnd::Filtered | ItemEnd::Waiting { .. } => None,
            ItemEnd::Skipped(e) | ItemEnd::Failed(e) | ItemEnd::Paused(_, e) => Some(e.clone()),
        }
    }
}

/// What happened to one item.
pub struct ItemResult {
    /// How it ended.
    pub end: ItemEnd,
    /// Its steps.
    pub steps: Vec<StepRecord>,
    /// Whether it called an action: an effect outside Heph, which a crash before its commit
    /// would repeat, so the run commits it without waiting for the rest of its page.
    pub acted: bool,
}

/// A node's failure after its retries.
struct NodeError {
    code: String,
    message: String,
    /// A connection that needs re-authorization.
    reauth: Option<String>,
}

struct StepOutput {
    input: Option<Value>,
    output: Value,
    attempts: i64,
    logs: Vec<Value>,
    requests: Vec<Value>,
}

struct Frame {
    node: usize,
    scope: BTreeMap<String, JinjaValue>,
    /// Attempts of this node made before it waited (an action waiting out a `Retry-After`).
    attempts: u32,
}

/// Delays up to this long are waited inline; longer ones park the item (and, when nothing else
/// is left to do, the run) so that no worker waits with it.
pub const INLINE_DELAY_SECS: f64 = 1.0;

/// Runs one item (`seq` in the run) through the scenario.
pub async fn run_item(scope: &RunScope, seq: i64, item_id: &str, data: &Value) -> ItemResult {
    let mut base = scope.globals.clone();
    base.insert("trigger".into(), JinjaValue::from_serialize(data));
    base.insert("trigger_id".into(), JinjaValue::from(item_id));
    let stack: Vec<Frame> = scope
        .plan
        .roots
        .iter()
        .rev()
        .map(|&node| Frame {
            node,
            scope: base.clone(),
            attempts: 0,
        })
        .collect();
    walk(scope, seq, stack, Walked::default()).await
}

/// Goes on with an item that waited in a delay node, from the state it left.
pub async fn resume_item(scope: &RunScope, seq: i64, state: &Value) -> ItemResult {
    let frames = state["frames"].as_array().cloned().unwrap_or_default();
    let mut stack = Vec::with_capacity(frames.len());
    for frame in frames {
        let Some(node) = frame["node"].as_u64().map(|n| n as usize) else {
            continue;
        };
        if node >= scope.plan.nodes.len() {
            continue;
        }
        let mut values = BTreeMap::new();
        if let Some(map) = frame["scope"].as_object() {
            for (name, value) in map {
                values.insert(name.clone(), JinjaValue::from_serialize(value));
            }
        }
        // The run's globals are the current attempt's (`run.id` is the same; `vars` too).
        values.extend(scope.globals.clone());
        stack.push(Frame {
            node,
            scope: values,
            attempts: frame["attempts"].as_u64().unwrap_or(0) as u32,
        });
    }
    let so_far = Walked {
        steps: state["steps"].as_i64().unwrap_or(0),
        filtered: state["filtered"].as_bool().unwrap_or(false),
        finished_leaf: state["finished_leaf"].as_bool().unwrap_or(false),
    };
    walk(scope, seq, stack, so_far).await
}

/// What an item's walk did before it waited.
#[derive(Default)]
struct Walked {
    steps: i64,
    filtered: bool,
    finished_leaf: bool,
}

/// The state a waiting item keeps: its remaining frames, with the values they read as JSON.
fn waiting_state(
    stack: &[Frame],
    walked: &Walked,
    globals: &BTreeMap<String, JinjaValue>,
) -> Value {
    let frames: Vec<Value> = stack
        .iter()
        .map(|frame| {
            let scope: serde_json::Map<String, Value> = frame
                .scope
                .iter()
                .filter(|(name, _)| !globals.contains_key(*name))
                .map(|(name, value)| {
                    (
                        name.clone(),
                        serde_json::to_value(value).unwrap_or(Value::Null),
                    )
                })
                .collect();
            json!({"node": frame.node, "scope": scope, "attempts": frame.attempts})
        })
        .collect();
    json!({
        "frames": frames,
        "steps": walked.steps,
        "filtered": walked.filtered,
        "finished_leaf": walked.finished_leaf,
    })
}

async fn walk(scope: &RunScope, seq: i64, mut stack: Vec<Frame>, so_far: Walked) -> ItemResult {
    let first_step = so_far.steps;
    let mut steps = Vec::new();
    let mut filtered = so_far.filtered;
    let mut finished_leaf = so_far.finished_leaf;
    let mut end = None;
    let mut acted = false;
    while let Some(frame) = stack.pop() {
        let node = &scope.plan.nodes[frame.node];
        let context =
            JinjaValue::from_iter(frame.scope.iter().map(|(k, v)| (k.clone(), v.clone())));
        let started_at = now_ms();
        let started = Instant::now();
        let result = run_node(scope, frame.node, &context, frame.attempts).await;
        acted |= matches!(node.kind, PlanKind::Action { .. });
        let duration_us = started.elapsed().as_micros() as i64;
        let mut record = StepRecord {
            item_seq: seq,
            step: first_step + steps.len() as i64 + 1,
            node_id: node.id.clone(),
            status: "ok".into(),
            input: None,
            output: None,
            error_code: None,
            error: None,
            attempts: 1,
            started_at,
            duration_us,
            requests: None,
            logs: None,
        };
        let (output, next): (Option<Value>, Vec<(usize, Option<JinjaValue>)>) = match result {
            Ok((step, flow)) => {
                record.input = step.input;
                record.attempts = step.attempts;
                record.logs = (!step.logs.is_empty()).then(|| Value::Array(step.logs));
                record.requests = (!step.requests.is_empty()).then(|| Value::Array(step.requests));
                match flow {
                    Flow::Stop => {
                        record.status = "filtered".into();
                        record.output = Some(step.output);
                        filtered = true;
                        steps.push(record);
                        continue;
                    }
                    Flow::Children => {
                        let children = node.children.iter().map(|(_, c)| (*c, None)).collect();
                        (Some(step.output), children)
                    }
                    Flow::Again { due_at, attempts } => {
                        record.status = "waiting".into();
                        record.error_code = Some("rate_limited".into());
                        record.error = Some(
                            "the upstream asked to wait; the node is tried again when the wait is over"
                                .into(),
                        );
                        steps.push(record);
                        stack.push(Frame {
                            node: frame.node,
                            scope: frame.scope.clone(),
                            attempts,
                        });
                        let walked = Walked {
                            steps: first_step + steps.len() as i64,
                            filtered,
                            finished_leaf,
                        };
                        let state = waiting_state(&stack, &walked, &scope.globals);
                        return ItemResult {
                            end: ItemEnd::Waiting { due_at, state },
                            steps,
                            acted,
                        };
                    }
                    Flow::Wait(due_at) => {
                        // The children go on the stack as for any node; then the item waits.
                        record.output = Some(step.output.clone());
                        steps.push(record);
                        let value = JinjaValue::from_serialize(&step.output);
                        for (_, child) in node.children.iter().rev() {
                            let mut child_scope = frame.scope.clone();
                            child_scope.insert(node.id.clone(), value.clone());
                            stack.push(Frame {
                                node: *child,
                                scope: child_scope,
                                attempts: 0,
                            });
                        }
                        let walked = Walked {
                            steps: first_step + steps.len() as i64,
                            filtered,
                            finished_leaf: finished_leaf || node.children.is_empty(),
                        };
                        let state = waiting_state(&stack, &walked, &scope.globals);
                        return ItemResult {
                            end: ItemEnd::Waiting { due_at, state },
                            steps,
                            acted,
                        };
                    }
                    Flow::Routes(routes) => {
                        let children = node
                            .children
                            .iter()
                            .filter(|(route, _)| route.as_ref().is_some_and(|r| routes.contains(r)))
                            .map(|(_, c)| (*c, None))
                            .collect();
                        (Some(step.output), children)
                    }
                    Flow::Each(elements) => {
                        let mut children = Vec::new();
                        for element in elements {
                            let value = JinjaValue::from_serialize(&element);
                            for (_, child) in &node.children {
                                children.push((*child, Some(value.clone())));
                            }
                        }
                        (Some(step.output), children)
                    }
                }
            }
            Err((error, step)) => {
                record.status = "error".into();
                record.input = step.input;
                record.attempts = step.attempts;
                record.logs = (!step.logs.is_empty()).then(|| Value::Array(step.logs));
                record.requests = (!step.requests.is_empty()).then(|| Value::Array(step.requests));
                record.error_code = Some(error.code.clone());
                record.error = Some(error.message.clone());
                let message = format!("node `{}`: {}", node.id, error.message);
                if let Some(connection) = error.reauth {
                    steps.push(record);
                    end = Some(ItemEnd::Paused(connection, message));
                    break;
                }
                match node.on_error {
                    OnError::Stop => {
                        steps.push(record);
                        end = Some(ItemEnd::Failed(message));
                        break;
                    }
                    OnError::Skip => {
                        record.status = "skipped".into();
                        steps.push(record);
                        end = Some(ItemEnd::Skipped(message));
                        break;
                    }
                    OnError::Continue => {
                        let output =
                            json!({"error": {"code": error.code, "message": error.message}});
                        let children = node.children.iter().map(|(_, c)| (*c, None)).collect();
                        (Some(output), children)
                    }
                }
            }
        };
        if let Some(output) = &output {
            record.output = Some(output.clone());
        }
        steps.push(record);
        if next.is_empty() {
            finished_leaf = true;
        }
        let value = output
            .map(|o| JinjaValue::from_serialize(&o))
            .unwrap_or_default();
        for (child, element) in next.into_iter().rev() {
            let mut child_scope = frame.scope.clone();
            // An iterator's children see the current element as the iterator's output.
            child_scope.insert(node.id.clone(), element.unwrap_or_else(|| value.clone()));
            stack.push(Frame {
                node: child,
                scope: child_scope,
                attempts: 0,
            });
        }
    }
    let end = end.unwrap_or(if filtered && !finished_leaf {
        ItemEnd::Filtered
    } else {
        ItemEnd::Done
    });
    ItemResult { end, steps, acted }
}

/// Where the walk goes after a node.
enum Flow {
    Children,
    /// To the children, after waiting until this time (Unix ms) without a worker.
    Wait(i64),
    /// The same node again at `due_at`, after waiting without a worker; `attempts` made so far.
    Again {
        due_at: i64,
        attempts: u32,
    },
    Stop,
    Routes(Vec<String>),
    Each(Vec<Value>),
}

type NodeResult = Result<(StepOutput, Flow), (NodeError, StepOutput)>;

fn step(input: Option<Value>, output: Value) -> StepOutput {
    StepOutput {
        input,
        output,
        attempts: 1,
        logs: Vec::new(),
        requests: Vec::new(),
    }
}

fn mapping_error(message: String, input: Option<Value>) -> (NodeError, StepOutput) {
    (
        NodeError {
            code: "mapping".into(),
            message: format!("mapping: {message}"),
            reauth: None,
        },
        step(input, Value::Null),
    )
}

async fn run_node(
    scope: &RunScope,
    index: usize,
    context: &JinjaValue,
    attempts_before: u32,
) -> NodeResult {
    let plan = &scope.plan;
    let node = &plan.nodes[index];
    let t = &plan.templates;
    match &node.kind {
        PlanKind::Transform { output } => {
            let value = t
                .eval(output, context)
                .map_err(|e| mapping_error(e, None))?;
            Ok((step(None, value), Flow::Children))
        }
        PlanKind::Filter { condition } => {
            let pass = t
                .truthy(condition, context)
                .map_err(|e| mapping_error(e, None))?;
            let out = json!({"passed": pass});
            Ok((
                step(None, out),
                if pass { Flow::Children } else { Flow::Stop },
            ))
        }
        PlanKind::Router { routes } => {
            let mut matched = Vec::new();
            for (name, condition) in routes {
                if let Some(condition) = condition {
                    if t.truthy(condition, context)
                        .map_err(|e| mapping_error(format!("route `{name}`: {e}"), None))?
                    {
                        matched.push(name.clone());
                    }
                }
            }
            if matched.is_empty() {
                matched.extend(
                    routes
                        .iter()
                        .filter(|(_, c)| c.is_none())
                        .map(|(n, _)| n.clone()),
                );
            }
            Ok((
                step(None, json!({"routes": matched})),
                Flow::Routes(matched),
            ))
        }
        PlanKind::Iterator { over } => {
            let value = t.eval(over, context).map_err(|e| mapping_error(e, None))?;
            let elements = match value {
                Value::Array(list) => list,
                Value::Null => Vec::new(),
                other => {
                    return Err(mapping_error(
                        format!("`over` gave a {} where a list was needed", kind_of(&other)),
                        None,
                    ))
                }
            };
            let out = json!({"count": elements.len()});
            Ok((step(None, out), Flow::Each(elements)))
        }
        PlanKind::Delay { seconds } => {
            let value = t
                .eval(seconds, context)
                .map_err(|e| mapping_error(e, None))?;
            let seconds = value
                .as_f64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|s| (0.0..=3600.0).contains(s))
                .ok_or_else(|| {
                    mapping_error(format!("`seconds` gave {value}, not 0 to 3600"), None)
                })?;
            if seconds > INLINE_DELAY_SECS {
                let due_at = now_ms() + (seconds * 1000.0) as i64;
                return Ok((
                    step(
                        Some(json!({"seconds": seconds})),
                        json!({"waits": seconds, "until": due_at}),
                    ),
                    Flow::Wait(due_at),
                ));
            }
            let wait = Duration::from_secs_f64(seconds);
            let started = Instant::now();
            while started.elapsed() < wait && !scope.stop.load(Ordering::Relaxed) {
                tokio::time::sleep((wait - started.elapsed()).min(Duration::from_millis(250)))
                    .await;
            }
            Ok((
                step(
                    Some(json!({"seconds": seconds})),
                    json!({"waited": seconds}),
                ),
                Flow::Children,
            ))
        }
        PlanKind::Store {
            op,
            collection,
            key,
            record,
            merge,
            limit,
        } => {
            run_store(
                scope,
                *op,
                collection,
                key.as_ref(),
                record.as_ref(),
                *merge,
                *limit,
                context,
                node.retries,
            )
            .await
        }
        PlanKind::Action {
            connector: _,
            action,
            connection,
            input,
            schema,
        } => {
            let input = t.eval(input, context).map_err(|e| mapping_error(e, None))?;
            if let Some(schema) = schema {
                let problems: Vec<String> = schema
                    .iter_errors(&input)
                    .map(|e| {
                        let at = e.instance_path().to_string();
                        if at.is_empty() {
                            e.to_string()
                        } else {
                            format!("{at}: {e}")
                        }
                    })
                    .collect();
                if !problems.is_empty() {
                    return Err((
                        NodeError {
                            code: "invalid_input".into(),
                            message: format!(
                                "the mapped input does not fit `{action}`: {}",
                                problems.join("; ")
                            ),
                            reauth: None,
                        },
                        step(Some(input), Value::Null),
                    ));
                }
            }
            let Some(handle) = scope.connections.get(connection) else {
                return Err((
                    NodeError {
                        code: "connection".into(),
                        message: format!("connection `{connection}` is not open"),
                        reauth: None,
                    },
                    step(Some(input), Value::Null),
                ));
            };
            let mut out = step(Some(input), Value::Null);
            let mut attempt = attempts_before;
            loop {
                // An upstream's `Retry-After` (answered to another item, or another run) holds
                // the connection: the item waits it out without a worker and calls then (the
                // wait is not an attempt).
                let wait = handle.held_for();
                if wait.as_secs_f64() > INLINE_DELAY_SECS {
                    out.logs.push(json!({"level": "info", "message": format!(
                        "the upstream asked the connection to wait {:.0} s more: waiting without a worker",
                        wait.as_secs_f64()
                    )}));
                    let due_at = now_ms() + wait.as_millis() as i64;
                    out.attempts = i64::from(attempt);
                    return Ok((out, Flow::Again { due_at, attempts: attempt }));
                }
                attempt += 1;
                let outcome = handle
                    .action(
                        &scope.app,
                        &scope.run_id,
                        action,
                        out.input.as_ref().unwrap_or(&Value::Null),
                    )
                    .await;
                absorb(&mut out, &outcome.log);
                out.attempts = i64::from(attempt);
                let error = match outcome.result {
                    Ok(value) => {
                        out.output = value;
                        return Ok((out, Flow::Children));
                    }
                    Err(e) => e,
                };
                match super::retry::decide(&error, attempt, node.retries) {
                    // The upstream asks for a long pause: the item waits it out without a
                    // worker, and this node is tried again when it is over.
                    RetryDecision::Retry(wait)
                        if matches!(error, CallError::RateLimited(_))
                            && wait.as_secs_f64() > INLINE_DELAY_SECS =>
                    {
                        let due_at = now_ms() + wait.as_millis() as i64;
                        out.logs.push(json!({"level": "warn", "message": format!(
                            "attempt {attempt}: {error} — waiting {:.0} s without a worker, then trying again",
                            wait.as_secs_f64()
                        )}));
                        return Ok((
                            out,
                            Flow::Again {
                                due_at,
                                attempts: attempt,
                            },
                        ));
                    }
                    RetryDecision::Retry(wait) => {
                        out.logs.push(json!({"level": "warn", "message": format!(
                            "attempt {attempt}: {} ({}) — trying again in {:.1} s",
                            error, error.code(), wait.as_secs_f64()
                        )}));
                        if !sleep_unless_stopped(&scope.stop, wait).await {
                            return Err((
                                NodeError {
                                    code: "cancelled".into(),
                                    message: "the run was stopped while waiting to retry".into(),
                                    reauth: None,
                                },
                                out,
                            ));
                        }
                    }
                    RetryDecision::GiveUp => {
                        let reauth =
                            matches!(error, CallError::Unauthorized(_)).then(|| connection.clone());
                        let retried = if attempt > 1 {
                            format!(" (after {attempt} attempts)")
                        } else {
                            String::new()
                        };
                        return Err((
                            NodeError {
                                code: error.code().into(),
                                message: format!("{error}{retried}"),
                                reauth,
                            },
                            out,
                        ));
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_store(
    scope: &RunScope,
    op: StoreOp,
    collection: &super::template::Mapping,
    key: Option<&super::template::Mapping>,
    record: Option<&super::template::Mapping>,
    merge: bool,
    limit: u32,
    context: &JinjaValue,
    retries: u32,
) -> NodeResult {
    let t = &scope.plan.templates;
    let collection = match t
        .eval(collection, context)
        .map_err(|e| mapping_error(e, None))?
    {
        Value::String(s) if super::validate::valid_collection(&s) => s,
        other => {
            return Err(mapping_error(
                format!("`collection` gave {other}: use letters, digits, `-` and `_`"),
                None,
            ))
        }
    };
    let key = match key {
        None => None,
        Some(key) => Some(
            match t.eval(key, context).map_err(|e| mapping_error(e, None))? {
                Value::String(s) if !s.is_empty() && s.len() <= 512 => s,
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(mapping_error(
                        format!(
                            "`key` gave {other}: a record's id is a non-empty string or a number"
                        ),
                        None,
                    ))
                }
            },
        ),
    };
    let data = match record {
        None => None,
        Some(record) => Some(
            t.eval(record, context)
                .map_err(|e| mapping_error(e, None))?,
        ),
    };
    let input = json!({"collection": collection, "key": key, "record": data});
    let store = &scope.app.store;
    let user = scope.user_id.as_str();
    let key_str = key.clone().unwrap_or_default();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result: Result<Value, crate::store::StoreError> = async {
            let pending = scope.pending_write(&collection, &key_str);
            let (c, k) = (collection.as_str(), key_str.as_str());
            let current = |pending: Option<Option<Value>>| async move {
                match pending {
                    Some(value) => Ok(value),
                    None => store.record(user, c, k).await.map(|r| r.map(|r| r.data)),
                }
            };
            Ok(match op {
                StoreOp::Upsert => {
                    let mut stored = data.clone().unwrap_or(Value::Null);
                    if merge {
                        if let (Some(Value::Object(mut base)), Value::Object(fields)) = (current(pending).await?, &stored) {
                            base.extend(fields.clone());
                            stored = Value::Object(base);
                        }
                    }
                    crate::store::check_record_size(&collection, &key_str, &stored)?;
                    scope.write(&collection, &key_str, Some(stored.clone()));
                    json!({"id": key_str, "record": stored})
                }
                StoreOp::Get => match current(pending).await? {
                    Some(record) => json!({"id": key_str, "found": true, "record": record}),
                    None => json!({"id": key_str, "found": false, "record": null}),
                },
                StoreOp::Delete => {
                    let existed = current(pending).await?.is_some();
                    scope.write(&collection, &key_str, None);
                    json!({"id": key_str, "deleted": existed})
                }
                StoreOp::List => {
                    let records = store.records(user, &collection, None, i64::from(limit)).await?;
                    json!({"count": records.len(), "records": records.into_iter().map(|r| json!({"id": r.id, "record": r.data})).collect::<Vec<_>>()})
                }
            })
        }
        .await;
        match result {
            Ok(output) => {
                let mut out = step(Some(input), output);
                out.attempts = i64::from(attempt);
                return Ok((out, Flow::Children));
            }
            Err(crate::store::StoreError::TooLarge(message)) => {
                return Err((
                    NodeError {
                        code: "limit_exceeded".into(),
                        message,
                        reauth: None,
                    },
                    step(Some(input), Value::Null),
                ))
            }
            Err(e) if attempt <= retries => {
                tracing::warn!(run = %scope.run_id, error = %e, "data store write failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) => {
                return Err((
                    NodeError {
                        code: "store".into(),
                        message: format!("the data store: {e}"),
                        reauth: None,
                    },
                    step(Some(input), Value::Null),
                ))
            }
        }
    }
}

/// Adds a call's log lines and requests to a step.
fn absorb(out: &mut StepOutput, log: &Entries) {
    for line in &log.lines {
        out.logs
            .push(json!({"level": line.level, "message": line.message}));
    }
    for refusal in &log.refusals {
        out.logs.push(json!({"level": "warn", "message": refusal}));
    }
    for request in &log.requests {
        out.requests
            .push(serde_json::to_value(request).unwrap_or(Value::Null));
    }
}

/// Sleeps unless the run is stopped first; false if it was.
pub async fn sleep_unless_stopped(stop: &AtomicBool, wait: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < wait {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        tokio::time::sleep((wait - started.elapsed()).min(Duration::from_millis(200))).await;
    }
    !stop.load(Ordering::Relaxed)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}
