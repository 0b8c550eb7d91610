//! Heph's end-to-end tests, in one binary (one link, one process).
//!
//! - `sandbox`: hostile connectors, one per attack.
//! - `wordpress`: the WordPress connector against a real WordPress.
//! - `cli`: the `heph` command line as a user runs it.

mod cli;
mod sandbox;
mod wordpress;
