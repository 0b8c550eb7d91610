//! Authentication: API tokens and browser sessions (how callers of the API prove who they
//! are), passwords, and OAuth 2.0 (how heph gets, refreshes and revokes tokens at a connector's
//! provider). Users and roles live in the store; the checks that use them are in `api`.

pub mod api_tokens;
pub mod consent;
pub mod oauth;
pub mod passwords;
pub mod scopes;
pub mod sessions;
pub mod users;
