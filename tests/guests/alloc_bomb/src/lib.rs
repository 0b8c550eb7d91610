//! allocates until the memory cap.
#![allow(unused_imports, unconditional_recursion, unreachable_code)]
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({"actions": [{"name": "attack", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
    }

    fn run_action(ctx: &Context, _action: &str, input: Value) -> Result<Value, Error> {
        let _ = (&ctx, &input);
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export_connector!(Guest);
