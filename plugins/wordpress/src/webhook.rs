//! Pushed changes. WordPress has no outgoing webhooks of its own; a site plugin (or a
//! `save_post` hook) posts one JSON event per change:
//!
//! ```text
//! POST /hooks/{scenario}/{token}
//! X-Heph-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the webhook secret>
//! {"event": "post.saved" | "post.deleted" | "user.saved" | "user.deleted",
//!  "id": 123, "object": { ...the post or user as the REST API returns it... }}
//! ```
//!
//! The signature is checked by the host with the connection's `webhook_secret`, which this
//! connector never sees. The trigger `post_event` takes `post.*` events, `user_event` `user.*`.

use heph_sdk::{json, Context, Error, Item, Value};

/// Turns one delivery into items.
pub fn receive(
    _ctx: &Context,
    trigger: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<Item>, Error> {
    let prefix = match trigger {
        "post_event" => "post.",
        "user_event" => "user.",
        other => return Err(Error::unknown_trigger(other)),
    };
    let signature = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-heph-signature"))
        .map(|(_, v)| v.trim())
        .ok_or_else(|| Error::Unauthorized("the delivery has no X-Heph-Signature header".into()))?;
    let hex = signature.strip_prefix("sha256=").unwrap_or(signature);
    let mac = heph_sdk::hex::decode(hex)
        .ok_or_else(|| Error::Unauthorized("X-Heph-Signature is not sha256=<hex>".into()))?;
    if !heph_sdk::verify_hmac_sha256("webhook_secret", body, &mac) {
        return Err(Error::Unauthorized(
            "the signature does not match the body (wrong webhook secret?)".into(),
        ));
    }
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidInput(format!("the delivery is not JSON: {e}")))?;
    let kind = event.get("event").and_then(Value::as_str).unwrap_or("");
    if !kind.starts_with(prefix) {
        return Ok(vec![]);
    }
    let id = match event.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(Error::InvalidInput("the event has no `id`".into())),
    };
    let object = event.get("object").cloned().unwrap_or(json!({}));
    Ok(vec![Item::new(
        id,
        json!({"event": kind, "object": object}),
    )])
}
