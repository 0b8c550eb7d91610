//! An OAuth-connected connector, as a real one is: it calls the provider's protected userinfo
//! endpoint (`{api_base}/me`) with whatever token the host injects, and never sees the token.
use heph_sdk::{export_connector, http, json, Connector, Context, Error, Value};

struct Guest;

fn me(ctx: &Context) -> Result<Value, Error> {
    let base = ctx.field("api_base")?.trim_end_matches('/');
    http::get(&format!("{base}/me")).send()?.error_for_status()?.json()
}

impl Connector for Guest {
    fn describe() -> Value {
        json!({
            "actions": [
                {"name": "me", "input": {"type": "object"}, "output": {"type": "object"}},
                {"name": "me_post", "input": {"type": "object"}, "output": {"type": "object"}}
            ],
            "triggers": []
        })
    }

    fn test_connection(ctx: &Context) -> Result<Value, Error> {
        me(ctx)
    }

    fn run_action(ctx: &Context, action: &str, input: Value) -> Result<Value, Error> {
        match action {
            "me" => me(ctx),
            // A request with a body: after a 401 the host must resend the same body.
            "me_post" => {
                let base = ctx.field("api_base")?.trim_end_matches('/');
                let note = input["note"].as_str().unwrap_or_default();
                http::post(&format!("{base}/me"))
                    .body(format!("note={note}").into_bytes(), "application/x-www-form-urlencoded")
                    .send()?
                    .error_for_status()?
                    .json()
            }
            other => Err(Error::InvalidInput(format!("no action `{other}`"))),
        }
    }
}

export_connector!(Guest);
