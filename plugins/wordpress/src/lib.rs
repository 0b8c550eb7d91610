//! The WordPress connector: users and posts through the core REST API (`/wp-json/wp/v2` or
//! `?rest_route=`), authenticated by the host with HTTP Basic and an Application Password.

mod actions;
mod api;
mod posts;
mod schema;
mod users;
mod webhook;

use heph_sdk::{export_connector, json, Connector, Context, Error, Item, Page, Value};

struct WordPress;

impl Connector for WordPress {
    fn describe() -> Value {
        schema::describe()
    }

    fn test_connection(ctx: &Context) -> Result<Value, Error> {
        let me: Value = api::route(ctx, "/wp/v2/users/me")?
            .send("GET", |r| r.query("context", "edit"))?
            .json()?;
        Ok(json!({
            "id": me.get("id"),
            "name": me.get("name"),
            "username": me.get("username"),
            "email": me.get("email"),
            "roles": me.get("roles"),
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
        let config = if config.is_null() { json!({}) } else { config };
        match trigger {
            "posts" => posts::poll(ctx, config, cursor),
            "users" => users::poll(ctx, config, cursor),
            other => Err(Error::unknown_trigger(other)),
        }
    }

    fn webhook(
        ctx: &Context,
        trigger: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<Item>, Error> {
        webhook::receive(ctx, trigger, headers, body)
    }
}

export_connector!(WordPress);
