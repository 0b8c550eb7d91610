//! spins forever.
#![allow(unused_imports, unconditional_recursion, unreachable_code)]
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({"actions": [{"name": "attack", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
    }

    fn run_action(ctx: &Context, _action: &str, input: Value) -> Result<Value, Error> {
        let _ = (&ctx, &input);
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_connector!(Guest);
