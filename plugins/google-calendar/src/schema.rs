//! `describe()`: the actions and triggers with their JSON Schemas.

use heph_sdk::{json, Value};

use crate::sync;

fn event_output() -> Value {
    json!({
        "type": "object",
        "description": "The event as the Calendar API returns it.",
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["confirmed", "tentative", "cancelled"]},
            "htmlLink": {"type": "string", "format": "uri"},
            "summary": {"type": "string"},
            "description": {"type": "string"},
            "location": {"type": "string"},
            "start": {"type": "object", "properties": {"date": {"type": "string"}, "dateTime": {"type": "string"}, "timeZone": {"type": "string"}}},
            "end": {"type": "object", "properties": {"date": {"type": "string"}, "dateTime": {"type": "string"}, "timeZone": {"type": "string"}}},
            "attendees": {"type": "array", "items": {"type": "object"}},
            "reminders": {"type": "object"},
            "updated": {"type": "string", "format": "date-time"}
        }
    })
}

fn calendar_id() -> Value {
    json!({"type": "string", "default": "primary", "description": "`primary`, or a calendar id from List calendars."})
}

fn event_fields(required_start: bool) -> Value {
    let mut fields = json!({
        "calendar_id": calendar_id(),
        "key": {"type": "string", "minLength": 1, "maxLength": 500,
                "description": "A stable key of yours (a module's id): the event's id comes from it, so a re-run updates instead of duplicating."},
        "event_id": {"type": "string", "description": "Or: the event's own id."},
        "summary": {"type": "string", "description": "The title."},
        "description": {"type": "string"},
        "location": {"type": "string"},
        "start": {"type": "string", "description": "YYYY-MM-DD (all-day) or YYYY-MM-DDTHH:MM:SS, with an offset or with `time_zone`."},
        "end": {"type": "string", "description": "Like `start`; default: `duration_minutes` later, or the next day for all-day events."},
        "duration_minutes": {"type": "integer", "minimum": 1, "default": 60},
        "all_day": {"type": "boolean", "default": false},
        "time_zone": {"type": "string", "description": "An IANA zone such as Europe/Paris."},
        "attendees": {"type": "array", "items": {"anyOf": [
            {"type": "string", "format": "email"},
            {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}, "optional": {"type": "boolean"}, "displayName": {"type": "string"}}}
        ]}},
        "reminders": {"type": "array", "maxItems": 5, "description": "Reminder overrides (instead of the calendar's defaults).",
                      "items": {"type": "object", "required": ["minutes"], "properties": {
                          "method": {"type": "string", "enum": ["popup", "email"], "default": "popup"},
                          "minutes": {"type": "integer", "minimum": 0, "maximum": 40320}}}},
        "use_default_reminders": {"type": "boolean"},
        "color_id": {"type": "string"},
        "visibility": {"type": "string", "enum": ["default", "public", "private", "confidential"]},
        "transparency": {"type": "string", "enum": ["opaque", "transparent"]},
        "send_updates": {"type": "string", "enum": ["all", "externalOnly", "none"], "description": "Who gets an email about it."}
    });
    let required: Vec<&str> = if required_start {
        vec!["start"]
    } else {
        vec![]
    };
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": fields.take()})
}

fn channel() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"}, "resource_id": {"type": "string"}, "resource_uri": {"type": "string"},
        "expiration": {"type": "integer", "description": "Unix milliseconds."},
        "calendar_id": {"type": "string"}, "address": {"type": "string"}}})
}

fn keyed() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {
        "calendar_id": calendar_id(),
        "key": {"type": "string"}, "event_id": {"type": "string"},
        "send_updates": {"type": "string", "enum": ["all", "externalOnly", "none"]}}})
}

