//! A fake of the Notion API (`2025-09-03` and `2026-03-11`, with data sources): the bot user,
//! data sources with a schema, their query with timestamp filters and cursors, pages (create,
//! read, update, trash), appending blocks, search. It refuses what Notion refuses: a missing or
//! unknown `Notion-Version`, a bad token, malformed JSON, `page_size` over 100, more than 100
//! children, rich text over 2,000 characters, unknown properties, `archived` and `after` on
//! 2026-03-11. Errors have Notion's shape: `{"object": "error", "status", "code", "message"}`.

use serde_json::{json, Map, Value};

use super::{bearer, json, minute_now, split, Answer, Received, World};

const VERSIONS: &[&str] = &["2022-06-28", "2025-09-03", "2026-03-11"];

/// Notion's state.
#[derive(Default)]
pub struct Notion {
    /// Data source id → property name → type.
    pub data_sources: Vec<(String, Map<String, Value>)>,
    /// Pages, in creation order.
    pub pages: Vec<Value>,
    /// Page id → its blocks.
    pub blocks: Vec<(String, Vec<Value>)>,
    next_id: u64,
}

impl Notion {
    /// Adds a data source with a Name (title), Tags (multi_select), Due (date), Course
    /// (select) and Done (checkbox) schema.
    pub fn add_data_source(&mut self, id: &str) {
        let mut props = Map::new();
        for (name, kind) in [
            ("Name", "title"),
            ("Tags", "multi_select"),
            ("Due", "date"),
            ("Course", "select"),
            ("Done", "checkbox"),
        ] {
            props.insert(
                name.into(),
                json!({"id": name.to_lowercase(), "name": name, "type": kind, kind: {}}),
            );
        }
        self.data_sources.push((id.to_string(), props));
    }

    /// A page by id.
    pub fn page(&self, id: &str) -> Option<&Value> {
        self.pages.iter().find(|p| p["id"] == id)
    }

    /// The blocks of a page.
    pub fn blocks_of(&self, id: &str) -> Vec<Value> {
        self.blocks
            .iter()
            .find(|(p, _)| p == id)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }

    /// Adds a page to a data source directly, with times (as Notion's UI would).
    pub fn insert_page(
        &mut self,
        source: &str,
        title: &str,
        created: &str,
        edited: &str,
    ) -> String {
        let id = self.new_id();
        self.pages.push(json!({
            "object": "page", "id": id, "created_time": created, "last_edited_time": edited,
            "in_trash": false, "archived": false,
            "parent": {"type": "data_source_id", "data_source_id": source},
            "properties": {"Name": {"type": "title", "title": [{"type": "text", "text": {"content": title}, "plain_text": title}]}},
            "url": format!("https://www.notion.so/{}", id.replace('-', "")),
        }));
        id
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        let hex = format!(
            "{:032x}",
            0x1234_5678_0000_0000_0000u128 + self.next_id as u128
        );
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    json(
        status,
        &json!({"object": "error", "status": status, "code": code, "message": message, "request_id": "fake"}),
    )
}

fn validation(message: impl Into<String>) -> Answer {
    error(400, "validation_error", &message.into())
}

/// Checks rich text: an array of text objects of at most 2,000 characters each.
fn check_rich_text(value: &Value, path: &str) -> Result<(), Answer> {
    let Some(items) = value.as_array() else {
        return Err(validation(format!(
            "body failed validation: {path} should be an array"
        )));
    };
    for (i, item) in items.iter().enumerate() {
        let content = item
            .pointer("/text/content")
            .and_then(Value::as_str)
            .unwrap_or("");
        if content.chars().count() > 2000 {
            return Err(validation(format!(
                "body failed validation: {path}[{i}].text.content.length should be ≤ `2000`, instead was `{}`.",
                content.chars().count()
            )));
        }
    }
    Ok(())
}

fn check_blocks(children: &Value) -> Result<Vec<Value>, Answer> {
    let Some(blocks) = children.as_array() else {
        return Err(validation(
            "body failed validation: body.children should be an array",
        ));
    };
    if blocks.len() > 100 {
        return Err(validation(format!(
            "body failed validation: body.children.length should be ≤ `100`, instead was `{}`.",
            blocks.len()
        )));
    }
    for (i, block) in blocks.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "divider" {
            continue;
        }
        let text = block
            .pointer(&format!("/{kind}/rich_text"))
            .ok_or_else(|| {
                validation(format!(
                    "body failed validation: body.children[{i}].{kind} should be defined"
                ))
            })?;
        check_rich_text(text, &format!("body.children[{i}].{kind}.rich_text"))?;
    }
    Ok(blocks.clone())
}

