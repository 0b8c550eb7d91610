//! fetches an allowed host that is a loopback, private or metadata address.
#![allow(unused_imports, unconditional_recursion, unreachable_code)]
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({"actions": [{"name": "attack", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
    }

    fn run_action(ctx: &Context, _action: &str, input: Value) -> Result<Value, Error> {
        let _ = (&ctx, &input);
        let url = input["url"].as_str().unwrap_or_default();
        let response = http::get(url).send()?;
        Ok(json!({"status": response.status, "body": response.text()}))
    }
}

export_connector!(Guest);
