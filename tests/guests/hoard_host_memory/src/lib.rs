//! makes the host hold memory on its behalf, outside its own 64 MiB: `how` = `headers` keeps
//! thousands of header maps alive, `big_header` builds one header map of 64 KiB, `refusals`
//! makes refused requests with long URLs (each one a call-log entry), `result` answers with
//! millions of tiny JSON values.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    use heph_sdk::bindings::wasi::http::types::Fields;
    match input["how"].as_str().unwrap_or_default() {
        "headers" => {
            let mut kept = Vec::new();
            let value = vec![b'v'; 6 * 1024];
            for i in 0..100_000 {
                let fields = Fields::new();
                for h in 0..2 {
                    let _ = fields.append(&format!("x-hoard-{h}"), &value);
                }
                kept.push(fields);
                if i % 1000 == 0 {
                    heph_sdk::log::info(&format!("{} header maps held", kept.len()));
                }
            }
            Ok(heph_sdk::json!({"held": kept.len()}))
        }
        "big_header" => {
            let fields = Fields::new();
            for h in 0..8 {
                let _ = fields.append(&format!("x-big-{h}"), &vec![b'v'; 8 * 1024]);
            }
            Ok(heph_sdk::json!({"built": true}))
        }
        "refusals" => {
            let long = "a".repeat(8_000);
            for i in 0..1_500 {
                let _ = heph_sdk::http::get(&format!("https://not-allowed-{i}.example.org/{long}"))
                    .send();
            }
            Ok(heph_sdk::json!({"done": true}))
        }
        _ => {
            // Ten MB of `0,` by default: five million values once parsed.
            let count = input["values"].as_u64().unwrap_or(5_000_000) as usize;
            let values = vec![0u8; count];
            Ok(heph_sdk::json!({"values": values}))
        }
    }
});
