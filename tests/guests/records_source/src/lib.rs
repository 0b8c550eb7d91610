//! A plain upstream of records, as many real APIs are: `GET /records?after=&limit=` answers
//! `{"records": [...], "next": "<id>"|null}`, and `POST /send` takes one record. The engine's
//! tests and benchmark use it for imports of any size, rate limits, 503s and timeouts.
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Item, Page, Value};

struct Guest;

fn base(ctx: &Context) -> Result<String, Error> {
    Ok(ctx.field("base_url")?.trim_end_matches('/').to_string())
}

impl Connector for Guest {
    fn describe() -> Value {
        json!({
            "actions": [{
                "name": "send", "title": "Send a record",
                "input": {"type": "object", "required": ["id"], "additionalProperties": false,
                          "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                         "count": {"type": "integer", "minimum": 0}}},
                "output": {"type": "object"}
            }],
            "triggers": [
                {"name": "records", "kind": "poll", "title": "New records",
                 "config": {"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 1000}}},
                 "output": {"type": "object"}},
                {"name": "pushed", "kind": "webhook", "title": "Pushed records",
                 "config": {"type": "object"}, "output": {"type": "object"}}
            ]
        })
    }

    fn test_connection(ctx: &Context) -> Result<Value, Error> {
        http::get(&format!("{}/me", base(ctx)?)).send()?.error_for_status()?.json()
    }

    fn run_action(ctx: &Context, action: &str, input: Value) -> Result<Value, Error> {
        match action {
            "send" => http::post(&format!("{}/send", base(ctx)?))
                .json(&input)
                .send()?
                .error_for_status()?
                .json(),
            other => Err(Error::InvalidInput(format!("no action `{other}`"))),
        }
    }

    fn poll(ctx: &Context, trigger: &str, config: Value, cursor: Option<String>) -> Result<Page, Error> {
        if trigger != "records" {
            return Err(Error::InvalidInput(format!("no trigger `{trigger}`")));
        }
        let limit = config.get("limit").and_then(Value::as_u64).unwrap_or(100);
        let after = cursor.unwrap_or_default();
        let answer: Value = http::get(&format!("{}/records", base(ctx)?))
            .query("after", &after)
            .query("limit", limit)
            .send()?
            .error_for_status()?
            .json()?;
        let records = answer["records"].as_array().cloned().unwrap_or_default();
        let last = records.last().and_then(|r| r["id"].as_str()).map(str::to_string);
        let items = records
            .into_iter()
            .map(|r| Item::new(r["id"].as_str().unwrap_or_default().to_string(), r))
            .collect();
        let next = answer["next"].as_str().map(str::to_string);
        Ok(Page {
            items,
            has_more: next.is_some(),
            cursor: next.or(last).or(Some(after)).filter(|c| !c.is_empty()),
        })
    }

    fn webhook(_ctx: &Context, _trigger: &str, _headers: &[(String, String)], body: &[u8]) -> Result<Vec<Item>, Error> {
        let records: Vec<Value> = serde_json::from_slice(body)
            .map_err(|e| Error::InvalidInput(format!("not a JSON list: {e}")))?;
        Ok(records
            .into_iter()
            .map(|r| Item::new(r["id"].as_str().unwrap_or_default().to_string(), r))
            .collect())
    }
}

export_connector!(Guest);
