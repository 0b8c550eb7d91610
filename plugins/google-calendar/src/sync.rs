//! The `event_changed` trigger: incremental sync with sync tokens. The first poll makes a full
//! sync (every event, page by page); its last page carries `nextSyncToken`, and later polls ask
//! only for what changed since, deletions included (`status: cancelled`). When Google refuses
//! the token (410 Gone) the trigger starts a full sync again, as the API asks.

use heph_sdk::{json, log, paging, Error, Item, Page, Value};
use serde::{Deserialize, Serialize};

use crate::api;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// The token for the next incremental sync; none: a full sync is due or under way.
    #[serde(default)]
    sync_token: Option<String>,
    /// The next page of the current pass.
    #[serde(default)]
    page_token: Option<String>,
    /// In a full sync started with `start: now`: read to the end for the token, give nothing.
    #[serde(default)]
    quiet: bool,
}

/// Reads the next page of changes of the configured calendar.
pub fn poll(config: Value, cursor: Option<String>) -> Result<Page, Error> {
    let calendar = config
        .get("calendar_id")
        .and_then(Value::as_str)
        .unwrap_or("primary");
    let mut state: Cursor = paging::decode(cursor.as_deref())?;
    if cursor.is_none() {
        state.quiet = config.get("start").and_then(Value::as_str) != Some("beginning");
    }
    let size = config
        .get("page_size")
        .and_then(Value::as_u64)
        .unwrap_or(250)
        .clamp(1, 2500);
    let single = config
        .get("single_events")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let fetch = |state: &Cursor| {
        // The same parameters for the full and the incremental syncs, as Google requires; no
        // orderBy, timeMin or q, which a sync token cannot be combined with.
        let mut request = api::request("GET", &format!("{}/events", api::calendar(calendar)))
            .query("maxResults", size)
            .query("showDeleted", "true")
            .query("singleEvents", single);
        if let Some(token) = &state.sync_token {
            request = request.query("syncToken", token);
        }
        if let Some(token) = &state.page_token {
            request = request.query("pageToken", token);
        }
        request.send()
    };
    let mut response = fetch(&state)?;
    if response.status == 410 {
        log::warn("Google refused the sync token (410 Gone): starting a full sync again");
        state = Cursor::default();
        response = fetch(&state)?;
    }
    let answer: Value = api::check(response)?.json()?;
    let items = if state.quiet {
        Vec::new()
    } else {
        answer
            .get("items")
            .and_then(Value::as_array)
            .map(|events| {
                events
                    .iter()
                    .map(|e| {
                        Item::new(
                            e.get("id").and_then(Value::as_str).unwrap_or_default(),
                            e.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    state.page_token = answer
        .get("nextPageToken")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(token) = answer.get("nextSyncToken").and_then(Value::as_str) {
        state.sync_token = Some(token.to_string());
        state.quiet = false;
    }
    let has_more = state.page_token.is_some();
    Ok(Page {
        items,
        cursor: Some(paging::encode(&state)),
        has_more,
    })
}

/// The trigger's configuration schema.
pub fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "calendar_id": {"type": "string", "default": "primary", "description": "The calendar to watch: `primary`, or an id from List calendars."},
            "start": {"type": "string", "enum": ["now", "beginning"], "default": "now",
                      "description": "`now`: only changes from now on; `beginning`: every event first."},
            "single_events": {"type": "boolean", "default": false, "description": "Expand recurring events into their instances."},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 2500, "default": 250}
        }
    })
}
