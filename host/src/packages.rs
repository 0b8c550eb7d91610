//! The install lifecycle of connectors: the checks a component passes before it is packed or
//! installed ([`check`]), what decides that a package may be installed (`verify`) and what the
//! admin approves (`review`), and installing, approving, upgrading, rolling back and removing
//! (`lifecycle`, as methods of [`crate::app::App`]).

mod browse;
pub mod check;
mod lifecycle;
mod registry_http;
mod review;
mod startup;
mod verify;

pub use review::{InstallOutcome, Review};
