//! A fake of monday.com's GraphQL API (`POST https://api.monday.com/v2`). It cannot run
//! GraphQL; it recognises the operations the monday.com connector sends and checks what
//! monday.com documents for them: the token as the whole `Authorization` header (no
//! `Bearer`), a JSON body with `query` and `variables`, an `API-Version` of the form
//! `YYYY-MM`, board and item ids as strings of digits, `column_values` as a JSON object
//! serialised in a string (the `JSON` scalar), page sizes up to 500 and cursors it issued.
//! Errors come as monday.com sends them: `{"errors": [{"message", "extensions": {"code"}}]}`,
//! with HTTP 200 for GraphQL errors, 401 for a bad token and 429 for the rate limit.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{json, Answer, Received, World};

/// monday.com's state: boards and their items (oldest first).
#[derive(Default)]
pub struct Monday {
    /// Board id → items.
    pub boards: HashMap<String, Vec<Value>>,
    cursors: HashMap<String, (String, usize)>,
    next_id: u64,
}

impl Monday {
    /// Adds a board with `count` items named `Item 1`…
    pub fn add_board(&mut self, board: &str, count: usize) {
        let items = self.boards.entry(board.to_string()).or_default();
        for n in 0..count {
            self.next_id += 1;
            items.push(json!({"id": (1000 + self.next_id).to_string(), "name": format!("Item {}", n + 1),
                              "created_at": "2026-11-22T10:00:00Z", "group": {"id": "topics", "title": "Group Title"},
                              "column_values": []}));
        }
    }

    /// An item by id.
    pub fn item(&self, id: &str) -> Option<&Value> {
        self.boards.values().flatten().find(|i| i["id"] == id)
    }
}

fn errors(status: u16, code: &str, message: &str) -> Answer {
    json(
        status,
        &json!({"errors": [{"message": message, "extensions": {"code": code}}], "account_id": 1}),
    )
}

fn digits(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
}

/// Answers one request to api.monday.com.
pub fn answer(world: &mut World, request: &Received) -> Answer {
    if request.method != "POST" || request.uri.split('?').next() != Some("/v2") {
        return json(404, &json!({"error_message": "Not found"}));
    }
    match request.header("authorization") {
        Some(token) if world.tokens.contains(token) => {}
        _ => return errors(401, "UNAUTHENTICATED", "Not Authenticated"),
    }
    if world.rate_limit_next > 0 {
        world.rate_limit_next -= 1;
        return json(
            429,
            &json!({"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATE_LIMIT_EXCEEDED", "retry_in_seconds": 1}}]}),
        );
    }
    if !request
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return errors(400, "BAD_REQUEST", "Content-Type must be application/json");
    }
    if let Some(version) = request.header("api-version") {
        let ok = version.len() == 7
            && version.as_bytes()[4] == b'-'
            && version.replace('-', "").chars().all(|c| c.is_ascii_digit());
        if !ok {
            return errors(
                400,
                "InvalidVersionException",
                &format!("Invalid API version {version}"),
            );
        }
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return errors(400, "BAD_REQUEST", "The request body is not JSON");
    };
    let Some(query) = body["query"].as_str() else {
        return errors(400, "BAD_REQUEST", "No query string was present");
    };
    let vars = &body["variables"];
    let monday = &mut world.monday;
    let data = if query.contains("me {") {
        json!({"me": {"id": "7", "name": "Partner Tester", "email": "tester@example.org", "account": {"id": "1", "name": "Acme"}}})
    } else if query.contains("create_item(") {
        let (Some(board), Some(name)) = (digits(&vars["board"]), vars["name"].as_str()) else {
            return errors(
                200,
                "INVALID_ARGUMENT",
                "board (ID) and name (String!) are required",
            );
        };
        let values = match &vars["values"] {
            Value::Null => Value::Object(Default::default()),
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return errors(
                        200,
                        "ColumnValueException",
                        "column_values is not a JSON object",
                    )
                }
            },
            _ => {
                return errors(
                    200,
                    "INVALID_ARGUMENT",
                    "column_values must be a JSON string (the JSON scalar)",
                )
            }
        };
        monday.next_id += 1;
        let id = (1000 + monday.next_id).to_string();
        let Some(items) = monday.boards.get_mut(&board) else {
            return errors(
                200,
                "ResourceNotFoundException",
                &format!("Board {board} not found"),
            );
        };
        items.push(json!({"id": id, "name": name, "created_at": "2026-11-22T11:00:00Z",
                          "group": {"id": vars["group"].as_str().unwrap_or("topics")}, "column_values": values}));
        json!({"create_item": {"id": id, "name": name}})
    } else if query.contains("change_multiple_column_values(") {
        let (Some(board), Some(item), Some(text)) = (
            digits(&vars["board"]),
            digits(&vars["item"]),
            vars["values"].as_str(),
        ) else {
            return errors(
                200,
                "INVALID_ARGUMENT",
                "board, item (ID!) and values (JSON! as a string) are required",
            );
        };
        let Ok(Value::Object(changes)) = serde_json::from_str::<Value>(text) else {
            return errors(
                200,
                "ColumnValueException",
                "column_values is not a JSON object",
            );
        };
        let Some(found) = monday
            .boards
            .get_mut(&board)
            .and_then(|items| items.iter_mut().find(|i| i["id"] == item))
        else {
            return errors(
                200,
                "ResourceNotFoundException",
                &format!("Item {item} not found on board {board}"),
            );
        };
        let mut values = found["column_values"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        values.extend(changes);
        found["column_values"] = Value::Object(values);
        json!({"change_multiple_column_values": {"id": item, "name": found["name"]}})
    } else if query.contains("next_items_page(") || query.contains("items_page(") {
        let limit = vars["limit"].as_u64().unwrap_or(25) as usize;
        if limit == 0 || limit > 500 {
            return errors(200, "INVALID_ARGUMENT", "limit must be between 1 and 500");
        }
        let (board, offset) = if query.contains("next_items_page(") {
            match vars["cursor"].as_str().and_then(|c| monday.cursors.get(c)) {
                Some(at) => at.clone(),
                None => {
                    return errors(
                        200,
                        "CursorException",
                        "CursorExpiredError: the cursor is invalid or expired",
                    )
                }
            }
        } else {
            match vars["board"]
                .as_array()
                .and_then(|b| b.first())
                .and_then(digits)
            {
                Some(board) => (board, 0),
                None => {
                    return errors(
                        200,
                        "INVALID_ARGUMENT",
                        "boards(ids:) needs a list of board ids",
                    )
                }
            }
        };
        let Some(items) = monday.boards.get(&board) else {
            return json(200, &json!({"data": {"boards": []}}));
        };
        // Newest first, as the connector orders by __creation_log__ descending.
        let newest_first: Vec<Value> = items
            .iter()
            .rev()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        let cursor = (offset + limit < items.len()).then(|| {
            let cursor = format!("MSw{}", monday.cursors.len() + 1);
            monday
                .cursors
                .insert(cursor.clone(), (board.clone(), offset + limit));
            cursor
        });
        let page = json!({"cursor": cursor, "items": newest_first});
        if query.contains("next_items_page(") {
            json!({"next_items_page": page})
        } else {
            json!({"boards": [{"items_page": page}]})
        }
    } else {
        return errors(
            200,
            "GraphQLValidationError",
            "this fake does not know the operation",
        );
    };
    json(200, &json!({"data": data, "account_id": 1}))
}
