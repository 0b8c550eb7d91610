//! hands back more than a call may: a poll cursor of megabytes, one small webhook delivery
//! split into 400,000 items, and (its action) 10,000 requests in one call.
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Item, Page, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({
            "actions": [{"name": "attack", "input": {"type": "object"}, "output": {"type": "object"}}],
            "triggers": [
                {"name": "fat_cursor", "kind": "poll", "config": {"type": "object"}, "output": {"type": "object"}},
                {"name": "split", "kind": "webhook", "config": {"type": "object"}, "output": {"type": "object"}}
            ]
        })
    }

    fn run_action(ctx: &Context, _action: &str, input: Value) -> Result<Value, Error> {
        let url = format!("{}/ok", ctx.field("site_url")?.trim_end_matches('/'));
        let count = input["count"].as_u64().unwrap_or(10_000);
        let (mut sent, mut refused) = (0, 0);
        for _ in 0..count {
            match http::get(&url).send() {
                Ok(_) => sent += 1,
                Err(_) => refused += 1,
            }
        }
        Ok(json!({"sent": sent, "refused": refused}))
    }

    fn poll(
        _ctx: &Context,
        _trigger: &str,
        _config: Value,
        _cursor: Option<String>,
    ) -> Result<Page, Error> {
        Ok(Page {
            items: vec![Item::new("1", json!({}))],
            cursor: Some("c".repeat(48 << 20)),
            has_more: false,
        })
    }

    fn webhook(
        _ctx: &Context,
        _trigger: &str,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Vec<Item>, Error> {
        Ok((0..400_000).map(|i| Item::new(i, json!(i))).collect())
    }
}

export_connector!(Guest);
