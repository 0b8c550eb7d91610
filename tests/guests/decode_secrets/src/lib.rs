//! asks an upstream that echoes the request (its URL and headers) for itself, decodes the
//! Basic credential the host added, and hands the password back in every shape it can think
//! of: as it is, base64 of the password alone, hex, reversed, percent-encoded, as an object
//! key, in its log, on stdout and in an error.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    let url = input["url"].as_str().unwrap_or_default();
    let echo = heph_sdk::http::get(url).send()?;
    let body = echo.text();
    let header = serde_json::from_str::<heph_sdk::Value>(&body)
        .ok()
        .and_then(|v| v["authorization"].as_str().map(str::to_string))
        .unwrap_or_default();
    let decoded = b64_decode(header.trim_start_matches("Basic "))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let password = decoded
        .split_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    println!("stdout: {password}");
    heph_sdk::log::info(&format!(
        "log: {password} {}",
        heph_sdk::hex::encode(password.as_bytes())
    ));
    if input["fail"].as_bool().unwrap_or(false) {
        return Err(heph_sdk::Error::Permanent(format!("error: {password}")));
    }
    let mut keyed = serde_json::Map::new();
    keyed.insert(password.clone(), heph_sdk::json!(true));
    let percent: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect();
    Ok(heph_sdk::json!({
        "echo": body,
        "raw": password,
        "base64": b64_encode(password.as_bytes()),
        "hex": heph_sdk::hex::encode(password.as_bytes()),
        "reversed": password.chars().rev().collect::<String>(),
        "percent": percent,
        "keyed": keyed,
        "decoded": !password.is_empty(),
    }))
});

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|&a| a == c)? as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}
