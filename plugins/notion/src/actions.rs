//! The actions: create a page (in a data source or under a page, with properties and Markdown
//! content), append content, update properties, archive, query a data source, search.

use heph_sdk::{json, Context, Error, Map, Value};

use crate::api::{self, MAX_PAGE_SIZE};
use crate::markdown;
use crate::properties;

/// Runs the action `name`.
pub fn run(ctx: &Context, name: &str, input: Value) -> Result<Value, Error> {
    match name {
        "create_page" => create_page(ctx, &input),
        "append_content" => append_content(ctx, &input),
        "update_page" => update_page(ctx, &input),
        "archive_page" => archive_page(ctx, &input),
        "get_page" => get_page(ctx, &input),
        "query_data_source" => query_data_source(ctx, &input),
        "search" => search(ctx, &input),
        other => Err(Error::unknown_action(other)),
    }
}

fn text<'a>(input: &'a Value, field: &str) -> Option<&'a str> {
    input
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn required<'a>(input: &'a Value, field: &str) -> Result<&'a str, Error> {
    text(input, field).ok_or_else(|| Error::bad_field(field, "a non-empty string"))
}

fn object(input: &Value, field: &str) -> Result<Map<String, Value>, Error> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o.clone()),
        Some(_) => Err(Error::bad_field(field, "an object")),
    }
}

/// The data source a page goes in: `data_source_id`, or the first data source of `database_id`.
fn data_source(ctx: &Context, input: &Value) -> Result<Option<String>, Error> {
    if let Some(id) = text(input, "data_source_id") {
        return api::page_id(id).map(Some);
    }
    let Some(database) = text(input, "database_id") else {
        return Ok(None);
    };
    let database = api::send(api::request(
        ctx,
        "GET",
        &format!("/databases/{}", api::page_id(database)?),
    ))?;
    database
        .get("data_sources")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str)
        .map(|id| Some(id.to_string()))
        .ok_or_else(|| Error::NotFound("the database has no data source".into()))
}

fn create_page(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let values = object(input, "values")?;
    let mut props = Map::new();
    let parent = if let Some(source) = data_source(ctx, input)? {
        let needs_schema = !values.is_empty() || text(input, "title").is_some();
        if needs_schema {
            let schema = properties::schema(ctx, &source)?;
            if let Some(title) = text(input, "title") {
                let name = properties::title_property(&schema).ok_or_else(|| {
                    Error::Permanent("the data source has no title property".into())
                })?;
                props.insert(name, json!({"title": markdown::rich_text(title)}));
            }
            props.extend(properties::convert(&schema, &values)?);
        }
        json!({"type": "data_source_id", "data_source_id": source})
    } else if let Some(page) = text(input, "parent_page_id") {
        if !values.is_empty() {
            return Err(Error::InvalidInput(
                "`values` need a data source; a page under a page has only a title".into(),
            ));
        }
        if let Some(title) = text(input, "title") {
            props.insert("title".into(), json!({"title": markdown::rich_text(title)}));
        }
        json!({"type": "page_id", "page_id": api::page_id(page)?})
    } else {
        return Err(Error::InvalidInput(
            "say where the page goes: `data_source_id`, `database_id` or `parent_page_id`".into(),
        ));
    };
    props.extend(object(input, "properties")?);
    let blocks = text(input, "content_markdown")
        .map(markdown::to_blocks)
        .unwrap_or_default();
    let (first, rest) = blocks.split_at(blocks.len().min(MAX_PAGE_SIZE));
    let mut body = json!({"parent": parent, "properties": props, "children": first});
    if let Some(emoji) = text(input, "icon_emoji") {
        body["icon"] = json!({"type": "emoji", "emoji": emoji});
    }
    let page = api::send(api::request(ctx, "POST", "/pages").json(&body))?;
    let id = page
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    append_blocks(ctx, &id, rest, None)?;
    Ok(page)
}

