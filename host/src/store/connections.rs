//! Connections: a user's account at a connector's service. The row holds the non-secret
//! fields and the status; the secrets (passwords, OAuth tokens) are sealed rows in `secrets`,
//! owned by `connection/<id>`, and always written in the same transaction as the row.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::secrets::{self, Sealed};
use super::{now_ms, Store, StoreError};

/// How a connection is doing, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, never used.
    Untested,
    /// Its last use worked.
    Ok,
    /// The service refused its credentials: the user must connect again.
    NeedsReauth,
    /// Its last use failed for another reason (see `last_error`).
    Error,
}

impl Status {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Untested => "untested",
            Status::Ok => "ok",
            Status::NeedsReauth => "needs_reauth",
            Status::Error => "error",
        }
    }

    fn parse(text: &str) -> Result<Status, StoreError> {
        Ok(match text {
            "untested" => Status::Untested,
            "ok" => Status::Ok,
            "needs_reauth" => Status::NeedsReauth,
            "error" => Status::Error,
            other => return Err(StoreError::Corrupt(format!("unknown status `{other}`"))),
        })
    }
}

/// A stored connection (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRow {
    /// `con_…`.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The installed connector.
    pub connector_id: String,
    /// The user's name for it.
    pub name: String,
    /// Non-secret fields.
    pub fields: Value,
    /// Whether it may be used.
    pub enabled: bool,
    /// Last seen state.
    pub status: Status,
    /// The last error, when `status` is not `ok`.
    pub last_error: Option<String>,
    /// Who the account is, as the connector's `test-connection` said.
    pub account: Option<Value>,
    /// When the OAuth access token expires (Unix ms).
    pub token_expires_at: Option<i64>,
    /// Bumped on every credential change: a refresh saves only over the version it read.
    pub credential_version: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Unix ms of the last call through it.
    pub last_used_at: Option<i64>,
}

/// A connection to create.
#[derive(Debug, Clone)]
pub struct NewConnection {
    /// `con_…` (chosen by the caller: the secrets are sealed to it first).
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The installed connector.
    pub connector_id: String,
    /// The user's name for it.
    pub name: String,
    /// Non-secret fields.
    pub fields: Value,
    /// OAuth access token expiry.
    pub token_expires_at: Option<i64>,
    /// Status to start with.
    pub status: Status,
}

/// Changes to a connection; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct ConnectionUpdate {
    /// New name.
    pub name: Option<String>,
    /// New non-secret fields (whole).
    pub fields: Option<Value>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Secrets to write.
    pub put_secrets: Vec<(String, Sealed)>,
    /// Secret fields to clear.
    pub remove_secrets: Vec<String>,
    /// A new token expiry (after a new authorization).
    pub token_expires_at: Option<Option<i64>>,
    /// Reset the status (the credentials changed).
    pub status: Option<Status>,
}

