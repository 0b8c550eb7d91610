//! OAuth apps (an admin's client registration per connector; the client secret is sealed) and
//! pending authorizations (one per started connect flow, keyed by the hash of its `state`,
//! with its PKCE verifier sealed; taken exactly once by the callback).

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::secrets::{self, Sealed};
use super::{now_ms, Store, StoreError};

/// An admin's OAuth client registration for a connector.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthApp {
    /// The connector.
    pub connector_id: String,
    /// The client id (public).
    pub client_id: String,
    /// Unix ms.
    pub updated_at: i64,
}

/// A connect flow waiting for its callback.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    /// sha256 of the `state` sent to the provider (the state itself is not stored).
    pub state_hash: String,
    /// Who started it: the connection will be theirs.
    pub user_id: String,
    /// The connector.
    pub connector_id: String,
    /// The connection being re-authorized, or none for a new one.
    pub connection_id: Option<String>,
    /// Name for a new connection.
    pub name: String,
    /// Non-secret fields for a new connection.
    pub fields: Value,
    /// The redirect URI sent with the authorization request (the token request repeats it).
    pub redirect_uri: String,
    /// Unix ms after which the callback is refused.
    pub expires_at: i64,
}

/// The owner name of an OAuth app's secrets.
pub fn app_owner(connector_id: &str) -> String {
    format!("oauth_app/{connector_id}")
}

/// The owner name of a pending authorization's secrets.
pub fn pending_owner(state_hash: &str) -> String {
    format!("oauth_state/{state_hash}")
}

impl Store {
    /// Registers (or replaces) a connector's OAuth app; `client_secret` `None` keeps the old one.
    pub async fn set_oauth_app(
        &self,
        connector_id: &str,
        client_id: &str,
        client_secret: Option<(String, Sealed)>,
    ) -> Result<OAuthApp, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO oauth_apps (connector_id, client_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (connector_id) DO UPDATE SET client_id = $2, \
             updated_at = $3",
        )
        .bind(connector_id)
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(secret) = client_secret {
            secrets::put(&mut tx, &app_owner(connector_id), &[secret]).await?;
        }
        tx.commit().await?;
        Ok(OAuthApp {
            connector_id: connector_id.into(),
            client_id: client_id.into(),
            updated_at: now,
        })
    }

    /// A connector's OAuth app, if one is registered.
    pub async fn oauth_app(&self, connector_id: &str) -> Result<Option<OAuthApp>, StoreError> {
        let row = sqlx::query(
            "SELECT connector_id, client_id, updated_at FROM oauth_apps WHERE connector_id = $1",
        )
        .bind(connector_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(OAuthApp {
                connector_id: r.try_get("connector_id")?,
                client_id: r.try_get("client_id")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    /// Removes a connector's OAuth app and its secret.
    pub async fn delete_oauth_app(&self, connector_id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM oauth_apps WHERE connector_id = $1")
            .bind(connector_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "OAuth app of `{connector_id}`"
            )));
        }
        secrets::delete(&mut tx, &app_owner(connector_id), None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a started connect flow with its sealed PKCE verifier; drops expired ones.
    pub async fn create_pending_authorization(
        &self,
        pending: &PendingAuthorization,
        verifier: (String, Sealed),
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let expired: Vec<String> =
            sqlx::query("SELECT state_hash FROM oauth_states WHERE expires_at < $1")
                .bind(now)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("state_hash"))
                .collect::<Result<_, _>>()?;
        for hash in expired {
            sqlx::query("DELETE FROM oauth_states WHERE state_hash = $1")
                .bind(hash.as_str())
                .execute(&mut *tx)
                .await?;
            secrets::delete(&mut tx, &pending_owner(&hash), None).await?;
        }
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, user_id, connector_id, connection_id, name, \
             fields, redirect_uri, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(pending.state_hash.as_str())
        .bind(pending.user_id.as_str())
        .bind(pending.connector_id.as_str())
        .bind(pending.connection_id.as_deref())
        .bind(pending.name.as_str())
        .bind(pending.fields.to_string())
        .bind(pending.redirect_uri.as_str())
        .bind(now)
        .bind(pending.expires_at)
        .execute(&mut *tx)
        .await?;
        secrets::put(&mut tx, &pending_owner(&pending.state_hash), &[verifier]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a pending authorization by its state hash: it is deleted, so a second callback
    /// with the same state finds nothing. Expired ones are taken too (the caller refuses them).
    pub async fn take_pending_authorization(
        &self,
        state_hash: &str,
    ) -> Result<Option<(PendingAuthorization, Vec<(String, Sealed)>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT state_hash, user_id, connector_id, connection_id, name, fields, redirect_uri, \
             expires_at FROM oauth_states WHERE state_hash = $1",
        )
        .bind(state_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let done = sqlx::query("DELETE FROM oauth_states WHERE state_hash = $1")
            .bind(state_hash)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            // Another callback with the same state won the race.
            return Ok(None);
        }
        let fields: String = row.try_get("fields")?;
        let pending = PendingAuthorization {
            state_hash: row.try_get("state_hash")?,
            user_id: row.try_get("user_id")?,
            connector_id: row.try_get("connector_id")?,
            connection_id: row.try_get("connection_id")?,
            name: row.try_get("name")?,
            fields: serde_json::from_str(&fields)
                .map_err(|e| StoreError::Corrupt(format!("oauth_states.fields: {e}")))?,
            redirect_uri: row.try_get("redirect_uri")?,
            expires_at: row.try_get("expires_at")?,
        };
        let owner = pending_owner(state_hash);
        let sealed =
            sqlx::query("SELECT field, key_id, nonce, ciphertext FROM secrets WHERE owner = $1")
                .bind(owner.as_str())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("field")?,
                        Sealed {
                            key_id: r.try_get("key_id")?,
                            nonce: r.try_get("nonce")?,
                            ciphertext: r.try_get("ciphertext")?,
                        },
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        secrets::delete(&mut tx, &owner, None).await?;
        tx.commit().await?;
        Ok(Some((pending, sealed)))
    }
}
