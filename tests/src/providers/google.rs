//! A fake of the Google Calendar API v3 (`www.googleapis.com/calendar/v3`): the calendar list,
//! events (insert with client ids, patch, delete, quick add), incremental sync with sync
//! tokens, free/busy, and watch channels. It refuses what Google refuses: a missing or unknown
//! bearer token, malformed JSON, an event id outside base32hex, a duplicate id (409), start and
//! end of different kinds or in the wrong order, a date-time without offset or zone, default
//! reminders with overrides, more than 5 overrides, `maxResults` over 2,500, a sync token
//! combined with a filter, an expired sync token (410 `fullSyncRequired`), a non-https channel
//! address. Errors have Google's shape: `{"error": {"code", "message", "errors": [{"domain",
//! "reason", "message"}]}}`; quota errors are 403 `rateLimitExceeded`.

use serde_json::{json, Map, Value};

use super::oauth::has_scope;
use super::{bearer, empty, json, split, Answer, Received, World};

/// The primary calendar's id (the account's address).
pub const PRIMARY: &str = "learner@example.test";

/// Google Calendar's state.
#[derive(Default)]
pub struct Calendar {
    /// Events of the primary calendar, each with its change number in `_seq`.
    pub events: Vec<Value>,
    /// Open watch channels (`id`, `resourceId`, `token`, `address`, `expiration`).
    pub channels: Vec<Value>,
    /// The last change number.
    seq: u64,
    /// Sync tokens below this change number are refused with 410 (Google expires them).
    pub oldest_sync: u64,
    next_quick: u64,
}

impl Calendar {
    /// An event by id (cancelled ones too).
    pub fn event(&self, id: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["id"] == id)
    }

    /// The events that are not cancelled.
    pub fn live(&self) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e["status"] != "cancelled")
            .cloned()
            .collect()
    }

    /// Makes every sync token given so far stale, as Google does after a while.
    pub fn expire_sync_tokens(&mut self) {
        self.oldest_sync = self.seq + 1;
    }

    /// Adds an event as the user would in Google's UI.
    pub fn insert(&mut self, id: &str, summary: &str, start: &str) {
        let mut event = json!({"id": id, "summary": summary, "start": {"date": start}, "end": {"date": next_day(start)}});
        self.stamp(&mut event);
        self.events.push(event);
    }

    fn stamp(&mut self, event: &mut Value) {
        self.seq += 1;
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        event["kind"] = json!("calendar#event");
        event["etag"] = json!(format!("\"{}\"", 3_000_000 + self.seq));
        event["updated"] = json!(now);
        if event.get("created").is_none() {
            event["created"] = json!(now);
            event["sequence"] = json!(0);
            event["iCalUID"] = json!(format!("{}@google.com", event["id"].as_str().unwrap_or("")));
            event["htmlLink"] = json!(format!(
                "https://www.google.com/calendar/event?eid={}",
                event["id"].as_str().unwrap_or("")
            ));
            event["organizer"] = json!({"email": PRIMARY, "self": true});
        } else {
            event["sequence"] = json!(event["sequence"].as_i64().unwrap_or(0) + 1);
        }
        if event.get("status").is_none() {
            event["status"] = json!("confirmed");
        }
        if event.get("reminders").is_none() {
            event["reminders"] = json!({"useDefault": true});
        }
        event["_seq"] = json!(self.seq);
    }
}

fn next_day(date: &str) -> String {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map(|d| {
            (d + chrono::Duration::days(1))
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_else(|_| date.to_string())
}

fn error(status: u16, reason: &str, message: &str) -> Answer {
    let domain = if reason.contains("RateLimit") || reason == "rateLimitExceeded" {
        "usageLimits"
    } else {
        "global"
    };
    json(
        status,
        &json!({"error": {"code": status, "message": message,
        "errors": [{"domain": domain, "reason": reason, "message": message}]}}),
    )
}

fn invalid(message: &str) -> Answer {
    error(400, "invalid", message)
}

fn public(event: &Value) -> Value {
    let mut event = event.clone();
    if let Some(map) = event.as_object_mut() {
        map.remove("_seq");
    }
    event
}

/// Checks an event id: base32hex characters (0-9, a-v), 5 to 1024 of them.
fn valid_id(id: &str) -> bool {
    (5..=1024).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c))
}