const COLUMNS: &str = "id, user_id, connector_id, name, fields, enabled, status, last_error, \
    account, token_expires_at, credential_version, created_at, updated_at, last_used_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<ConnectionRow, StoreError> {
    let json = |column: &str, text: Option<String>| -> Result<Option<Value>, StoreError> {
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Corrupt(format!("connections.{column}: {e}")))
        })
        .transpose()
    };
    Ok(ConnectionRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        connector_id: row.try_get("connector_id")?,
        name: row.try_get("name")?,
        fields: json("fields", row.try_get("fields")?)?.unwrap_or(Value::Null),
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        status: Status::parse(&row.try_get::<String, _>("status")?)?,
        last_error: row.try_get("last_error")?,
        account: json("account", row.try_get("account")?)?,
        token_expires_at: row.try_get("token_expires_at")?,
        credential_version: row.try_get("credential_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// The owner name of a connection's secrets.
pub fn owner(id: &str) -> String {
    format!("connection/{id}")
}

impl Store {
    /// Creates a connection with its sealed secrets, in one transaction.
    pub async fn create_connection(
        &self,
        new: &NewConnection,
        secrets: &[(String, Sealed)],
    ) -> Result<ConnectionRow, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO connections (id, user_id, connector_id, name, fields, enabled, status, \
             token_expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $8)",
        )
        .bind(new.id.as_str())
        .bind(new.user_id.as_str())
        .bind(new.connector_id.as_str())
        .bind(new.name.as_str())
        .bind(new.fields.to_string())
        .bind(new.status.as_str())
        .bind(new.token_expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        secrets::put(&mut tx, &owner(&new.id), secrets).await?;
        tx.commit().await?;
        self.connection(&new.user_id, &new.id).await
    }

    /// One of a user's connections. Another user's is "not found", exactly as a missing one.
    pub async fn connection(&self, user_id: &str, id: &str) -> Result<ConnectionRow, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connections WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("connection `{id}`")))?;
        from_row(&row)
    }

    /// A connection by id alone, for the host's own use (credential refresh).
    pub async fn connection_by_id(&self, id: &str) -> Result<ConnectionRow, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM connections WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection `{id}`")))?;
        from_row(&row)
    }

    /// A user's connections, newest last.
    pub async fn connections(&self, user_id: &str) -> Result<Vec<ConnectionRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connections WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// Applies an update to one of a user's connections, secrets included, atomically.
    pub async fn update_connection(
        &self,
        user_id: &str,
        id: &str,
        update: &ConnectionUpdate,
    ) -> Result<ConnectionRow, StoreError> {
        let current = self.connection(user_id, id).await?;
        let credentials_changed = !update.put_secrets.is_empty()
            || !update.remove_secrets.is_empty()
            || update.token_expires_at.is_some();
        let mut tx = self.pool.begin().await?;
        let status = update.status.unwrap_or(current.status);
        sqlx::query(
            "UPDATE connections SET name = $1, fields = $2, enabled = $3, status = $4, \
             last_error = $5, token_expires_at = $6, credential_version = credential_version + $7, \
             updated_at = $8 WHERE id = $9 AND user_id = $10",
        )
        .bind(update.name.as_deref().unwrap_or(&current.name))
        .bind(
            update
                .fields
                .as_ref()
                .unwrap_or(&current.fields)
                .to_string(),
        )
        .bind(update.enabled.unwrap_or(current.enabled) as i64)
        .bind(status.as_str())
        .bind(if update.status.is_some() {
            None
        } else {
            current.last_error.clone()
        })
        .bind(update.token_expires_at.unwrap_or(current.token_expires_at))
        .bind(credentials_changed as i64)
        .bind(now_ms())
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let owner = owner(id);
        secrets::delete(&mut tx, &owner, Some(&update.remove_secrets)).await?;
        secrets::put(&mut tx, &owner, &update.put_secrets).await?;
        tx.commit().await?;
        self.connection(user_id, id).await
    }

    /// Records how a use of the connection went.
    pub async fn set_connection_status(
        &self,
        id: &str,
        status: Status,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE connections SET status = $1, last_error = $2, last_used_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(last_error)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records who the account is (after a successful test).
    pub async fn set_connection_account(
        &self,
        id: &str,
        account: &Value,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE connections SET account = $1, status = 'ok', last_error = NULL, \
             last_used_at = $2 WHERE id = $3",
        )
        .bind(account.to_string())
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Saves refreshed credentials, but only over the version they were refreshed from; false
    /// when another refresh got there first. Row and secrets change in one transaction, so a
    /// rotated refresh token is never lost half-way.
    pub async fn save_refreshed_credentials(
        &self,
        id: &str,
        expected_version: i64,
        token_expires_at: Option<i64>,
        put_secrets: &[(String, Sealed)],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE connections SET credential_version = credential_version + 1, \
             token_expires_at = $1, status = 'ok', last_error = NULL, updated_at = $2 \
             WHERE id = $3 AND credential_version = $4",
        )
        .bind(token_expires_at)
        .bind(now_ms())
        .bind(id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        secrets::put(&mut tx, &owner(id), put_secrets).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes the connection's refresh lease until `until` (Unix ms) if nobody holds it: of
    /// several processes on one database, only the holder refreshes the OAuth token.
    pub async fn take_refresh_lease(&self, id: &str, until: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE connections SET refresh_lease_until = $1 WHERE id = $2 \
             AND (refresh_lease_until IS NULL OR refresh_lease_until < $3)",
        )
        .bind(until)
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the refresh lease back.
    pub async fn release_refresh_lease(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE connections SET refresh_lease_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes one of a user's connections and its secrets.
    pub async fn delete_connection(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM connections WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("connection `{id}`")));
        }
        secrets::delete(&mut tx, &owner(id), None).await?;
        tx.commit().await?;
        Ok(())
    }
}
