//! A stored connection's credential, as the runtime asks for it. Static kinds (basic, bearer,
//! API key) are built once from the opened secrets. OAuth keeps the access token and refreshes
//! it before it expires, and once more when the provider answers 401:
//!
//! - one refresh at a time per connection: callers wait on the connection's lock, then see
//!   that the stored credential version moved on and take the new token instead of refreshing
//!   again. Across processes on one database, a lease in the connection's row decides who
//!   refreshes, and a refresh saves only over the version it read;
//! - a rotated refresh token is saved in the same transaction as the new access token;
//! - `invalid_grant` marks the connection `needs_reauth`; a retryable failure (408, 429, 5xx,
//!   timeout) changes nothing and keeps using the current token while it is still valid.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::app::App;
use crate::auth::oauth::{self, OAuthError};
use crate::manifest::OAuth2;
use crate::runtime::redact::Redactor;
use crate::runtime::{Credential, CredentialFuture, CredentialSource};
use crate::store::{now_ms, Status};

use super::{ACCESS_TOKEN, REFRESH_TOKEN};

/// How long a refresh lease lasts: longer than any token request takes (they time out sooner).
const LEASE: std::time::Duration = std::time::Duration::from_secs(45);

/// The credential of one stored connection, for the calls made through it.
pub struct StoredCredentials {
    pub(super) app: Arc<App>,
    pub(super) connection_id: String,
    pub(super) connector_id: String,
    /// The manifest's secret fields, opened (for webhook signature checks).
    pub(super) secrets: Map<String, Value>,
    /// The forms of every secret of the connection as opened (fields, tokens, the static
    /// credential), built once for all the calls through it.
    pub(super) redactor: Arc<Redactor>,
    pub(super) kind: Kind,
    /// Set when a refresh was refused for good during this call.
    pub(super) needs_reauth: AtomicBool,
    /// Set when a refresh failed for a passing reason (408, 429, 5xx, timeout) and the token
    /// could not be used: the call should be retried later; the connection is left as it was.
    pub(super) refresh_deferred: AtomicBool,
    /// The connection's outbound rate limit.
    pub(super) limiter: std::sync::Arc<super::rate_limit::RateLimiter>,
}

pub(super) enum Kind {
    Static(Credential),
    OAuth {
        config: Box<OAuth2>,
        allow_private: bool,
        current: tokio::sync::Mutex<Token>,
    },
}

#[derive(Clone)]
pub(super) struct Token {
    pub access_token: String,
    pub expires_at: Option<i64>,
    pub version: i64,
}

impl StoredCredentials {
    /// Whether a refresh was refused for good (`invalid_grant`) during this call.
    pub fn needs_reauth(&self) -> bool {
        self.needs_reauth.load(Ordering::Relaxed)
    }

    /// Whether a refresh failed for a passing reason and the call could not go on.
    pub fn refresh_deferred(&self) -> bool {
        self.refresh_deferred.load(Ordering::Relaxed)
    }

    fn expiring(&self, token: &Token) -> bool {
        let margin = self.app.config.refresh_margin.as_millis() as i64;
        token.expires_at.is_some_and(|at| now_ms() + margin >= at)
    }

