//! A connection opened once for many calls: the engine opens each connection a run uses once
//! (secrets unsealed, credentials set up, rate limit attached) and calls through it item after
//! item. Every call still records its effect on the connection's status and has the
//! connection's secrets redacted from what it returns and logs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;

use super::StoredCredentials;
use crate::app::{App, AppError};
use crate::runtime::{CallError, CallOutcome, ConnectionContext, Connector, Item, PollPage};
use crate::store::{ConnectionRow, Status};

/// An open connection.
pub struct ConnectionHandle {
    /// The connection as it was opened.
    pub row: ConnectionRow,
    connector: Arc<Connector>,
    context: ConnectionContext,
    credentials: Arc<StoredCredentials>,
    /// Whether `ok` is known to be recorded (successes then write nothing).
    ok_recorded: AtomicBool,
}

impl App {
    /// Opens one of a user's connections for repeated calls.
    pub async fn open_connection(
        self: &Arc<Self>,
        user_id: &str,
        id: &str,
    ) -> Result<ConnectionHandle, AppError> {
        let row = self.store.connection(user_id, id).await?;
        let (connector, context, credentials) = self.prepare_call(&row).await?;
        let credentials = credentials
            .ok_or_else(|| AppError::internal("a stored connection has stored credentials"))?;
        Ok(ConnectionHandle {
            ok_recorded: AtomicBool::new(row.status == Status::Ok),
            row,
            connector,
            context,
            credentials,
        })
    }
}

impl ConnectionHandle {
    /// The connector.
    pub fn connector(&self) -> &Arc<Connector> {
        &self.connector
    }

    fn context(&self, run_id: &str) -> ConnectionContext {
        let mut context = self.context.clone();
        context.run_id = run_id.to_string();
        context
    }

    async fn finish<T>(&self, app: &App, outcome: CallOutcome<T>) -> CallOutcome<T> {
        let quiet = self.ok_recorded.load(Ordering::Relaxed);
        let outcome = app
            .record_use(&self.row, outcome, Some(&self.credentials), false, quiet)
            .await;
        self.ok_recorded
            .store(outcome.result.is_ok(), Ordering::Relaxed);
        outcome
    }

    /// How much longer an upstream's `Retry-After` holds the connection's requests.
    pub fn held_for(&self) -> std::time::Duration {
        self.credentials.limiter.held_for()
    }

    /// Runs an action.
    pub async fn action(
        &self,
        app: &App,
        run_id: &str,
        action: &str,
        input: &Value,
    ) -> CallOutcome<Value> {
        let outcome = self
            .connector
            .run_action(&self.context(run_id), action, input)
            .await;
        self.finish(app, outcome).await
    }

    /// Reads a page of a polling trigger.
    pub async fn poll(
        &self,
        app: &App,
        run_id: &str,
        trigger: &str,
        config: &Value,
        cursor: Option<&str>,
    ) -> CallOutcome<PollPage> {
        let outcome = self
            .connector
            .poll(&self.context(run_id), trigger, config, cursor)
            .await;
        self.finish(app, outcome).await
    }

    /// Passes a webhook delivery to the connector.
    pub async fn webhook(
        &self,
        app: &App,
        trigger: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> CallOutcome<Vec<Item>> {
        let outcome = self
            .connector
            .webhook(&self.context("webhook"), trigger, headers, body)
            .await;
        if matches!(outcome.result, Err(CallError::Unauthorized(_))) {
            // A refused delivery (a bad signature: anyone who knows the URL can send one)
            // says nothing about the connection's own credentials, so it must not mark the
            // connection as needing to be connected again: leave its status.
            return outcome;
        }
        self.finish(app, outcome).await
    }
}
