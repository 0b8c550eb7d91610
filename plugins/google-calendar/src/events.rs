//! Event actions: create (time zones, all-day events, attendees, reminder overrides), update
//! (patch), delete, quick add, list calendars, free/busy.
//!
//! A scenario that mirrors records into a calendar gives each event a `key` (a module's id):
//! the event's id is derived from it, so a re-run updates the event instead of adding another,
//! and a deletion finds it.

use heph_sdk::{hex, json, percent_encode, time, Error, Map, Value};

use crate::api;

fn text<'a>(input: &'a Value, field: &str) -> Option<&'a str> {
    input
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn calendar_id(input: &Value) -> &str {
    text(input, "calendar_id").unwrap_or("primary")
}

/// The event id for a key: its bytes in hex (Google allows 0-9 and a-v, 5 to 1024 characters).
pub fn id_for_key(key: &str) -> Result<String, Error> {
    if key.is_empty() || key.len() > 500 {
        return Err(Error::bad_field("key", "1 to 500 bytes of text"));
    }
    let id = format!("heph{}", hex::encode(key.as_bytes()));
    Ok(id)
}

/// The event's id: `event_id`, or the one derived from `key`.
fn event_id(input: &Value) -> Result<String, Error> {
    match (text(input, "event_id"), text(input, "key")) {
        (Some(id), _) => Ok(id.to_string()),
        (None, Some(key)) => id_for_key(key),
        (None, None) => Err(Error::InvalidInput("give `event_id` or `key`".into())),
    }
}

fn is_date(text: &str) -> bool {
    text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-'
}

/// A start or end: `{"date"}` for all-day, `{"dateTime", "timeZone"}` otherwise.
fn when(value: &str, all_day: bool, zone: Option<&str>) -> Value {
    if all_day || is_date(value) {
        json!({"date": value.get(..10).unwrap_or(value)})
    } else {
        let mut w = json!({"dateTime": value});
        if let Some(zone) = zone {
            w["timeZone"] = json!(zone);
        }
        w
    }
}

/// The end when none is given: the next day for all-day events, else `duration_minutes`
/// (default 60) after the start. Works on the wall-clock text, so the zone stays as given.
fn default_end(start: &str, all_day: bool, minutes: i64) -> Result<String, Error> {
    let bad = || Error::bad_field("start", "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS");
    if all_day || is_date(start) {
        let day = time::parse_iso(&format!("{}T00:00:00", start.get(..10).ok_or_else(bad)?))
            .ok_or_else(bad)?;
        return Ok(time::format_iso(day + 86_400)[..10].to_string());
    }
    let base = start.get(..19).ok_or_else(bad)?;
    let suffix = &start[19..];
    // Keep an explicit offset (`+02:00`, `Z`) after dropping fractions of a second.
    let offset = suffix.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let at = time::parse_iso(base).ok_or_else(bad)?;
    Ok(format!("{}{offset}", time::format_iso(at + minutes * 60)))
}

/// The event body from the action's input (only the fields given: also a patch).
fn event_body(input: &Value, creating: bool) -> Result<Value, Error> {
    let mut event = Map::new();
    for field in [
        "summary",
        "description",
        "location",
        "colorId",
        "visibility",
        "transparency",
    ] {
        let key = if field == "colorId" {
            "color_id"
        } else {
            field
        };
        if let Some(v) = input.get(key).filter(|v| !v.is_null()) {
            event.insert(field.into(), v.clone());
        }
    }
    let all_day = input
        .get("all_day")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let zone = text(input, "time_zone");
    if let Some(start) = text(input, "start") {
        event.insert("start".into(), when(start, all_day, zone));
        let minutes = input
            .get("duration_minutes")
            .and_then(Value::as_i64)
            .unwrap_or(60);
        let end = match text(input, "end") {
            Some(end) => end.to_string(),
            None => default_end(start, all_day, minutes)?,
        };
        event.insert("end".into(), when(&end, all_day, zone));
    } else if creating {
        return Err(Error::bad_field(
            "start",
            "the event's start (YYYY-MM-DD for all-day)",
        ));
    } else if let Some(end) = text(input, "end") {
        event.insert("end".into(), when(end, all_day, zone));
    }
    if let Some(attendees) = input.get("attendees").and_then(Value::as_array) {
        let list: Vec<Value> = attendees
            .iter()
            .map(|a| match a {
                Value::String(email) => json!({"email": email}),
                other => other.clone(),
            })
            .collect();
        event.insert("attendees".into(), json!(list));
    }
    if let Some(reminders) = input.get("reminders").and_then(Value::as_array) {
        let overrides: Vec<Value> = reminders
            .iter()
            .map(|r| {
                json!({"method": r.get("method").and_then(Value::as_str).unwrap_or("popup"),
                            "minutes": r.get("minutes").and_then(Value::as_i64).unwrap_or(10)})
            })
            .collect();
        if overrides.len() > 5 {
            return Err(Error::InvalidInput(
                "Google allows at most 5 reminder overrides".into(),
            ));
        }
        event.insert(
            "reminders".into(),
            json!({"useDefault": false, "overrides": overrides}),
        );
    } else if input.get("use_default_reminders").and_then(Value::as_bool) == Some(true) {
        event.insert("reminders".into(), json!({"useDefault": true}));
    }
    if let Some(key) = text(input, "key") {
        event.insert(
            "extendedProperties".into(),
            json!({"private": {"heph_key": key}}),
        );
    }
    Ok(Value::Object(event))
}

fn with_send_updates(request: heph_sdk::http::Request, input: &Value) -> heph_sdk::http::Request {
    match text(input, "send_updates") {
        Some(v) => request.query("sendUpdates", v),
        None => request,
    }
}

