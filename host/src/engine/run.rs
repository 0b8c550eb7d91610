//! Executing one claimed run, durably.
//!
//! A poll run reads its trigger page by page from the cursor in `trigger_state`, reading the
//! next page while it processes the current one (so a run is bounded by the upstream, and only
//! two pages are ever in memory). Items commit in order, fenced by the worker's claim: an item
//! that called an action as soon as it is done (so that a crash repeats the effects of the
//! items in flight only), the others up to 200 at a time; the cursor moves with the page's last
//! commit, so it never passes an item whose result is not stored. A run taken over after a
//! crash re-reads the page from the committed cursor, skips the items it already finished with
//! the same data, and says how many of the rest may have acted before.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use minijinja::value::Value as JinjaValue;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::executor::{resume_item, run_item, sleep_unless_stopped, ItemEnd, RunScope};
use super::plan::Plan;
use super::retry::{decide, RetryDecision};
use super::scenario::Trigger;
use crate::app::App;
use crate::runtime::{CallOutcome, PollPage};
use crate::store::{Batch, CommitError, CursorMove, ItemRecord, RunRow, WaitWrite};

/// Live counters of a run, for progress lines.
#[derive(Debug, Default)]
pub struct Progress {
    /// Items finished (any status).
    pub items: AtomicI64,
    /// Items failed.
    pub failed: AtomicI64,
    /// Items filtered or skipped.
    pub skipped: AtomicI64,
    /// Pages read.
    pub pages: AtomicI64,
}

/// How a run attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// `succeeded`, `failed` or `cancelled`, with an error.
    Finished(&'static str, Option<String>),
    /// A connection needs re-authorization (its id, and why): the run and its scenario wait.
    Paused(String, String),
    /// Another worker took the run over; this one wrote nothing more.
    LeaseLost,
    /// The run read its slice of pages and went back in the queue, so that other runs get a
    /// worker; it continues from its committed cursor when a worker claims it again.
    Yielded,
    /// All the run has left to do waits in delay nodes: it went back in the queue until the
    /// first is due (Unix ms).
    Parked(i64),
    /// It succeeded, and its end was written with its last commit.
    Recorded,
}