/// A start or end: `(is_date, comparable instant)`, or Google's error.
fn instant(value: &Value, which: &str) -> Result<(bool, String), Answer> {
    if let Some(date) = value.get("date").and_then(Value::as_str) {
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            return Err(invalid(&format!("Invalid {which} time.")));
        }
        return Ok((true, format!("{date}T00:00:00Z")));
    }
    let Some(text) = value.get("dateTime").and_then(Value::as_str) else {
        return Err(error(400, "required", &format!("Missing {which} time.")));
    };
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok((
            false,
            at.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        ));
    }
    if chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").is_err() {
        return Err(invalid(&format!("Invalid {which} time.")));
    }
    if value
        .get("timeZone")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(error(
            400,
            "required",
            &format!("Missing time zone definition for {which} time."),
        ));
    }
    Ok((false, format!("{text}Z")))
}

/// Checks an event as it would be stored.
fn check_event(event: &Value) -> Result<(), Answer> {
    let (start_date, start) = instant(&event["start"], "start")?;
    let (end_date, end) = instant(&event["end"], "end")?;
    if start_date != end_date {
        return Err(invalid(
            "Start and end times must either both be date or both be dateTime.",
        ));
    }
    if end < start || (start_date && end == start) {
        return Err(error(
            400,
            "timeRangeEmpty",
            "The specified time range is empty.",
        ));
    }
    if let Some(reminders) = event.get("reminders") {
        let overrides = reminders
            .get("overrides")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        if reminders["useDefault"] == true && overrides > 0 {
            return Err(error(
                400,
                "cannotUseDefaultRemindersAndSpecifyOverride",
                "Cannot specify both default reminders and overrides at the same time.",
            ));
        }
        if overrides > 5 {
            return Err(invalid("The maximum number of override reminders is 5."));
        }
    }
    Ok(())
}

fn merge(target: &mut Value, patch: &Value) {
    if let (Some(target), Some(patch)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in patch {
            target.insert(k.clone(), v.clone());
        }
    }
}

fn not_found() -> Answer {
    error(404, "notFound", "Not Found")
}