/// The connector's description.
pub fn describe() -> Value {
    json!({
        "actions": [
            {"name": "create_event", "title": "Create an event",
             "description": "Creates an event (with time zone, all-day, attendees, reminders). With a `key`, an event that already exists is updated instead.",
             "input": event_fields(true), "output": event_output()},
            {"name": "update_event", "title": "Update an event",
             "description": "Changes only the fields given (a patch).",
             "input": event_fields(false), "output": event_output()},
            {"name": "delete_event", "title": "Delete an event",
             "description": "Cancels an event; one already gone is not an error.",
             "input": keyed(),
             "output": {"type": "object", "properties": {"event_id": {"type": "string"}, "deleted": {"type": "boolean"}}}},
            {"name": "quick_add", "title": "Quick add",
             "description": "Creates an event from a sentence, such as \"Study group Friday 6pm\".",
             "input": {"type": "object", "additionalProperties": false, "required": ["text"], "properties": {
                 "calendar_id": calendar_id(), "text": {"type": "string", "minLength": 1},
                 "send_updates": {"type": "string", "enum": ["all", "externalOnly", "none"]}}},
             "output": event_output()},
            {"name": "list_calendars", "title": "List calendars",
             "description": "The calendars in the user's list.",
             "input": {"type": "object", "additionalProperties": false, "properties": {
                 "min_access_role": {"type": "string", "enum": ["freeBusyReader", "reader", "writer", "owner"]}}},
             "output": {"type": "object", "properties": {"count": {"type": "integer"}, "calendars": {"type": "array", "items": {"type": "object"}}}}},
            {"name": "free_busy", "title": "Find free/busy times",
             "description": "The busy intervals of calendars between two instants.",
             "input": {"type": "object", "additionalProperties": false, "required": ["time_min", "time_max"], "properties": {
                 "time_min": {"type": "string", "format": "date-time"}, "time_max": {"type": "string", "format": "date-time"},
                 "calendar_ids": {"type": "array", "items": {"type": "string"}, "default": ["primary"]},
                 "time_zone": {"type": "string"}}},
             "output": {"type": "object", "properties": {"calendars": {"type": "object"}}}},
            {"name": "watch_events", "title": "Watch a calendar (push)",
             "description": "Opens a push channel: Google notifies the scenario webhook at `address` when the calendar's events change. Needs the connection's channel secret.",
             "input": {"type": "object", "additionalProperties": false, "required": ["address"], "properties": {
                 "calendar_id": calendar_id(), "address": {"type": "string", "format": "uri", "pattern": "^https://"},
                 "ttl_seconds": {"type": "integer", "minimum": 60}}},
             "output": channel()},
            {"name": "renew_watch", "title": "Renew a push channel",
             "description": "Opens a new channel when `channel` expires within `renew_within_hours`, and stops the old one; run it on a schedule.",
             "input": {"type": "object", "additionalProperties": false, "required": ["address"], "properties": {
                 "calendar_id": calendar_id(), "address": {"type": "string", "format": "uri"},
                 "channel": {"anyOf": [channel(), {"type": "null"}],
                             "description": "The channel the last run kept; none (null): open one."},
                 "renew_within_hours": {"type": "integer", "minimum": 0, "default": 24},
                 "ttl_seconds": {"type": "integer", "minimum": 60}}},
             "output": {"type": "object", "properties": {"renewed": {"type": "boolean"}, "channel": channel()}}},
            {"name": "stop_channel", "title": "Stop a push channel",
             "description": "Stops the notifications of a channel from Watch events (give its `id` and `resource_id`); one already gone is not an error.",
             "input": {"type": "object", "additionalProperties": false, "required": ["id", "resource_id"], "properties": {
                 "id": {"type": "string"}, "resource_id": {"type": "string"}}},
             "output": {"type": "object", "properties": {"stopped": {"type": "boolean"}}}}
        ],
        "triggers": [
            {"name": "event_changed", "title": "New, updated or cancelled event",
             "description": "Every change to the calendar's events, from an incremental sync; cancelled events come with status `cancelled`.",
             "kind": "poll", "config": sync::config_schema(), "output": event_output()},
            {"name": "event_notification", "title": "Push notification",
             "description": "A watch channel's notification that the calendar changed (no event data: follow it with a poll of `event_changed` or a list).",
             "kind": "webhook", "config": {"type": "object", "properties": {}},
             "output": {"type": "object", "properties": {
                 "channel_id": {"type": "string"}, "resource_id": {"type": "string"},
                 "resource_state": {"type": "string", "enum": ["exists", "not_exists"]},
                 "resource_uri": {"type": "string"}, "message_number": {"type": "integer"},
                 "channel_expiration": {"type": "string"}}}}
        ]
    })
}
