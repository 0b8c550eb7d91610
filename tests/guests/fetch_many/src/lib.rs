//! GETs `url` `count` times, one after the other, in one call: the outbound path's cost per
//! request, without the cost of instantiating.
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({"actions": [{"name": "fetch", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
    }

    fn run_action(_ctx: &Context, _action: &str, input: Value) -> Result<Value, Error> {
        let url = input["url"].as_str().unwrap_or_default();
        let count = input["count"].as_u64().unwrap_or(1);
        let mut bytes = 0;
        for _ in 0..count {
            bytes += http::get(url).send()?.error_for_status()?.body.len();
        }
        Ok(json!({"bytes": bytes}))
    }
}

export_connector!(Guest);