fn query<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Answers one request to www.googleapis.com.
pub fn answer(world: &mut World, request: &Received) -> Answer {
    if !bearer(request).is_some_and(|t| world.tokens.contains(t)) {
        return json(
            401,
            &json!({"error": {"code": 401,
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError", "location": "Authorization", "locationType": "header"}],
            "status": "UNAUTHENTICATED"}}),
        );
    }
    if world.rate_limit_next > 0 {
        world.rate_limit_next -= 1;
        return error(403, "rateLimitExceeded", "Rate Limit Exceeded");
    }
    let body: Value = if request.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(v) => v,
            Err(e) => return error(400, "parseError", &format!("Parse Error: {e}")),
        }
    };
    let (path, pairs) = split(request);
    if let Some(v) = query(&pairs, "sendUpdates") {
        if !["all", "externalOnly", "none"].contains(&v) {
            return invalid(&format!("Invalid value for sendUpdates: {v}"));
        }
    }
    let Some(rest) = path.strip_prefix("/calendar/v3/") else {
        return not_found();
    };
    let parts: Vec<&str> = rest.split('/').collect();
    // Events need calendar.events (or calendar); the rest calendar.readonly (or calendar).
    let token = bearer(request).unwrap_or("");
    let scope = if parts.get(2) == Some(&"events") {
        "calendar.events"
    } else {
        "calendar.readonly"
    };
    let granted = |s: &str| {
        has_scope(
            world,
            token,
            &format!("https://www.googleapis.com/auth/{s}"),
        )
    };
    if !granted(scope) && !granted("calendar") {
        return json(
            403,
            &json!({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
            "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
            "status": "PERMISSION_DENIED"}}),
        );
    }
    let calendar = &mut world.google;
    if let Some(id) = parts.get(1).filter(|_| parts[0] == "calendars") {
        if *id != "primary" && *id != PRIMARY {
            return not_found();
        }
    }
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["users", "me", "calendarList"]) => {
            let max: usize = query(&pairs, "maxResults")
                .and_then(|m| m.parse().ok())
                .unwrap_or(100);
            if max == 0 {
                return invalid("Invalid value for: maxResults");
            }
            let all = [
                json!({"kind": "calendar#calendarListEntry", "id": PRIMARY, "summary": PRIMARY, "timeZone": "Europe/Paris", "accessRole": "owner", "primary": true}),
                json!({"kind": "calendar#calendarListEntry", "id": "en.usa#holiday@group.v.calendar.google.com", "summary": "Holidays", "timeZone": "Europe/Paris", "accessRole": "reader"}),
            ];
            let start: usize = query(&pairs, "pageToken")
                .and_then(|t| t.strip_prefix("list-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let end = (start + max.min(250)).min(all.len());
            let mut answer = json!({"kind": "calendar#calendarList", "etag": "\"p1\"", "items": all[start.min(end)..end]});
            if end < all.len() {
                answer["nextPageToken"] = json!(format!("list-{end}"));
            } else {
                answer["nextSyncToken"] = json!("list-sync");
            }
            json(200, &answer)
        }
        ("GET", ["calendars", _]) => json(
            200,
            &json!({"kind": "calendar#calendar", "id": PRIMARY, "summary": PRIMARY, "timeZone": "Europe/Paris"}),
        ),
        ("GET", ["calendars", _, "events"]) => list(calendar, &pairs),
        ("POST", ["calendars", _, "events"]) => {
            let Some(mut event) = body.as_object().cloned().map(Value::Object) else {
                return error(400, "required", "Missing end time.");
            };
            match event.get("id").and_then(Value::as_str) {
                Some(id) if !valid_id(id) => return invalid("Invalid resource id value."),
                Some(id) if calendar.event(id).is_some() => {
                    return error(409, "duplicate", "The requested identifier already exists.")
                }
                Some(_) => {}
                None => event["id"] = json!(format!("evt{:08}", calendar.seq + 1)),
            }
            if let Err(e) = check_event(&event) {
                return e;
            }
            calendar.stamp(&mut event);
            calendar.events.push(event.clone());
            json(200, &public(&event))
        }
        ("POST", ["calendars", _, "events", "quickAdd"]) => {
            let Some(text) = query(&pairs, "text").filter(|t| !t.is_empty()) else {
                return error(400, "required", "Required parameter: text");
            };
            calendar.next_quick += 1;
            let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
                .format("%Y-%m-%d")
                .to_string();
            let mut event = json!({"id": format!("quick{:05}", calendar.next_quick), "summary": text,
                "start": {"dateTime": format!("{tomorrow}T18:00:00+01:00")}, "end": {"dateTime": format!("{tomorrow}T19:00:00+01:00")}});
            calendar.stamp(&mut event);
            calendar.events.push(event.clone());
            json(200, &public(&event))
        }
        ("POST", ["calendars", _, "events", "watch"]) => watch(calendar, &body),
        ("PATCH", ["calendars", _, "events", id]) => {
            let Some(index) = calendar.events.iter().position(|e| e["id"] == *id) else {
                return not_found();
            };
            let mut event = calendar.events[index].clone();
            merge(&mut event, &body);
            if let Err(e) = check_event(&event) {
                return e;
            }
            calendar.stamp(&mut event);
            calendar.events[index] = event.clone();
            json(200, &public(&event))
        }
        ("DELETE", ["calendars", _, "events", id]) => {
            let Some(index) = calendar.events.iter().position(|e| e["id"] == *id) else {
                return not_found();
            };
            if calendar.events[index]["status"] == "cancelled" {
                return error(410, "deleted", "Resource has been deleted");
            }
            let mut event = calendar.events[index].clone();
            event["status"] = json!("cancelled");
            calendar.stamp(&mut event);
            calendar.events[index] = event;
            empty(204)
        }
        ("POST", ["freeBusy"]) => free_busy(calendar, &body),
        ("POST", ["channels", "stop"]) => {
            let id = body.get("id").and_then(Value::as_str).unwrap_or("");
            let resource = body.get("resourceId").and_then(Value::as_str).unwrap_or("");
            let before = calendar.channels.len();
            calendar
                .channels
                .retain(|c| !(c["id"] == id && c["resourceId"] == resource));
            if calendar.channels.len() == before {
                return error(
                    404,
                    "notFound",
                    &format!("Channel '{id}' not found for project '1'"),
                );
            }
            empty(204)
        }
        _ => not_found(),
    }
}

