//! tries to set its own Authorization, Cookie and Proxy-Authorization.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    use heph_sdk::bindings::wasi::http::types::Fields;
    // Try to set credential headers on the raw fields, bypassing the SDK.
    let fields = Fields::new();
    let refused: Vec<String> = ["authorization", "cookie", "proxy-authorization"]
        .iter()
        .filter(|h| fields.append(h, b"Bearer stolen-by-guest").is_err())
        .map(|h| h.to_string())
        .collect();
    // And through the SDK, which must report the refusal rather than send it.
    let sdk = heph_sdk::http::get(input["url"].as_str().unwrap_or_default())
        .header("Authorization", "Bearer stolen-by-guest")
        .send()
        .err()
        .map(|e| e.to_string());
    // A plain request: the host adds the connection credential, which the guest never sees.
    let plain = heph_sdk::http::get(input["url"].as_str().unwrap_or_default()).send()?;
    Ok(
        heph_sdk::json!({"refused": refused, "sdk_error": sdk, "status": plain.status, "body": plain.text()}),
    )
});
