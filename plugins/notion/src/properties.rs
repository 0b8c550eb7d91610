//! Property values: plain JSON values (`"Due": "2026-12-01"`, `"Tags": ["a", "b"]`) turned into
//! Notion's property objects by the data source's schema, so that a scenario maps fields
//! without writing Notion's nested shapes. A `properties` object in Notion's own shape is
//! passed through as it is and wins over `values`.

use heph_sdk::{json, Error, Map, Value};

use crate::api;
use crate::markdown::rich_text;
use heph_sdk::Context;

/// The data source's properties: name → type.
pub fn schema(ctx: &Context, data_source_id: &str) -> Result<Map<String, Value>, Error> {
    let source = api::send(api::request(
        ctx,
        "GET",
        &format!("/data_sources/{data_source_id}"),
    ))?;
    Ok(source
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default())
}

/// The name of the title property in a schema.
pub fn title_property(schema: &Map<String, Value>) -> Option<String> {
    schema
        .iter()
        .find(|(_, p)| p.get("type").and_then(Value::as_str) == Some("title"))
        .map(|(name, _)| name.clone())
}

/// Notion property objects for `values`, by the types in `schema`.
pub fn convert(
    schema: &Map<String, Value>,
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    for (name, value) in values {
        let kind = schema
            .get(name)
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                let known: Vec<&str> = schema.keys().map(String::as_str).collect();
                Error::InvalidInput(format!(
                    "the data source has no property `{name}` (it has: {})",
                    known.join(", ")
                ))
            })?;
        out.insert(name.clone(), property(name, kind, value)?);
    }
    Ok(out)
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn property(name: &str, kind: &str, value: &Value) -> Result<Value, Error> {
    let bad = |expected: &str| Error::bad_field(name, expected);
    Ok(match kind {
        "title" => json!({"title": rich_text(&text_of(value))}),
        "rich_text" => json!({"rich_text": rich_text(&text_of(value))}),
        "number" => match value {
            Value::Number(n) => json!({"number": n}),
            Value::Null => json!({"number": null}),
            Value::String(s) => json!({"number": s.trim().parse::<f64>().map_err(|_| bad("a number"))?}),
            _ => return Err(bad("a number")),
        },
        "checkbox" => match value {
            Value::Bool(b) => json!({"checkbox": b}),
            Value::String(s) => json!({"checkbox": matches!(s.as_str(), "true" | "yes" | "1")}),
            _ => return Err(bad("true or false")),
        },
        "select" => match value {
            Value::Null => json!({"select": null}),
            v => json!({"select": {"name": text_of(v)}}),
        },
        "status" => json!({"status": {"name": text_of(value)}}),
        "multi_select" => {
            let names: Vec<String> = match value {
                Value::Array(items) => items.iter().map(text_of).collect(),
                Value::String(s) => s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
                _ => return Err(bad("a list of names")),
            };
            json!({"multi_select": names.into_iter().map(|n| json!({"name": n})).collect::<Vec<_>>()})
        }
        "date" => match value {
            Value::Null => json!({"date": null}),
            Value::String(s) => json!({"date": {"start": s}}),
            Value::Object(o) => json!({"date": o}),
            _ => return Err(bad("a date (YYYY-MM-DD or an ISO 8601 date-time)")),
        },
        "url" | "email" | "phone_number" => match value {
            Value::Null => json!({ kind: null }),
            v => json!({ kind: text_of(v) }),
        },
        "relation" => {
            let ids: Vec<Value> = match value {
                Value::Array(items) => items.iter().map(|i| json!({"id": text_of(i)})).collect(),
                v => vec![json!({"id": text_of(v)})],
            };
            json!({"relation": ids})
        }
        other => {
            return Err(Error::InvalidInput(format!(
                "property `{name}` is of type `{other}`, which cannot be set from a plain value; give it in `properties` in Notion's shape"
            )))
        }
    })
}
