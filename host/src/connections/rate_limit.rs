//! A token bucket per connection: every outbound request of a connection (whichever scenario,
//! worker task or CLI call makes it) waits for a token, so that a scenario processing many items
//! at once stays within what the upstream allows (Notion: 3 requests/s). The rate comes from
//! the connector's manifest (`[limits] requests_per_second`, `burst`). A 429 with
//! `Retry-After` holds the whole connection for that long.
//!
//! The bucket lives in the process: several `heph worker` processes each keep their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// One connection's bucket.
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens per second (`None`: no limit but the upstream's own 429s).
    rate: Option<f64>,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    hold_until: Option<Instant>,
}

/// The longest a `Retry-After` is obeyed for before the call itself fails and retries later.
const MAX_HOLD: Duration = Duration::from_secs(300);

impl RateLimiter {
    /// A bucket of `burst` tokens refilled at `per_second`.
    pub fn new(per_second: Option<f64>, burst: Option<u32>) -> RateLimiter {
        let rate = per_second.filter(|r| *r > 0.0);
        let burst = f64::from(burst.unwrap_or(1).max(1));
        RateLimiter {
            rate,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                refilled: Instant::now(),
                hold_until: None,
            }),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut bucket = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                match bucket.hold_until {
                    Some(until) if until > now => Some(until - now),
                    _ => {
                        bucket.hold_until = None;
                        match self.rate {
                            None => None,
                            Some(rate) => {
                                let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
                                bucket.tokens = (bucket.tokens + elapsed * rate).min(self.burst);
                                bucket.refilled = now;
                                if bucket.tokens >= 1.0 {
                                    bucket.tokens -= 1.0;
                                    None
                                } else {
                                    Some(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
                                }
                            }
                        }
                    }
                }
            };
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// How much longer an upstream's `Retry-After` holds the connection's requests: the
    /// engine parks an item instead of holding a worker through it. (The bucket's own spacing
    /// is waited inline: with the scenario's concurrency `c`, at most `c / rate` a request.)
    pub fn held_for(&self) -> Duration {
        let bucket = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        bucket
            .hold_until
            .filter(|until| *until > now)
            .map_or(Duration::ZERO, |until| until - now)
    }

    /// Holds every request for `duration` (a 429's `Retry-After`).
    pub fn hold(&self, duration: Duration) {
        let until = Instant::now() + duration.min(MAX_HOLD);
        let mut bucket = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if bucket.hold_until.is_none_or(|current| current < until) {
            bucket.hold_until = Some(until);
        }
    }
}

/// The buckets of all connections this process uses.
#[derive(Debug, Default)]
pub struct RateLimiters {
    buckets: Mutex<HashMap<String, Arc<RateLimiter>>>,
}

impl RateLimiters {
    /// The bucket of a connection, created with the manifest's rate on first use.
    pub fn get(
        &self,
        connection_id: &str,
        per_second: Option<f64>,
        burst: Option<u32>,
    ) -> Arc<RateLimiter> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry(connection_id.to_string())
            .or_insert_with(|| Arc::new(RateLimiter::new(per_second, burst)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hold_tells_how_long_it_has_left() {
        let limiter = RateLimiter::new(Some(0.5), Some(1));
        limiter.acquire().await;
        assert_eq!(limiter.held_for(), Duration::ZERO, "the bucket's spacing is no hold");
        limiter.hold(Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(limiter.held_for(), Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(limiter.held_for(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_spaces_requests_after_its_burst() {
        let limiter = RateLimiter::new(Some(3.0), Some(2));
        let start = Instant::now();
        for _ in 0..8 {
            limiter.acquire().await;
        }
        // Two at once, then six more at 3/s: two seconds.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1990), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(2100), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_stops_everything_for_its_time() {
        let limiter = RateLimiter::new(None, None);
        limiter.hold(Duration::from_secs(5));
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 5);
        limiter.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 5, "no hold after it ended");
    }
}