/// Runs a claimed run to its end and records the end.
pub async fn execute(
    app: &Arc<App>,
    run: RunRow,
    worker: &str,
    progress: Option<Arc<Progress>>,
    stop: Option<Arc<AtomicBool>>,
) -> RunEnd {
    let progress = progress.unwrap_or_default();
    let stop = stop.unwrap_or_default();
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat(
        app.clone(),
        run.id.clone(),
        worker.to_string(),
        stop.clone(),
        lost.clone(),
    ));
    let end = match prepare(app, &run, stop.clone()).await {
        Ok(scope) => {
            if run.attempts > 1 {
                let _ = app
                    .store
                    .add_run_event(&run.id, "warn", &format!(
                        "resumed (attempt {}): the worker that held this run stopped; finished items are kept, the rest is done again",
                        run.attempts
                    ))
                    .await;
            }
            let scope = Arc::new(scope);
            run_phases(&scope, &run, worker, &progress, &lost).await
        }
        Err(end) => end,
    };
    heartbeat.abort();
    if end == RunEnd::Recorded {
        // Its end is written (and the heartbeat may have seen it end, which is no lost lease).
        tracing::info!(run = %run.id, status = "succeeded", items = progress.items.load(Ordering::Relaxed), "run finished");
        return RunEnd::Finished("succeeded", None);
    }
    if lost.load(Ordering::Relaxed) || end == RunEnd::LeaseLost {
        return lease_lost(app, &run, worker).await;
    }
    let end = match end {
        RunEnd::Finished(_, _) if stop.load(Ordering::Relaxed) => {
            RunEnd::Finished("cancelled", Some("cancelled while it ran".into()))
        }
        end => end,
    };
    let (status, error) = match &end {
        RunEnd::Finished(status, error) => (*status, error.clone()),
        RunEnd::Paused(connection, reason) => {
            if let Err(e) = app
                .store
                .set_scenario_paused(&run.scenario_id, Some((reason, connection)))
                .await
            {
                tracing::error!(run = %run.id, error = %e, "cannot pause the scenario");
            }
            tracing::warn!(run = %run.id, scenario = %run.scenario_id, reason = %reason, "scenario paused until the connection is fixed");
            ("paused", Some(reason.clone()))
        }
        RunEnd::LeaseLost => return lease_lost(app, &run, worker).await,
        RunEnd::Recorded => return RunEnd::Finished("succeeded", None),
        RunEnd::Parked(due_at) => {
            let due_at = *due_at;
            let when = chrono::DateTime::from_timestamp_millis(due_at)
                .map(|t| t.format("%H:%M:%S UTC").to_string())
                .unwrap_or_default();
            let _ = app
                .store
                .add_run_event(&run.id, "info", &format!("waiting until {when} (a delay, or an upstream's Retry-After); no worker is held meanwhile"))
                .await;
            return match app.store.park_run(&run.id, worker, due_at).await {
                Ok(true) => end,
                Ok(false) => lease_lost(app, &run, worker).await,
                Err(e) => {
                    tracing::error!(run = %run.id, error = %e, "cannot park the run");
                    end
                }
            };
        }
        RunEnd::Yielded => {
            return match app.store.yield_run(&run.id, worker).await {
                Ok(true) => {
                    app.engine.wake();
                    end
                }
                Ok(false) => lease_lost(app, &run, worker).await,
                Err(e) => {
                    tracing::error!(run = %run.id, error = %e, "cannot put the run back in the queue");
                    end
                }
            };
        }
    };
    match app
        .store
        .finish_run(&run.id, worker, status, error.as_deref())
        .await
    {
        Ok(true) => {
            tracing::info!(run = %run.id, status, items = progress.items.load(Ordering::Relaxed), "run finished")
        }
        Ok(false) => return lease_lost(app, &run, worker).await,
        Err(e) => tracing::error!(run = %run.id, error = %e, "cannot record the end of a run"),
    }
    end
}

/// Says that this worker lost the run's lease (it could not renew it in time, and another
/// worker claimed the run): in the worker's log and in the run's history, where whoever reads
/// why items ran twice looks. It writes nothing else: the run is the other worker's now.
async fn lease_lost(app: &App, run: &RunRow, worker: &str) -> RunEnd {
    tracing::warn!(run = %run.id, worker, "lost the run's lease to another worker; stopping without writing more (what this worker had not committed is done again by the other)");
    let _ = app
        .store
        .add_run_event(
            &run.id,
            "warn",
            &format!("worker {worker} lost this run's lease (attempt {}) and stopped; what it had not committed is done again by the worker that took the run over", run.attempts),
        )
        .await;
    RunEnd::LeaseLost
}

