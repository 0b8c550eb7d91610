//! panics.
#![allow(unused_imports, unconditional_recursion, unreachable_code)]
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({"actions": [{"name": "attack", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
    }

    fn run_action(ctx: &Context, _action: &str, input: Value) -> Result<Value, Error> {
        let _ = (&ctx, &input);
        let reason = input["reason"].as_str().unwrap_or("no reason");
        panic!("guest panicked on purpose: {reason}");
    }
}

export_connector!(Guest);