/// `events.list`: a full sync or, with `syncToken`, the changes since; paginated.
fn list(calendar: &Calendar, pairs: &[(String, String)]) -> Answer {
    let max: usize = match query(pairs, "maxResults").map(str::parse::<usize>) {
        None => 250,
        Some(Ok(n)) if (1..=2500).contains(&n) => n,
        Some(_) => return invalid("Invalid value for: maxResults must be between 1 and 2500"),
    };
    let sync = query(pairs, "syncToken");
    if sync.is_some() {
        for filter in [
            "orderBy",
            "timeMin",
            "timeMax",
            "q",
            "updatedMin",
            "iCalUID",
            "privateExtendedProperty",
        ] {
            if query(pairs, filter).is_some() {
                return invalid(&format!("Sync token cannot be used with {filter}."));
            }
        }
    }
    // A page token carries the pass: `from.upto.offset` (changes after `from` up to `upto`).
    let (from, upto, offset) = match (query(pairs, "pageToken"), sync) {
        (Some(token), _) => {
            let parts: Vec<u64> = token.split('.').filter_map(|n| n.parse().ok()).collect();
            let [from, upto, offset] = parts[..] else {
                return invalid("Invalid page token.");
            };
            (from, upto, offset as usize)
        }
        (None, Some(token)) => {
            let Some(from) = token
                .strip_prefix("sync-")
                .and_then(|n| n.parse::<u64>().ok())
            else {
                return invalid("Invalid sync token value.");
            };
            if from < calendar.oldest_sync {
                return error(
                    410,
                    "fullSyncRequired",
                    "Sync token is no longer valid, a full sync is required.",
                );
            }
            (from, calendar.seq, 0)
        }
        (None, None) => (0, calendar.seq, 0),
    };
    let show_deleted = from > 0 || query(pairs, "showDeleted") == Some("true");
    let mut changed: Vec<&Value> = calendar
        .events
        .iter()
        .filter(|e| {
            let s = e["_seq"].as_u64().unwrap_or(0);
            s > from && s <= upto
        })
        .filter(|e| show_deleted || e["status"] != "cancelled")
        .collect();
    changed.sort_by_key(|e| e["_seq"].as_u64());
    let end = (offset + max).min(changed.len());
    let items: Vec<Value> = changed[offset.min(end)..end]
        .iter()
        .map(|e| public(e))
        .collect();
    let mut answer = json!({"kind": "calendar#events", "summary": PRIMARY, "timeZone": "Europe/Paris",
        "updated": chrono::Utc::now().to_rfc3339(), "accessRole": "owner", "defaultReminders": [{"method": "popup", "minutes": 10}], "items": items});
    if end < changed.len() {
        answer["nextPageToken"] = json!(format!("{from}.{upto}.{end}"));
    } else {
        answer["nextSyncToken"] = json!(format!("sync-{upto}"));
    }
    json(200, &answer)
}

fn free_busy(calendar: &Calendar, body: &Value) -> Answer {
    let (Some(min), Some(max)) = (
        body.get("timeMin").and_then(Value::as_str),
        body.get("timeMax").and_then(Value::as_str),
    ) else {
        return error(400, "required", "Missing timeMin or timeMax.");
    };
    let parse =
        |t: &str| chrono::DateTime::parse_from_rfc3339(t).map(|d| d.with_timezone(&chrono::Utc));
    let (Ok(min_at), Ok(max_at)) = (parse(min), parse(max)) else {
        return invalid("Invalid timeMin or timeMax.");
    };
    let mut calendars = Map::new();
    for item in body
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = item["id"].as_str().unwrap_or("");
        if id != "primary" && id != PRIMARY {
            calendars.insert(
                id.into(),
                json!({"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}),
            );
            continue;
        }
        let busy: Vec<Value> = calendar.live().iter()
            .filter(|e| e["transparency"] != "transparent")
            .filter_map(|e| Some((parse(e.pointer("/start/dateTime")?.as_str()?).ok()?, parse(e.pointer("/end/dateTime")?.as_str()?).ok()?)))
            .filter(|(s, e)| *s < max_at && *e > min_at)
            .map(|(s, e)| json!({"start": s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "end": e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}))
            .collect();
        calendars.insert(id.into(), json!({"busy": busy}));
    }
    json(
        200,
        &json!({"kind": "calendar#freeBusy", "timeMin": min, "timeMax": max, "calendars": calendars}),
    )
}

fn watch(calendar: &mut Calendar, body: &Value) -> Answer {
    let id = body.get("id").and_then(Value::as_str).unwrap_or("");
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_/+=".contains(&c))
    {
        return invalid("Invalid channel id.");
    }
    if body.get("type").and_then(Value::as_str) != Some("web_hook") {
        return invalid("Invalid channel type.");
    }
    let address = body.get("address").and_then(Value::as_str).unwrap_or("");
    if !address.starts_with("https://") {
        return error(
            400,
            "push.webhookUrlNotHttps",
            &format!("WebHook callback must be HTTPS: {address}"),
        );
    }
    if calendar.channels.iter().any(|c| c["id"] == id) {
        return error(400, "channelIdNotUnique", "Channel id not unique");
    }
    let ttl: i64 = body
        .pointer("/params/ttl")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())
        .unwrap_or(604_800);
    let expiration = chrono::Utc::now().timestamp_millis() + ttl.min(2_592_000) * 1000;
    let channel = json!({"kind": "api#channel", "id": id, "resourceId": format!("res-{PRIMARY}"),
        "resourceUri": format!("https://www.googleapis.com/calendar/v3/calendars/{PRIMARY}/events?alt=json"),
        "token": body.get("token"), "address": address, "expiration": expiration.to_string()});
    calendar.channels.push(channel.clone());
    let mut answer = channel;
    if let Some(map) = answer.as_object_mut() {
        map.remove("address");
    }
    json(200, &answer)
}
