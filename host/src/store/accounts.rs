//! What the browser and the public API need of the store besides users and tokens: password
//! hashes, cookie sessions (kept only as the SHA-256 of the cookie), the `Idempotency-Key`
//! records and the consents users gave before connecting an account.

use serde::Serialize;
use sqlx::Row;

use super::users::user_from;
use super::{now_ms, Store, StoreError, User};

/// A signed-in browser, without its cookie (only the cookie's hash is kept).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionRow {
    /// `ses_…`.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// The browser it was opened from, as it named itself.
    pub user_agent: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; after it the cookie no longer works.
    pub expires_at: i64,
    /// Unix ms of its last use (noted at most once a minute).
    pub last_seen_at: i64,
}

/// What became of an earlier request with the same `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// None yet: this request is the first, and its record is `id`.
    New {
        /// The record's id (its answer is sealed under it).
        id: String,
    },
    /// The first is still running.
    InFlight,
    /// The first finished with this status; its body is sealed under `id`.
    Done {
        /// The record's id.
        id: String,
        /// The first answer's status.
        status: u16,
    },
    /// The key was used for a different request.
    Mismatch,
}

/// A consent a user gave to connect accounts of a connector.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentRow {
    /// Which connector.
    pub connector_id: String,
    /// What the user was shown (the hosts it may reach, its auth kind).
    pub scope: String,
    /// Unix ms.
    pub granted_at: i64,
}

fn session_from(row: &sqlx::any::AnyRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
    })
}

fn consent_from(r: &sqlx::any::AnyRow) -> Result<ConsentRow, StoreError> {
    Ok(ConsentRow {
        connector_id: r.try_get("connector_id")?,
        scope: r.try_get("scope")?,
        granted_at: r.try_get("granted_at")?,
    })
}

/// How long an unfinished idempotent request holds its key before another may take it over
/// (the first one crashed).
const IN_FLIGHT_FOR_MS: i64 = 5 * 60_000;

/// How long an answer is kept for replays.
const IDEMPOTENCY_KEPT_MS: i64 = 24 * 3_600_000;

