//! The connector's error type: the contract's `error` variant, with helpers.

use crate::bindings::exports::heph::connector::connector as wit;

/// Why a call failed. The engine retries `Transient` and `RateLimited`, and stops on the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input is invalid, or the upstream refused it as invalid.
    InvalidInput(String),
    /// The credentials are missing, wrong, expired, or lack a permission.
    Unauthorized(String),
    /// The thing asked for does not exist upstream.
    NotFound(String),
    /// The upstream asked to slow down; seconds to wait, if it said.
    RateLimited(Option<u32>),
    /// A failure that may go away on its own: safe to retry.
    Transient(String),
    /// Anything else.
    Permanent(String),
}

impl Error {
    /// The error for an action this connector does not have.
    pub fn unknown_action(name: &str) -> Self {
        Error::InvalidInput(format!("unknown action `{name}`"))
    }

    /// The error for a trigger this connector does not have.
    pub fn unknown_trigger(name: &str) -> Self {
        Error::InvalidInput(format!("unknown trigger `{name}`"))
    }

    /// An input field that is missing or has the wrong type.
    pub fn bad_field(name: &str, expected: &str) -> Self {
        Error::InvalidInput(format!("`{name}` must be {expected}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::RateLimited(Some(s)) => write!(f, "rate limited: retry after {s} s"),
            Error::RateLimited(None) => write!(f, "rate limited"),
            Error::Transient(m) => write!(f, "transient: {m}"),
            Error::Permanent(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Permanent(format!("unexpected JSON from upstream: {e}"))
    }
}

impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidInput(m) => wit::Error::InvalidInput(m),
            Error::Unauthorized(m) => wit::Error::Unauthorized(m),
            Error::NotFound(m) => wit::Error::NotFound(m),
            Error::RateLimited(s) => wit::Error::RateLimited(s),
            Error::Transient(m) => wit::Error::Transient(m),
            Error::Permanent(m) => wit::Error::Permanent(m),
        }
    }
}
