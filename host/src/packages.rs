//! The install lifecycle of connectors: the checks a component passes before it is packed or
//! installed ([`check`]), and installing, approving, upgrading, rolling back and removing
//! (`lifecycle`, as methods of [`crate::app::App`]).

pub mod check;
mod lifecycle;
mod startup;

pub use lifecycle::{InstallOutcome, Review};
