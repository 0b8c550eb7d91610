//! The {{title}} connector: a poll trigger for new items and an action that creates one.
//!
//! The API it talks to: `GET /me` (who the token belongs to), `GET /items?after=ID` (items
//! newer than ID, oldest first, `{"items": [...], "has_more": bool}`), `POST /items` (creates
//! one, answers it). Change the paths and shapes to your API's.

use heph_sdk::{export_connector, http, json, Connector, Context, Error, Item, Page, Value};

struct {{type}};

fn base(ctx: &Context) -> Result<String, Error> {
    Ok(ctx.field("base_url")?.trim_end_matches('/').to_string())
}

/// The input of `create_item` as the API wants it: a trimmed, non-empty name.
fn item_body(input: &Value) -> Result<Value, Error> {
    let name = input["name"].as_str().unwrap_or_default().trim();
    if name.is_empty() {
        return Err(Error::InvalidInput("`name` must not be empty".into()));
    }
    Ok(json!({ "name": name, "notes": input["notes"].as_str().unwrap_or_default() }))
}

impl Connector for {{type}} {
    fn describe() -> Value {
        json!({
            "actions": [{
                "name": "create_item", "title": "Create an item",
                "description": "Creates an item and answers it with its id.",
                "input": {"type": "object", "required": ["name"], "additionalProperties": false,
                          "properties": {"name": {"type": "string", "title": "Name", "minLength": 1},
                                         "notes": {"type": "string", "title": "Notes"}}},
                "output": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}
            }],
            "triggers": [{
                "name": "new_item", "kind": "poll", "title": "New item",
                "description": "Fires once for each new item, oldest first.",
                "config": {"type": "object", "properties": {}},
                "output": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}
            }]
        })
    }

    fn test_connection(ctx: &Context) -> Result<Value, Error> {
        http::get(&format!("{}/me", base(ctx)?)).send()?.error_for_status()?.json()
    }

    fn run_action(ctx: &Context, action: &str, input: Value) -> Result<Value, Error> {
        match action {
            "create_item" => http::post(&format!("{}/items", base(ctx)?))
                .json(&item_body(&input)?)
                .send()?
                .error_for_status()?
                .json(),
            other => Err(Error::unknown_action(other)),
        }
    }

    fn poll(ctx: &Context, trigger: &str, _config: Value, cursor: Option<String>) -> Result<Page, Error> {
        if trigger != "new_item" {
            return Err(Error::InvalidInput(format!("no trigger `{trigger}`")));
        }
        let after = cursor.unwrap_or_default();
        let answer: Value = http::get(&format!("{}/items", base(ctx)?))
            .query("after", &after)
            .send()?
            .error_for_status()?
            .json()?;
        let items: Vec<Item> = answer["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|item| Item::new(item["id"].as_str().unwrap_or_default().to_string(), item))
            .collect();
        let last = items.last().map(|i| i.id.clone());
        Ok(Page {
            has_more: answer["has_more"].as_bool().unwrap_or(false),
            cursor: last.or(Some(after)).filter(|c| !c.is_empty()),
            items,
        })
    }
}

export_connector!({{type}});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_needs_a_name() {
        assert_eq!(item_body(&json!({"name": "  Milk "})).unwrap()["name"], "Milk");
        assert!(item_body(&json!({"name": "  "})).is_err());
    }
}
