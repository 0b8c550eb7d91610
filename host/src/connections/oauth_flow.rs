//! Connecting an OAuth account: the admin's app registration, the start of a flow (authorize
//! URL with PKCE and a `state` bound to the user who started it), the callback (the state is
//! taken exactly once, so a wrong or replayed one is refused), and revocation on delete.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{fields, owner, ConnectionView, ACCESS_TOKEN, REFRESH_TOKEN};
use crate::app::{App, AppError};
use crate::auth::oauth::{self, ClientCredentials, OAuthError};
use crate::manifest::{Auth, OAuth2};
use crate::store::{
    new_id, now_ms, ConnectionRow, ConnectionUpdate, NewConnection, PendingAuthorization, Status,
    User,
};

/// How long a started flow waits for its callback.
const FLOW_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The vault field of a pending flow's PKCE verifier.
const PKCE_VERIFIER: &str = "pkce_verifier";
/// The vault field of an OAuth app's client secret.
const CLIENT_SECRET: &str = "client_secret";

/// An OAuth app as shown: the client id, never the secret.
#[derive(Debug, Serialize)]
pub struct OAuthAppView {
    /// The connector.
    pub connector: String,
    /// Client id.
    pub client_id: String,
    /// Whether a client secret is stored.
    pub client_secret_set: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// Unix ms.
    pub updated_at: i64,
}

/// Starts a flow: a new connection, or re-authorizing an existing one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAuthorization {
    /// The connector.
    #[serde(default)]
    #[schema(required = true, value_type = String)]
    pub connector: Option<String>,
    /// Name for a new connection.
    #[serde(default)]
    pub name: Option<String>,
    /// Non-secret fields for a new connection.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// The user agreed to what the connector reaches (see [`crate::connections::CreateConnection`]).
    #[serde(default)]
    pub consent: bool,
}

/// Where to send the user.
#[derive(Debug, Serialize)]
pub struct AuthorizationStarted {
    /// Open this in the browser.
    pub authorize_url: String,
    /// The callback must arrive before this (Unix ms).
    pub expires_at: i64,
    /// The redirect URI the provider will send the browser back to.
    pub redirect_uri: String,
}

/// The query of `/oauth/callback`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state sent with the authorization request (a callback without it is refused).
    #[param(required = true)]
    pub state: Option<String>,
    /// The provider's error code (`access_denied`, …).
    pub error: Option<String>,
    /// The provider's explanation.
    pub error_description: Option<String>,
}

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn oauth_config(app: &App, connector_id: &str) -> Result<OAuth2, AppError> {
    match &app.connector(connector_id)?.manifest().auth {
        Auth::OAuth2(config) => Ok(config.clone()),
        // The connector exists but has no OAuth side: a conflict with what it is, not a
        // malformed request.
        other => Err(AppError::conflict(format!(
            "`{connector_id}` does not use OAuth (its auth is `{}`)",
            other.kind()
        ))
        .with_code("not_oauth")),
    }
}

impl App {
    /// Registers a connector's OAuth app (admins only); `client_secret` `None` keeps the old one.
    pub async fn set_oauth_app(
        &self,
        admin: &User,
        connector_id: &str,
        client_id: &str,
        client_secret: Option<&str>,
    ) -> Result<OAuthAppView, AppError> {
        App::require_admin(admin)?;
        oauth_config(self, connector_id)?;
        if client_id.trim().is_empty() {
            return Err(AppError::invalid("client_id must not be empty"));
        }
        let sealed = client_secret
            .map(|s| {
                self.vault.seal_str(
                    &crate::store::oauth_app_owner(connector_id),
                    CLIENT_SECRET,
                    s,
                )
            })
            .transpose()?;
        self.store
            .set_oauth_app(connector_id, client_id.trim(), sealed)
            .await?;
        tracing::info!(admin = %admin.name, connector = %connector_id, "OAuth app registered");
        self.oauth_app_view(connector_id).await
    }

    /// A connector's OAuth app.
    pub async fn oauth_app_view(&self, connector_id: &str) -> Result<OAuthAppView, AppError> {
        oauth_config(self, connector_id)?;
        let app = self.store.oauth_app(connector_id).await?.ok_or_else(|| {
            AppError::not_found(format!("no OAuth app is registered for `{connector_id}`"))
        })?;
        let secrets = self
            .store
            .secrets_of(&crate::store::oauth_app_owner(connector_id))
            .await?;
        Ok(OAuthAppView {
            connector: connector_id.into(),
            client_id: app.client_id,
            client_secret_set: secrets.iter().any(|(f, _)| f == CLIENT_SECRET),
            redirect_uri: oauth::redirect_uri(&self.config.public_url),
            updated_at: app.updated_at,
        })
    }