fn title_text(page: &Value) -> String {
    page["properties"]
        .as_object()
        .and_then(|p| p.values().find(|v| v["type"] == "title"))
        .and_then(|t| t["title"].as_array())
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.pointer("/text/content").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets a page's properties from a request, checking names against the data source.
fn set_properties(
    notion: &Notion,
    page: &mut Value,
    props: &Map<String, Value>,
) -> Result<(), Answer> {
    let source = page
        .pointer("/parent/data_source_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let schema = source.and_then(|s| {
        notion
            .data_sources
            .iter()
            .find(|(id, _)| *id == s)
            .map(|(_, p)| p.clone())
    });
    for (name, value) in props {
        let kind = match &schema {
            Some(schema) => match schema.get(name) {
                Some(p) => p["type"].as_str().unwrap_or("").to_string(),
                None => return Err(validation(format!("{name} is not a property that exists."))),
            },
            None if name == "title" => "title".into(),
            None => {
                return Err(validation(
                    "Invalid property for a page under a page: only title.",
                ))
            }
        };
        let Some(inner) = value.get(&kind) else {
            return Err(validation(format!(
                "body failed validation: body.properties.{name}.{kind} should be defined"
            )));
        };
        if kind == "title" || kind == "rich_text" {
            check_rich_text(inner, &format!("body.properties.{name}.{kind}"))?;
        }
        page["properties"][name] = json!({"type": kind, kind.clone(): inner});
    }
    Ok(())
}

