//! Users and their API tokens (stored as SHA-256 hashes only).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{is_unique_violation, now_ms, Store, StoreError};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages connectors, OAuth apps and users.
    Admin,
    /// Connects accounts and runs scenarios.
    Member,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    fn parse(text: &str) -> Result<Role, StoreError> {
        match text {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(StoreError::Corrupt(format!("unknown role `{other}`"))),
        }
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// `usr_…`.
    pub id: String,
    /// Unique login name.
    pub name: String,
    /// Admin or member.
    pub role: Role,
    /// Unix ms.
    pub created_at: i64,
}

/// An API token, without the token itself (only its hash is kept).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiTokenRow {
    /// `tok_…`.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// What the user called it.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of its last use.
    pub last_used_at: Option<i64>,
    /// What it may do: `read`, `write`, `admin`.
    pub scopes: Vec<String>,
}

/// The holder of a valid token: the user, the token's id and its scopes.
#[derive(Debug, Clone)]
pub struct TokenHolder {
    /// Whose token.
    pub user: User,
    /// `tok_…`.
    pub token_id: String,
    /// What it may do.
    pub scopes: Vec<String>,
}

fn split_scopes(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn token_from(r: &sqlx::any::AnyRow) -> Result<ApiTokenRow, StoreError> {
    Ok(ApiTokenRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        scopes: split_scopes(&r.try_get::<String, _>("scopes")?),
    })
}

pub(super) fn user_from(row: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&row.try_get::<String, _>("role")?)?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Creates a user; a taken name is a [`StoreError::Conflict`].
    pub async fn create_user(&self, id: &str, name: &str, role: Role) -> Result<User, StoreError> {
        let created_at = now_ms();
        sqlx::query("INSERT INTO users (id, name, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(role.as_str())
            .bind(created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("a user named `{name}` already exists"))
                } else {
                    e.into()
                }
            })?;
        Ok(User {
            id: id.into(),
            name: name.into(),
            role,
            created_at,
        })
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<User, StoreError> {
        let row = sqlx::query("SELECT id, name, role, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user `{id}`")))?;
        user_from(&row)
    }

    /// A user by name.
    pub async fn user_by_name(&self, name: &str) -> Result<User, StoreError> {
        let row = sqlx::query("SELECT id, name, role, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user `{name}`")))?;
        user_from(&row)
    }

    /// Every user, oldest first.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query("SELECT id, name, role, created_at FROM users ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from)
            .collect()
    }

    /// Stores a token's hash.
    pub async fn create_token(
        &self,
        id: &str,
        user_id: &str,
        name: &str,
        token_hash: &str,
        scopes: &[String],
    ) -> Result<ApiTokenRow, StoreError> {
        let created_at = now_ms();
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, scopes) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(created_at)
        .bind(scopes.join(" "))
        .execute(&self.pool)
        .await?;
        Ok(ApiTokenRow {
            id: id.into(),
            user_id: user_id.into(),
            name: name.into(),
            created_at,
            last_used_at: None,
            scopes: scopes.to_vec(),
        })
    }

    /// Who holds a token hash, noting the use.
    pub async fn token_holder(&self, token_hash: &str) -> Result<Option<TokenHolder>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.name, u.role, u.created_at, t.id AS token_id, t.last_used_at, \
             t.scopes \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let now = now_ms();
        let token_id: String = row.try_get("token_id")?;
        // Note the use at most once a minute: a busy token should not mean a write per call.
        let last: Option<i64> = row.try_get("last_used_at")?;
        if last.is_none_or(|t| now - t > 60_000) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&token_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(TokenHolder {
            user: user_from(&row)?,
            token_id,
            scopes: split_scopes(&row.try_get::<String, _>("scopes")?),
        }))
    }

    /// A user's tokens.
    pub async fn tokens(&self, user_id: &str) -> Result<Vec<ApiTokenRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, name, created_at, last_used_at, scopes FROM api_tokens \
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from).collect()
    }

    /// Deletes one of a user's tokens.
    pub async fn delete_token(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("token `{id}`")));
        }
        Ok(())
    }

    /// Changes a user's role.
    pub async fn set_role(&self, id: &str, role: Role) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user `{id}`")));
        }
        Ok(())
    }

    /// How many admins there are.
    pub async fn admin_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// How many of a user's runs are queued or running.
    pub async fn live_runs_of_user(&self, id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM runs JOIN scenarios ON runs.scenario_id = scenarios.id \
             WHERE scenarios.user_id = $1 AND runs.status IN ('queued', 'running')",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// Deletes a user and everything of theirs, in one transaction. The tables that name the
    /// user go with it (ON DELETE CASCADE: tokens, sessions, consents, connections, scenarios
    /// and their runs, records, pending authorizations); the sealed secrets, which name their
    /// owner by text, and the answers kept for their idempotency keys are deleted here.
    pub async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for owned in [
            "SELECT 'connection/' || id AS owner FROM connections WHERE user_id = $1",
            "SELECT 'scenario/' || id AS owner FROM scenarios WHERE user_id = $1",
            "SELECT 'oauth_state/' || state_hash AS owner FROM oauth_states WHERE user_id = $1",
            "SELECT id AS owner FROM idempotency_keys WHERE owner IN \
             (SELECT id FROM api_tokens WHERE user_id = $1 UNION SELECT id FROM sessions WHERE user_id = $1)",
        ] {
            sqlx::query(&format!("DELETE FROM secrets WHERE owner IN ({owned})"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE owner IN \
             (SELECT id FROM api_tokens WHERE user_id = $1 UNION SELECT id FROM sessions WHERE user_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user `{id}`")));
        }
        tx.commit().await?;
        Ok(())
    }
}
