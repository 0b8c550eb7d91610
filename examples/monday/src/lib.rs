//! monday.com through its GraphQL API (`POST https://api.monday.com/v2`): new items of a board
//! as a poll trigger, and actions that create an item and change its column values.
//!
//! Every request is one GraphQL operation with variables; the host adds the API token as the
//! `Authorization` header. monday.com answers GraphQL errors with HTTP 200 and an `errors`
//! list (and `error_code` on older versions): they are mapped onto the SDK's errors here.

use heph_sdk::{export_connector, http, json, Connector, Context, Error, Item, Page, Value};

struct Monday;

const ENDPOINT: &str = "https://api.monday.com/v2";
/// The API version this connector was written against (monday.com versions are quarterly).
const API_VERSION: &str = "2025-10";
/// Items per page (monday.com allows up to 500).
const PAGE: u64 = 100;
/// Pages read in one poll at most; the rest waits for the next one.
const MAX_PAGES: usize = 10;

const ITEM_FIELDS: &str = "id name created_at group { id title } column_values { id text value }";

/// One GraphQL call; its `data`, or the error monday.com reported.
fn graphql(query: &str, variables: Value) -> Result<Value, Error> {
    let response = http::post(ENDPOINT)
        .header("API-Version", API_VERSION)
        .json(&json!({ "query": query, "variables": variables }))
        .send()?;
    let status = response.status;
    let body: Value = response.json().unwrap_or(Value::Null);
    if let Some(error) = body["errors"].as_array().and_then(|e| e.first()) {
        let message = error["message"].as_str().unwrap_or("monday.com error").to_string();
        let code = error["extensions"]["code"].as_str().unwrap_or_default();
        return Err(match (status, code) {
            (401, _) | (_, "UNAUTHENTICATED") | (_, "USER_UNAUTHORIZED") => Error::Unauthorized(message),
            (429, _) | (_, "COMPLEXITY_BUDGET_EXHAUSTED") | (_, "RATE_LIMIT_EXCEEDED") => {
                Error::RateLimited(error["extensions"]["retry_in_seconds"].as_u64().map(|s| s as u32))
            }
            (_, "ResourceNotFoundException") | (_, "InvalidBoardIdException") | (_, "InvalidItemIdException") => {
                Error::NotFound(message)
            }
            (s, _) if s >= 500 => Error::Transient(message),
            _ => Error::InvalidInput(message),
        });
    }
    if let Some(code) = body["error_code"].as_str() {
        let message = body["error_message"].as_str().unwrap_or(code).to_string();
        return Err(Error::Permanent(format!("{code}: {message}")));
    }
    response.error_for_status()?;
    body.get("data")
        .cloned()
        .ok_or_else(|| Error::Transient("monday.com answered without data".into()))
}

fn board_id(value: &Value) -> Result<String, Error> {
    match value {
        Value::String(s) if !s.trim().is_empty() && s.chars().all(|c| c.is_ascii_digit()) => Ok(s.clone()),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        _ => Err(Error::bad_field("board_id", "a board id (digits)")),
    }
}

/// Column values as monday.com's `JSON` scalar wants them: a JSON object serialised in a string.
fn column_values(input: &Value) -> Result<Option<String>, Error> {
    match &input["column_values"] {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(Value::Object(map.clone()).to_string())),
        _ => Err(Error::bad_field("column_values", "an object of column id → value")),
    }
}

fn item_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "created_at": {"type": "string"},
        "group": {"type": "object"}, "column_values": {"type": "array"}}})
}