impl Store {
    /// Sets (or with `None` removes) a user's password hash.
    pub async fn set_password_hash(
        &self,
        user_id: &str,
        hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user `{user_id}`")));
        }
        Ok(())
    }

    /// A user and their password hash, by login name.
    pub async fn user_with_password(
        &self,
        name: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, role, created_at, password_hash FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some((user_from(&row)?, row.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    /// A user's password hash (`None`: they have no password yet).
    pub async fn password_hash(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user `{user_id}`")))?;
        Ok(row.try_get("password_hash")?)
    }

    /// Opens a session.
    pub async fn create_session(
        &self,
        id: &str,
        user_id: &str,
        token_hash: &str,
        user_agent: &str,
        lifetime_ms: i64,
    ) -> Result<SessionRow, StoreError> {
        let now = now_ms();
        let row = SessionRow {
            id: id.into(),
            user_id: user_id.into(),
            user_agent: user_agent.chars().take(200).collect(),
            created_at: now,
            expires_at: now + lifetime_ms,
            last_seen_at: now,
        };
        sqlx::query(
            "INSERT INTO sessions (id, user_id, token_hash, user_agent, created_at, expires_at, \
             last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(token_hash)
        .bind(&row.user_agent)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.last_seen_at)
        .execute(&self.pool)
        .await?;
        Ok(row)
    }

    /// The live session a cookie hash belongs to and its user, noting the use.
    pub async fn session_for_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(SessionRow, User)>, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT s.id AS session_id, s.user_agent, s.created_at AS session_created_at, \
             s.expires_at, s.last_seen_at, u.id, u.name, u.role, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from(&row)?;
        let session = SessionRow {
            id: row.try_get("session_id")?,
            user_id: user.id.clone(),
            user_agent: row.try_get("user_agent")?,
            created_at: row.try_get("session_created_at")?,
            expires_at: row.try_get("expires_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
        };
        if now - session.last_seen_at > 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&session.id)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some((session, user)))
    }

    /// A user's live sessions, newest first.
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionRow>, StoreError> {
        sqlx::query(
            "SELECT id, user_id, user_agent, created_at, expires_at, last_seen_at FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(session_from)
        .collect()
    }

    /// Ends one of a user's sessions.
    pub async fn delete_session(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("session `{id}`")));
        }
        Ok(())
    }

    /// Ends every session of a user (a password change signs them out everywhere).
    pub async fn delete_sessions_of(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims an idempotency key for a request, or says what became of the first one.
    pub async fn claim_idempotency_key(
        &self,
        owner: &str,
        key: &str,
        request_hash: &str,
        new_id: &str,
    ) -> Result<IdempotencyClaim, StoreError> {
        let now = now_ms();
        // Forget answers past their time, and requests that never finished (a crash): their
        // sealed bodies first, then the keys.
        let stale = "created_at < $1 OR (status IS NULL AND created_at < $2)";
        sqlx::query(&format!(
            "DELETE FROM secrets WHERE owner IN (SELECT id FROM idempotency_keys WHERE {stale})"
        ))
        .bind(now - IDEMPOTENCY_KEPT_MS)
        .bind(now - IN_FLIGHT_FOR_MS)
        .execute(&self.pool)
        .await?;
        sqlx::query(&format!("DELETE FROM idempotency_keys WHERE {stale}"))
            .bind(now - IDEMPOTENCY_KEPT_MS)
            .bind(now - IN_FLIGHT_FOR_MS)
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (owner, idem_key, id, request_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, idem_key) DO NOTHING",
        )
        .bind(owner)
        .bind(key)
        .bind(new_id)
        .bind(request_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyClaim::New { id: new_id.into() });
        }
        let row = sqlx::query(
            "SELECT id, request_hash, status FROM idempotency_keys \
             WHERE owner = $1 AND idem_key = $2",
        )
        .bind(owner)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            // Deleted between the two statements: the caller may simply try again.
            return Ok(IdempotencyClaim::InFlight);
        };
        if row.try_get::<String, _>("request_hash")? != request_hash {
            return Ok(IdempotencyClaim::Mismatch);
        }
        match row.try_get::<Option<i64>, _>("status")? {
            None => Ok(IdempotencyClaim::InFlight),
            Some(status) => Ok(IdempotencyClaim::Done {
                id: row.try_get("id")?,
                status: u16::try_from(status).unwrap_or(500),
            }),
        }
    }

    /// Records the answer to an idempotent request (its body is sealed separately).
    pub async fn finish_idempotency_key(&self, id: &str, status: u16) -> Result<(), StoreError> {
        sqlx::query("UPDATE idempotency_keys SET status = $1 WHERE id = $2")
            .bind(i64::from(status))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Lets a key be used again (its request failed before answering).
    pub async fn release_idempotency_key(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.delete_secrets(id).await
    }

    /// Records a user's consent to connect accounts of a connector.
    pub async fn grant_consent(
        &self,
        user_id: &str,
        connector_id: &str,
        scope: &str,
    ) -> Result<ConsentRow, StoreError> {
        let granted = ConsentRow {
            connector_id: connector_id.into(),
            scope: scope.into(),
            granted_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO consents (user_id, connector_id, scope, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, connector_id) \
             DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(user_id)
        .bind(&granted.connector_id)
        .bind(&granted.scope)
        .bind(granted.granted_at)
        .execute(&self.pool)
        .await?;
        Ok(granted)
    }

    /// The scope a user consented to for a connector, if any.
    pub async fn consent(
        &self,
        user_id: &str,
        connector_id: &str,
    ) -> Result<Option<ConsentRow>, StoreError> {
        let row = sqlx::query(
            "SELECT connector_id, scope, granted_at FROM consents \
             WHERE user_id = $1 AND connector_id = $2",
        )
        .bind(user_id)
        .bind(connector_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(consent_from).transpose()
    }

    /// Every consent a user gave.
    pub async fn consents(&self, user_id: &str) -> Result<Vec<ConsentRow>, StoreError> {
        sqlx::query(
            "SELECT connector_id, scope, granted_at FROM consents WHERE user_id = $1 \
             ORDER BY connector_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(consent_from)
        .collect()
    }

    /// Withdraws a consent.
    pub async fn revoke_consent(
        &self,
        user_id: &str,
        connector_id: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND connector_id = $2")
            .bind(user_id)
            .bind(connector_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no consent for connector `{connector_id}`"
            )));
        }
        Ok(())
    }
}
