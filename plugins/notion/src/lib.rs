//! The Notion connector: pages, data sources and content through the Notion API
//! (`Notion-Version` 2025-09-03 and later, with data sources), authenticated by the host with
//! the OAuth token of a public integration or an internal integration secret.

mod actions;
mod api;
mod markdown;
mod properties;
mod schema;
mod triggers;

use heph_sdk::{export_connector, json, Connector, Context, Error, Item, Page, Value};

struct Notion;

impl Connector for Notion {
    fn describe() -> Value {
        schema::describe()
    }

    fn test_connection(ctx: &Context) -> Result<Value, Error> {
        let me = api::send(api::request(ctx, "GET", "/users/me"))?;
        Ok(json!({
            "id": me.get("id"),
            "name": me.get("name"),
            "type": me.get("type"),
            "workspace": me.pointer("/bot/workspace_name"),
        }))
    }

    fn run_action(ctx: &Context, action: &str, input: Value) -> Result<Value, Error> {
        actions::run(ctx, action, input)
    }

    fn poll(
        ctx: &Context,
        trigger: &str,
        config: Value,
        cursor: Option<String>,
    ) -> Result<Page, Error> {
        triggers::poll(ctx, trigger, config, cursor)
    }

    fn webhook(
        ctx: &Context,
        trigger: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<Item>, Error> {
        match trigger {
            "events" => triggers::webhook(ctx, headers, body),
            other => Err(Error::unknown_trigger(other)),
        }
    }
}

export_connector!(Notion);
