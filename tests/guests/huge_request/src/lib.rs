//! sends a request body larger than the host allows.

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    let url = input["url"].as_str().unwrap_or_default();
    let size = input["bytes"].as_u64().unwrap_or(0) as usize;
    let response = heph_sdk::http::post(url)
        .body(vec![b'x'; size], "application/octet-stream")
        .send()?;
    Ok(heph_sdk::json!({"status": response.status}))
});
