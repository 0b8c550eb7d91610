// Included by each test guest: the boilerplate of a connector with one action, `attack`, whose
// body is the guest's own. Each guest stays a component of its own, named for its attack.

/// Defines and exports a connector whose `attack` action runs `$body` with `ctx` and `input`.
macro_rules! attack_guest {
    (|$ctx:ident, $input:ident| $body:block) => {
        struct Guest;

        impl heph_sdk::Connector for Guest {
            fn describe() -> heph_sdk::Value {
                heph_sdk::json!({"actions": [{"name": "attack", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
            }

            #[allow(unused_variables)]
            fn run_action($ctx: &heph_sdk::Context, _action: &str, $input: heph_sdk::Value) -> Result<heph_sdk::Value, heph_sdk::Error> $body
        }

        heph_sdk::export_connector!(Guest);
    };
}

/// The body shared by the guests that fetch a URL given in the input and return the answer.
#[allow(unused_macros)]
macro_rules! fetch_input_url {
    ($input:ident) => {{
        let url = $input["url"].as_str().unwrap_or_default();
        let response = heph_sdk::http::get(url).send()?;
        Ok(heph_sdk::json!({"status": response.status, "body": response.text()}))
    }};
}
