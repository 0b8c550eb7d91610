//! Passwords: argon2id with a random salt per password, stored as a PHC string (the algorithm,
//! its parameters and the salt travel with the hash, so they can be raised later). Hashing is
//! deliberately slow, so it runs off the async threads.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::app::AppError;

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 10;

/// Checks that a password is acceptable.
pub fn check_strength(password: &str) -> Result<(), AppError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(AppError::invalid(format!(
            "the password must be at least {MIN_LENGTH} characters (it has {length})"
        )));
    }
    if length > 1024 {
        return Err(AppError::invalid(
            "the password must be at most 1024 characters",
        ));
    }
    Ok(())
}

/// The PHC string of a new password.
pub async fn hash(password: String) -> Result<String, AppError> {
    check_strength(&password)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(format!("cannot hash a password: {e}")))
    })
    .await
    .map_err(|e| AppError::internal(format!("the hashing task failed: {e}")))?
}

/// Whether `password` matches the stored PHC string. With no stored hash (an unknown user, or
/// one without a password) the same work is done against a throwaway hash, so that the answer
/// takes as long either way and does not tell which names exist.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let decoy;
        let phc = match stored.as_deref() {
            Some(phc) => phc,
            None => {
                decoy = decoy_hash();
                decoy.as_str()
            }
        };
        let matches = PasswordHash::new(phc)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        matches && stored.is_some()
    })
    .await
    .unwrap_or(false)
}

fn decoy_hash() -> String {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"not a password anyone has", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() -> Result<(), AppError> {
        let phc = hash("correct horse battery".into()).await?;
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!verify("correct horse battery!".into(), Some(phc.clone())).await);
        assert!(!verify("correct horse battery".into(), None).await);
        assert!(!verify("x".into(), Some("not a phc string".into())).await);
        let again = hash("correct horse battery".into()).await?;
        assert_ne!(phc, again, "each hash has its own salt");
        Ok(())
    }

    #[tokio::test]
    async fn short_passwords_are_refused() {
        let e = hash("short".into()).await.unwrap_err();
        assert_eq!(e.code, "invalid_input");
        assert!(e.message.contains("at least 10"), "{}", e.message);
    }
}
