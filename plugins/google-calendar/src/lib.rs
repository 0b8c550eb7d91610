//! The Google Calendar connector: events through the Calendar API v3, with an OAuth 2.0 token
//! (offline access, PKCE) that the host keeps and refreshes.

mod api;
mod events;
mod push;
mod schema;
mod sync;

use heph_sdk::{export_connector, json, Connector, Context, Error, Item, Page, Value};

struct GoogleCalendar;

impl Connector for GoogleCalendar {
    fn describe() -> Value {
        schema::describe()
    }

    fn test_connection(_ctx: &Context) -> Result<Value, Error> {
        let list = api::send(api::request("GET", "/users/me/calendarList").query("maxResults", 1))?;
        let primary = api::send(api::request("GET", "/calendars/primary"))?;
        Ok(json!({
            "id": primary.get("id"),
            "name": primary.get("summary"),
            "time_zone": primary.get("timeZone"),
            "calendars_visible": list.get("items").and_then(Value::as_array).map(|i| !i.is_empty()),
        }))
    }

    fn run_action(ctx: &Context, action: &str, input: Value) -> Result<Value, Error> {
        match action {
            "create_event" => events::create(&input),
            "update_event" => events::update(&input),
            "delete_event" => events::delete(&input),
            "quick_add" => events::quick_add(&input),
            "list_calendars" => events::list_calendars(&input),
            "free_busy" => events::free_busy(&input),
            "watch_events" => push::watch(ctx, &input),
            "renew_watch" => push::renew(ctx, &input),
            "stop_channel" => push::stop(&input),
            other => Err(Error::unknown_action(other)),
        }
    }

    fn poll(
        _ctx: &Context,
        trigger: &str,
        config: Value,
        cursor: Option<String>,
    ) -> Result<Page, Error> {
        match trigger {
            "event_changed" => sync::poll(config, cursor),
            other => Err(Error::unknown_trigger(other)),
        }
    }

    fn webhook(
        _ctx: &Context,
        trigger: &str,
        headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Vec<Item>, Error> {
        match trigger {
            "event_notification" => push::notification(headers),
            other => Err(Error::unknown_trigger(other)),
        }
    }
}

export_connector!(GoogleCalendar);
