//! Publisher keys: ed25519. A public key is written `ed25519:BASE64`; a secret key file holds
//! one line, `heph-secret-key ed25519 BASE64` (the 32-byte seed), readable by its owner only.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest as _, Sha256};

const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "heph-secret-key ed25519 ";

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a key in the expected form.
    #[error("{0}")]
    Invalid(String),
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The system's random source failed.
    #[error("no randomness: {0}")]
    Random(String),
}

/// A publisher's public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

/// A publisher's secret key. Its `Debug` never shows the key.
pub struct SecretKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", B64.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<PublicKey, KeyError> {
        let invalid = || {
            KeyError::Invalid(format!(
                "`{}` is not a public key: write ed25519:BASE64 as `heph keygen` prints it",
                text.trim()
            ))
        };
        let b64 = text
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or_else(invalid)?;
        let bytes: [u8; 32] = B64
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(invalid)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| invalid())
    }
}

impl PublicKey {
    /// A short fingerprint to show people: the first 16 hex digits of the key's sha256.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    /// Checks `signature` (base64) of `message`.
    pub fn verify(&self, message: &[u8], signature: &str) -> Result<(), KeyError> {
        let bad = || KeyError::Invalid("the signature does not verify".into());
        let bytes: [u8; 64] = B64
            .decode(signature.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        self.0
            .verify(message, &ed25519_dalek::Signature::from_bytes(&bytes))
            .map_err(|_| bad())
    }
}

impl SecretKey {
    /// A new key from the system's random source.
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The base64 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.0.sign(message).to_bytes())
    }

    /// Reads a key file written by [`SecretKey::save`].
    pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let invalid = || {
            KeyError::Invalid(format!(
                "{} is not a heph secret key file (make one with `heph keygen`)",
                path.display()
            ))
        };
        let seed: [u8; 32] = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(invalid)?;
        Ok(SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Writes the key to a new file only its owner can read; refuses to overwrite one.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        let line = format!("{SECRET_PREFIX}{}\n", B64.encode(self.0.to_bytes()));
        std::io::Write::write_all(&mut file, line.as_bytes()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let path = dir.path().join("publisher.key");
        key.save(&path).unwrap();
        assert!(
            key.save(&path).is_err(),
            "an existing key file is never overwritten"
        );
        let loaded = SecretKey::load(&path).unwrap();
        assert_eq!(loaded.public(), key.public());
        let public: PublicKey = key.public().to_string().parse().unwrap();
        let signature = loaded.sign(b"hello");
        public.verify(b"hello", &signature).unwrap();
        assert!(public.verify(b"hellO", &signature).is_err());
        assert!(!format!("{key:?}").contains(&B64.encode(key.0.to_bytes())));
        assert!("ed25519:AAAA".parse::<PublicKey>().is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key file is private");
        }
    }
}
