//! Heph: an integrations platform that runs connectors as sandboxed WebAssembly components.
//!
//! - [`runtime`]: the wasmtime engine, limits, the outbound policy and credential injection.
//! - [`manifest`]: connectors' `heph.toml`.
//! - [`catalog`]: the loaded connectors (the first-party ones ship inside the binary).
//! - [`packages`]: checking, installing, upgrading, rolling back and removing connectors.
//! - [`cli`]: the `heph` command line.
#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod auth;
pub mod background;
pub mod catalog;
pub mod cli;
pub mod connections;
pub mod engine;
pub mod files;
pub mod manifest;
pub mod memory;
pub mod packages;
pub mod runtime;
pub mod store;
pub mod strict;
pub mod ui;
pub mod vault;
