//! Triggers: new and updated items of a data source (polled), and Notion's signed webhooks.
//!
//! Notion's timestamp filters are only minute-precise: `last_edited_time` comes back as
//! `2026-11-22T10:15:00.000Z`. A poll therefore asks for everything on or after the minute of
//! the newest change it has seen and drops the items it already gave at that minute (kept in
//! the cursor as `id@last_edited_time`).

use heph_sdk::{json, paging, Context, Error, Item, Page, Value};
use serde::{Deserialize, Serialize};

use crate::api;

/// Where a poll stands.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// The minute the current pass asks from (ISO 8601); none: the first poll.
    #[serde(default)]
    since: Option<String>,
    /// Items already given at the newest minute: `id@timestamp`.
    #[serde(default)]
    seen: Vec<String>,
    /// Notion's `next_cursor` inside the current pass.
    #[serde(default)]
    page: Option<String>,
    /// The newest timestamp met in this pass, and the items at it.
    #[serde(default)]
    newest: Option<String>,
    #[serde(default)]
    newest_seen: Vec<String>,
}

/// The minute of a timestamp (`2026-11-22T10:15:42.000Z` → `2026-11-22T10:15:00.000Z`).
fn minute(ts: &str) -> String {
    match ts.get(..16) {
        Some(prefix) => format!("{prefix}:00.000Z"),
        None => ts.to_string(),
    }
}

/// Reads the next page of `new_item` (by `created_time`) or `updated_item` (`last_edited_time`).
pub fn poll(
    ctx: &Context,
    trigger: &str,
    config: Value,
    cursor: Option<String>,
) -> Result<Page, Error> {
    let timestamp = match trigger {
        "new_item" => "created_time",
        "updated_item" => "last_edited_time",
        other => return Err(Error::unknown_trigger(other)),
    };
    let source = config
        .get("data_source_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_field("data_source_id", "the id of the data source to watch"))?;
    let source = api::page_id(source)?;
    let mut state: Cursor = paging::decode(cursor.as_deref())?;
    if state.since.is_none() {
        let from_now = config.get("start").and_then(Value::as_str) != Some("beginning");
        if from_now {
            // Only what changes from now on: no items, a cursor at this minute.
            let now = heph_sdk::time::format_iso(heph_sdk::time::now());
            state.since = Some(minute(&format!("{now}.000Z")));
            return Ok(Page {
                items: vec![],
                cursor: Some(paging::encode(&state)),
                has_more: false,
            });
        }
        state.since = Some("1970-01-01T00:00:00.000Z".into());
    }
    let since = state.since.clone().unwrap_or_default();
    let mut body = json!({
        "page_size": config.get("page_size").and_then(Value::as_u64).unwrap_or(100).clamp(1, 100),
        "filter": {"timestamp": timestamp, timestamp: {"on_or_after": since}},
        "sorts": [{"timestamp": timestamp, "direction": "ascending"}],
    });
    if let Some(page) = &state.page {
        body["start_cursor"] = json!(page);
    }
    let answer =
        api::send(api::request(ctx, "POST", &format!("/data_sources/{source}/query")).json(&body))?;
    let results = answer
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut items = Vec::new();
    for page in results {
        let id = page
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let at = page
            .get(timestamp)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let key = format!("{id}@{at}");
        if state.newest.as_deref().is_none_or(|n| at.as_str() > n) {
            state.newest = Some(at.clone());
            state.newest_seen.clear();
        }
        if state.newest.as_deref() == Some(at.as_str()) {
            state.newest_seen.push(key.clone());
        }
        if state.seen.contains(&key) {
            continue;
        }
        items.push(Item::new(id, page));
    }
    let has_more = answer.get("has_more").and_then(Value::as_bool) == Some(true);
    state.page = answer
        .get("next_cursor")
        .and_then(Value::as_str)
        .filter(|_| has_more)
        .map(str::to_string);
    if state.page.is_none() {
        // The pass is over: the next one starts at the newest minute, skipping what it gave.
        if let Some(newest) = state.newest.take() {
            if state.since.as_deref() == Some(minute(&newest).as_str()) {
                state.seen.extend(std::mem::take(&mut state.newest_seen));
                state.seen.sort();
                state.seen.dedup();
            } else {
                state.seen = std::mem::take(&mut state.newest_seen);
            }
            state.since = Some(minute(&newest));
        }
        state.newest_seen.clear();
    }
    Ok(Page {
        items,
        cursor: Some(paging::encode(&state)),
        has_more: state.page.is_some(),
    })
}

/// One webhook delivery. The first, unsigned, carries the subscription's `verification_token`
/// (paste it into the subscription in Notion, and into this connection's
/// `webhook_verification_token`); it becomes one item of type `verification`. Every later
/// event must carry `X-Notion-Signature: sha256=<hex>` over the body, keyed by that token.
/// Events are sparse: a page event comes with the page fetched after it.
pub fn webhook(
    ctx: &Context,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<Item>, Error> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidInput(format!("the delivery is not JSON: {e}")))?;
    let signature = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-notion-signature"))
        .map(|(_, v)| v.trim());
    if let (None, Some(token)) = (
        signature,
        event.get("verification_token").and_then(Value::as_str),
    ) {
        return Ok(vec![Item::new(
            "verification",
            json!({"type": "verification", "verification_token": token}),
        )]);
    }
    let signature = signature
        .ok_or_else(|| Error::Unauthorized("the event has no X-Notion-Signature header".into()))?;
    let mac = heph_sdk::hex::decode(signature.strip_prefix("sha256=").unwrap_or(signature))
        .ok_or_else(|| Error::Unauthorized("X-Notion-Signature is not sha256=<hex>".into()))?;
    if !heph_sdk::verify_hmac_sha256("webhook_verification_token", body, &mac) {
        return Err(Error::Unauthorized(
            "the signature does not match the body (is webhook_verification_token the subscription's token?)".into(),
        ));
    }
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if id.is_empty() {
        return Err(Error::InvalidInput("the event has no `id`".into()));
    }
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut data = event.clone();
    let entity_is_page = event.pointer("/entity/type").and_then(Value::as_str) == Some("page");
    if entity_is_page && kind != "page.deleted" {
        if let Some(page_id) = event.pointer("/entity/id").and_then(Value::as_str) {
            match api::send(api::request(ctx, "GET", &format!("/pages/{page_id}"))) {
                Ok(page) => data["page"] = page,
                // Gone or unshared since the event: the event alone is still news.
                Err(Error::NotFound(_)) => data["page"] = Value::Null,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(vec![Item::new(id, data)])
}