impl Connector for Monday {
    fn describe() -> Value {
        json!({
            "actions": [
                {"name": "create_item", "title": "Create an item",
                 "description": "Adds an item to a board (optionally in a group), with column values.",
                 "input": {"type": "object", "required": ["board_id", "name"], "additionalProperties": false,
                           "properties": {
                               "board_id": {"type": "string", "title": "Board id", "pattern": "^[0-9]+$"},
                               "group_id": {"type": "string", "title": "Group id"},
                               "name": {"type": "string", "title": "Item name", "minLength": 1, "maxLength": 255},
                               "column_values": {"type": "object", "title": "Column values",
                                                 "description": "Column id → value, as monday.com documents each column type (status: {\"label\": \"Done\"})."}}},
                 "output": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}},
                {"name": "update_item", "title": "Update an item",
                 "description": "Changes several column values of an item at once.",
                 "input": {"type": "object", "required": ["board_id", "item_id", "column_values"], "additionalProperties": false,
                           "properties": {
                               "board_id": {"type": "string", "title": "Board id", "pattern": "^[0-9]+$"},
                               "item_id": {"type": "string", "title": "Item id", "pattern": "^[0-9]+$"},
                               "column_values": {"type": "object", "title": "Column values"}}},
                 "output": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}}
            ],
            "triggers": [
                {"name": "new_item", "kind": "poll", "title": "New item",
                 "description": "Fires once for each item added to a board, oldest first.",
                 "config": {"type": "object", "required": ["board_id"], "additionalProperties": false,
                            "properties": {"board_id": {"type": "string", "title": "Board id", "pattern": "^[0-9]+$"}}},
                 "output": item_schema()}
            ]
        })
    }

    fn test_connection(_ctx: &Context) -> Result<Value, Error> {
        let data = graphql("query { me { id name email account { id name } } }", json!({}))?;
        Ok(data["me"].clone())
    }

    fn run_action(_ctx: &Context, action: &str, input: Value) -> Result<Value, Error> {
        match action {
            "create_item" => {
                let name = input["name"].as_str().unwrap_or_default().trim();
                if name.is_empty() {
                    return Err(Error::bad_field("name", "a non-empty item name"));
                }
                let data = graphql(
                    "mutation ($board: ID!, $group: String, $name: String!, $values: JSON) { create_item(board_id: $board, group_id: $group, item_name: $name, column_values: $values, create_labels_if_missing: true) { id name } }",
                    json!({"board": board_id(&input["board_id"])?, "group": input["group_id"],
                           "name": name, "values": column_values(&input)?}),
                )?;
                Ok(data["create_item"].clone())
            }
            "update_item" => {
                let values = column_values(&input)?
                    .ok_or_else(|| Error::bad_field("column_values", "an object of column id → value"))?;
                let data = graphql(
                    "mutation ($board: ID!, $item: ID!, $values: JSON!) { change_multiple_column_values(board_id: $board, item_id: $item, column_values: $values) { id name } }",
                    json!({"board": board_id(&input["board_id"])?, "item": board_id(&input["item_id"]).map_err(|_| Error::bad_field("item_id", "an item id (digits)"))?, "values": values}),
                )?;
                Ok(data["change_multiple_column_values"].clone())
            }
            other => Err(Error::unknown_action(other)),
        }
    }

    /// The cursor is the highest item id seen (monday.com item ids grow). Items are read
    /// newest first and paged with items_page's cursor until an item already seen shows up.
    fn poll(_ctx: &Context, trigger: &str, config: Value, cursor: Option<String>) -> Result<Page, Error> {
        if trigger != "new_item" {
            return Err(Error::unknown_trigger(trigger));
        }
        let board = board_id(&config["board_id"])?;
        let seen: u64 = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
        let first = graphql(
            &format!("query ($board: [ID!], $limit: Int!) {{ boards(ids: $board) {{ items_page(limit: $limit, query_params: {{order_by: [{{column_id: \"__creation_log__\", direction: desc}}]}}) {{ cursor items {{ {ITEM_FIELDS} }} }} }} }}"),
            json!({"board": [board], "limit": PAGE}),
        )?;
        let Some(board_data) = first["boards"].as_array().and_then(|b| b.first()) else {
            return Err(Error::NotFound(format!("no board {board} (or no access to it)")));
        };
        let mut page = board_data["items_page"].clone();
        let mut new_items = Vec::new();
        for _ in 0..MAX_PAGES {
            let items = page["items"].as_array().cloned().unwrap_or_default();
            let mut reached_seen = false;
            for item in items {
                let id: u64 = item["id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0);
                if id <= seen {
                    reached_seen = true;
                    break;
                }
                new_items.push((id, item));
            }
            let next = page["cursor"].as_str().map(str::to_string);
            match next {
                Some(next) if !reached_seen => {
                    let data = graphql(
                        &format!("query ($cursor: String!, $limit: Int!) {{ next_items_page(cursor: $cursor, limit: $limit) {{ cursor items {{ {ITEM_FIELDS} }} }} }}"),
                        json!({"cursor": next, "limit": PAGE}),
                    )?;
                    page = data["next_items_page"].clone();
                }
                _ => break,
            }
        }
        new_items.sort_by_key(|(id, _)| *id);
        let highest = new_items.last().map(|(id, _)| *id).unwrap_or(seen);
        Ok(Page {
            items: new_items.into_iter().map(|(id, item)| Item::new(id.to_string(), item)).collect(),
            cursor: (highest > 0).then(|| highest.to_string()),
            has_more: false,
        })
    }
}

export_connector!(Monday);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_values_travel_as_a_json_string() {
        let input = json!({"column_values": {"status": {"label": "Done"}}});
        assert_eq!(column_values(&input).unwrap().unwrap(), r#"{"status":{"label":"Done"}}"#);
        assert!(column_values(&json!({"column_values": "x"})).is_err());
        assert_eq!(board_id(&json!("123")).unwrap(), "123");
        assert!(board_id(&json!("12a")).is_err());
    }
}
