//! The actions: create, update, get and delete posts; get and list users.

use heph_sdk::{json, Context, Error, Value};

use crate::api;

/// Runs the action `name`.
pub fn run(ctx: &Context, name: &str, input: Value) -> Result<Value, Error> {
    match name {
        "create_post" => {
            let route = api::route(ctx, &collection(&input)?)?;
            let body = fields(&input);
            route.send("POST", |r| r.json(&body))?.json()
        }
        "update_post" => {
            let path = format!("{}/{}", collection(&input)?, id(&input)?);
            let body = fields(&input);
            api::route(ctx, &path)?
                .send("POST", |r| r.json(&body))?
                .json()
        }
        "get_post" => {
            let path = format!("{}/{}", collection(&input)?, id(&input)?);
            api::route(ctx, &path)?
                .send("GET", |r| r.query("context", "edit"))?
                .json()
        }
        "delete_post" => {
            let path = format!("{}/{}", collection(&input)?, id(&input)?);
            let force = input.get("force").and_then(Value::as_bool).unwrap_or(false);
            api::route(ctx, &path)?
                .send("DELETE", |r| r.query("force", force))?
                .json()
        }
        "get_user" => {
            let path = format!("/wp/v2/users/{}", id(&input)?);
            api::route(ctx, &path)?
                .send("GET", |r| r.query("context", "edit"))?
                .json()
        }
        "list_users" => list_users(ctx, &input),
        other => Err(Error::unknown_action(other)),
    }
}

fn list_users(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let page = input
        .get("page")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let per_page = input.get("per_page").and_then(Value::as_u64).unwrap_or(100);
    if !(1..=100).contains(&per_page) {
        return Err(Error::bad_field("per_page", "between 1 and 100"));
    }
    let search = input
        .get("search")
        .and_then(Value::as_str)
        .map(str::to_string);
    let roles = input
        .get("roles")
        .and_then(Value::as_str)
        .map(str::to_string);
    let answer = api::route(ctx, "/wp/v2/users")?.send("GET", |r| {
        let mut r = r
            .query("context", "edit")
            .query("per_page", per_page)
            .query("page", page)
            .query("orderby", "id")
            .query("order", "asc");
        if let Some(s) = &search {
            r = r.query("search", s);
        }
        if let Some(s) = &roles {
            r = r.query("roles", s);
        }
        r
    })?;
    let total: u64 = answer
        .header("x-wp-total")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(json!({
        "users": api::items(&answer)?,
        "page": page,
        "total": total,
        "total_pages": api::total_pages(&answer),
    }))
}

/// `/wp/v2/posts` or `/wp/v2/pages`, from the input's optional `post_type`.
fn collection(input: &Value) -> Result<String, Error> {
    match input
        .get("post_type")
        .and_then(Value::as_str)
        .unwrap_or("posts")
    {
        t @ ("posts" | "pages") => Ok(format!("/wp/v2/{t}")),
        _ => Err(Error::bad_field("post_type", "`posts` or `pages`")),
    }
}

fn id(input: &Value) -> Result<u64, Error> {
    match input.get("id") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
    .ok_or_else(|| Error::bad_field("id", "a positive integer"))
}

/// The input without the fields that address the request rather than the post.
fn fields(input: &Value) -> Value {
    let mut body = input.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("id");
        map.remove("post_type");
    }
    body
}
