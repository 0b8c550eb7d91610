//! Rate limits of the API: a token bucket per credential (an API token or a browser session),
//! and per client address for calls made without one. A caller over its limit gets 429
//! `rate_limited` with `Retry-After`; every answer says what is left in `RateLimit-Remaining`.
//! Signing in has tighter buckets of its own, per address and per account name, against
//! password guessing.
//!
//! The buckets live in the process (like the connections' buckets): each `heph serve` keeps its
//! own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: so many calls a minute, with bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Calls per minute, sustained (a fraction for slower rates).
    pub per_minute: f64,
    /// Calls allowed at once.
    pub burst: u32,
}

impl Rate {
    /// The same burst, refilled over `window` instead of a minute.
    pub fn over(self, window: Duration) -> Rate {
        Rate {
            per_minute: f64::from(self.burst) * 60.0 / window.as_secs_f64().max(1.0),
            burst: self.burst,
        }
    }

    /// The default for API callers.
    pub const API: Rate = Rate {
        per_minute: 1200.0,
        burst: 200, // a sixth of the minute, as `heph serve` sets it
    };
    /// Sign-in attempts per client address.
    pub const SIGN_IN: Rate = Rate {
        per_minute: 10.0,
        burst: 10,
    };
    /// Sign-in attempts per account name, from any address: looser than per address, as
    /// anyone can spend it (and so keep the account's owner waiting).
    pub const SIGN_IN_NAME: Rate = Rate {
        per_minute: 20.0,
        burst: 20,
    };
}

/// What a bucket said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Go on; this many calls are left right now.
    Allowed {
        /// Calls left in the bucket.
        remaining: u32,
    },
    /// Over the limit: try again after this long.
    Limited {
        /// When a call will be allowed again.
        retry_after: Duration,
    },
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// Buckets by key.
#[derive(Debug, Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets idle this long are full again and can be forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

impl RateLimits {
    /// Takes one call from `key`'s bucket.
    pub fn take(&self, key: &str, rate: Rate) -> Verdict {
        self.take_at(key, rate, Instant::now())
    }

    fn take_at(&self, key: &str, rate: Rate, now: Instant) -> Verdict {
        let per_second = rate.per_minute.max(1e-6) / 60.0;
        let burst = f64::from(rate.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.refilled) < FORGET_AFTER);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Allowed {
                remaining: bucket.tokens as u32,
            }
        } else {
            let wait = (1.0 - bucket.tokens) / per_second;
            Verdict::Limited {
                retry_after: Duration::from_secs_f64(wait.max(0.001)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_calls_wait_for_the_refill() {
        let limits = RateLimits::default();
        let rate = Rate {
            per_minute: 60.0,
            burst: 3,
        };
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            assert_eq!(
                limits.take_at("tok_a", rate, t0),
                Verdict::Allowed { remaining: left }
            );
        }
        let Verdict::Limited { retry_after } = limits.take_at("tok_a", rate, t0) else {
            panic!("the fourth call at once must be limited");
        };
        assert!(retry_after <= Duration::from_secs(1) && retry_after > Duration::from_millis(900));
        // Another credential has its own bucket.
        assert!(matches!(
            limits.take_at("tok_b", rate, t0),
            Verdict::Allowed { .. }
        ));
        // A second later one call is allowed again, and only one.
        let t1 = t0 + Duration::from_secs(1);
        assert!(matches!(
            limits.take_at("tok_a", rate, t1),
            Verdict::Allowed { .. }
        ));
        assert!(matches!(
            limits.take_at("tok_a", rate, t1),
            Verdict::Limited { .. }
        ));
    }
}
