//! Why a call failed, as the engine, the API and the CLI see it: the connector's own typed
//! errors (the contract's `error` variant) and the host's (a crash, an exhausted limit, a busy
//! pool). `code()` is stable: the API answers it and the engine's retries decide on it.

use std::time::Duration;

use super::bindings::exports::heph::connector::connector as wit;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The connector says the input is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The connector says the credentials were refused.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The connector says the thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The upstream asked to slow down (seconds to wait).
    #[error("rate limited{}", .0.map(|s| format!(": retry after {s} s")).unwrap_or_default())]
    RateLimited(Option<u32>),
    /// A failure worth retrying.
    #[error("transient: {0}")]
    Transient(String),
    /// A failure not worth retrying.
    #[error("{0}")]
    Permanent(String),
    /// The guest trapped or panicked.
    #[error("the connector crashed: {0}")]
    Trap(String),
    /// The guest ran out of CPU time.
    #[error("the connector used more than its {0:?} of CPU time (an endless loop?)")]
    CpuTime(Duration),
    /// The call ran out of wall-clock time.
    #[error("the call took longer than its {0:?} limit")]
    WallTime(Duration),
    /// The guest wanted more memory than allowed.
    #[error("the connector needed more than its {0} MiB of memory")]
    Memory(usize),
    /// The call made the host hold more memory for it than its host budget allows.
    #[error("the call made the host hold more than its {0} MiB of memory (resources, log, bodies or answer); what it held was released")]
    HostMemory(usize),
    /// The call went past one of the runtime's caps (answer, cursor, items, requests).
    #[error("{0}")]
    Limit(String),
    /// No connector instance came free: the host is busy, not the connector broken. Retried.
    #[error("{0}")]
    Busy(String),
    /// The host could not make the call (configuration, a connector answer that breaks the
    /// contract).
    #[error("{0}")]
    Host(String),
}

impl CallError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::InvalidInput(_) => "invalid_input",
            CallError::Unauthorized(_) => "unauthorized",
            CallError::NotFound(_) => "not_found",
            CallError::RateLimited(_) => "rate_limited",
            CallError::Transient(_) => "transient",
            CallError::Permanent(_) => "permanent",
            CallError::Trap(_) => "trap",
            CallError::CpuTime(_) => "cpu_time_exceeded",
            CallError::WallTime(_) => "timeout",
            CallError::Memory(_) | CallError::HostMemory(_) => "memory_exceeded",
            CallError::Limit(_) => "limit_exceeded",
            CallError::Busy(_) => "busy",
            CallError::Host(_) => "host_error",
        }
    }

    /// The free text of the error, where it has one (for redaction).
    pub fn message_mut(&mut self) -> Option<&mut String> {
        match self {
            CallError::InvalidInput(m)
            | CallError::Unauthorized(m)
            | CallError::NotFound(m)
            | CallError::Transient(m)
            | CallError::Permanent(m)
            | CallError::Trap(m)
            | CallError::Limit(m)
            | CallError::Busy(m)
            | CallError::Host(m) => Some(m),
            CallError::RateLimited(_)
            | CallError::CpuTime(_)
            | CallError::WallTime(_)
            | CallError::Memory(_)
            | CallError::HostMemory(_) => None,
        }
    }
}

impl From<wit::Error> for CallError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::InvalidInput(m) => CallError::InvalidInput(m),
            wit::Error::Unauthorized(m) => CallError::Unauthorized(m),
            wit::Error::NotFound(m) => CallError::NotFound(m),
            wit::Error::RateLimited(s) => CallError::RateLimited(s),
            wit::Error::Transient(m) => CallError::Transient(m),
            wit::Error::Permanent(m) => CallError::Permanent(m),
        }
    }
}
