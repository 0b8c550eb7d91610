//! What the API and the command line do with scenarios, runs and the data store. Every
//! operation takes the acting user and sees only that user's scenarios, runs and records.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::plan::Plan;
use super::scenario::{self, Trigger};
use super::schedule::next_fire;
use super::validate::{self, Problem};
use crate::app::{App, AppError};
use crate::store::{
    new_id, now_ms, ItemRecord, NewRun, RunEvent, RunRow, ScenarioRow, StepRecord, User,
};

/// The vault owner of a scenario's webhook token.
fn token_owner(id: &str) -> String {
    format!("scenario/{id}")
}

const WEBHOOK_TOKEN: &str = "webhook_token";

/// A scenario as the API shows it.
#[derive(Debug, Serialize)]
pub struct ScenarioView {
    /// `scn_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its version (bumped on every edit).
    pub version: i64,
    /// Whether its trigger fires.
    pub enabled: bool,
    /// `manual`, `schedule`, `poll` or `webhook`.
    pub trigger: &'static str,
    /// Why it waits, if it does.
    pub paused: Option<Value>,
    /// Where to send deliveries (webhook triggers; only its owner sees it).
    pub webhook_url: Option<String>,
    /// When its trigger fires next (Unix ms).
    pub next_run_at: Option<i64>,
    /// The poll trigger's cursor (after the last committed page).
    pub cursor: Option<String>,
    /// The definition.
    pub definition: Value,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A run that was started (or was already going).
#[derive(Debug, Serialize)]
pub struct StartedRun {
    /// The run.
    pub run: RunRow,
    /// False: a poll run of the scenario was already queued or running, and this is it.
    pub new: bool,
}

/// A run with its items, steps and events.
#[derive(Debug, Serialize)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: RunRow,
    /// Events (resumed, retries of the trigger, pages).
    pub events: Vec<RunEvent>,
    /// Items (a window of them: `after`, `limit`).
    pub items: Vec<ItemWithSteps>,
    /// When the window was cut short to keep the answer within its size: the `after` that
    /// reads on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// One item and its steps.
#[derive(Debug, Serialize)]
pub struct ItemWithSteps {
    /// The item.
    #[serde(flatten)]
    pub item: ItemRecord,
    /// Its steps.
    pub steps: Vec<StepRecord>,
}

fn invalid_scenario(problems: Vec<Problem>) -> AppError {
    // The message names the first few; `details.problems` has them all.
    let mut summary = problems
        .iter()
        .take(5)
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > 5 {
        summary.push_str(&format!("; and {} more", problems.len() - 5));
    }
    AppError::new(
        "invalid_scenario",
        422,
        format!("the scenario has {} problem(s): {summary}", problems.len()),
    )
    .with_details(json!({ "problems": problems }))
}

/// A definition checked where it is asked for has at most this many nodes…
const INLINE_CHECK_NODES: usize = 64;
/// …and at most this much text in its keys and strings.
const INLINE_CHECK_BYTES: usize = 64 * 1024;

/// The bytes of text in a JSON value's keys and strings, if they stay within `limit` (it
/// stops counting past it).
fn text_bytes(value: &Value, limit: usize) -> Option<usize> {
    let mut total = 0usize;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(s) => total += s.len(),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                for (key, item) in map {
                    total += key.len();
                    stack.push(item);
                }
            }
            _ => total += 8,
        }
        if total > limit {
            return None;
        }
    }
    Some(total)
}

/// CPU-bound work for a request (checking a scenario, previewing a mapping) running at once:
/// one per two cores, on the background threads, so that it never holds the threads that answer
/// everyone else.
pub fn checking_turns() -> &'static tokio::sync::Semaphore {
    static TURNS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    TURNS.get_or_init(|| {
        // Half the cores: the other half keeps answering while members check large scenarios.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new((cores / 2).max(1))
    })
}

