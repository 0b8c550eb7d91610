//! answers describe() with megabytes (an action with a 5 MB description).
use heph_sdk::{export_connector, json, Connector, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({
            "actions": [{"name": "attack", "description": "x".repeat(5 << 20),
                         "input": {"type": "object"}, "output": {"type": "object"}}],
            "triggers": []
        })
    }
}

export_connector!(Guest);
