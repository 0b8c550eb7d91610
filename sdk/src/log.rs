//! Lines for the run's step log. They are stored with the call, beside its outbound requests.
//! Never log a secret.

use crate::bindings::heph::connector::log::{log, Level};

/// A debug line.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message.as_ref());
}

/// An informational line.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message.as_ref());
}

/// A warning.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message.as_ref());
}

/// An error line (the call may still succeed).
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message.as_ref());
}
