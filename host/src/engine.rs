//! The scenario engine: scenarios (model, checking, compiled plans), mappings, durable runs
//! claimed by workers, retries, the scheduler of polls and cron triggers, and webhooks.
//!
//! ```text
//! scheduler / webhook / `heph run` / API ──enqueue──▶ runs (store) ◀──claim── workers
//!                                                           │
//!                         executor: trigger page → items → nodes → steps, committed per page
//! ```
//!
//! `heph serve` runs the scheduler and workers in-process; `heph worker` runs only them, so
//! that any number of processes share one PostgreSQL database.

mod ancestry;
pub mod executor;
pub mod filters;
pub mod plan;
pub mod retry;
pub mod run;
pub mod scenario;
pub mod schedule;
mod service;
pub mod template;
pub mod template_budget;
pub mod validate;
pub mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::store::{new_id, now_ms, NewRun};

pub use run::{Progress, RunEnd};
pub use service::{checking_turns, RunDetail, ScenarioView, StartedRun};
pub use webhook::WebhookAccepted;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a worker's claim on a run lasts without renewal; a crashed worker's runs are
    /// taken over after this.
    pub lease: Duration,
    /// Worker tasks per process.
    pub workers: usize,
    /// Pages a poll run reads in one turn before it goes back in the queue, so that a trigger
    /// that always has more cannot hold a worker while other runs wait.
    pub pages_per_turn: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lease: Duration::from_secs(30),
            workers: 2,
            pages_per_turn: 50,
        }
    }
}

/// What the engine keeps in the app.
#[derive(Default)]
pub struct EngineState {
    /// Woken when a run is queued by this process.
    signal: Notify,
    /// `describe()` of each connector version, by component digest, asked once.
    descriptions: Mutex<HashMap<String, Arc<Value>>>,
    /// This process's liveness lock, once it claims runs (PostgreSQL).
    liveness: tokio::sync::OnceCell<Option<crate::store::Liveness>>,
}

impl EngineState {
    /// Wakes this process's idle workers: a run was queued.
    pub fn wake(&self) {
        self.signal.notify_waiters();
    }
}

/// This process's name in `runs.claimed_by`: host, pid and the worker's index.
pub fn worker_name(index: usize) -> String {
    format!("{}:{}", process_name(), index)
}

/// This process, as `host:pid`. The host is `HEPH_HOST_NAME` if set (containers often have
/// random host names), else the machine's.
fn process_name() -> String {
    let host = std::env::var("HEPH_HOST_NAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "host".into());
    format!("{host}:{}", std::process::id())
}

/// Takes this process's liveness lock before it claims runs (PostgreSQL; once per process),
/// so that other workers take its runs over as soon as it is gone.
pub async fn hold_liveness(app: &App) {
    app.engine
        .liveness
        .get_or_init(|| async {
            match app.store.hold_liveness(&process_name()).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take this process's liveness lock: if it dies, its runs wait for their lease to end");
                    None
                }
            }
        })
        .await;
}

/// Starts the workers and the scheduler in this process.
pub async fn start(app: &Arc<App>) -> Vec<JoinHandle<()>> {
    hold_liveness(app).await;
    let mut tasks = Vec::new();
    for index in 0..app.config.engine.workers.max(1) {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            worker_loop(app, worker_name(index)).await
        }));
    }
    let scheduler = app.clone();
    tasks.push(tokio::spawn(async move { scheduler_loop(scheduler).await }));
    tasks
}

