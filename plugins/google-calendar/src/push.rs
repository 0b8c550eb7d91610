//! Push notifications through watch channels. `watch_events` opens a channel that makes Google
//! POST to a scenario's webhook URL whenever the calendar's events change; channels expire
//! (7 days by default), so `renew_watch` opens a new one before the old one runs out and stops
//! the old one. A notification has no body, only `X-Goog-*` headers; its
//! `X-Goog-Channel-Token` must be the one this connector gave the channel: the HMAC of the
//! channel id keyed by the connection's `channel_secret`, which the connector never sees.

use heph_sdk::{
    hex, json, sign_hmac_sha256, time, verify_hmac_sha256, Context, Error, Item, Value,
};

use crate::api;

/// The secret field that signs channel tokens.
const SECRET: &str = "channel_secret";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn mac(message: &str) -> Result<Vec<u8>, Error> {
    sign_hmac_sha256(SECRET, message.as_bytes()).ok_or_else(|| {
        Error::InvalidInput(
            "push notifications need the connection's `channel_secret` field".into(),
        )
    })
}

/// Opens a channel for the calendar's events to `address` (an https URL).
pub fn watch(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let calendar = input
        .get("calendar_id")
        .and_then(Value::as_str)
        .unwrap_or("primary");
    let address = input
        .get("address")
        .and_then(Value::as_str)
        .filter(|a| a.starts_with("https://"))
        .ok_or_else(|| Error::bad_field("address", "the https:// URL of the scenario's webhook"))?;
    // A channel id unique to this calendar, address and moment, without a random source.
    let seed = format!(
        "channel|{calendar}|{address}|{}|{}",
        time::now(),
        ctx.run_id
    );
    let id = format!("heph-{}", &hex::encode(&mac(&seed)?)[..32]);
    let token = format!("v1.{}", hex::encode(&mac(&id)?));
    let mut body = json!({"id": id, "type": "web_hook", "address": address, "token": token});
    if let Some(ttl) = input.get("ttl_seconds").and_then(Value::as_u64) {
        body["params"] = json!({"ttl": ttl.to_string()});
    }
    let path = format!("{}/events/watch", api::calendar(calendar));
    let channel = api::send(api::request("POST", &path).json(&body))?;
    Ok(json!({
        "id": channel.get("id"),
        "resource_id": channel.get("resourceId"),
        "resource_uri": channel.get("resourceUri"),
        "expiration": channel.get("expiration").and_then(|e| e.as_str().and_then(|s| s.parse::<i64>().ok()).or(e.as_i64())),
        "calendar_id": calendar,
        "address": address,
    }))
}

/// Stops a channel; one that is already gone is not an error.
pub fn stop(input: &Value) -> Result<Value, Error> {
    let id = input
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_field("id", "the channel id"))?;
    let resource = input
        .get("resource_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_field("resource_id", "the channel's resource id"))?;
    let response = api::request("POST", "/channels/stop")
        .json(&json!({"id": id, "resourceId": resource}))
        .send()?;
    if response.status == 404 {
        return Ok(json!({"stopped": false, "reason": "the channel was already gone"}));
    }
    api::check(response)?;
    Ok(json!({"stopped": true}))
}

/// Opens a new channel when `channel` expires within `renew_within_hours` (default 24), then
/// stops the old one; otherwise keeps it. Returns the channel to keep.
pub fn renew(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let channel = input.get("channel").filter(|c| c.is_object());
    let hours = input
        .get("renew_within_hours")
        .and_then(Value::as_i64)
        .unwrap_or(24);
    let expiration = channel
        .and_then(|c| c.get("expiration"))
        .and_then(Value::as_i64);
    let now_ms = time::now() * 1000;
    if let (Some(channel), Some(expiration)) = (channel, expiration) {
        if expiration - now_ms > hours * 3_600_000 {
            return Ok(json!({"renewed": false, "channel": channel}));
        }
    }
    let fresh = watch(ctx, input)?;
    if let Some(old) = channel {
        if old.get("id").is_some() && old.get("resource_id").is_some() {
            stop(old)?;
        }
    }
    Ok(json!({"renewed": true, "channel": fresh}))
}

/// One notification. The first of a channel (`sync`) only says it is open: no item.
pub fn notification(headers: &[(String, String)]) -> Result<Vec<Item>, Error> {
    let channel = header(headers, "x-goog-channel-id").ok_or_else(|| {
        Error::Unauthorized("not a Google Calendar notification: no X-Goog-Channel-ID".into())
    })?;
    let token = header(headers, "x-goog-channel-token").unwrap_or("");
    let tag = token.strip_prefix("v1.").and_then(hex::decode);
    let valid = tag.is_some_and(|tag| verify_hmac_sha256(SECRET, channel.as_bytes(), &tag));
    if !valid {
        return Err(Error::Unauthorized(
            "X-Goog-Channel-Token does not belong to this channel (a channel of another connection, or a forged notification)".into(),
        ));
    }
    let state = header(headers, "x-goog-resource-state").unwrap_or("");
    if state == "sync" {
        return Ok(vec![]);
    }
    let number = header(headers, "x-goog-message-number").unwrap_or("0");
    Ok(vec![Item::new(
        format!("{channel}:{number}"),
        json!({
            "channel_id": channel,
            "resource_id": header(headers, "x-goog-resource-id"),
            "resource_state": state,
            "resource_uri": header(headers, "x-goog-resource-uri"),
            "message_number": number.parse::<i64>().ok(),
            "channel_expiration": header(headers, "x-goog-channel-expiration"),
        }),
    )])
}