/// Appends blocks in requests of at most 100 (Notion's limit), in order.
fn append_blocks(
    ctx: &Context,
    block_id: &str,
    blocks: &[Value],
    after: Option<String>,
) -> Result<usize, Error> {
    let mut after = after;
    for chunk in blocks.chunks(MAX_PAGE_SIZE) {
        let mut body = json!({"children": chunk});
        if let Some(id) = &after {
            // 2026-03-11 replaced `after` with a `position` object.
            if api::uses_in_trash(ctx) {
                body["position"] = json!({"type": "after_block", "after_block": {"id": id}});
            } else {
                body["after"] = json!(id);
            }
        }
        let answer = api::send(
            api::request(ctx, "PATCH", &format!("/blocks/{block_id}/children")).json(&body),
        )?;
        // The next chunk goes after the last block just added.
        after = answer
            .get("results")
            .and_then(Value::as_array)
            .and_then(|r| r.last())
            .and_then(|b| b.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(after);
    }
    Ok(blocks.len())
}

fn append_content(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let page = api::page_id(required(input, "page_id")?)?;
    let blocks = markdown::to_blocks(required(input, "markdown")?);
    let after = text(input, "after_block_id")
        .map(api::page_id)
        .transpose()?;
    let added = append_blocks(ctx, &page, &blocks, after)?;
    Ok(json!({"page_id": page, "blocks_added": added}))
}

fn update_page(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let page_id = api::page_id(required(input, "page_id")?)?;
    let values = object(input, "values")?;
    let mut props = Map::new();
    if !values.is_empty() || text(input, "title").is_some() {
        // Plain values need the types of the page's data source.
        let page = api::send(api::request(ctx, "GET", &format!("/pages/{page_id}")))?;
        let source = page
            .pointer("/parent/data_source_id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::InvalidInput("`values` need a page in a data source".into()))?;
        let schema = properties::schema(ctx, source)?;
        if let Some(title) = text(input, "title") {
            if let Some(name) = properties::title_property(&schema) {
                props.insert(name, json!({"title": markdown::rich_text(title)}));
            }
        }
        props.extend(properties::convert(&schema, &values)?);
    }
    props.extend(object(input, "properties")?);
    if props.is_empty() {
        return Err(Error::InvalidInput(
            "nothing to update: give `values`, `title` or `properties`".into(),
        ));
    }
    api::send(
        api::request(ctx, "PATCH", &format!("/pages/{page_id}"))
            .json(&json!({"properties": props})),
    )
}

fn archive_page(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let page_id = api::page_id(required(input, "page_id")?)?;
    let field = if api::uses_in_trash(ctx) {
        "in_trash"
    } else {
        "archived"
    };
    api::send(
        api::request(ctx, "PATCH", &format!("/pages/{page_id}")).json(&json!({ field: true })),
    )
}

fn get_page(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let page_id = api::page_id(required(input, "page_id")?)?;
    api::send(api::request(ctx, "GET", &format!("/pages/{page_id}")))
}

fn limit(input: &Value) -> usize {
    input
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(100)
        .clamp(1, 1000) as usize
}

fn query_data_source(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let source = data_source(ctx, input)?
        .ok_or_else(|| Error::bad_field("data_source_id", "a data source id"))?;
    let filter = input.get("filter").filter(|f| !f.is_null()).cloned();
    let sorts = input.get("sorts").filter(|s| !s.is_null()).cloned();
    let results = api::collect(limit(input), |cursor, size| {
        let mut body = json!({"page_size": size});
        if let Some(f) = &filter {
            body["filter"] = f.clone();
        }
        if let Some(s) = &sorts {
            body["sorts"] = s.clone();
        }
        if let Some(c) = cursor {
            body["start_cursor"] = json!(c);
        }
        api::request(ctx, "POST", &format!("/data_sources/{source}/query")).json(&body)
    })?;
    Ok(json!({"count": results.len(), "results": results}))
}

fn search(ctx: &Context, input: &Value) -> Result<Value, Error> {
    let query = text(input, "query").unwrap_or("").to_string();
    let kind = text(input, "object").map(str::to_string);
    let results = api::collect(limit(input), |cursor, size| {
        let mut body = json!({"query": query, "page_size": size,
            "sort": {"timestamp": "last_edited_time", "direction": "descending"}});
        if let Some(k) = &kind {
            body["filter"] = json!({"property": "object", "value": k});
        }
        if let Some(c) = cursor {
            body["start_cursor"] = json!(c);
        }
        api::request(ctx, "POST", "/search").json(&body)
    })?;
    Ok(json!({"count": results.len(), "results": results}))
}
