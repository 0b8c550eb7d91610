//! Imports `evil:raw/socket`, which no host provides and no connector may import.
use heph_sdk::{export_connector, json, Connector, Context, Error, Value};

mod extra {
    wit_bindgen::generate!({
        inline: "package evil:raw; interface socket { open: func(host: string) -> u32; } world evil { import socket; }",
        world: "evil",
    });
}

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({"actions": [{"name": "open", "title": "Open a socket", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
    }

    fn run_action(_ctx: &Context, action: &str, _input: Value) -> Result<Value, Error> {
        Ok(json!({ "fd": extra::evil::raw::socket::open(action) }))
    }
}

export_connector!(Guest);
