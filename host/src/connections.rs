//! Connections: a user's account at a connector's service, stored safely, tested, used,
//! refreshed and revoked. Every operation takes the acting user and sees only that user's
//! connections: another user's connection is "not found", exactly like a missing one.
//!
//! Secrets are write-only: they go into the vault on create/edit and come out only inside a
//! call's [`StoredCredentials`]; a [`ConnectionView`] names which secrets are set, never their
//! values. The status (`untested`, `ok`, `needs_reauth`, `error`) follows every use.

mod credentials;
mod fields;
mod handle;
mod oauth_flow;
pub mod rate_limit;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::app::{App, AppError};
use crate::manifest::Auth;
use crate::runtime::{CallError, CallOutcome, ConnectionContext, StaticCredentials};
use crate::store::{new_id, ConnectionRow, ConnectionUpdate, NewConnection, Status, User};

pub use credentials::StoredCredentials;
pub use handle::ConnectionHandle;
pub use oauth_flow::{AuthorizationStarted, CallbackParams, OAuthAppView, StartAuthorization};

/// The vault field of an OAuth access token (not a manifest field name: those have no colon).
pub const ACCESS_TOKEN: &str = "oauth:access_token";
/// The vault field of an OAuth refresh token.
pub const REFRESH_TOKEN: &str = "oauth:refresh_token";

/// The vault owner of a connection's secrets.
pub fn owner(id: &str) -> String {
    format!("connection/{id}")
}

/// A connection as the API and the CLI show it: no secret values, ever.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    /// `con_…`.
    pub id: String,
    /// The connector's id.
    pub connector: String,
    /// The user's name for it.
    pub name: String,
    /// The connector's auth kind.
    pub auth: &'static str,
    /// Non-secret fields.
    pub fields: Value,
    /// Which secrets are set (names only).
    pub secrets_set: Vec<String>,
    /// Whether it may be used.
    pub enabled: bool,
    /// `untested`, `ok`, `needs_reauth` or `error`.
    pub status: Status,
    /// The last error, if the status is not `ok`.
    pub last_error: Option<String>,
    /// Who the account is (from the last test).
    pub account: Option<Value>,
    /// When the OAuth access token expires (Unix ms).
    pub token_expires_at: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Unix ms.
    pub last_used_at: Option<i64>,
}

/// A connection to create (API body of `POST /api/connections`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// The connector's id.
    pub connector: String,
    /// A name; defaults to the connector's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Field values, secrets included.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Run `test-connection` right away (default true).
    #[serde(default)]
    pub test: Option<bool>,
    /// The user agreed to what the connector reaches (`GET /api/connectors/{id}/consent`); the
    /// API refuses a first connection of a connector without it.
    #[serde(default)]
    pub consent: bool,
}

/// An edit (API body of `PATCH /api/connections/{id}`); absent parts stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditConnection {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Fields to change; `null` clears one.
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// What a test found.
#[derive(Debug, Serialize)]
pub struct TestResult {
    /// Whether the connection works.
    pub ok: bool,
    /// Who the account is.
    pub account: Option<Value>,
    /// The error, if not.
    pub error: Option<Value>,
    /// The connection after the test.
    pub connection: ConnectionView,
}

/// What deleting did.
#[derive(Debug, Serialize)]
pub struct Deleted {
    /// The connection's id.
    pub id: String,
    /// Whether the provider revoked the tokens (`null`: nothing to revoke or no endpoint).
    pub revoked: Option<bool>,
    /// Why revocation failed, if it did.
    pub revoke_error: Option<String>,
}

impl App {
    /// A view of a stored connection.
    pub async fn connection_view(&self, row: &ConnectionRow) -> Result<ConnectionView, AppError> {
        let secrets_set = self
            .store
            .secrets_of(&owner(&row.id))
            .await?
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        let auth = self
            .catalog
            .get(&row.connector_id)
            .map_or("unknown", |c| c.manifest().auth.kind());
        Ok(ConnectionView {
            id: row.id.clone(),
            connector: row.connector_id.clone(),
            name: row.name.clone(),
            auth,
            fields: row.fields.clone(),
            secrets_set,
            enabled: row.enabled,
            status: row.status,
            last_error: row.last_error.clone(),
            account: row.account.clone(),
            token_expires_at: row.token_expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_used_at: row.last_used_at,
        })
    }

