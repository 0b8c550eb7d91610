//! Passwords: argon2id with a random salt per password, stored as a PHC string (the algorithm,
//! its parameters and the salt travel with the hash, so they can be raised later). Hashing is
//! deliberately slow and memory-hungry (argon2's defaults: 19 MiB for each check), so it runs
//! on the low-priority background threads (`crate::background`), and at most [`CONCURRENT_HASHES`] at once: a flood of sign-ins waits
//! its turn for [`QUEUE_WAIT`], then gets 503 `busy` with `Retry-After`, instead of taking the
//! server's memory.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::app::AppError;

/// Password hashes computed at once, process-wide (the memory they take: 19 MiB each).
pub const CONCURRENT_HASHES: usize = 4;

/// How long a check waits for a turn before the caller is told to come back.
pub const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The turns.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_HASHES);

/// Runs one hash on a blocking thread, once a turn is free.
async fn with_turn<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let turn = tokio::time::timeout(QUEUE_WAIT, HASHING.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let result = crate::background::run("hashing a password", work).await;
    drop(turn);
    result
}

fn busy() -> AppError {
    AppError::new(
        "busy",
        503,
        "too many passwords are being checked right now; try again in a few seconds",
    )
    .with_details(serde_json::json!({ "retry_after_seconds": 2 }))
}

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
    with_turn(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(format!("cannot hash a password: {e}")))
    })
    .await?
}

/// Whether `password` matches the stored PHC string. With no stored hash (an unknown user, or
/// one without a password) the same work is done against a throwaway hash, so that the answer
/// takes as long either way and does not tell which names exist. Errs only when no turn came
/// in time (`busy`).
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    if password.len() > 4 * 1024 {
        // Longer than any password `check_strength` accepts: no hash to spend on it.
        return Ok(false);
    }
    with_turn(move || {
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
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await?);
        assert!(!verify("correct horse battery!".into(), Some(phc.clone())).await?);
        assert!(!verify("correct horse battery".into(), None).await?);
        assert!(!verify("x".into(), Some("not a phc string".into())).await?);
        let again = hash("correct horse battery".into()).await?;
        assert_ne!(phc, again, "each hash has its own salt");
        Ok(())
    }

    #[tokio::test]
    async fn checks_past_the_concurrent_hashes_wait_then_are_told_busy() {
        tokio::time::pause();
        // Every turn is taken (as by a flood of sign-ins)...
        let held = HASHING
            .acquire_many(CONCURRENT_HASHES as u32)
            .await
            .expect("the semaphore is open");
        // ...so a check waits, and past the queue wait is answered busy, having spent nothing.
        let e = verify("correct horse battery".into(), None)
            .await
            .unwrap_err();
        assert_eq!((e.code, e.status), ("busy", 503));
        assert_eq!(e.details.unwrap()["retry_after_seconds"], 2);
        drop(held);
        tokio::time::resume();
        assert!(!verify("correct horse battery".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn short_passwords_are_refused() {
        let e = hash("short".into()).await.unwrap_err();
        assert_eq!(e.code, "invalid_input");
        assert!(e.message.contains("at least 10"), "{}", e.message);
    }
}
