//! Heph's end-to-end tests, in one binary (one link, one process).
//!
//! - `accounts`: sessions, CSRF, scopes, access between users, consent, idempotency, rate
//!   limits, pages and the OpenAPI document, through `heph serve`.
//! - `dashboard`: the web dashboard in a real headless Chromium, from install to import.
//! - `sandbox`: hostile connectors, one per attack.
//! - `hostile`: the runtime's bounds against hostile connectors: fair admission, host memory,
//!   answer caps, CPU that counts CPU, `--resolve` ports, redaction in every form, signing keys.
//! - `hostile_end_to_end`: hostile connectors through the CLI, and installed as signed partner
//!   packages on `heph serve`.
//! - `hostile_users`: the server against hostile users: connections, header and body time,
//!   body sizes, password hashes, strict bodies.
//! - `wordpress`: the WordPress connector against a real WordPress.
//! - `cli`: the `heph` command line as a user runs it.
//! - `connections`: connections through `heph serve` on SQLite and PostgreSQL; the vault.
//! - `credentials`: each auth kind injected the right way.
//! - `store`: the store and the vault, on SQLite and PostgreSQL alike.
//! - `oauth`: connections through a real OAuth 2.0 server, with `heph serve`.
//! - `engine`: scenarios, runs, the data store, webhooks and retries through `heph serve`.
//! - `engine_crash`: runs killed mid-import resume (`heph run` on SQLite, workers on PostgreSQL).
//! - `connectors` (shared), `notion`, `google_calendar`, `linkedin`: the first-party connectors
//!   against fakes of their APIs over HTTPS, connected through their real OAuth flows.

mod accounts;
mod cli;
mod connections;
mod connectors;
mod credentials;
mod dashboard;
mod engine;
mod engine_crash;
mod google_calendar;
mod hostile;
mod hostile_end_to_end;
mod hostile_users;
mod linkedin;
mod monday;
mod notion;
mod oauth;
mod registry;
mod sandbox;
mod store;
mod wordpress;
