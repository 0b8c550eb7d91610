//! Scenarios, their versions, and their trigger's state (poll cursor, next firing).
//!
//! A poll cursor is only ever moved by compare-and-set (from the value the run started from),
//! inside the transaction that commits the items it covers: see `runs::commit_batch`.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{is_unique_violation, now_ms, Store, StoreError};

/// A stored scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRow {
    /// `scn_…`.
    pub id: String,
    /// Its owner.
    pub user_id: String,
    /// Its name.
    pub name: String,
    /// Bumped on every edit.
    pub version: i64,
    /// The definition (as written, YAML read as JSON).
    pub definition: Value,
    /// Whether its trigger fires.
    pub enabled: bool,
    /// Why it waits, if it does (a connection needs re-authorization).
    pub paused_reason: Option<String>,
    /// The connection it waits for.
    pub paused_connection: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// The state of a scenario's timed or polled trigger.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerState {
    /// What the cursor belongs to.
    pub trigger_key: String,
    /// The poll cursor (after the last committed page).
    pub cursor: Option<String>,
    /// When it fires next (Unix ms).
    pub next_fire_at: Option<i64>,
    /// When it last fired.
    pub last_fired_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, name, version, definition, enabled, paused_reason, \
                       paused_connection, created_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<ScenarioRow, StoreError> {
    let definition: String = row.try_get("definition")?;
    Ok(ScenarioRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        definition: serde_json::from_str(&definition)
            .map_err(|e| StoreError::Corrupt(format!("scenario definition: {e}")))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        paused_reason: row.try_get("paused_reason")?,
        paused_connection: row.try_get("paused_connection")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Whether a definition names a connector anywhere (`connector: ID` in its trigger or a node).
fn names_connector(definition: &Value, connector_id: &str) -> bool {
    match definition {
        Value::Object(fields) => fields.iter().any(|(key, value)| {
            (key == "connector" && value.as_str() == Some(connector_id))
                || names_connector(value, connector_id)
        }),
        Value::Array(items) => items.iter().any(|v| names_connector(v, connector_id)),
        _ => false,
    }
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("you already have a scenario named `{name}`"))
}

impl Store {
    /// Every user's scenarios whose trigger or nodes name this connector.
    pub async fn scenarios_using_connector(
        &self,
        connector_id: &str,
    ) -> Result<Vec<ScenarioRow>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM scenarios ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        let mut using = Vec::new();
        for row in &rows {
            let scenario = from_row(row)?;
            if names_connector(&scenario.definition, connector_id) {
                using.push(scenario);
            }
        }
        Ok(using)
    }

    /// Stores a new scenario as version 1.
    pub async fn create_scenario(
        &self,
        id: &str,
        user_id: &str,
        name: &str,
        definition: &Value,
        webhook_token_hash: &str,
    ) -> Result<ScenarioRow, StoreError> {
        let now = now_ms();
        let text = definition.to_string();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO scenarios (id, user_id, name, version, definition, enabled, \
             webhook_token_hash, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, 0, $5, $6, $6)",
        )
        .bind(id)
        .bind(user_id)
        .bind(name)
        .bind(&text)
        .bind(webhook_token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                name_taken(name)
            } else {
                e.into()
            }
        })?;
        sqlx::query(
            "INSERT INTO scenario_versions (scenario_id, version, definition, created_at) \
             VALUES ($1, 1, $2, $3)",
        )
        .bind(id)
        .bind(&text)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.scenario_by_id(id).await
    }

    /// Saves a new version of a scenario.
    pub async fn update_scenario(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
        definition: &Value,
    ) -> Result<ScenarioRow, StoreError> {
        let now = now_ms();
        let text = definition.to_string();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE scenarios SET name = $1, definition = $2, version = version + 1, \
             updated_at = $3 WHERE id = $4 AND user_id = $5 RETURNING version",
        )
        .bind(name)
        .bind(&text)
        .bind(now)
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                name_taken(name)
            } else {
                e.into()
            }
        })?
        .ok_or_else(|| StoreError::NotFound(format!("scenario `{id}`")))?;
        let version: i64 = row.try_get("version")?;
        sqlx::query(
            "INSERT INTO scenario_versions (scenario_id, version, definition, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(version)
        .bind(&text)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.scenario_by_id(id).await
    }

    /// A scenario by id, whoever owns it (for the engine).
    pub async fn scenario_by_id(&self, id: &str) -> Result<ScenarioRow, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM scenarios WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("scenario `{id}`")))
    }

    /// One of a user's scenarios, by id or name.
    pub async fn scenario(
        &self,
        user_id: &str,
        id_or_name: &str,
    ) -> Result<ScenarioRow, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scenarios WHERE user_id = $1 AND (id = $2 OR name = $2)"
        ))
        .bind(user_id)
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("scenario `{id_or_name}`")))
    }

    /// The scenario a webhook token opens.
    pub async fn scenario_by_webhook(
        &self,
        token_hash: &str,
    ) -> Result<Option<ScenarioRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scenarios WHERE webhook_token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// A user's scenarios.
    pub async fn scenarios(&self, user_id: &str) -> Result<Vec<ScenarioRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scenarios WHERE user_id = $1 ORDER BY name"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// Earlier versions of a scenario: (version, definition, created_at), newest first.
    pub async fn scenario_versions(&self, id: &str) -> Result<Vec<(i64, Value, i64)>, StoreError> {
        sqlx::query(
            "SELECT version, definition, created_at FROM scenario_versions \
             WHERE scenario_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let text: String = row.try_get("definition")?;
            Ok((
                row.try_get("version")?,
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                row.try_get("created_at")?,
            ))
        })
        .collect()
    }

    /// One version of a scenario's definition.
    pub async fn scenario_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query(
            "SELECT definition FROM scenario_versions WHERE scenario_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let text: String = row.try_get("definition")?;
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    /// Enables or disables a scenario.
    pub async fn set_scenario_enabled(
        &self,
        user_id: &str,
        id: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE scenarios SET enabled = $1, updated_at = $2 WHERE id = $3 AND user_id = $4",
        )
        .bind(i64::from(enabled))
        .bind(now_ms())
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("scenario `{id}`")));
        }
        Ok(())
    }

    /// Pauses a scenario until a connection is fixed (`None`: resumes it).
    pub async fn set_scenario_paused(
        &self,
        id: &str,
        pause: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE scenarios SET paused_reason = $1, paused_connection = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(pause.map(|p| p.0))
        .bind(pause.map(|p| p.1))
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Paused scenarios whose connection is no longer waiting for re-authorization.
    pub async fn scenarios_to_resume(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT s.id FROM scenarios s LEFT JOIN connections c ON c.id = s.paused_connection \
             WHERE s.paused_reason IS NOT NULL AND (c.id IS NULL OR (c.status <> 'needs_reauth' AND c.enabled = 1))",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("id")?))
        .collect()
    }

    /// Deletes a scenario with its runs.
    pub async fn delete_scenario(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM scenarios WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("scenario `{id}`")));
        }
        Ok(())
    }

    /// The trigger's state, if it has one.
    pub async fn trigger_state(
        &self,
        scenario_id: &str,
    ) -> Result<Option<TriggerState>, StoreError> {
        let row = sqlx::query(
            "SELECT trigger_key, cursor, next_fire_at, last_fired_at FROM trigger_state WHERE scenario_id = $1",
        )
        .bind(scenario_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TriggerState {
                trigger_key: row.try_get("trigger_key")?,
                cursor: row.try_get("cursor")?,
                next_fire_at: row.try_get("next_fire_at")?,
                last_fired_at: row.try_get("last_fired_at")?,
            })
        })
        .transpose()
    }

    /// Makes sure the trigger's state belongs to `key`: a different key (another trigger)
    /// starts with no cursor. Returns the state.
    pub async fn ensure_trigger_state(
        &self,
        scenario_id: &str,
        key: &str,
    ) -> Result<TriggerState, StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO trigger_state (scenario_id, trigger_key, cursor, next_fire_at, updated_at) \
             VALUES ($1, $2, NULL, NULL, $3) ON CONFLICT (scenario_id) DO UPDATE SET \
             cursor = CASE WHEN trigger_state.trigger_key = $2 THEN trigger_state.cursor ELSE NULL END, \
             trigger_key = $2, updated_at = $3",
        )
        .bind(scenario_id)
        .bind(key)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.trigger_state(scenario_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("trigger of `{scenario_id}`")))
    }

    /// Sets when the trigger fires next (`None`: never, as for a disabled scenario).
    pub async fn set_next_fire(
        &self,
        scenario_id: &str,
        at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE trigger_state SET next_fire_at = $1, updated_at = $2 WHERE scenario_id = $3",
        )
        .bind(at)
        .bind(now_ms())
        .bind(scenario_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Enabled, unpaused scenarios whose trigger is due: (id, next_fire_at).
    pub async fn due_triggers(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query(
            "SELECT s.id, t.next_fire_at FROM scenarios s JOIN trigger_state t ON t.scenario_id = s.id \
             WHERE s.enabled = 1 AND s.paused_reason IS NULL AND t.next_fire_at IS NOT NULL \
             AND t.next_fire_at <= $1 ORDER BY t.next_fire_at LIMIT 100",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("next_fire_at")?)))
        .collect()
    }

    /// Moves a due trigger to its next firing, if no other process did first. True: this
    /// caller fires it.
    pub async fn take_firing(
        &self,
        scenario_id: &str,
        due: i64,
        next: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE trigger_state SET next_fire_at = $1, last_fired_at = $2, updated_at = $2 \
             WHERE scenario_id = $3 AND next_fire_at = $4",
        )
        .bind(next)
        .bind(now)
        .bind(scenario_id)
        .bind(due)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
