//! The limits the runtime enforces, with their defaults. Every one can be changed in
//! [`RuntimeConfig`](super::RuntimeConfig).

use std::time::Duration;

/// Per-call limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory a connector instance may grow to.
    pub memory_bytes: usize,
    /// CPU time a call may spend executing WebAssembly (measured in epoch ticks).
    pub cpu_time: Duration,
    /// Wall-clock time a call may take, waiting on the network included.
    pub wall_time: Duration,
    /// Largest request body a connector may send.
    pub request_body_bytes: u64,
    /// Largest response body a connector may receive.
    pub response_body_bytes: u64,
    /// Time to connect to an upstream.
    pub connect_timeout: Duration,
    /// Time from sending a request to the first byte of its answer.
    pub first_byte_timeout: Duration,
    /// Longest pause between two chunks of an answer.
    pub between_bytes_timeout: Duration,
    /// Requests one call may have in flight at once (a manifest may ask for fewer).
    pub concurrent_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(10),
            wall_time: Duration::from_secs(120),
            request_body_bytes: 16 << 20,
            response_body_bytes: 32 << 20,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(30),
            concurrent_requests: 8,
        }
    }
}

/// How often the epoch ticks: the granularity of the CPU deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