/// Answers one request to api.notion.com.
pub fn answer(world: &mut World, request: &Received) -> Answer {
    let Some(version) = request.header("notion-version") else {
        return error(400, "missing_version", "Notion-Version header failed validation: Notion-Version should be defined, instead was `undefined`.");
    };
    if !VERSIONS.contains(&version) {
        return error(
            400,
            "missing_version",
            &format!(
                "Notion-Version header failed validation: `{version}` is not a valid version."
            ),
        );
    }
    let token_ok = bearer(request).is_some_and(|t| world.tokens.contains(t));
    if !token_ok {
        return error(401, "unauthorized", "API token is invalid.");
    }
    if world.rate_limit_next > 0 {
        world.rate_limit_next -= 1;
        let (status, mut headers, body) = json(
            429,
            &json!({"object": "error", "status": 429, "code": "rate_limited",
            "message": "You have been rate limited. Please try again in a few minutes.",
            "additional_data": {"rate_limit_reason": "integration_rate_limit"}}),
        );
        headers.push(("retry-after".into(), "1".into()));
        return (status, headers, body);
    }
    let body: Value = if request.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    400,
                    "invalid_json",
                    &format!("Error parsing JSON body: {e}"),
                )
            }
        }
    };
    let with_sources = version >= "2025-09-03";
    let new_names = version >= "2026-03-11";
    let (path, _query) = split(request);
    let parts: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let notion = &mut world.notion;
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["users", "me"]) => json(200, &json!({"object": "user", "id": "bot-1", "type": "bot", "name": "Heph",
            "bot": {"owner": {"type": "workspace", "workspace": true}, "workspace_name": "Learner's notes"}})),
        (_, ["data_sources", ..]) if !with_sources => error(400, "invalid_request_url", "Invalid request URL."),
        ("GET", ["data_sources", id]) => match notion.data_sources.iter().find(|(s, _)| s == id) {
            Some((id, props)) => json(200, &json!({"object": "data_source", "id": id, "properties": props})),
            None => error(404, "object_not_found", &format!("Could not find data_source with ID: {id}. Make sure the relevant pages and databases are shared with your integration.")),
        },
        ("POST", ["data_sources", id, "query"]) => {
            if !notion.data_sources.iter().any(|(s, _)| s == id) {
                return error(404, "object_not_found", &format!("Could not find data_source with ID: {id}."));
            }
            let size = body.get("page_size").and_then(Value::as_u64).unwrap_or(100);
            if size > 100 {
                return validation(format!("body failed validation: body.page_size should be ≤ `100`, instead was `{size}`."));
            }
            let mut pages: Vec<Value> = notion.pages.iter()
                .filter(|p| p.pointer("/parent/data_source_id").and_then(Value::as_str) == Some(id))
                .filter(|p| p["in_trash"] != true)
                .cloned().collect();
            if let Some(ts) = body.pointer("/filter/timestamp").and_then(Value::as_str) {
                let Some(after) = body.pointer(&format!("/filter/{ts}/on_or_after")).and_then(Value::as_str) else {
                    return validation(format!("body failed validation: body.filter.{ts}.on_or_after should be defined"));
                };
                pages.retain(|p| p[ts].as_str().unwrap_or("") >= after);
            }
            if let Some(ts) = body.pointer("/sorts/0/timestamp").and_then(Value::as_str) {
                pages.sort_by(|a, b| a[ts].as_str().cmp(&b[ts].as_str()).then(a["id"].as_str().cmp(&b["id"].as_str())));
            }
            let start: usize = match body.get("start_cursor").and_then(Value::as_str) {
                Some(c) => match c.strip_prefix("cursor-").and_then(|n| n.parse().ok()) {
                    Some(n) => n,
                    None => return validation("body failed validation: body.start_cursor should be a valid cursor"),
                },
                None => 0,
            };
            let end = (start + size as usize).min(pages.len());
            let has_more = end < pages.len();
            json(200, &json!({"object": "list", "results": pages[start.min(end)..end],
                "next_cursor": if has_more { json!(format!("cursor-{end}")) } else { Value::Null },
                "has_more": has_more, "type": "page_or_data_source", "page_or_data_source": {}}))
        }
        ("POST", ["pages"]) => {
            let parent = &body["parent"];
            let mut page_parent = json!({});
            if let Some(source) = parent.get("data_source_id").and_then(Value::as_str) {
                if !notion.data_sources.iter().any(|(s, _)| s == source) {
                    return error(404, "object_not_found", &format!("Could not find data_source with ID: {source}."));
                }
                page_parent = json!({"type": "data_source_id", "data_source_id": source});
            } else if let Some(page) = parent.get("page_id").and_then(Value::as_str) {
                page_parent = json!({"type": "page_id", "page_id": page});
            } else {
                return validation("body failed validation: body.parent should be defined");
            }
            let children = match body.get("children") {
                Some(c) => match check_blocks(c) { Ok(b) => b, Err(e) => return e },
                None => vec![],
            };
            let id = notion.new_id();
            let now = minute_now();
            let mut page = json!({"object": "page", "id": id, "created_time": now, "last_edited_time": now,
                "in_trash": false, "parent": page_parent, "properties": {},
                "url": format!("https://www.notion.so/{}", id.replace('-', ""))});
            if let Some(icon) = body.get("icon") { page["icon"] = icon.clone(); }
            let props = body.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            if let Err(e) = set_properties(notion, &mut page, &props) { return e; }
            if title_text(&page).is_empty() && page_parent["type"] == "page_id" {
                return validation("body failed validation: body.properties.title should be defined");
            }
            notion.pages.push(page.clone());
            notion.blocks.push((id, children));
            json(200, &page)
        }
        ("GET", ["pages", id]) => match notion.page(id) {
            Some(p) => json(200, p),
            None => error(404, "object_not_found", &format!("Could not find page with ID: {id}.")),
        },
        ("PATCH", ["pages", id]) => {
            if new_names && body.get("archived").is_some() {
                return validation("body failed validation: body.archived is not supported in this version; use in_trash");
            }
            let Some(index) = notion.pages.iter().position(|p| p["id"] == *id) else {
                return error(404, "object_not_found", &format!("Could not find page with ID: {id}."));
            };
            let mut page = notion.pages[index].clone();
            let props = body.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            if let Err(e) = set_properties(notion, &mut page, &props) { return e; }
            if let Some(trash) = body.get("in_trash").or(body.get("archived")).and_then(Value::as_bool) {
                page["in_trash"] = json!(trash);
                page["archived"] = json!(trash);
            }
            page["last_edited_time"] = json!(minute_now());
            notion.pages[index] = page.clone();
            json(200, &page)
        }
        ("PATCH", ["blocks", id, "children"]) => {
            if new_names && body.get("after").is_some() {
                return validation("body failed validation: body.after is not supported in this version; use position");
            }
            let children = match check_blocks(&body["children"]) { Ok(b) => b, Err(e) => return e };
            let Some(entry) = notion.blocks.iter_mut().find(|(p, _)| p == id) else {
                return error(404, "object_not_found", &format!("Could not find block with ID: {id}."));
            };
            let after = body.pointer("/position/after_block/id").or(body.get("after")).and_then(Value::as_str);
            let mut added = Vec::new();
            for (i, mut block) in children.into_iter().enumerate() {
                block["id"] = json!(format!("{id}-b{}-{i}", entry.1.len()));
                added.push(block);
            }
            let at = match after {
                Some(a) => entry.1.iter().position(|b| b["id"] == a).map(|i| i + 1).unwrap_or(entry.1.len()),
                None => entry.1.len(),
            };
            for (offset, block) in added.iter().enumerate() {
                entry.1.insert(at + offset, block.clone());
            }
            json(200, &json!({"object": "list", "results": added, "has_more": false, "next_cursor": null}))
        }
        ("POST", ["search"]) => {
            let size = body.get("page_size").and_then(Value::as_u64).unwrap_or(100);
            if size > 100 {
                return validation(format!("body failed validation: body.page_size should be ≤ `100`, instead was `{size}`."));
            }
            let query = body.get("query").and_then(Value::as_str).unwrap_or("").to_lowercase();
            let results: Vec<Value> = notion.pages.iter()
                .filter(|p| title_text(p).to_lowercase().contains(&query)).cloned().collect();
            json(200, &json!({"object": "list", "results": results, "next_cursor": null, "has_more": false}))
        }
        _ => error(400, "invalid_request_url", "Invalid request URL."),
    }
}
