//! `POST /hooks/{scenario}/{token}`: a delivery becomes one queued run per item before the
//! sender gets its answer, so an accepted delivery is never lost (the runs are in the store;
//! a crash after the answer only delays them). A connector's webhook trigger checks the
//! signature (with the connection's secret, which the connector never sees) and splits the
//! delivery into items; without a connector the JSON body is the item.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::scenario::Trigger;
use super::service::item_id;
use crate::app::{App, AppError};
use crate::runtime::CallError;
use crate::store::{new_id, NewRun};

/// What a delivery started.
#[derive(Debug, Serialize)]
pub struct WebhookAccepted {
    /// How many items it held.
    pub accepted: usize,
    /// The runs queued for them.
    pub runs: Vec<String>,
}

/// Deliveries larger than this are refused (413) before anything else.
pub const MAX_DELIVERY_BYTES: usize = 1 << 20;

impl App {
    /// Receives one delivery.
    pub async fn receive_webhook(
        self: &Arc<Self>,
        scenario_id: &str,
        token: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<WebhookAccepted, AppError> {
        let unknown = || {
            AppError::not_found("no such webhook (check the URL: it is shown with the scenario)")
        };
        let scenario = self
            .store
            .scenario_by_webhook(&crate::auth::api_tokens::hash(token))
            .await?
            .filter(|s| s.id == scenario_id)
            .ok_or_else(unknown)?;
        if !scenario.enabled {
            return Err(AppError::conflict(
                "the scenario is disabled: enable it to accept deliveries",
            )
            .with_code("scenario_disabled"));
        }
        let plan = self
            .compile_scenario(&scenario.user_id, scenario.definition.clone())
            .await?;
        let Trigger::Webhook {
            connector, trigger, ..
        } = &plan.scenario.trigger
        else {
            return Err(
                AppError::conflict("this scenario is not started by a webhook")
                    .with_code("not_a_webhook"),
            );
        };
        let items: Vec<(String, Value)> = match (connector, trigger, &plan.trigger_connection) {
            (Some(_), Some(trigger), Some(connection)) => {
                let handle = self.open_connection(&scenario.user_id, connection).await?;
                let outcome = handle.webhook(self, trigger, headers, body).await;
                match outcome.result {
                    Ok(items) => items.into_iter().map(|i| (i.id, i.data)).collect(),
                    Err(e @ CallError::Unauthorized(_)) => {
                        return Err(AppError::new(
                            "unauthorized",
                            401,
                            format!("the delivery was refused: {e}"),
                        ))
                    }
                    Err(e @ (CallError::InvalidInput(_) | CallError::NotFound(_))) => {
                        return Err(AppError::invalid(format!("the delivery was refused: {e}")))
                    }
                    Err(e) => {
                        return Err(AppError::new(
                            "webhook_failed",
                            502,
                            format!("the connector could not read the delivery: {e}"),
                        ))
                    }
                }
            }
            _ => {
                let data: Value = serde_json::from_slice(&body).map_err(|e| {
                    AppError::invalid(format!("the delivery is not JSON: {e}"))
                        .with_code("invalid_json")
                })?;
                let id = item_id(data.get("id"), "delivery");
                vec![(id, data)]
            }
        };
        let runs: Vec<NewRun> = items
            .into_iter()
            .map(|(id, data)| NewRun {
                id: new_id("run"),
                scenario_id: scenario.id.clone(),
                scenario_version: scenario.version,
                user_id: scenario.user_id.clone(),
                trigger_kind: "webhook".into(),
                input: Some(json!({"id": id, "data": data})),
            })
            .collect();
        self.store.enqueue_runs(&runs).await?;
        self.engine.signal.notify_waiters();
        tracing::info!(scenario = %scenario.id, items = runs.len(), "webhook delivery accepted");
        Ok(WebhookAccepted {
            accepted: runs.len(),
            runs: runs.into_iter().map(|r| r.id).collect(),
        })
    }
}