    /// The user's connections.
    pub async fn list_connections(&self, user: &User) -> Result<Vec<ConnectionView>, AppError> {
        let mut views = Vec::new();
        for row in self.store.connections(&user.id).await? {
            views.push(self.connection_view(&row).await?);
        }
        Ok(views)
    }

    /// One of the user's connections.
    pub async fn get_connection(&self, user: &User, id: &str) -> Result<ConnectionView, AppError> {
        let row = self.store.connection(&user.id, id).await?;
        self.connection_view(&row).await
    }

    /// Creates a connection with fields (not for OAuth connectors: those connect through
    /// [`App::start_authorization`]) and tests it unless told not to.
    pub async fn create_connection(
        self: &Arc<Self>,
        user: &User,
        request: CreateConnection,
    ) -> Result<ConnectionView, AppError> {
        let connector = self.connector(&request.connector)?.clone();
        let manifest = connector.manifest();
        if let Auth::OAuth2(oauth) = &manifest.auth {
            // A connector with a bearer alternative (Notion's internal integration secret) is
            // created with its fields when that secret is given; otherwise OAuth it is.
            let given = oauth
                .bearer_field()
                .is_some_and(|field| request.fields.get(field).is_some_and(|v| !v.is_null()));
            if !given {
                let alternative = match oauth.bearer_field() {
                    Some(field) => format!(", or give its `{field}` field"),
                    None => String::new(),
                };
                return Err(AppError::invalid(format!(
                    "{} connects with OAuth: start with POST /api/connections/oauth/start (or `heph connection connect {}`){alternative}",
                    manifest.name, manifest.id
                )));
            }
        }
        let changes = fields::validate(manifest, &request.fields, &Map::new(), &[])?;
        let id = new_id("con");
        let owner = owner(&id);
        let sealed = changes
            .put_secrets
            .iter()
            .map(|(field, value)| self.vault.seal_str(&owner, field, value))
            .collect::<Result<Vec<_>, _>>()?;
        let name = request
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| manifest.name.clone());
        let row = self
            .store
            .create_connection(
                &NewConnection {
                    id: id.clone(),
                    user_id: user.id.clone(),
                    connector_id: manifest.id.clone(),
                    name,
                    fields: Value::Object(changes.public),
                    token_expires_at: None,
                    status: Status::Untested,
                },
                &sealed,
            )
            .await?;
        tracing::info!(user = %user.name, connection = %id, connector = %manifest.id, "connection created");
        if request.test.unwrap_or(true) {
            return Ok(self.test_connection(user, &id).await?.connection);
        }
        self.connection_view(&row).await
    }

    /// Edits a connection. Changing credentials resets its status to `untested`.
    pub async fn edit_connection(
        &self,
        user: &User,
        id: &str,
        edit: EditConnection,
    ) -> Result<ConnectionView, AppError> {
        let row = self.store.connection(&user.id, id).await?;
        let connector = self.connector(&row.connector_id)?;
        let owner = owner(id);
        let mut update = ConnectionUpdate {
            name: edit.name.filter(|n| !n.trim().is_empty()),
            enabled: edit.enabled,
            ..ConnectionUpdate::default()
        };
        if let Some(input) = &edit.fields {
            let set: Vec<String> = self
                .store
                .secrets_of(&owner)
                .await?
                .into_iter()
                .map(|(f, _)| f)
                .collect();
            let public = row.fields.as_object().cloned().unwrap_or_default();
            let changes = fields::validate(connector.manifest(), input, &public, &set)?;
            update.put_secrets = changes
                .put_secrets
                .iter()
                .map(|(field, value)| self.vault.seal_str(&owner, field, value))
                .collect::<Result<Vec<_>, _>>()?;
            update.remove_secrets = changes.remove_secrets;
            if !update.put_secrets.is_empty()
                || !update.remove_secrets.is_empty()
                || Value::Object(changes.public.clone()) != row.fields
            {
                update.status = Some(Status::Untested);
            }
            update.fields = Some(Value::Object(changes.public));
        }
        let row = self.store.update_connection(&user.id, id, &update).await?;
        self.connection_view(&row).await
    }

    /// Deletes a connection; an OAuth connection's tokens are revoked first where the
    /// provider has a revocation endpoint (a failed revocation does not keep the connection).
    pub async fn delete_connection(&self, user: &User, id: &str) -> Result<Deleted, AppError> {
        let row = self.store.connection(&user.id, id).await?;
        let (revoked, revoke_error) = self.revoke_tokens(&row).await;
        self.store.delete_connection(&user.id, id).await?;
        tracing::info!(user = %user.name, connection = %id, ?revoked, "connection deleted");
        Ok(Deleted {
            id: id.into(),
            revoked,
            revoke_error,
        })
    }

    /// Runs the connector's `test-connection` and records who the account is.
    pub async fn test_connection(
        self: &Arc<Self>,
        user: &User,
        id: &str,
    ) -> Result<TestResult, AppError> {
        let row = self.store.connection(&user.id, id).await?;
        let (connector, context, credentials) = self.prepare_call(&row).await?;
        let outcome = connector.test_connection(&context).await;
        let outcome = self
            .record_use(&row, outcome, credentials.as_deref(), true, false)
            .await;
        let (ok, account, error) = match outcome.result {
            Ok(account) => {
                self.store.set_connection_account(id, &account).await?;
                (true, Some(account), None)
            }
            Err(e) => (
                false,
                None,
                Some(json!({"code": e.code(), "message": e.to_string()})),
            ),
        };
        let connection = self.get_connection(user, id).await?;
        Ok(TestResult {
            ok,
            account,
            error,
            connection,
        })
    }

    /// Runs one action of the connection's connector.
    pub async fn call_action(
        self: &Arc<Self>,
        user: &User,
        id: &str,
        action: &str,
        input: &Value,
    ) -> Result<CallOutcome<Value>, AppError> {
        let row = self.store.connection(&user.id, id).await?;
        let (connector, context, credentials) = self.prepare_call(&row).await?;
        let outcome = connector.run_action(&context, action, input).await;
        Ok(self
            .record_use(&row, outcome, credentials.as_deref(), false, false)
            .await)
    }

    /// Reads the first page of a polling trigger, from its start, and keeps no cursor: the
    /// sample items a scenario builder maps from.
    pub async fn sample_trigger(
        self: &Arc<Self>,
        user: &User,
        id: &str,
        trigger: &str,
        config: &Value,
    ) -> Result<CallOutcome<crate::runtime::PollPage>, AppError> {
        let row = self.store.connection(&user.id, id).await?;
        let (connector, context, credentials) = self.prepare_call(&row).await?;
        let outcome = connector.poll(&context, trigger, config, None).await;
        Ok(self
            .record_use(&row, outcome, credentials.as_deref(), false, false)
            .await)
    }

    /// The connector, the call context and (for stored credentials) the credential source.
    async fn prepare_call(
        self: &Arc<Self>,
        row: &ConnectionRow,
    ) -> Result<
        (
            Arc<crate::runtime::Connector>,
            ConnectionContext,
            Option<Arc<StoredCredentials>>,
        ),
        AppError,
    > {
        if !row.enabled {
            return Err(AppError::conflict(format!(
                "connection `{}` is disabled; enable it to use it",
                row.id
            ))
            .with_code("connection_disabled"));
        }
        let connector = self.connector(&row.connector_id)?.clone();
        let manifest = connector.manifest();
        if row.status == Status::NeedsReauth && matches!(manifest.auth, Auth::OAuth2(_)) {
            return Err(AppError::conflict(format!(
                "connection `{}` needs to be connected again ({}): POST /api/connections/{}/reauthorize",
                row.id,
                row.last_error.as_deref().unwrap_or("the provider refused its grant"),
                row.id
            ))
            .with_code("needs_reauth"));
        }
        let installed = self.store.connector(&row.connector_id).await?;
        let owner = owner(&row.id);
        let mut opened = Map::new();
        for (field, sealed) in self.store.secrets_of(&owner).await? {
            let value = self.vault.open_string(&owner, &field, &sealed)?;
            opened.insert(field, Value::String(value));
        }
        // An OAuth connector's connection made with its bearer alternative has no tokens.
        let by_bearer = !opened.contains_key(ACCESS_TOKEN)
            && matches!(&manifest.auth, Auth::OAuth2(c) if c.bearer_field().is_some_and(|f| opened.contains_key(f)));
        let kind = match &manifest.auth {
            Auth::OAuth2(config) if !by_bearer => {
                let access_token = opened
                    .get(ACCESS_TOKEN)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                credentials::Kind::OAuth {
                    config: Box::new(config.clone()),
                    allow_private: installed.allow_private_network,
                    current: tokio::sync::Mutex::new(credentials::Token {
                        access_token,
                        expires_at: row.token_expires_at,
                        version: row.credential_version,
                    }),
                }
            }
            auth => {
                let source = StaticCredentials::new(auth, &row.fields, opened.clone());
                credentials::Kind::Static(
                    crate::runtime::CredentialSource::credential(&source)
                        .await
                        .map_err(AppError::internal)?,
                )
            }
        };
        let static_credential = match &kind {
            credentials::Kind::Static(credential) => vec![credential.clone()],
            credentials::Kind::OAuth { .. } => Vec::new(),
        };
        let redactor = Arc::new(crate::runtime::redact::Redactor::new(
            opened.values().filter_map(Value::as_str),
            &static_credential,
        ));
        opened.retain(|k, _| !k.starts_with("oauth:"));
        let stored = Arc::new(StoredCredentials {
            app: self.clone(),
            connection_id: row.id.clone(),
            connector_id: row.connector_id.clone(),
            secrets: opened,
            redactor,
            kind,
            needs_reauth: AtomicBool::new(false),
            refresh_deferred: AtomicBool::new(false),
            limiter: self.rate_limiters.get(
                &row.id,
                manifest.limits.requests_per_second,
                manifest.limits.burst,
            ),
        });
        let context = ConnectionContext {
            public: manifest.with_defaults(&row.fields),
            credentials: stored.clone(),
            allow_private_network: installed.allow_private_network,
            run_id: new_id("call"),
            tenant: row.user_id.clone(),
        };
        Ok((connector, context, Some(stored)))
    }

    /// Updates the connection's status from a call's result. A test speaks for the connection
    /// whatever its error; an action's bad input or missing record does not. `quiet_ok`: the
    /// status is known to be `ok` already, so a success writes nothing.
    async fn record_use<T>(
        &self,
        row: &ConnectionRow,
        mut outcome: CallOutcome<T>,
        credentials: Option<&StoredCredentials>,
        is_test: bool,
        quiet_ok: bool,
    ) -> CallOutcome<T> {
        // The runtime has redacted the connection's secrets from the outcome already.
        if credentials.is_some_and(|c| c.needs_reauth()) {
            // The refresh was refused for good; the status says so already.
            outcome.result = Err(CallError::Unauthorized(
                "the provider no longer accepts this connection's grant: connect the account again"
                    .into(),
            ));
            return outcome;
        }
        if credentials.is_some_and(|c| c.refresh_deferred()) && outcome.result.is_err() {
            // The provider could not refresh the token just now: worth retrying, and nothing
            // to say about the connection itself, which stays as it was.
            outcome.result = Err(CallError::Transient(
                "the provider's token endpoint is unavailable; the token will be refreshed on a later try".into(),
            ));
            return outcome;
        }
        let update = match &outcome.result {
            Ok(_) if quiet_ok => None,
            Ok(_) => Some((Status::Ok, None)),
            Err(e @ CallError::Unauthorized(_)) => Some((Status::NeedsReauth, Some(e.to_string()))),
            Err(
                e @ (CallError::Transient(_)
                | CallError::RateLimited(_)
                | CallError::WallTime(_)
                | CallError::Host(_)),
            ) => Some((Status::Error, Some(e.to_string()))),
            Err(e) if is_test => Some((Status::Error, Some(e.to_string()))),
            // A bad input or a missing record says nothing about the connection itself.
            Err(_) => None,
        };
        if let Some((status, error)) = update {
            if let Err(e) = self
                .store
                .set_connection_status(&row.id, status, error.as_deref())
                .await
            {
                tracing::error!(connection = %row.id, error = %e, "cannot record the connection's status");
            }
        }
        outcome
    }
}

impl AppError {
    /// Replaces the code.
    pub fn with_code(mut self, code: &'static str) -> AppError {
        self.code = code;
        self
    }
}
