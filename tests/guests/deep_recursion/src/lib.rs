//! recurses without bound.
#![allow(unused_imports, unconditional_recursion, unreachable_code)]
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({"actions": [{"name": "attack", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
    }

    fn run_action(ctx: &Context, _action: &str, input: Value) -> Result<Value, Error> {
        let _ = (&ctx, &input);
        fn dive(n: u64) -> u64 {
            std::hint::black_box(dive(std::hint::black_box(n + 1)) + 1)
        }
        Ok(json!({"depth": dive(0)}))
    }
}

export_connector!(Guest);