async fn worker_loop(app: Arc<App>, name: String) {
    let lease = app.config.engine.lease.as_millis() as i64;
    loop {
        match app.store.claim_next_run(&name, lease).await {
            Ok(Some(run)) => {
                tracing::info!(run = %run.id, scenario = %run.scenario_id, attempt = run.attempts, worker = %name, "run claimed");
                run::execute(&app, run, &name, None, None).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = app.engine.signal.notified() => {}
                    _ = tokio::time::sleep(run::IDLE_POLL) => {}
                }
            }
            Err(e) => {
                tracing::warn!(worker = %name, error = %e, "cannot claim runs");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn scheduler_loop(app: Arc<App>) {
    let mut ticks = 0u64;
    loop {
        // Every tick: a run whose worker is gone is taken over within a second.
        expire_dead_claims(&app).await;
        if ticks.is_multiple_of(5) {
            resume_paused(&app).await;
        }
        if let Err(e) = fire_due(&app).await {
            tracing::warn!(error = %e, "the scheduler cannot read due triggers");
        }
        ticks += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Fires every due trigger once (a compare-and-set on its next firing, so one process fires).
async fn fire_due(app: &Arc<App>) -> Result<(), crate::store::StoreError> {
    let now = now_ms();
    for (scenario_id, due) in app.store.due_triggers(now).await? {
        let scenario = app.store.scenario_by_id(&scenario_id).await?;
        let Ok((parsed, _)) = scenario::from_value(scenario.definition.clone()) else {
            app.store.set_next_fire(&scenario_id, None).await?;
            continue;
        };
        let next = schedule::next_fire(&parsed.trigger, now);
        if !app.store.take_firing(&scenario_id, due, next).await? {
            continue;
        }
        let input = match &parsed.trigger {
            scenario::Trigger::Schedule { .. } => Some(serde_json::json!({
                "id": format!("schedule-{due}"),
                "data": {"scheduled_at": chrono::DateTime::from_timestamp_millis(due).map(|d| d.to_rfc3339())},
            })),
            _ => None,
        };
        let run = NewRun {
            id: new_id("run"),
            scenario_id: scenario_id.clone(),
            scenario_version: scenario.version,
            user_id: scenario.user_id.clone(),
            trigger_kind: parsed.trigger.kind().into(),
            input,
        };
        let (id, queued) = app.store.enqueue_run(&run).await?;
        if queued {
            tracing::info!(scenario = %scenario.name, run = %id, "trigger fired");
            app.engine.signal.notify_waiters();
        } else {
            tracing::info!(scenario = %scenario.name, run = %id, "trigger due, but the previous poll run is still going");
        }
    }
    Ok(())
}

/// Runs whose worker is gone are taken over at once instead of after their lease: a process
/// on this machine that no longer exists, or (PostgreSQL) one on any machine whose liveness
/// lock is free because its database session ended.
pub async fn expire_dead_claims(app: &Arc<App>) {
    let Ok(claims) = app.store.running_claims().await else {
        return;
    };
    let me = process_name();
    let my_host = me.split(':').next().unwrap_or("");
    for (run_id, worker) in claims {
        let mut parts = worker.split(':');
        let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
            continue;
        };
        let process = format!("{host}:{pid}");
        if process == me {
            continue;
        }
        let gone_here = host == my_host
            && pid.parse::<u32>().is_ok_and(|pid| {
                !std::path::Path::new(&format!("/proc/{pid}")).exists()
            });
        let gone = gone_here
            || app
                .store
                .process_gone(&process)
                .await
                .ok()
                .flatten()
                .unwrap_or(false);
        if gone
            && app
                .store
                .expire_claim(&run_id, &worker)
                .await
                .unwrap_or(false)
        {
            tracing::warn!(run = %run_id, worker = %worker, "the worker of this run is gone; taking it over");
        }
    }
}

/// Scenarios paused for a connection that has been fixed go on, with their paused runs.
async fn resume_paused(app: &Arc<App>) {
    let Ok(ids) = app.store.scenarios_to_resume().await else {
        return;
    };
    for id in ids {
        if app.store.set_scenario_paused(&id, None).await.is_ok() {
            let resumed = app.store.resume_paused_runs(&id).await.unwrap_or(0);
            tracing::info!(scenario = %id, runs = resumed, "the connection is usable again; scenario resumed");
            app.engine.signal.notify_waiters();
        }
    }
}
