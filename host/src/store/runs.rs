//! Runs as a durable state machine: `queued → running → succeeded | failed | cancelled`, or
//! `paused` while a connection needs re-authorization. A worker claims a run with a lease
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers never wait on each other), renews it while
//! it works, and every write it makes afterwards is fenced by its claim: a worker whose lease
//! was taken over (it hung, or was thought dead) cannot commit over its successor.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{now_ms, Backend, Store, StoreError};

/// A run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// `run_…`.
    pub id: String,
    /// Its scenario.
    pub scenario_id: String,
    /// The scenario version it runs.
    pub scenario_version: i64,
    /// The scenario's owner.
    pub user_id: String,
    /// `manual`, `schedule`, `poll` or `webhook`.
    pub trigger_kind: String,
    /// The item of a manual, scheduled or webhook run.
    pub input: Option<Value>,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled` or `paused`.
    pub status: String,
    /// The worker holding it.
    pub claimed_by: Option<String>,
    /// How many times a worker took it (more than one: it was resumed).
    pub attempts: i64,
    /// How many times a worker claimed it, turns after a yield or a wait included (1: its
    /// first turn, with nothing done yet).
    #[serde(skip)]
    pub claims: i64,
    /// Whether a cancel was asked for.
    pub cancel_requested: bool,
    /// Items that went through.
    pub items_done: i64,
    /// Items that failed.
    pub items_failed: i64,
    /// Items filtered out or skipped after an error.
    pub items_skipped: i64,
    /// Items processed again after the run was resumed.
    pub items_retried: i64,
    /// Trigger pages read.
    pub pages: i64,
    /// Why it failed or paused.
    pub error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
    /// Unix ms.
    pub updated_at: i64,
}

/// A run to queue.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// `run_…`.
    pub id: String,
    /// Its scenario.
    pub scenario_id: String,
    /// The version.
    pub scenario_version: i64,
    /// The owner.
    pub user_id: String,
    /// The trigger kind.
    pub trigger_kind: String,
    /// The item, for non-poll runs.
    pub input: Option<Value>,
}

/// A process's liveness on PostgreSQL: a session-level advisory lock, held on a connection of
/// its own for as long as the process lives. When the process dies its session ends and the
/// lock goes with it, so another worker can tell at once ([`Store::process_gone`]) instead of
/// waiting for the lease to run out.
pub struct Liveness {
    // Only held (a mutex makes it shareable between threads; nothing locks it).
    _connection: std::sync::Mutex<sqlx::AnyConnection>,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Liveness")
    }
}

/// The advisory lock key of a process (`host:pid`).
fn liveness_key(process: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("heph-process:{process}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Which runs a claim takes.
#[derive(Debug, Clone, Copy)]
enum Claim<'a> {
    /// A running run whose lease ran out.
    Expired,
    /// A due queued run of this user, who had this many runs running when it was chosen.
    Queued(&'a str, i64),
}

/// The users with queued runs, one index seek each (a loose scan of `runs_user_queue`), each
/// with the earliest `not_before` of their queued runs: if that one is not due, none of theirs
/// is.
const QUEUED_USERS: &str = "WITH RECURSIVE queued(user_id) AS ( \
       SELECT MIN(user_id) FROM runs WHERE status = 'queued' \
       UNION ALL \
       SELECT (SELECT MIN(r.user_id) FROM runs r WHERE r.status = 'queued' AND r.user_id > u.user_id) \
       FROM queued u WHERE u.user_id IS NOT NULL) \
     SELECT u.user_id, (SELECT MIN(r.not_before) FROM runs r \
       WHERE r.status = 'queued' AND r.user_id = u.user_id) AS due \
     FROM queued u WHERE u.user_id IS NOT NULL";

/// The statement that claims the first run of a kind (binds: worker, lease end, now, and the
/// user for [`Claim::Queued`]). The run is re-checked in the update, so that a run another
/// worker took in between is not taken twice (PostgreSQL also skips rows being claimed).
fn claim_sql(backend: Backend, claim: Claim<'_>) -> String {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let (pick, still) = match claim {
        Claim::Expired => (
            "q.status = 'running' AND q.lease_until < $3 ORDER BY q.lease_until",
            "status = 'running' AND lease_until < $3",
        ),
        // Only while the user still has the runs running that the choice saw ($5): two
        // workers that chose at once do not both take the same user's runs.
        Claim::Queued(..) => (
            "q.status = 'queued' AND q.user_id = $4 AND q.not_before <= $3 ORDER BY q.not_before",
            "status = 'queued' AND not_before <= $3 AND (SELECT COUNT(*) FROM runs b \
             WHERE b.status = 'running' AND b.user_id = $4) = $5",
        ),
    };
    format!(
        "UPDATE runs SET status = 'running', claimed_by = $1, lease_until = $2, \
         attempts = attempts + 1, claims = claims + 1, started_at = COALESCE(started_at, $3), updated_at = $3 \
         WHERE id = (SELECT q.id FROM runs q WHERE {pick} LIMIT 1{lock}) AND {still} \
         RETURNING {COLUMNS}"
    )
}

/// What a run did with its items so far ([`Store::items_so_far`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemsSoFar {
    /// The highest item seq (0: none yet).
    pub last_seq: i64,
    /// Items with a row that is not paused.
    pub settled: i64,
}

/// One finished item.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRecord {
    /// Its position in the run.
    pub seq: i64,
    /// The upstream id.
    pub item_id: String,
    /// sha256 of its data: a resumed run skips an item finished with the same data.
    #[serde(skip)]
    pub data_hash: String,
    /// `done`, `filtered`, `skipped` or `failed`.
    pub status: String,
    /// The run attempt that finished it.
    pub attempt: i64,
    /// Its error.
    pub error: Option<String>,
}

/// One step of an item.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// The item's seq.
    pub item_seq: i64,
    /// The step's position within the item.
    pub step: i64,
    /// The node.
    pub node_id: String,
    /// `ok`, `error`, `filtered`, `skipped`.
    pub status: String,
    /// Its input (JSON).
    pub input: Option<Value>,
    /// Its output (JSON).
    pub output: Option<Value>,
    /// The error's code.
    pub error_code: Option<String>,
    /// The error.
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: i64,
    /// Unix ms.
    pub started_at: i64,
    /// How long, in µs.
    pub duration_us: i64,
    /// Outbound requests (redacted), JSON.
    pub requests: Option<Value>,
    /// Log lines (the connector's, and each failed attempt), JSON.
    pub logs: Option<Value>,
}

/// A run event (resumed, waiting for a rate limit, a page read).
#[derive(Debug, Clone, Serialize)]
pub struct RunEvent {
    /// Unix ms.
    pub at: i64,
    /// `info`, `warn`, `error`.
    pub level: String,
    /// What happened.
    pub message: String,
}

/// Moving a poll cursor: from what the run read, to after what it committed.
#[derive(Debug, Clone)]
pub struct CursorMove {
    /// The scenario.
    pub scenario_id: String,
    /// The cursor the page was read from.
    pub from: Option<String>,
    /// The cursor after it.
    pub to: Option<String>,
}

/// What one commit of a run writes, all or nothing.
#[derive(Debug, Default)]
pub struct Batch {
    /// Finished items.
    pub items: Vec<ItemRecord>,
    /// Their steps.
    pub steps: Vec<StepRecord>,
    /// Items retried after a resume.
    pub retried: i64,
    /// Pages completed.
    pub pages: i64,
    /// The poll cursor to move.
    pub cursor: Option<CursorMove>,
    /// Events.
    pub events: Vec<(String, String)>,
    /// Data store writes made by the batch's items (`None`: delete).
    pub records: Vec<RecordWrite>,
    /// Items that wait in a delay node: where each goes on, and when.
    pub waits: Vec<WaitWrite>,
    /// Waits this batch went on from (their rows go; an item waiting again has a new one).
    pub resumed: Vec<i64>,
    /// The run succeeds with this batch: its end is written in the same transaction (a
    /// single-item run's one commit, instead of two).
    pub succeeded: bool,
}

/// An item waiting in a delay node.
#[derive(Debug, Clone)]
pub struct WaitWrite {
    /// The item.
    pub item_seq: i64,
    /// When it goes on (Unix ms).
    pub due_at: i64,
    /// The rest of its walk (frames and the values they read), JSON.
    pub state: Value,
}

/// A data store write, committed with the items that made it.
#[derive(Debug, Clone)]
pub struct RecordWrite {
    /// The owner.
    pub user_id: String,
    /// The collection.
    pub collection: String,
    /// The key.
    pub id: String,
    /// The record, or `None` to delete it.
    pub data: Option<Value>,
}

/// The run's lease is gone: another worker owns it now.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another worker claimed the run.
    #[error("this worker no longer holds the run (its lease expired and another worker took it)")]
    LeaseLost,
    /// The cursor moved under the run.
    #[error("the trigger's cursor was moved by someone else")]
    CursorMoved,
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CommitError {
    fn from(e: sqlx::Error) -> Self {
        CommitError::Store(e.into())
    }
}

const COLUMNS: &str = "id, scenario_id, scenario_version, user_id, trigger_kind, input, status, \
    claimed_by, attempts, claims, cancel_requested, items_done, items_failed, items_skipped, \
    items_retried, pages, error, created_at, started_at, finished_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<RunRow, StoreError> {
    let input: Option<String> = row.try_get("input")?;
    Ok(RunRow {
        id: row.try_get("id")?,
        scenario_id: row.try_get("scenario_id")?,
        scenario_version: row.try_get("scenario_version")?,
        user_id: row.try_get("user_id")?,
        trigger_kind: row.try_get("trigger_kind")?,
        input: input
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("run input: {e}")))?,
        status: row.try_get("status")?,
        claimed_by: row.try_get("claimed_by")?,
        attempts: row.try_get("attempts")?,
        claims: row.try_get("claims")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        items_done: row.try_get("items_done")?,
        items_failed: row.try_get("items_failed")?,
        items_skipped: row.try_get("items_skipped")?,
        items_retried: row.try_get("items_retried")?,
        pages: row.try_get("pages")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(Value::to_string)
}

/// The most a step's input, output, requests or logs take in the store; a larger value is
/// kept as its size and the start of its text (the run's records and the connector's answer
/// are what later nodes read, not this copy, which is for people).
pub const MAX_STEP_VALUE_BYTES: usize = 256 * 1024;

/// A step value's stored text, within [`MAX_STEP_VALUE_BYTES`].
fn step_text(value: &Option<Value>) -> Option<String> {
    let text = json_text(value)?;
    if text.len() <= MAX_STEP_VALUE_BYTES {
        return Some(text);
    }
    let mut cut = 4096;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(
        serde_json::json!({
            "truncated": true,
            "bytes": text.len(),
            "preview": &text[..cut],
        })
        .to_string(),
    )
}

/// The most of a run's steps one answer carries (their stored text); past it the answer ends
/// at an item boundary, and within its first item further steps come without their values.
pub const RUN_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The most events a run's answer lists (the latest).
pub const RUN_ANSWER_EVENTS: i64 = 200;

impl Store {
    /// Queues a run. A poll run is queued only if the scenario has no poll run queued,
    /// running or paused already (they would read the same cursor): then that run's id is
    /// returned instead, with `false`.
    pub async fn enqueue_run(&self, run: &NewRun) -> Result<(String, bool), StoreError> {
        let now = now_ms();
        let input = json_text(&run.input);
        let inserted = sqlx::query(
            "INSERT INTO runs (id, scenario_id, scenario_version, user_id, trigger_kind, input, \
             status, not_before, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $5, $6, 'queued', $7, $7, $7 WHERE $5 <> 'poll' OR NOT EXISTS \
             (SELECT 1 FROM runs WHERE scenario_id = $2 AND trigger_kind = 'poll' \
              AND status IN ('queued', 'running', 'paused'))",
        )
        .bind(&run.id)
        .bind(&run.scenario_id)
        .bind(run.scenario_version)
        .bind(&run.user_id)
        .bind(&run.trigger_kind)
        .bind(input)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok((run.id.clone(), true));
        }
        let row = sqlx::query(
            "SELECT id FROM runs WHERE scenario_id = $1 AND trigger_kind = 'poll' \
             AND status IN ('queued', 'running', 'paused') ORDER BY created_at LIMIT 1",
        )
        .bind(&run.scenario_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok((row.try_get("id")?, false)),
            // It finished in between: try once more.
            None => Box::pin(self.enqueue_run(run)).await,
        }
    }

    /// Queues several runs (one per webhook item) in one transaction.
    pub async fn enqueue_runs(&self, runs: &[NewRun]) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        for run in runs {
            sqlx::query(
                "INSERT INTO runs (id, scenario_id, scenario_version, user_id, trigger_kind, input, \
                 status, not_before, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7, $7)",
            )
            .bind(&run.id)
            .bind(&run.scenario_id)
            .bind(run.scenario_version)
            .bind(&run.user_id)
            .bind(&run.trigger_kind)
            .bind(json_text(&run.input))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims a runnable run: first one whose worker's lease ran out (taken over), else a
    /// queued one that is due — fairly between users: of the users with a due run, the one
    /// with the fewest runs running goes first (then the one waiting longest), so that one
    /// user's many runs, or runs that take long, never keep another user's run waiting for
    /// every worker. Each read is an index seek (`runs_user_queue`): a claim costs
    /// O(u · log n) for u users with queued runs, never a sort of the queue.
    pub async fn claim_next_run(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<RunRow>, StoreError> {
        let now = now_ms();
        if let Some(run) = self.claim_where(worker, lease_ms, now, Claim::Expired).await? {
            return Ok(Some(run));
        }
        // Another worker may take the chosen run, or one of that user's, in between: choose
        // again, a few times.
        for _ in 0..8 {
            let Some((user, busy)) = self.next_user(now).await? else {
                return Ok(None);
            };
            if let Some(run) = self
                .claim_where(worker, lease_ms, now, Claim::Queued(&user, busy))
                .await?
            {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    /// The user whose due run goes next (fewest runs running, then earliest due), and how many
    /// they have running.
    async fn next_user(&self, now: i64) -> Result<Option<(String, i64)>, StoreError> {
        let busy: HashMap<String, i64> = sqlx::query(
            "SELECT user_id, COUNT(*) AS busy FROM runs WHERE status = 'running' GROUP BY user_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("user_id")?, row.try_get("busy")?)))
        .collect::<Result<_, StoreError>>()?;
        let rows = sqlx::query(QUEUED_USERS).fetch_all(&self.pool).await?;
        let mut best: Option<(i64, i64, String)> = None;
        for row in rows {
            let user: String = row.try_get("user_id")?;
            let Some(due) = row.try_get::<Option<i64>, _>("due")? else {
                continue;
            };
            if due > now {
                continue;
            }
            let rank = (busy.get(&user).copied().unwrap_or(0), due, user);
            if best.as_ref().is_none_or(|b| rank < *b) {
                best = Some(rank);
            }
        }
        Ok(best.map(|(busy, _, user)| (user, busy)))
    }

    /// Claims the first run of one kind, if another worker did not take it first.
    async fn claim_where(
        &self,
        worker: &str,
        lease_ms: i64,
        now: i64,
        claim: Claim<'_>,
    ) -> Result<Option<RunRow>, StoreError> {
        let sql = claim_sql(self.backend, claim);
        let mut query = sqlx::query(&sql).bind(worker).bind(now + lease_ms).bind(now);
        if let Claim::Queued(user, busy) = claim {
            query = query.bind(user).bind(busy);
        }
        query
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Claims one run by id if it is queued or its lease expired.
    pub async fn claim_run(
        &self,
        id: &str,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<RunRow>, StoreError> {
        let now = now_ms();
        sqlx::query(&format!(
            "UPDATE runs SET status = 'running', claimed_by = $1, lease_until = $2, \
             attempts = attempts + 1, claims = claims + 1, started_at = COALESCE(started_at, $3), updated_at = $3 \
             WHERE id = $4 AND (status = 'queued' OR (status = 'running' AND lease_until < $3)) \
             RETURNING {COLUMNS}"
        ))
        .bind(worker)
        .bind(now + lease_ms)
        .bind(now)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// Takes this process's liveness lock (PostgreSQL; `None` on SQLite, where every worker is
    /// on this machine and its process table tells).
    pub async fn hold_liveness(&self, process: &str) -> Result<Option<Liveness>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut connection = self.pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(liveness_key(process))
            .execute(&mut connection)
            .await?;
        Ok(Some(Liveness {
            _connection: std::sync::Mutex::new(connection),
        }))
    }

    /// Whether the process `host:pid` is gone: its liveness lock is free (PostgreSQL). `None`
    /// on SQLite.
    pub async fn process_gone(&self, process: &str) -> Result<Option<bool>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let key = liveness_key(process);
        let mut connection = self.pool.acquire().await?;
        let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS free")
            .bind(key)
            .fetch_one(&mut *connection)
            .await?;
        let free: bool = row.try_get("free")?;
        if free {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *connection)
                .await?;
        }
        Ok(Some(free))
    }

    /// Running runs and who holds them: (id, claimed_by).
    pub async fn running_claims(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query(
            "SELECT id, claimed_by FROM runs WHERE status = 'running' AND claimed_by IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("claimed_by")?)))
        .collect()
    }

    /// Ends the lease of a run whose worker is known to be gone, so it is claimed at once.
    pub async fn expire_claim(&self, id: &str, worker: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE runs SET lease_until = 0 WHERE id = $1 AND claimed_by = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Renews a lease. Returns `None` if the worker lost the run, else whether a cancel was
    /// asked for.
    pub async fn renew_lease(
        &self,
        id: &str,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<bool>, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE runs SET lease_until = $1, updated_at = $2 WHERE id = $3 AND claimed_by = $4 \
             AND status = 'running' RETURNING cancel_requested",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(id)
        .bind(worker)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(r.try_get::<i64, _>("cancel_requested")? != 0))
            .transpose()
    }

    /// Commits a batch of a run's work, fenced by the worker's claim. Returns whether a
    /// cancel was asked for meanwhile.
    pub async fn commit_batch(
        &self,
        run_id: &str,
        worker: &str,
        batch: &Batch,
    ) -> Result<bool, CommitError> {
        let now = now_ms();
        let count = |status: &str| batch.items.iter().filter(|i| i.status == status).count() as i64;
        let skipped = count("skipped") + count("filtered");
        let mut tx = self.pool.begin().await?;
        // The fence comes first: it also takes SQLite's write lock before anything is read.
        let fenced = sqlx::query(
            "UPDATE runs SET items_done = items_done + $1, items_failed = items_failed + $2, \
             items_skipped = items_skipped + $3, items_retried = items_retried + $4, \
             pages = pages + $5, updated_at = $6 WHERE id = $7 AND claimed_by = $8 AND status = 'running' \
             RETURNING cancel_requested",
        )
        .bind(count("done"))
        .bind(count("failed"))
        .bind(skipped)
        .bind(batch.retried)
        .bind(batch.pages)
        .bind(now)
        .bind(run_id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let cancel = match fenced {
            Some(row) => row.try_get::<i64, _>("cancel_requested")? != 0,
            None => return Err(CommitError::LeaseLost),
        };
        for chunk in batch.items.chunks(200) {
            let mut sql = String::from(
                "INSERT INTO run_items (run_id, seq, item_id, data_hash, status, attempt, error, finished_at) VALUES ",
            );
            push_rows(&mut sql, chunk.len(), 8);
            // An item that waited in a delay node has its row already: it is finished now.
            sql.push_str(
                " ON CONFLICT (run_id, seq) DO UPDATE SET status = excluded.status, \
                 attempt = excluded.attempt, error = excluded.error, finished_at = excluded.finished_at \
                 WHERE run_items.status = 'waiting'",
            );
            let mut query = sqlx::query(&sql);
            for item in chunk {
                query = query
                    .bind(run_id)
                    .bind(item.seq)
                    .bind(&item.item_id)
                    .bind(&item.data_hash)
                    .bind(&item.status)
                    .bind(item.attempt)
                    .bind(&item.error)
                    .bind(now);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in batch.steps.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO run_steps (run_id, item_seq, step, node_id, status, input, output, \
                 error_code, error, attempts, started_at, duration_us, requests, logs) VALUES ",
            );
            push_rows(&mut sql, chunk.len(), 14);
            let mut query = sqlx::query(&sql);
            for s in chunk {
                query = query
                    .bind(run_id)
                    .bind(s.item_seq)
                    .bind(s.step)
                    .bind(&s.node_id)
                    .bind(&s.status)
                    .bind(step_text(&s.input))
                    .bind(step_text(&s.output))
                    .bind(&s.error_code)
                    .bind(&s.error)
                    .bind(s.attempts)
                    .bind(s.started_at)
                    .bind(s.duration_us)
                    .bind(step_text(&s.requests))
                    .bind(step_text(&s.logs));
            }
            query.execute(&mut *tx).await?;
        }
        if let Some(cursor) = &batch.cursor {
            let moved = sqlx::query(
                "UPDATE trigger_state SET cursor = $1, updated_at = $2 WHERE scenario_id = $3 \
                 AND (cursor = $4 OR (cursor IS NULL AND $5 = 1))",
            )
            .bind(&cursor.to)
            .bind(now)
            .bind(&cursor.scenario_id)
            .bind(cursor.from.clone().unwrap_or_default())
            .bind(i64::from(cursor.from.is_none()))
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                return Err(CommitError::CursorMoved);
            }
        }
        let (puts, deletes): (Vec<&RecordWrite>, Vec<&RecordWrite>) =
            batch.records.iter().partition(|w| w.data.is_some());
        for chunk in puts.chunks(200) {
            let mut sql = String::from(
                "INSERT INTO records (user_id, collection, id, data, created_at, updated_at) VALUES ",
            );
            push_rows(&mut sql, chunk.len(), 6);
            sql.push_str(
                " ON CONFLICT (user_id, collection, id) DO UPDATE SET data = excluded.data, \
                 updated_at = excluded.updated_at",
            );
            let mut query = sqlx::query(&sql);
            for w in chunk {
                query = query
                    .bind(&w.user_id)
                    .bind(&w.collection)
                    .bind(&w.id)
                    .bind(w.data.as_ref().map(Value::to_string))
                    .bind(now)
                    .bind(now);
            }
            query.execute(&mut *tx).await?;
        }
        for w in deletes {
            sqlx::query("DELETE FROM records WHERE user_id = $1 AND collection = $2 AND id = $3")
                .bind(&w.user_id)
                .bind(&w.collection)
                .bind(&w.id)
                .execute(&mut *tx)
                .await?;
        }
        for seq in &batch.resumed {
            sqlx::query("DELETE FROM run_waits WHERE run_id = $1 AND item_seq = $2")
                .bind(run_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        for wait in &batch.waits {
            sqlx::query(
                "INSERT INTO run_waits (run_id, item_seq, due_at, state) VALUES ($1, $2, $3, $4)",
            )
            .bind(run_id)
            .bind(wait.item_seq)
            .bind(wait.due_at)
            .bind(wait.state.to_string())
            .execute(&mut *tx)
            .await?;
        }
        for (level, message) in &batch.events {
            insert_event(&mut tx, run_id, now, level, message).await?;
        }
        if batch.succeeded {
            sqlx::query(
                "UPDATE runs SET status = 'succeeded', error = NULL, finished_at = $1, \
                 lease_until = NULL, claimed_by = NULL, updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(cancel)
    }

    /// Adds an event to a run's log.
    pub async fn add_run_event(
        &self,
        run_id: &str,
        level: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_event(&mut tx, run_id, now_ms(), level, message).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a run (fenced by the claim). `paused` keeps it for later.
    pub async fn finish_run(
        &self,
        run_id: &str,
        worker: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let finished = (status != "paused").then_some(now);
        let done = sqlx::query(
            "UPDATE runs SET status = $1, error = $2, finished_at = $3, lease_until = NULL, \
             claimed_by = NULL, updated_at = $4 WHERE id = $5 AND claimed_by = $6 AND status = 'running'",
        )
        .bind(status)
        .bind(error)
        .bind(finished)
        .bind(now)
        .bind(run_id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts a running run back in the queue, due now, behind the runs already waiting (fenced
    /// by the claim). Its turn is not a failed attempt, so the attempt count goes back too.
    pub async fn yield_run(&self, run_id: &str, worker: &str) -> Result<bool, StoreError> {
        self.park_run(run_id, worker, now_ms()).await
    }

    /// Puts a running run back in the queue until `due_at` (fenced by the claim): its items
    /// wait in delay nodes, and no worker waits with them. Not a failed attempt either.
    pub async fn park_run(
        &self,
        run_id: &str,
        worker: &str,
        due_at: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE runs SET status = 'queued', not_before = $1, lease_until = NULL, \
             claimed_by = NULL, attempts = attempts - 1, updated_at = $2 \
             WHERE id = $3 AND claimed_by = $4 AND status = 'running'",
        )
        .bind(due_at)
        .bind(now)
        .bind(run_id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A run's waits due by `now` (the first `limit`): (item seq, state).
    pub async fn due_waits(
        &self,
        run_id: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Value)>, StoreError> {
        sqlx::query(
            "SELECT item_seq, state FROM run_waits WHERE run_id = $1 AND due_at <= $2 \
             ORDER BY due_at, item_seq LIMIT $3",
        )
        .bind(run_id)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let state: String = row.try_get("state")?;
            Ok((
                row.try_get("item_seq")?,
                serde_json::from_str(&state)
                    .map_err(|e| StoreError::Corrupt(format!("run wait: {e}")))?,
            ))
        })
        .collect()
    }

    /// When a run's first waiting item is due, if any waits.
    pub async fn next_wait(&self, run_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MIN(due_at) AS due FROM run_waits WHERE run_id = $1")
            .bind(run_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("due")?)
    }

    /// Puts a scenario's paused runs back in the queue.
    pub async fn resume_paused_runs(&self, scenario_id: &str) -> Result<u64, StoreError> {
        let now = now_ms();
        Ok(sqlx::query(
            "UPDATE runs SET status = 'queued', not_before = $1, updated_at = $1, error = NULL \
             WHERE scenario_id = $2 AND status = 'paused'",
        )
        .bind(now)
        .bind(scenario_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Asks a run to stop: a queued or paused run is cancelled at once, a running one at its
    /// next item. Returns the run afterwards.
    pub async fn cancel_run(&self, user_id: &str, id: &str) -> Result<RunRow, StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE runs SET status = 'cancelled', finished_at = $1, updated_at = $1, \
             error = 'cancelled before it ran to the end' \
             WHERE id = $2 AND user_id = $3 AND status IN ('queued', 'paused')",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE runs SET cancel_requested = 1, updated_at = $1 WHERE id = $2 AND user_id = $3 AND status = 'running'",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        self.run(user_id, id).await
    }

    /// One of a user's runs.
    pub async fn run(&self, user_id: &str, id: &str) -> Result<RunRow, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM runs WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("run `{id}`")))
    }

    /// A user's runs, newest first, optionally of one scenario.
    pub async fn runs(
        &self,
        user_id: &str,
        scenario_id: Option<&str>,
        limit: i64,
        before: Option<(i64, String)>,
    ) -> Result<Vec<RunRow>, StoreError> {
        // Newest first; `before` is the last run of the previous page.
        let (before_at, before_id) = before.unwrap_or((i64::MAX, String::new()));
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM runs WHERE user_id = $1 AND ($2 = '' OR scenario_id = $2) \
             AND (created_at < $4 OR (created_at = $4 AND id > $5)) \
             ORDER BY created_at DESC, id LIMIT $3"
        ))
        .bind(user_id)
        .bind(scenario_id.unwrap_or(""))
        .bind(limit)
        .bind(before_at)
        .bind(before_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// A run's items from `after_seq`, at most `limit`.
    pub async fn run_items(
        &self,
        run_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<ItemRecord>, StoreError> {
        sqlx::query(
            "SELECT seq, item_id, data_hash, status, attempt, error FROM run_items \
             WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ItemRecord {
                seq: row.try_get("seq")?,
                item_id: row.try_get("item_id")?,
                data_hash: row.try_get("data_hash")?,
                status: row.try_get("status")?,
                attempt: row.try_get("attempt")?,
                error: row.try_get("error")?,
            })
        })
        .collect()
    }

    /// What a run has done with its items so far: the highest seq, and how many are settled
    /// (not paused for a connection: those run again).
    pub async fn items_so_far(&self, run_id: &str) -> Result<ItemsSoFar, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) AS seq,              COALESCE(SUM(CASE WHEN status = 'paused' THEN 0 ELSE 1 END), 0) AS settled              FROM run_items WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(ItemsSoFar {
            last_seq: row.try_get("seq")?,
            settled: row.try_get("settled")?,
        })
    }

    /// Which of these item ids a run already finished (or left waiting), with their data
    /// hashes; an item paused for its connection is not finished.
    pub async fn finished_items(
        &self,
        run_id: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(200) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT item_id, data_hash FROM run_items WHERE run_id = $1 AND status <> 'paused' \
                 AND item_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(run_id);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push((row.try_get("item_id")?, row.try_get("data_hash")?));
            }
        }
        Ok(found)
    }

    /// A run's steps for items `from_seq..=to_seq`, read one row at a time within
    /// [`RUN_ANSWER_BYTES`] of stored text. Returns the steps and the last item whose steps
    /// are all there (`to_seq` when everything fitted). The first item is always whole: past
    /// the budget its steps come without input, output, requests and logs.
    pub async fn run_steps(
        &self,
        run_id: &str,
        from_seq: i64,
        to_seq: i64,
    ) -> Result<(Vec<StepRecord>, i64), StoreError> {
        use futures::TryStreamExt;
        let parse = |text: Option<String>| -> Result<Option<Value>, StoreError> {
            text.map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("run step: {e}")))
        };
        let mut rows = sqlx::query(
            "SELECT item_seq, step, node_id, status, input, output, error_code, error, attempts, \
             started_at, duration_us, requests, logs FROM run_steps WHERE run_id = $1 \
             AND item_seq >= $2 AND item_seq <= $3 ORDER BY item_seq, step",
        )
        .bind(run_id)
        .bind(from_seq)
        .bind(to_seq)
        .fetch(&self.pool);
        let mut steps = Vec::new();
        let mut spent = 0usize;
        let mut first_item = None;
        while let Some(row) = rows.try_next().await? {
            let item_seq: i64 = row.try_get("item_seq")?;
            let first = *first_item.get_or_insert(item_seq) == item_seq;
            let mut values: [Option<String>; 4] = [
                row.try_get("input")?,
                row.try_get("output")?,
                row.try_get("requests")?,
                row.try_get("logs")?,
            ];
            let size: usize = values.iter().flatten().map(String::len).sum();
            if spent + size > RUN_ANSWER_BYTES {
                if !first {
                    // This item and the rest wait for the next answer.
                    return Ok((steps, item_seq - 1));
                }
                values = [None, None, None, None];
            }
            spent += values.iter().flatten().map(String::len).sum::<usize>();
            let [input, output, requests, logs] = values;
            steps.push(StepRecord {
                item_seq,
                step: row.try_get("step")?,
                node_id: row.try_get("node_id")?,
                status: row.try_get("status")?,
                input: parse(input)?,
                output: parse(output)?,
                error_code: row.try_get("error_code")?,
                error: row.try_get("error")?,
                attempts: row.try_get("attempts")?,
                started_at: row.try_get("started_at")?,
                duration_us: row.try_get("duration_us")?,
                requests: parse(requests)?,
                logs: parse(logs)?,
            });
        }
        Ok((steps, to_seq))
    }

    /// A run's latest events ([`RUN_ANSWER_EVENTS`] at most), oldest first.
    pub async fn run_events(&self, run_id: &str) -> Result<Vec<RunEvent>, StoreError> {
        let mut events = sqlx::query(
            "SELECT at, level, message FROM run_events WHERE run_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(run_id)
        .bind(RUN_ANSWER_EVENTS)
        .fetch_all(&self.pool)
        .await?;
        events.reverse();
        events
            .iter()
            .map(|row| {
                Ok(RunEvent {
                    at: row.try_get("at")?,
                    level: row.try_get("level")?,
                    message: row.try_get("message")?,
                })
            })
            .collect()
    }
}

/// `($1, $2, …), ($n+1, …)` for `rows` rows of `columns` values.
fn push_rows(sql: &mut String, rows: usize, columns: usize) {
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * columns + c + 1));
        }
        sql.push(')');
    }
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    run_id: &str,
    at: i64,
    level: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO run_events (run_id, seq, at, level, message) VALUES ($1, \
         (SELECT COALESCE(MAX(seq), 0) + 1 FROM run_events WHERE run_id = $1), $2, $3, $4)",
    )
    .bind(run_id)
    .bind(at)
    .bind(level)
    .bind(message)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan for a statement, one line per step.
    async fn plan(store: &Store, sql: &str) -> String {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query(&explain);
        for n in 1..=5 {
            if sql.contains(&format!("${n}")) {
                query = query.bind(n as i64);
            }
        }
        query
            .fetch_all(&store.pool)
            .await
            .expect("a plan")
            .iter()
            .map(|row| row.try_get::<String, _>("detail").unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn claiming_seeks_the_queue_index_and_never_sorts_the_queue() {
        let dir = std::env::temp_dir().join(format!("heph-claim-{}", super::super::new_id("t")));
        let store = Store::open_in(&dir).await.expect("store");
        for sql in [
            QUEUED_USERS.to_string(),
            claim_sql(Backend::Sqlite, Claim::Queued("u", 0)),
            claim_sql(Backend::Sqlite, Claim::Expired),
        ] {
            let plan = plan(&store, &sql).await;
            assert!(!plan.contains("TEMP B-TREE"), "a sort in:\n{plan}");
            // `runs` is read as `runs`, `r` or `q`; `u` is the list of users.
            let scans = plan.lines().any(|line| {
                ["SCAN runs", "SCAN r", "SCAN q"]
                    .iter()
                    .any(|scan| line == *scan || line.starts_with(&format!("{scan} ")))
            });
            assert!(!scans, "a scan of the queue in:\n{plan}");
            assert!(plan.contains("USING") && plan.contains("INDEX"), "{plan}");
        }
        let queued = plan(&store, &claim_sql(Backend::Sqlite, Claim::Queued("u", 0))).await;
        assert!(queued.contains("runs_user_queue"), "{queued}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
