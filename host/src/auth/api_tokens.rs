//! API tokens: 256 random bits, shown once, stored only as their SHA-256. A token is long and
//! random, so a fast hash is enough (no password-style stretching needed), and lookups stay a
//! single indexed query.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const PREFIX: &str = "heph_";

/// A new token and its hash.
pub fn generate() -> (String, String) {
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::vault::random_bytes::<32>())
    );
    let hash = hash(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = generate();
        let (b, hb) = generate();
        assert!(a.starts_with(PREFIX) && a.len() > 40);
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(hash(&a), ha);
        assert!(!ha.contains(&a[PREFIX.len()..]));
    }
}
