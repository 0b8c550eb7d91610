//! asks the host for HMACs keyed by the connection's password (not a signing key), and by its
//! declared signing key.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    let by_password = heph_sdk::sign_hmac_sha256("password", b"message");
    let verified = heph_sdk::verify_hmac_sha256("password", b"message", &[0u8; 32]);
    let by_signing_key = heph_sdk::sign_hmac_sha256("hook_secret", b"message");
    Ok(heph_sdk::json!({
        "by_password": by_password.is_some(),
        "verify_with_password": verified,
        "by_signing_key": by_signing_key.map(|m| heph_sdk::hex::encode(&m)),
    }))
});