/// Renews the lease; notices a lost lease or a cancel.
async fn heartbeat(
    app: Arc<App>,
    run_id: String,
    worker: String,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let lease = app.config.engine.lease;
    loop {
        tokio::time::sleep(lease / 3).await;
        match app
            .store
            .renew_lease(&run_id, &worker, lease.as_millis() as i64)
            .await
        {
            Ok(Some(cancel)) => {
                if cancel {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Ok(None) => {
                lost.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(run = %run_id, error = %e, "cannot renew the run's lease"),
        }
    }
}

/// Compiles the run's scenario version and opens its connections.
async fn prepare(app: &Arc<App>, run: &RunRow, stop: Arc<AtomicBool>) -> Result<RunScope, RunEnd> {
    let fail = |message: String| RunEnd::Finished("failed", Some(message));
    let scenario = app
        .store
        .scenario_by_id(&run.scenario_id)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let definition = if scenario.version == run.scenario_version {
        scenario.definition.clone()
    } else {
        app.store
            .scenario_version(&run.scenario_id, run.scenario_version)
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| {
                fail(format!(
                    "version {} of the scenario is gone",
                    run.scenario_version
                ))
            })?
    };
    let plan: Plan = app
        .compile_scenario(&run.user_id, definition)
        .await
        .map_err(|e| fail(format!("the scenario no longer checks out: {}", e.message)))?;
    let mut connections = HashMap::new();
    for id in plan.connections() {
        match app.open_connection(&run.user_id, &id).await {
            Ok(handle) => {
                connections.insert(id, Arc::new(handle));
            }
            Err(e) if e.code == "needs_reauth" => {
                return Err(RunEnd::Paused(
                    id.clone(),
                    format!(
                        "connection `{id}` needs to be connected again: {}",
                        e.message
                    ),
                ));
            }
            Err(e) => return Err(fail(format!("connection `{id}`: {}", e.message))),
        }
    }
    let mut globals = BTreeMap::new();
    globals.insert(
        "vars".to_string(),
        JinjaValue::from_serialize(&plan.scenario.variables),
    );
    globals.insert(
        "run".to_string(),
        JinjaValue::from_serialize(json!({"id": run.id, "scenario": scenario.name, "scenario_id": scenario.id, "started_at": run.started_at})),
    );
    Ok(RunScope {
        app: app.clone(),
        plan: Arc::new(plan),
        run_id: run.id.clone(),
        user_id: run.user_id.clone(),
        connections,
        globals,
        stop,
        pending: Default::default(),
        waited: Default::default(),
    })
}

fn hash_of(data: &Value) -> String {
    hex::encode(&Sha256::digest(data.to_string().as_bytes())[..12])
}

/// Items committed together at most, when none of them called an action.
const ITEMS_PER_COMMIT: usize = 200;

/// Runs the items of one page with the scenario's concurrency, in order, and commits as it
/// goes: an item that called an action is committed as soon as it (and every item before it)
/// is done, so that a crash repeats the effects of the items in flight only (at most the
/// concurrency); items that did not act are committed [`ITEMS_PER_COMMIT`] at a time. Returns
/// what is left to commit (the caller adds the cursor's move to it), the item end that halts
/// the run, if one does, and how many items ran (fewer than given when the run was stopped).
async fn process_items(
    scope: &Arc<RunScope>,
    run: &RunRow,
    worker: &str,
    items: Vec<(String, Value)>,
    next_seq: &mut i64,
    progress: &Progress,
) -> Result<(Batch, Option<ItemEnd>, usize), RunEnd> {
    let concurrency = scope.plan.scenario.settings.concurrency.max(1);
    let start = *next_seq;
    let total = items.len();
    *next_seq += total as i64;
    let stop = scope.stop.clone();
    let mut outcomes = futures::stream::iter(items.into_iter().enumerate())
        .map(|(i, (id, data))| {
            let scope = scope.clone();
            let stop = stop.clone();
            async move {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                let seq = start + i as i64 + 1;
                let result = run_item(&scope, seq, &id, &data).await;
                Some((seq, id, hash_of(&data), result))
            }
        })
        .buffered(concurrency);
    let mut batch = Batch::default();
    let mut halt = None;
    let mut ran = 0;
    let mut seen = 0;
    while let Some(outcome) = outcomes.next().await {
        seen += 1;
        let Some(outcome) = outcome else { continue };
        ran += 1;
        let acted = outcome.3.acted;
        add_outcome(&mut batch, &mut halt, run, progress, outcome, false);
        // The last item is committed by the caller at once, with what ends the page or run.
        let last = seen == total;
        if !last && (acted || batch.items.len() >= ITEMS_PER_COMMIT) {
            batch.records = scope.take_writes();
            commit(scope, run, worker, &batch).await?;
            batch = Batch::default();
        }
    }
    batch.records = scope.take_writes();
    Ok((batch, halt, ran))
}

/// One item's outcome: (seq, item id, data hash, result).
type Outcome = (i64, String, String, super::executor::ItemResult);

/// The batch that commits these outcomes (with the run's pending data store writes), and the
/// item end that halts the run, if one does. `resumed`: the outcomes went on from waits.
fn batch_of(
    scope: &RunScope,
    run: &RunRow,
    progress: &Progress,
    outcomes: impl IntoIterator<Item = Outcome>,
    resumed: bool,
) -> (Batch, Option<ItemEnd>) {
    let mut batch = Batch {
        records: scope.take_writes(),
        ..Batch::default()
    };
    let mut halt = None;
    for outcome in outcomes {
        add_outcome(&mut batch, &mut halt, run, progress, outcome, resumed);
    }
    (batch, halt)
}

/// Adds one item's outcome to a batch, and counts it.
fn add_outcome(
    batch: &mut Batch,
    halt: &mut Option<ItemEnd>,
    run: &RunRow,
    progress: &Progress,
    (seq, id, hash, result): Outcome,
    resumed: bool,
) {
    if resumed {
        batch.resumed.push(seq);
    }
    match &result.end {
        // Not finished: it goes on from this state when it is due.
        ItemEnd::Waiting { due_at, state } => batch.waits.push(WaitWrite {
            item_seq: seq,
            due_at: *due_at,
            state: json!({"item_id": id, "data_hash": hash, "walk": state}),
        }),
        // Not finished either: it runs again once the connection is fixed.
        ItemEnd::Paused(..) => {}
        end => {
            progress.items.fetch_add(1, Ordering::Relaxed);
            match end {
                ItemEnd::Failed(_) => {
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                }
                ItemEnd::Skipped(_) | ItemEnd::Filtered => {
                    progress.skipped.fetch_add(1, Ordering::Relaxed);
                }
                ItemEnd::Done | ItemEnd::Waiting { .. } | ItemEnd::Paused(..) => {}
            }
        }
    }
    if halt.is_none() && matches!(result.end, ItemEnd::Failed(_) | ItemEnd::Paused(..)) {
        *halt = Some(result.end.clone());
    }
    batch.items.push(ItemRecord {
        seq,
        item_id: id,
        data_hash: hash,
        status: result.end.status().into(),
        attempt: run.attempts,
        error: result.end.error(),
    });
    batch.steps.extend(result.steps);
}

/// Waits taken up in one commit, at most.
const RESUMED_PER_COMMIT: i64 = 100;

/// Goes on with the run's items whose delay is over, a commit at a time. Returns the item
/// end that halts the run, if one does.
async fn resume_waits(
    scope: &Arc<RunScope>,
    run: &RunRow,
    worker: &str,
    progress: &Progress,
) -> Result<Option<ItemEnd>, RunEnd> {
    let app = &scope.app;
    loop {
        let due = app
            .store
            .due_waits(&run.id, crate::store::now_ms(), RESUMED_PER_COMMIT)
            .await
            .map_err(|e| {
                RunEnd::Finished(
                    "failed",
                    Some(format!("cannot read the waiting items: {e}")),
                )
            })?;
        if due.is_empty() || scope.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let concurrency = scope.plan.scenario.settings.concurrency.max(1);
        let results: Vec<_> = futures::stream::iter(due)
            .map(|(seq, state)| {
                let scope = scope.clone();
                async move {
                    let result = resume_item(&scope, seq, &state["walk"]).await;
                    let id = state["item_id"].as_str().unwrap_or_default().to_string();
                    let hash = state["data_hash"].as_str().unwrap_or_default().to_string();
                    (seq, id, hash, result)
                }
            })
            .buffered(concurrency)
            .collect()
            .await;
        let (batch, halt) = batch_of(scope, run, progress, results, true);
        commit(scope, run, worker, &batch).await?;
        if halt.is_some() {
            return Ok(halt);
        }
    }
}

fn end_of(halt: ItemEnd) -> RunEnd {
    match halt {
        ItemEnd::Paused(connection, reason) => RunEnd::Paused(connection, reason),
        other => RunEnd::Finished("failed", other.error()),
    }
}

async fn commit(
    scope: &RunScope,
    run: &RunRow,
    worker: &str,
    batch: &Batch,
) -> Result<(), RunEnd> {
    match scope.app.store.commit_batch(&run.id, worker, batch).await {
        Ok(cancel) => {
            if cancel {
                scope.stop.store(true, Ordering::Relaxed);
            }
            if !batch.waits.is_empty() {
                scope.waited.store(true, Ordering::Relaxed);
            }
            Ok(())
        }
        Err(CommitError::LeaseLost) => Err(RunEnd::LeaseLost),
        Err(e) => Err(RunEnd::Finished(
            "failed",
            Some(format!("cannot store the run's progress: {e}")),
        )),
    }
}

/// A run's work: the items whose delay is over, then the trigger's items (the one of a
/// manual, scheduled or webhook run, or the pages of a poll run); then, if items still wait,
/// the run parks until the first is due.
async fn run_phases(
    scope: &Arc<RunScope>,
    run: &RunRow,
    worker: &str,
    progress: &Progress,
    lost: &AtomicBool,
) -> RunEnd {
    // A run's first turn has nothing done yet, and no item waiting.
    let fresh = run.claims == 1;
    if !fresh {
        if let Some(halt) = match resume_waits(scope, run, worker, progress).await {
            Ok(halt) => halt,
            Err(end) => return end,
        } {
            return end_of(halt);
        }
    }
    let end = match scope.plan.scenario.trigger.clone() {
        Trigger::Poll { .. } => poll_run(scope, run, worker, progress, lost).await,
        _ => single_item_run(scope, run, worker, progress).await,
    };
    if end != RunEnd::Finished("succeeded", None) {
        return end;
    }
    if fresh && !scope.waited.load(Ordering::Relaxed) {
        return end;
    }
    match scope.app.store.next_wait(&run.id).await {
        Ok(Some(due_at)) => RunEnd::Parked(due_at),
        Ok(None) => end,
        Err(e) => RunEnd::Finished(
            "failed",
            Some(format!("cannot read the waiting items: {e}")),
        ),
    }
}

/// A manual, scheduled or webhook run: one item.
async fn single_item_run(
    scope: &Arc<RunScope>,
    run: &RunRow,
    worker: &str,
    progress: &Progress,
) -> RunEnd {
    let input = run.input.clone().unwrap_or(Value::Null);
    let id = input
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(&run.id)
        .to_string();
    let data = input.get("data").cloned().unwrap_or(Value::Null);
    // Its item went through (or waits) already, and the worker stopped before the run's end
    // was written: what is left are the waits. An item that paused for its connection runs
    // again, numbered after it.
    let mut seq = if run.claims == 1 {
        0
    } else {
        match scope.app.store.items_so_far(&run.id).await {
            Ok(so_far) if so_far.settled > 0 => return RunEnd::Finished("succeeded", None),
            Ok(so_far) => so_far.last_seq,
            Err(e) => {
                return RunEnd::Finished(
                    "failed",
                    Some(format!("cannot read the run's items: {e}")),
                )
            }
        }
    };
    let (mut batch, halt, _) =
        match process_items(scope, run, worker, vec![(id, data)], &mut seq, progress).await {
            Ok(done) => done,
            Err(end) => return end,
        };
    // A first turn whose item ended, with nothing waiting: the run ends in the same commit.
    let ends_here = run.claims == 1
        && halt.is_none()
        && batch.waits.is_empty()
        && !scope.waited.load(Ordering::Relaxed)
        && !scope.stop.load(Ordering::Relaxed);
    batch.succeeded = ends_here;
    if let Err(end) = commit(scope, run, worker, &batch).await {
        return end;
    }
    if ends_here {
        return RunEnd::Recorded;
    }
    match halt {
        Some(halt) => end_of(halt),
        None => RunEnd::Finished("succeeded", None),
    }
}

/// A poll run: page after page until the trigger has no more.
async fn poll_run(
    scope: &Arc<RunScope>,
    run: &RunRow,
    worker: &str,
    progress: &Progress,
    lost: &AtomicBool,
) -> RunEnd {
    let app = &scope.app;
    let Trigger::Poll {
        trigger, config, ..
    } = &scope.plan.scenario.trigger
    else {
        return RunEnd::Finished("failed", Some("not a poll trigger".into()));
    };
    let Some(handle) = scope
        .plan
        .trigger_connection
        .as_ref()
        .and_then(|id| scope.connections.get(id))
        .cloned()
    else {
        return RunEnd::Finished(
            "failed",
            Some("the trigger's connection is not open".into()),
        );
    };
    let key = scope.plan.scenario.trigger.cursor_key();
    let state = match app.store.ensure_trigger_state(&run.scenario_id, &key).await {
        Ok(state) => state,
        Err(e) => return RunEnd::Finished("failed", Some(e.to_string())),
    };
    let mut cursor = state.cursor;
    let resuming = run.attempts > 1;
    let mut next_seq = match app.store.items_so_far(&run.id).await {
        Ok(so_far) => so_far.last_seq,
        Err(e) => return RunEnd::Finished("failed", Some(e.to_string())),
    };
    let config = if config.is_null() {
        json!({})
    } else {
        config.clone()
    };
    let fetch = |cursor: Option<String>| {
        let scope = scope.clone();
        let handle = handle.clone();
        let trigger = trigger.clone();
        let config = config.clone();
        tokio::spawn(async move {
            fetch_page(&scope, &handle, &trigger, &config, cursor.as_deref()).await
        })
    };
    let mut pending = fetch(cursor.clone());
    let mut first_page = true;
    let mut pages_this_turn = 0;
    loop {
        let (page, note) = match pending.await {
            Ok(Ok(read)) => read,
            Ok(Err(end)) => return end,
            Err(e) => {
                return RunEnd::Finished(
                    "failed",
                    Some(format!("reading the trigger crashed: {e}")),
                )
            }
        };
        progress.pages.fetch_add(1, Ordering::Relaxed);
        let more = page.has_more && page.cursor.is_some() && page.cursor != cursor;
        if more && !scope.stop.load(Ordering::Relaxed) {
            pending = fetch(page.cursor.clone());
        } else {
            pending = tokio::spawn(async {
                let empty = PollPage {
                    items: vec![],
                    cursor: None,
                    has_more: false,
                };
                Ok((empty, String::new()))
            });
        }
        let mut items: Vec<(String, Value)> =
            page.items.into_iter().map(|i| (i.id, i.data)).collect();
        let mut skipped_done = 0;
        let mut retried = 0;
        if resuming && first_page && !items.is_empty() {
            let ids: Vec<&str> = items.iter().map(|(id, _)| id.as_str()).collect();
            let finished: HashMap<String, String> =
                match app.store.finished_items(&run.id, &ids).await {
                    Ok(found) => found.into_iter().collect(),
                    Err(e) => return RunEnd::Finished("failed", Some(e.to_string())),
                };
            let before = items.len();
            items.retain(|(id, data)| finished.get(id) != Some(&hash_of(data)));
            skipped_done = before - items.len();
            // Items are committed in order, and one that acted as soon as it was done: what
            // may have acted without a commit is what was in flight, at most the concurrency
            // (and nothing, for a scenario without actions).
            let in_flight = scope.plan.scenario.settings.concurrency.max(1);
            retried = if scope.plan.has_actions() {
                items.len().min(in_flight) as i64
            } else {
                0
            };
        }
        let count = items.len();
        if resuming && first_page {
            let repeats = if scope.plan.has_actions() {
                format!("at most {retried} of them (the run's concurrency) were in flight and may have called their actions already; those calls are made again")
            } else {
                "the scenario calls no action, so nothing outside Heph sees them twice".to_string()
            };
            let event = format!(
                "re-read the page at the committed cursor: {skipped_done} item(s) were already done and kept; {count} were not committed when the worker stopped and run again — {repeats}"
            );
            // Said (and counted) before any of them runs: this attempt may stop too.
            let said = Batch {
                retried,
                events: vec![("info".into(), event)],
                ..Batch::default()
            };
            if let Err(end) = commit(scope, run, worker, &said).await {
                return end;
            }
        }
        let (mut batch, halt, ran) =
            match process_items(scope, run, worker, items, &mut next_seq, progress).await {
                Ok(done) => done,
                Err(end) => return end,
            };
        batch.pages = 1;
        batch.events.push(("info".into(), note));
        first_page = false;
        let stopped = scope.stop.load(Ordering::Relaxed) && ran < count;
        if halt.is_none() && !stopped {
            batch.cursor = Some(CursorMove {
                scenario_id: run.scenario_id.clone(),
                from: cursor.clone(),
                to: page.cursor.clone(),
            });
        }
        if lost.load(Ordering::Relaxed) {
            return RunEnd::LeaseLost;
        }
        if let Err(end) = commit(scope, run, worker, &batch).await {
            return end;
        }
        if let Some(halt) = halt {
            pending.abort();
            return end_of(halt);
        }
        if stopped || scope.stop.load(Ordering::Relaxed) {
            pending.abort();
            return RunEnd::Finished(
                "cancelled",
                Some("cancelled; the cursor stays after the last finished page".into()),
            );
        }
        if page.cursor.is_some() {
            cursor = page.cursor;
        }
        if !more {
            return RunEnd::Finished("succeeded", None);
        }
        pages_this_turn += 1;
        let turn = app.config.engine.pages_per_turn.max(1);
        if pages_this_turn >= turn {
            // A trigger that always has more must not hold a worker forever: the run goes
            // back in the queue behind the runs that waited, and continues from its cursor.
            pending.abort();
            let _ = app
                .store
                .add_run_event(&run.id, "info", &format!(
                    "read {turn} pages in this turn; the run goes back in the queue so that other runs get a worker, and continues from the committed cursor"
                ))
                .await;
            return RunEnd::Yielded;
        }
    }
}

/// Reads one page, retrying as the error says.
async fn fetch_page(
    scope: &RunScope,
    handle: &crate::connections::ConnectionHandle,
    trigger: &str,
    config: &Value,
    cursor: Option<&str>,
) -> Result<(PollPage, String), RunEnd> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let outcome: CallOutcome<PollPage> = handle
            .poll(&scope.app, &scope.run_id, trigger, config, cursor)
            .await;
        // What the connector warned about while reading (a sync restarted, a field it could
        // not read) belongs in the run's history, where the user looks.
        for line in &outcome.log.lines {
            if matches!(line.level, "warn" | "error") {
                let message = format!("`{trigger}` says: {}", line.message);
                let _ = scope
                    .app
                    .store
                    .add_run_event(&scope.run_id, line.level, &message)
                    .await;
            }
        }
        let error = match outcome.result {
            Ok(page) => {
                let note = format!(
                    "read {} item(s) from `{trigger}` in {:.0} ms ({} request(s){}){}",
                    page.items.len(),
                    outcome.duration.as_secs_f64() * 1000.0,
                    outcome.log.requests.len(),
                    if attempt > 1 {
                        format!(", attempt {attempt}")
                    } else {
                        String::new()
                    },
                    if page.has_more { "; more to read" } else { "" }
                );
                return Ok((page, note));
            }
            Err(e) => e,
        };
        let retries = scope.plan.scenario.settings.retries;
        match decide(&error, attempt, retries) {
            RetryDecision::Retry(wait) => {
                let _ = scope.app.store.add_run_event(&scope.run_id, "warn", &format!(
                    "reading the trigger, attempt {attempt}: {error} — trying again in {:.1} s", wait.as_secs_f64()
                )).await;
                if !sleep_unless_stopped(&scope.stop, wait).await {
                    return Err(RunEnd::Finished("cancelled", Some("cancelled".into())));
                }
            }
            RetryDecision::GiveUp => {
                let message = format!("reading the trigger `{trigger}`: {error}");
                let _ = scope
                    .app
                    .store
                    .add_run_event(&scope.run_id, "error", &message)
                    .await;
                return Err(match error {
                    crate::runtime::CallError::Unauthorized(_) => RunEnd::Paused(
                        handle.row.id.clone(),
                        format!(
                            "connection `{}` needs to be connected again: {error}",
                            handle.row.id
                        ),
                    ),
                    _ => RunEnd::Finished("failed", Some(message)),
                });
            }
        }
    }
}

/// How long a worker waits for work before looking again.
pub const IDLE_POLL: Duration = Duration::from_millis(500);
