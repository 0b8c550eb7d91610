//! a trigger that always says it has more: every page one item and a new cursor.
use heph_sdk::{export_connector, json, Connector, Context, Error, Item, Page, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({
            "actions": [],
            "triggers": [{"name": "forever", "kind": "poll", "title": "Forever",
                          "config": {"type": "object"}, "output": {"type": "object"}}]
        })
    }

    fn poll(
        _ctx: &Context,
        _trigger: &str,
        _config: Value,
        cursor: Option<String>,
    ) -> Result<Page, Error> {
        let n: u64 = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0) + 1;
        Ok(Page {
            items: vec![Item::new(n, json!({"n": n}))],
            cursor: Some(n.to_string()),
            has_more: true,
        })
    }
}

export_connector!(Guest);
