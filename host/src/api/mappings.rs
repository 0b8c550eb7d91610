//! Trying a mapping before saving it: the scenario builder sends a node's mapping and the
//! sample context (the trigger item and earlier nodes' outputs) and shows what comes out, or
//! which field is wrong and why. Nothing is stored and no connector is called.

use std::sync::Arc;

use axum::Json;
use minijinja::value::Value as JinjaValue;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Caller, JsonBody};
use super::ApiError;
use crate::app::{App, AppError};
use crate::engine::template::Templates;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(preview))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    /// A node's mapping: any JSON value whose strings may hold templates.
    #[schema(value_type = Value)]
    mapping: Value,
    /// What the templates read: `trigger`, `trigger_id`, `vars` and earlier nodes by id.
    #[serde(default)]
    #[schema(value_type = Object)]
    context: Map<String, Value>,
}

/// Evaluates a mapping against a sample context, as a run would.
#[utoipa::path(post, path = "/api/mappings/preview", tag = "scenarios", request_body = PreviewBody,
    responses((status = 200, description = "`{\"output\"}`: the mapped value; a template that does not compile is a 400 `invalid_input` naming each field in `details.fields`, one that fails on the sample a 400 `mapping_failed`", body = Object)))]
async fn preview(
    Caller(_user): Caller,
    JsonBody(body): JsonBody<PreviewBody>,
) -> Result<Json<Value>, ApiError> {
    let mut templates = Templates::new();
    let mapping = templates.compile(&body.mapping).map_err(|problems| {
        let fields: Map<String, Value> = problems
            .into_iter()
            .map(|(path, message)| {
                (
                    if path.is_empty() {
                        "mapping".into()
                    } else {
                        path
                    },
                    json!(message),
                )
            })
            .collect();
        AppError::invalid("the mapping does not compile").with_details(json!({ "fields": fields }))
    })?;
    // Evaluating is CPU work a member chooses: a turn of the pool scenario checks use, off
    // the request threads.
    let _turn = crate::engine::checking_turns()
        .acquire()
        .await
        .map_err(|_| AppError::internal("the checking pool is closed"))?;
    let output = crate::background::run("the preview", move || {
        let context = JinjaValue::from_serialize(&body.context);
        templates.eval(&mapping, &context)
    })
    .await?
    .map_err(|message| {
        AppError::invalid(format!("the mapping fails on the sample: {message}"))
            .with_code("mapping_failed")
    })?;
    Ok(Json(json!({ "output": output })))
}