impl App {
    /// `describe()` of a connector's active version, asked once per version and process.
    pub async fn description(&self, connector_id: &str) -> Result<Arc<Value>, AppError> {
        let connector = self.connector(connector_id)?;
        let key = connector.digest().to_string();
        if let Some(found) = self
            .engine
            .descriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let described = connector.describe().await;
        let value =
            Arc::new(described.result.map_err(|e| {
                AppError::internal(format!("{connector_id}: describe() failed: {e}"))
            })?);
        self.engine
            .descriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value.clone());
        Ok(value)
    }

    /// Parses and checks a definition for a user: every problem at once.
    pub async fn compile_scenario(
        &self,
        user_id: &str,
        definition: Value,
    ) -> Result<Plan, AppError> {
        // Too many nodes is refused before anything is built from them.
        let nodes = definition
            .get("nodes")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if nodes > validate::MAX_NODES {
            return Err(invalid_scenario(vec![validate::too_many_nodes(nodes)]));
        }
        let mut descriptions = HashMap::new();
        for id in self.catalog.ids() {
            if let Ok(description) = self.description(&id).await {
                descriptions.insert(id, description);
            }
        }
        let connections = self.store.connections(user_id).await?;
        let small =
            nodes <= INLINE_CHECK_NODES && text_bytes(&definition, INLINE_CHECK_BYTES).is_some();
        let check = move || {
            let (parsed, _) = scenario::from_value(definition).map_err(invalid_scenario)?;
            let env = validate::Environment {
                descriptions: &descriptions,
                connections: &connections,
            };
            validate::check(parsed, &env).map_err(invalid_scenario)
        };
        // Checking is CPU work that grows with the definition. An ordinary one (every run and
        // webhook delivery checks its scenario) takes microseconds and is checked here; a
        // large one runs on the low-priority background threads, a few at once, so that
        // members saving large scenarios never hold the threads that answer everyone else.
        if small {
            return check();
        }
        let _turn = checking_turns()
            .acquire()
            .await
            .map_err(|_| AppError::internal("the checking pool is closed"))?;
        crate::background::run("checking the scenario", check).await?
    }

    async fn scenario_view(&self, row: ScenarioRow) -> Result<ScenarioView, AppError> {
        let trigger: Option<Trigger> = row
            .definition
            .get("trigger")
            .and_then(|t| serde_json::from_value(t.clone()).ok());
        let kind = trigger.as_ref().map_or("manual", Trigger::kind);
        let state = self.store.trigger_state(&row.id).await?;
        let webhook_url = if kind == "webhook" {
            let owner = token_owner(&row.id);
            let mut url = None;
            for (field, sealed) in self.store.secrets_of(&owner).await? {
                if field == WEBHOOK_TOKEN {
                    let token = self.vault.open_string(&owner, &field, &sealed)?;
                    url = Some(format!(
                        "{}/hooks/{}/{token}",
                        self.config.public_url, row.id
                    ));
                }
            }
            url
        } else {
            None
        };
        Ok(ScenarioView {
            id: row.id,
            name: row.name,
            version: row.version,
            enabled: row.enabled,
            trigger: kind,
            paused: row
                .paused_reason
                .map(|reason| json!({"reason": reason, "connection": row.paused_connection})),
            webhook_url,
            next_run_at: state
                .as_ref()
                .and_then(|s| s.next_fire_at)
                .filter(|_| row.enabled),
            cursor: state.and_then(|s| s.cursor),
            definition: row.definition,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// The user's scenarios.
    pub async fn list_scenarios(&self, user: &User) -> Result<Vec<ScenarioView>, AppError> {
        let mut views = Vec::new();
        for row in self.store.scenarios(&user.id).await? {
            views.push(self.scenario_view(row).await?);
        }
        Ok(views)
    }

    /// One scenario, by id or name.
    pub async fn get_scenario(&self, user: &User, id: &str) -> Result<ScenarioView, AppError> {
        let row = self.store.scenario(&user.id, id).await?;
        self.scenario_view(row).await
    }

    /// The versions of a scenario, newest first.
    pub async fn scenario_versions(&self, user: &User, id: &str) -> Result<Vec<Value>, AppError> {
        let row = self.store.scenario(&user.id, id).await?;
        Ok(self
            .store
            .scenario_versions(&row.id)
            .await?
            .into_iter()
            .map(|(version, definition, created_at)| json!({"version": version, "created_at": created_at, "definition": definition}))
            .collect())
    }

    /// Checks and stores a new scenario (disabled until enabled).
    pub async fn create_scenario(
        &self,
        user: &User,
        definition: Value,
    ) -> Result<ScenarioView, AppError> {
        let plan = self.compile_scenario(&user.id, definition.clone()).await?;
        let id = new_id("scn");
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            crate::vault::random_bytes::<24>(),
        );
        let row = self
            .store
            .create_scenario(
                &id,
                &user.id,
                &plan.scenario.name,
                &definition,
                &crate::auth::api_tokens::hash(&token),
            )
            .await?;
        let sealed = self
            .vault
            .seal_str(&token_owner(&id), WEBHOOK_TOKEN, &token)?;
        self.store.put_secrets(&token_owner(&id), &[sealed]).await?;
        tracing::info!(user = %user.name, scenario = %id, name = %plan.scenario.name, "scenario created");
        self.scenario_view(row).await
    }

    /// Saves a new version. The poll cursor is kept if the trigger is the same one.
    pub async fn update_scenario(
        &self,
        user: &User,
        id: &str,
        definition: Value,
    ) -> Result<ScenarioView, AppError> {
        let existing = self.store.scenario(&user.id, id).await?;
        let plan = self.compile_scenario(&user.id, definition.clone()).await?;
        let row = self
            .store
            .update_scenario(&user.id, &existing.id, &plan.scenario.name, &definition)
            .await?;
        if row.enabled {
            self.arm_trigger(&row.id, &plan.scenario.trigger, false)
                .await?;
        }
        tracing::info!(user = %user.name, scenario = %row.id, version = row.version, "scenario updated");
        self.scenario_view(row).await
    }

    /// Creates the scenario, or saves a new version of the user's scenario of the same name.
    pub async fn apply_scenario(
        &self,
        user: &User,
        definition: Value,
    ) -> Result<ScenarioView, AppError> {
        let name = definition
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match self.store.scenario(&user.id, &name).await {
            Ok(existing) if existing.definition == definition => self.scenario_view(existing).await,
            Ok(existing) => self.update_scenario(user, &existing.id, definition).await,
            Err(crate::store::StoreError::NotFound(_)) => {
                self.create_scenario(user, definition).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Enables or disables a scenario's trigger.
    pub async fn set_scenario_enabled(
        &self,
        user: &User,
        id: &str,
        enabled: bool,
    ) -> Result<ScenarioView, AppError> {
        let row = self.store.scenario(&user.id, id).await?;
        if enabled {
            let plan = self
                .compile_scenario(&user.id, row.definition.clone())
                .await?;
            self.store
                .set_scenario_enabled(&user.id, &row.id, true)
                .await?;
            self.arm_trigger(&row.id, &plan.scenario.trigger, true)
                .await?;
        } else {
            self.store
                .set_scenario_enabled(&user.id, &row.id, false)
                .await?;
            if self.store.trigger_state(&row.id).await?.is_some() {
                self.store.set_next_fire(&row.id, None).await?;
            }
        }
        tracing::info!(user = %user.name, scenario = %row.id, enabled, "scenario {}", if enabled { "enabled" } else { "disabled" });
        self.get_scenario(user, &row.id).await
    }

    /// Sets when a timed trigger fires next: a poll at once when it is (re-)enabled, a cron
    /// schedule at its next time. The cursor stays (see `ensure_trigger_state`).
    async fn arm_trigger(
        &self,
        id: &str,
        trigger: &Trigger,
        enabling: bool,
    ) -> Result<(), AppError> {
        let now = now_ms();
        let next = match trigger {
            Trigger::Poll { cron: None, .. } if enabling => Some(now),
            Trigger::Poll { .. } | Trigger::Schedule { .. } => next_fire(trigger, now),
            _ => None,
        };
        if next.is_some() {
            self.store
                .ensure_trigger_state(id, &trigger.cursor_key())
                .await?;
            self.store.set_next_fire(id, next).await?;
        }
        Ok(())
    }

    /// Deletes a scenario, its runs and its webhook token.
    pub async fn delete_scenario(&self, user: &User, id: &str) -> Result<(), AppError> {
        let row = self.store.scenario(&user.id, id).await?;
        self.store.delete_scenario(&user.id, &row.id).await?;
        self.store.delete_secrets(&token_owner(&row.id)).await?;
        Ok(())
    }

    /// Queues a run now. `input` is the item of a manual run (`{"id", "data"}`, or any value,
    /// which becomes the data). A poll scenario with a run already going returns that run.
    pub async fn start_run(
        &self,
        user: &User,
        id: &str,
        input: Option<Value>,
    ) -> Result<StartedRun, AppError> {
        let row = self.store.scenario(&user.id, id).await?;
        if let Some(reason) = &row.paused_reason {
            return Err(
                AppError::conflict(format!("the scenario is paused: {reason}"))
                    .with_code("scenario_paused"),
            );
        }
        let plan = self
            .compile_scenario(&user.id, row.definition.clone())
            .await?;
        let trigger = &plan.scenario.trigger;
        let input = match trigger {
            Trigger::Poll { .. } => {
                self.store
                    .ensure_trigger_state(&row.id, &trigger.cursor_key())
                    .await?;
                None
            }
            Trigger::Manual { input: default } => Some(item_of(input.or_else(|| default.clone()))),
            Trigger::Schedule { .. } => {
                Some(item_of(input.or_else(|| {
                    Some(json!({"scheduled_at": chrono::Utc::now().to_rfc3339()}))
                })))
            }
            Trigger::Webhook { .. } => Some(item_of(input)),
        };
        let run = NewRun {
            id: new_id("run"),
            scenario_id: row.id.clone(),
            scenario_version: row.version,
            user_id: user.id.clone(),
            trigger_kind: if input.is_some() {
                "manual".into()
            } else {
                "poll".into()
            },
            input,
        };
        let (run_id, new) = self.store.enqueue_run(&run).await?;
        self.engine.signal.notify_waiters();
        Ok(StartedRun {
            run: self.store.run(&user.id, &run_id).await?,
            new,
        })
    }

    /// The user's runs, newest first.
    pub async fn list_runs(
        &self,
        user: &User,
        scenario: Option<&str>,
        limit: i64,
        before: Option<(i64, String)>,
    ) -> Result<Vec<RunRow>, AppError> {
        let scenario_id = match scenario {
            Some(s) => Some(self.store.scenario(&user.id, s).await?.id),
            None => None,
        };
        Ok(self
            .store
            .runs(
                &user.id,
                scenario_id.as_deref(),
                limit.clamp(1, 1000),
                before,
            )
            .await?)
    }

    /// A run with a window of its items and their steps.
    pub async fn get_run(
        &self,
        user: &User,
        id: &str,
        after: i64,
        limit: i64,
    ) -> Result<RunDetail, AppError> {
        let run = self.store.run(&user.id, id).await?;
        let items = self
            .store
            .run_items(id, after, limit.clamp(1, 1000))
            .await?;
        let (from, to) = match (items.first(), items.last()) {
            (Some(first), Some(last)) => (first.seq, last.seq),
            _ => (1, 0),
        };
        let mut steps: HashMap<i64, Vec<StepRecord>> = HashMap::new();
        let (found, last) = self.store.run_steps(id, from, to).await?;
        for step in found {
            steps.entry(step.item_seq).or_default().push(step);
        }
        let next_after = (last < to).then_some(last);
        Ok(RunDetail {
            events: self.store.run_events(id).await?,
            next_after,
            items: items
                .into_iter()
                .filter(|item| item.seq <= last)
                .map(|item| ItemWithSteps {
                    steps: steps.remove(&item.seq).unwrap_or_default(),
                    item,
                })
                .collect(),
            run,
        })
    }

    /// Cancels a run (a running one stops at its next item).
    pub async fn cancel_run(&self, user: &User, id: &str) -> Result<RunRow, AppError> {
        Ok(self.store.cancel_run(&user.id, id).await?)
    }

    /// The records of a user's collection, in key order.
    pub async fn list_records(
        &self,
        user: &crate::store::User,
        collection: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Value, AppError> {
        if !super::validate::valid_collection(collection) {
            return Err(AppError::invalid(
                "a collection name uses letters, digits, `-` and `_`",
            ));
        }
        let records = self
            .store
            .records(&user.id, collection, after, limit.clamp(1, 1000))
            .await?;
        let total = self.store.count_records(&user.id, collection).await?;
        let next = (records.len() as i64 == limit.clamp(1, 1000))
            .then(|| records.last().map(|r| r.id.clone()))
            .flatten();
        Ok(
            json!({"collection": collection, "total": total, "records": records, "next_after": next, "next_cursor": next}),
        )
    }

    /// A user's collections with their sizes.
    pub async fn list_collections(
        &self,
        user: &User,
    ) -> Result<Vec<crate::store::Collection>, AppError> {
        Ok(self.store.collections(&user.id).await?)
    }

    /// One record.
    pub async fn get_record(
        &self,
        user: &User,
        collection: &str,
        id: &str,
    ) -> Result<crate::store::Record, AppError> {
        self.store
            .record(&user.id, collection, id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("no record `{id}` in `{collection}`")))
    }

    /// Writes a record (replacing it).
    pub async fn put_record(
        &self,
        user: &User,
        collection: &str,
        id: &str,
        data: &Value,
    ) -> Result<crate::store::Record, AppError> {
        if !validate::valid_collection(collection) {
            return Err(AppError::invalid(
                "a collection name uses letters, digits, `-` and `_`",
            ));
        }
        if id.is_empty() || id.chars().count() > 512 {
            return Err(AppError::invalid("a record id is 1 to 512 characters"));
        }
        self.store
            .put_record(&user.id, collection, id, data)
            .await?;
        self.get_record(user, collection, id).await
    }

    /// Deletes a record.
    pub async fn delete_record(
        &self,
        user: &User,
        collection: &str,
        id: &str,
    ) -> Result<(), AppError> {
        if self.store.delete_record(&user.id, collection, id).await? {
            Ok(())
        } else {
            Err(AppError::not_found(format!(
                "no record `{id}` in `{collection}`"
            )))
        }
    }
}

/// A manual item: `{"id": …, "data": …}` as given, or any value as the data.
fn item_of(input: Option<Value>) -> Value {
    match input {
        Some(Value::Object(map))
            if map.contains_key("data")
                && map.len() <= 2
                && map.keys().all(|k| k == "id" || k == "data") =>
        {
            json!({"id": item_id(map.get("id"), "item"), "data": map.get("data")})
        }
        Some(value) => {
            json!({"id": item_id(value.get("id"), "item"), "data": value})
        }
        None => json!({"id": new_id("item"), "data": {}}),
    }
}

/// An item's id from an `id` value (a string as it is, a number as text), or a new one with
/// this prefix.
pub(super) fn item_id(id: Option<&Value>, prefix: &str) -> String {
    match id {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(v) if !v.is_null() && !v.is_string() => v.to_string(),
        _ => new_id(prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_counted_until_the_limit() {
        let small = json!({"name": "a", "nodes": [{"id": "n1", "output": {"v": "xyz"}}]});
        // name + a + nodes + id + n1 + output + v + xyz
        assert_eq!(text_bytes(&small, 1000), Some(4 + 1 + 5 + 2 + 2 + 6 + 1 + 3));
        let large = json!({"t": "x".repeat(70 * 1024)});
        assert_eq!(text_bytes(&large, INLINE_CHECK_BYTES), None);
    }
}