    /// Refreshes the token unless someone else already did since version `seen`.
    async fn refresh(
        &self,
        config: &OAuth2,
        allow_private: bool,
        mut seen: i64,
    ) -> Result<Credential, String> {
        // One refresh at a time in this process…
        let lock = self.app.refresh_lock(&self.connection_id);
        let _only_one = lock.lock().await;
        // …and across the processes sharing the database: the holder of the lease refreshes,
        // the others wait until the stored version moves on (or the lease runs out).
        let store = &self.app.store;
        let deadline = std::time::Instant::now() + LEASE;
        loop {
            let row = store
                .connection_by_id(&self.connection_id)
                .await
                .map_err(|e| e.to_string())?;
            if row.credential_version != seen {
                // Refreshed elsewhere meanwhile: take that token if it is good for a while.
                let access_token = self.stored_secret(ACCESS_TOKEN).await?.unwrap_or_default();
                let token = Token {
                    access_token,
                    expires_at: row.token_expires_at,
                    version: row.credential_version,
                };
                if let Kind::OAuth { current, .. } = &self.kind {
                    *current.lock().await = token.clone();
                }
                if !token.access_token.is_empty() && !self.expiring(&token) {
                    return Ok(Credential::Bearer(token.access_token));
                }
                seen = row.credential_version;
                continue;
            }
            let until = now_ms() + LEASE.as_millis() as i64;
            if store
                .take_refresh_lease(&self.connection_id, until)
                .await
                .map_err(|e| e.to_string())?
            {
                // A refresh that ended between the read above and the lease saved a new
                // version: look again rather than refresh a second time.
                let row = store
                    .connection_by_id(&self.connection_id)
                    .await
                    .map_err(|e| e.to_string())?;
                let result = if row.credential_version == seen {
                    Some(
                        self.refresh_holding_lease(config, allow_private, &row)
                            .await,
                    )
                } else {
                    None
                };
                if let Err(e) = store.release_refresh_lease(&self.connection_id).await {
                    tracing::warn!(connection = %self.connection_id, error = %e, "cannot release the refresh lease; it runs out by itself");
                }
                match result {
                    Some(result) => return result,
                    None => continue,
                }
            }
            if std::time::Instant::now() > deadline {
                self.refresh_deferred.store(true, Ordering::Relaxed);
                return Err(
                    "another process has been refreshing this token for too long; try again later"
                        .into(),
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// One of the connection's secrets as stored now.
    async fn stored_secret(&self, field: &str) -> Result<Option<String>, String> {
        let owner = super::owner(&self.connection_id);
        let secrets = self
            .app
            .store
            .secrets_of(&owner)
            .await
            .map_err(|e| e.to_string())?;
        secrets
            .iter()
            .find(|(f, _)| f == field)
            .map(|(f, sealed)| {
                self.app
                    .vault
                    .open_string(&owner, f, sealed)
                    .map_err(|e| e.to_string())
            })
            .transpose()
    }

    /// The refresh itself, by the holder of the lease, from the connection as `row` says.
    async fn refresh_holding_lease(
        &self,
        config: &OAuth2,
        allow_private: bool,
        row: &crate::store::ConnectionRow,
    ) -> Result<Credential, String> {
        let Kind::OAuth { current, .. } = &self.kind else {
            return Err("not an OAuth connection".into());
        };
        let app = &self.app;
        let owner = super::owner(&self.connection_id);
        let Some(refresh_token) = self.stored_secret(REFRESH_TOKEN).await? else {
            let message = "the provider gave no refresh token and the access token has expired: connect again";
            self.mark_reauth(message).await;
            return Err(message.into());
        };
        let client = app
            .oauth_client_credentials(&self.connector_id)
            .await
            .map_err(|e| e.message)?;
        match oauth::refresh(&app.runtime, allow_private, config, &client, &refresh_token).await {
            Ok(tokens) => {
                let expires_at = tokens.expires_in.map(|d| now_ms() + d.as_millis() as i64);
                let mut puts = vec![app
                    .vault
                    .seal_str(&owner, ACCESS_TOKEN, &tokens.access_token)
                    .map_err(|e| e.to_string())?];
                if let Some(rotated) = &tokens.refresh_token {
                    puts.push(
                        app.vault
                            .seal_str(&owner, REFRESH_TOKEN, rotated)
                            .map_err(|e| e.to_string())?,
                    );
                }
                let saved = app
                    .store
                    .save_refreshed_credentials(
                        &self.connection_id,
                        row.credential_version,
                        expires_at,
                        &puts,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if !saved {
                    tracing::warn!(connection = %self.connection_id, "another process refreshed the token at the same moment; its token is kept");
                }
                tracing::info!(connection = %self.connection_id, rotated = tokens.refresh_token.is_some(), "refreshed the OAuth access token");
                *current.lock().await = Token {
                    access_token: tokens.access_token.clone(),
                    expires_at,
                    version: row.credential_version + 1,
                };
                Ok(Credential::Bearer(tokens.access_token))
            }
            Err(OAuthError::InvalidGrant(message)) => {
                let message = format!("{message}; connect the account again");
                self.mark_reauth(&message).await;
                Err(message)
            }
            Err(OAuthError::Retryable(message)) => {
                tracing::warn!(connection = %self.connection_id, %message, "token refresh failed; will retry later");
                let token = current.lock().await.clone();
                match token.expires_at {
                    Some(at) if at > now_ms() => Ok(Credential::Bearer(token.access_token)),
                    _ => {
                        self.refresh_deferred.store(true, Ordering::Relaxed);
                        Err(format!(
                            "refreshing the token failed, try again later: {message}"
                        ))
                    }
                }
            }
            Err(OAuthError::Failed(message)) => {
                let _ = app
                    .store
                    .set_connection_status(&self.connection_id, Status::Error, Some(&message))
                    .await;
                Err(message)
            }
        }
    }

    async fn mark_reauth(&self, message: &str) {
        self.needs_reauth.store(true, Ordering::Relaxed);
        tracing::warn!(connection = %self.connection_id, "the OAuth grant is no longer valid; the connection needs re-authorization");
        let _ = self
            .app
            .store
            .set_connection_status(&self.connection_id, Status::NeedsReauth, Some(message))
            .await;
    }
}

impl CredentialSource for StoredCredentials {
    fn credential(&self) -> CredentialFuture<'_> {
        Box::pin(async move {
            match &self.kind {
                Kind::Static(credential) => Ok(credential.clone()),
                Kind::OAuth {
                    config,
                    allow_private,
                    current,
                } => {
                    let token = current.lock().await.clone();
                    if self.expiring(&token) {
                        self.refresh(config, *allow_private, token.version).await
                    } else {
                        Ok(Credential::Bearer(token.access_token))
                    }
                }
            }
        })
    }

    fn secret(&self, field: &str) -> Option<String> {
        self.secrets
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    fn redactor(&self) -> Arc<Redactor> {
        self.redactor.clone()
    }

    fn refreshable(&self) -> bool {
        matches!(self.kind, Kind::OAuth { .. })
    }

    fn admit(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.limiter.acquire())
    }

    fn throttled(&self, retry_after: Option<std::time::Duration>) {
        if let Some(wait) = retry_after {
            self.limiter.hold(wait);
        }
    }

    fn rejected(&self, used: &Credential) -> CredentialFuture<'_> {
        let used = used.clone();
        Box::pin(async move {
            let Kind::OAuth {
                config,
                allow_private,
                current,
            } = &self.kind
            else {
                return Err("this credential cannot be refreshed".to_string());
            };
            let token = current.lock().await.clone();
            if used != Credential::Bearer(token.access_token.clone()) {
                // Refreshed meanwhile by another request of this call.
                return Ok(Credential::Bearer(token.access_token));
            }
            self.refresh(config, *allow_private, token.version).await
        })
    }
}