/// Creates an event; with `key` (or `event_id`) an existing event of that id is updated instead.
pub fn create(input: &Value) -> Result<Value, Error> {
    let mut body = event_body(input, true)?;
    let keyed = text(input, "event_id").is_some() || text(input, "key").is_some();
    if keyed {
        body["id"] = json!(event_id(input)?);
    }
    let path = format!("{}/events", api::calendar(calendar_id(input)));
    let request = with_send_updates(api::request("POST", &path), input).json(&body);
    let response = request.send()?;
    if keyed && response.status == 409 {
        // Already there (a re-run, or the due date moved): bring it up to date. A cancelled
        // event keeps its id, so this also restores a dropped-then-readded one.
        body["status"] = json!("confirmed");
        return patch(input, body);
    }
    api::check(response)?.json()
}

fn patch(input: &Value, body: Value) -> Result<Value, Error> {
    let path = format!(
        "{}/events/{}",
        api::calendar(calendar_id(input)),
        percent_encode(&event_id(input)?)
    );
    api::send(with_send_updates(api::request("PATCH", &path), input).json(&body))
}

/// Changes the fields given.
pub fn update(input: &Value) -> Result<Value, Error> {
    let body = event_body(input, false)?;
    if body.as_object().is_none_or(Map::is_empty) {
        return Err(Error::InvalidInput("nothing to change".into()));
    }
    patch(input, body)
}

/// Deletes an event; one already gone is not an error (`deleted: false`).
pub fn delete(input: &Value) -> Result<Value, Error> {
    let id = event_id(input)?;
    let path = format!(
        "{}/events/{}",
        api::calendar(calendar_id(input)),
        percent_encode(&id)
    );
    let response = with_send_updates(api::request("DELETE", &path), input).send()?;
    if matches!(response.status, 404 | 410) {
        return Ok(
            json!({"event_id": id, "deleted": false, "reason": "already deleted or never created"}),
        );
    }
    api::check(response)?;
    Ok(json!({"event_id": id, "deleted": true}))
}

/// Creates an event from a sentence ("Study session tomorrow 6pm").
pub fn quick_add(input: &Value) -> Result<Value, Error> {
    let sentence = text(input, "text").ok_or_else(|| Error::bad_field("text", "a sentence"))?;
    let path = format!("{}/events/quickAdd", api::calendar(calendar_id(input)));
    api::send(with_send_updates(
        api::request("POST", &path).query("text", sentence),
        input,
    ))
}

/// The user's calendars, every page.
pub fn list_calendars(input: &Value) -> Result<Value, Error> {
    let mut calendars = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let mut request = api::request("GET", "/users/me/calendarList").query("maxResults", 250);
        if let Some(role) = text(input, "min_access_role") {
            request = request.query("minAccessRole", role);
        }
        if let Some(token) = &page {
            request = request.query("pageToken", token);
        }
        let answer = api::send(request)?;
        calendars.extend(
            answer
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        page = answer
            .get("nextPageToken")
            .and_then(Value::as_str)
            .map(str::to_string);
        if page.is_none() {
            return Ok(json!({"count": calendars.len(), "calendars": calendars}));
        }
    }
}

/// Busy intervals of calendars between two instants.
pub fn free_busy(input: &Value) -> Result<Value, Error> {
    let min = text(input, "time_min")
        .ok_or_else(|| Error::bad_field("time_min", "an RFC 3339 date-time"))?;
    let max = text(input, "time_max")
        .ok_or_else(|| Error::bad_field("time_max", "an RFC 3339 date-time"))?;
    let ids: Vec<Value> = match input.get("calendar_ids").and_then(Value::as_array) {
        Some(ids) if !ids.is_empty() => ids.iter().map(|id| json!({"id": id})).collect(),
        _ => vec![json!({"id": "primary"})],
    };
    let mut body = json!({"timeMin": min, "timeMax": max, "items": ids});
    if let Some(zone) = text(input, "time_zone") {
        body["timeZone"] = json!(zone);
    }
    api::send(api::request("POST", "/freeBusy").json(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_default_to_an_hour_or_the_next_day() {
        assert_eq!(default_end("2026-12-31", false, 60).unwrap(), "2027-01-01");
        assert_eq!(
            default_end("2026-03-29T01:30:00", false, 90).unwrap(),
            "2026-03-29T03:00:00"
        );
        assert_eq!(
            default_end("2026-03-29T23:30:00+02:00", false, 60).unwrap(),
            "2026-03-30T00:30:00+02:00"
        );
        assert_eq!(
            default_end("2026-01-01T10:00:00.000Z", false, 30).unwrap(),
            "2026-01-01T10:30:00Z"
        );
    }

    #[test]
    fn keys_become_valid_event_ids() {
        let id = id_for_key("module-42").unwrap();
        assert!(
            id.len() >= 5
                && id
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)),
            "{id}"
        );
    }

    #[test]
    fn all_day_events_use_dates_and_reminders_override() {
        let body = event_body(
            &json!({"summary": "Exam", "start": "2026-12-01", "all_day": true,
                    "reminders": [{"method": "email", "minutes": 1440}, {"minutes": 30}]}),
            true,
        )
        .unwrap();
        assert_eq!(body["start"], json!({"date": "2026-12-01"}));
        assert_eq!(body["end"], json!({"date": "2026-12-02"}));
        assert_eq!(body["reminders"]["useDefault"], false);
        assert_eq!(
            body["reminders"]["overrides"][1],
            json!({"method": "popup", "minutes": 30})
        );
    }
}
