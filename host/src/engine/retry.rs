//! Whether and when a failed call is tried again, by the connector's typed error:
//!
//! | error | retried |
//! |---|---|
//! | `rate-limited(s)` | after `s` seconds (or 5 s when the upstream did not say), up to max(retries, 5) times |
//! | `transient`, a timeout | with exponential backoff and jitter (0.5 s, 1 s, 2 s … up to 60 s), `retries` times |
//! | `busy` (no instance came free) | with the same backoff, up to max(retries, 5) times |
//! | `invalid-input`, `unauthorized`, `not-found`, `permanent`, a crash | never |

use std::time::Duration;

use crate::runtime::CallError;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Give up.
    GiveUp,
}

/// The longest a `Retry-After` is waited for within a run.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Decides after attempt number `attempt` (1-based) of a node allowing `retries` retries.
pub fn decide(error: &CallError, attempt: u32, retries: u32) -> RetryDecision {
    match error {
        CallError::RateLimited(after) if attempt <= retries.max(5) => RetryDecision::Retry(
            after
                .map(|s| Duration::from_secs(u64::from(s)))
                .unwrap_or(Duration::from_secs(5))
                .min(MAX_RETRY_AFTER),
        ),
        CallError::Transient(_) | CallError::WallTime(_) if attempt <= retries => {
            RetryDecision::Retry(backoff(attempt))
        }
        // The host's pool was full: the connector did nothing wrong, so a scenario that
        // allows no retries still gets a few.
        CallError::Busy(_) if attempt <= retries.max(5) => RetryDecision::Retry(backoff(attempt)),
        _ => RetryDecision::GiveUp,
    }
}

/// Exponential backoff with jitter: half of the delay is fixed, half random.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(500)
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(7))
        .min(Duration::from_secs(60));
    let random = u64::from_le_bytes(crate::vault::random_bytes::<8>());
    let half = base.as_millis() as u64 / 2;
    Duration::from_millis(half + random % (half + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_decide() {
        let transient = CallError::Transient("503".into());
        assert!(matches!(decide(&transient, 1, 3), RetryDecision::Retry(_)));
        assert_eq!(decide(&transient, 4, 3), RetryDecision::GiveUp);
        assert_eq!(
            decide(&CallError::RateLimited(Some(7)), 1, 0),
            RetryDecision::Retry(Duration::from_secs(7))
        );
        assert_eq!(
            decide(&CallError::RateLimited(None), 6, 3),
            RetryDecision::GiveUp
        );
        let busy = CallError::Busy("the host is busy".into());
        assert!(matches!(decide(&busy, 1, 0), RetryDecision::Retry(_)));
        assert_eq!(decide(&busy, 6, 0), RetryDecision::GiveUp);
        for never in [
            CallError::InvalidInput("x".into()),
            CallError::Unauthorized("x".into()),
            CallError::NotFound("x".into()),
            CallError::Permanent("x".into()),
            CallError::Trap("x".into()),
        ] {
            assert_eq!(decide(&never, 1, 10), RetryDecision::GiveUp, "{never:?}");
        }
    }

    #[test]
    fn backoff_grows_with_jitter() {
        for attempt in 1..=4 {
            let base = 500u64 << (attempt - 1);
            let wait = backoff(attempt).as_millis() as u64;
            assert!(
                (base / 2..=base).contains(&wait),
                "attempt {attempt}: {wait} ms"
            );
        }
        assert!(backoff(30) <= Duration::from_secs(60));
    }
}