    /// The client credentials of a connector's OAuth app.
    pub async fn oauth_client_credentials(
        &self,
        connector_id: &str,
    ) -> Result<ClientCredentials, AppError> {
        let app = self.store.oauth_app(connector_id).await?.ok_or_else(|| {
            AppError::conflict(format!(
                "no OAuth app is registered for `{connector_id}`: an admin must add its client id and secret first (PUT /api/connectors/{connector_id}/oauth-app)"
            ))
            .with_code("oauth_app_missing")
        })?;
        let owner = crate::store::oauth_app_owner(connector_id);
        let mut client_secret = String::new();
        for (field, sealed) in self.store.secrets_of(&owner).await? {
            if field == CLIENT_SECRET {
                client_secret = self.vault.open_string(&owner, &field, &sealed)?;
            }
        }
        Ok(ClientCredentials {
            client_id: app.client_id,
            client_secret,
        })
    }

    /// Starts connecting an OAuth account; `reauthorize` names an existing connection.
    pub async fn start_authorization(
        &self,
        user: &User,
        request: StartAuthorization,
        reauthorize: Option<&str>,
    ) -> Result<AuthorizationStarted, AppError> {
        let (connector_id, name, public) = match reauthorize {
            Some(id) => {
                let row = self.store.connection(&user.id, id).await?;
                (row.connector_id, row.name, row.fields)
            }
            None => {
                let connector_id = request
                    .connector
                    .ok_or_else(|| AppError::invalid("`connector` is required"))?;
                let connector = self.connector(&connector_id)?;
                let manifest = connector.manifest();
                oauth_config(self, &connector_id)?;
                let changes = fields::validate(manifest, &request.fields, &Map::new(), &[])?;
                if !changes.put_secrets.is_empty() {
                    return Err(AppError::invalid(
                        "secret fields are set after connecting, with an edit of the connection",
                    ));
                }
                let name = request
                    .name
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| manifest.name.clone());
                (connector_id, name, Value::Object(changes.public))
            }
        };
        let config = oauth_config(self, &connector_id)?;
        let client = self.oauth_client_credentials(&connector_id).await?;
        let redirect_uri = oauth::redirect_uri(&self.config.public_url);
        let started = oauth::authorize(&config, &client, &redirect_uri)
            .map_err(|e| AppError::invalid(e.to_string()))?;
        let hash = state_hash(&started.state);
        let expires_at = now_ms() + FLOW_LIFETIME.as_millis() as i64;
        let verifier = self.vault.seal_str(
            &crate::store::pending_owner(&hash),
            PKCE_VERIFIER,
            started.pkce_verifier.as_deref().unwrap_or(""),
        )?;
        self.store
            .create_pending_authorization(
                &PendingAuthorization {
                    state_hash: hash,
                    user_id: user.id.clone(),
                    connector_id: connector_id.clone(),
                    connection_id: reauthorize.map(str::to_string),
                    name,
                    fields: public,
                    redirect_uri: redirect_uri.clone(),
                    expires_at,
                },
                verifier,
            )
            .await?;
        tracing::info!(user = %user.name, connector = %connector_id, "OAuth flow started");
        Ok(AuthorizationStarted {
            authorize_url: started.url,
            expires_at,
            redirect_uri,
        })
    }

    /// Completes a flow from the provider's redirect: exchanges the code with the PKCE
    /// verifier, stores the tokens sealed, creates (or re-authorizes) the connection and tests
    /// it. The state is consumed first, so a replayed callback finds nothing.
    pub async fn finish_authorization(
        self: &Arc<Self>,
        params: CallbackParams,
    ) -> Result<(User, ConnectionView), AppError> {
        let refused =
            |message: String| AppError::invalid(message).with_code("oauth_callback_refused");
        let state = params
            .state
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refused("the callback carries no `state`".into()))?;
        let (pending, sealed) = self
            .store
            .take_pending_authorization(&state_hash(&state))
            .await?
            .ok_or_else(|| {
                refused("unknown or already used `state`: start connecting again".into())
            })?;
        if pending.expires_at < now_ms() {
            return Err(refused(
                "this authorization has expired: start connecting again".into(),
            ));
        }
        if let Some(error) = params.error {
            let detail = params
                .error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return Err(
                refused(format!("the provider did not authorize: {error}{detail}"))
                    .with_code("oauth_denied"),
            );
        }
        let code = params
            .code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| refused("the callback carries no `code`".into()))?;
        let user = self.store.user(&pending.user_id).await?;
        let config = oauth_config(self, &pending.connector_id)?;
        let pending_owner = crate::store::pending_owner(&pending.state_hash);
        let verifier = match sealed.iter().find(|(f, _)| f == PKCE_VERIFIER) {
            Some((f, s)) => self.vault.open_string(&pending_owner, f, s)?,
            None => String::new(),
        };
        if config.pkce && verifier.is_empty() {
            return Err(refused(
                "the PKCE verifier of this flow is missing: start connecting again".into(),
            ));
        }
        let client = self.oauth_client_credentials(&pending.connector_id).await?;
        let installed = self.store.connector(&pending.connector_id).await?;
        let tokens = oauth::exchange_code(
            &self.runtime,
            installed.allow_private_network,
            &config,
            &client,
            &pending.redirect_uri,
            &code,
            (!verifier.is_empty()).then_some(verifier),
        )
        .await
        .map_err(|e| match e {
            OAuthError::Retryable(m) => AppError::new(
                "upstream_unavailable",
                502,
                format!("the provider's token endpoint failed: {m}"),
            ),
            other => AppError::new(
                "oauth_exchange_failed",
                400,
                format!("the provider refused the code: {other}"),
            ),
        })?;
        let id = pending
            .connection_id
            .clone()
            .unwrap_or_else(|| new_id("con"));
        let owner = owner(&id);
        let mut sealed_tokens =
            vec![self
                .vault
                .seal_str(&owner, ACCESS_TOKEN, &tokens.access_token)?];
        if let Some(refresh) = &tokens.refresh_token {
            sealed_tokens.push(self.vault.seal_str(&owner, REFRESH_TOKEN, refresh)?);
        }
        let expires_at = tokens.expires_in.map(|d| now_ms() + d.as_millis() as i64);
        match &pending.connection_id {
            Some(existing) => {
                self.store
                    .update_connection(
                        &user.id,
                        existing,
                        &ConnectionUpdate {
                            put_secrets: sealed_tokens,
                            remove_secrets: if tokens.refresh_token.is_none() {
                                vec![REFRESH_TOKEN.into()]
                            } else {
                                vec![]
                            },
                            token_expires_at: Some(expires_at),
                            status: Some(Status::Untested),
                            ..ConnectionUpdate::default()
                        },
                    )
                    .await?;
            }
            None => {
                self.store
                    .create_connection(
                        &NewConnection {
                            id: id.clone(),
                            user_id: user.id.clone(),
                            connector_id: pending.connector_id.clone(),
                            name: pending.name.clone(),
                            fields: pending.fields.clone(),
                            token_expires_at: expires_at,
                            status: Status::Untested,
                        },
                        &sealed_tokens,
                    )
                    .await?;
            }
        }
        tracing::info!(user = %user.name, connection = %id, connector = %pending.connector_id, "OAuth account connected");
        let view = self.test_connection(&user, &id).await?.connection;
        Ok((user, view))
    }

    /// Revokes an OAuth connection's tokens: `(None, None)` when there is nothing to revoke.
    pub(super) async fn revoke_tokens(
        &self,
        row: &ConnectionRow,
    ) -> (Option<bool>, Option<String>) {
        let Ok(config) = oauth_config(self, &row.connector_id) else {
            return (None, None);
        };
        if config.revoke_url.is_none() {
            return (None, None);
        }
        let owner = owner(&row.id);
        let Ok(secrets) = self.store.secrets_of(&owner).await else {
            return (Some(false), Some("cannot read the tokens".into()));
        };
        let client = match self.oauth_client_credentials(&row.connector_id).await {
            Ok(c) => c,
            Err(e) => return (Some(false), Some(e.message)),
        };
        let allow_private = self
            .store
            .connector(&row.connector_id)
            .await
            .map(|c| c.allow_private_network)
            .unwrap_or(false);
        let mut revoked = None;
        // The refresh token first: revoking it ends the whole grant at most providers.
        for field in [REFRESH_TOKEN, ACCESS_TOKEN] {
            let Some((_, sealed)) = secrets.iter().find(|(f, _)| f == field) else {
                continue;
            };
            let token = match self.vault.open_string(&owner, field, sealed) {
                Ok(t) => t,
                Err(e) => return (Some(false), Some(e.to_string())),
            };
            match oauth::revoke(
                &self.runtime,
                allow_private,
                &config,
                &client,
                &token,
                field == REFRESH_TOKEN,
            )
            .await
            {
                Ok(done) => revoked = Some(done),
                Err(e) => {
                    tracing::warn!(connection = %row.id, error = %e, "token revocation failed");
                    return (Some(false), Some(e.to_string()));
                }
            }
        }
        (revoked, None)
    }
}
