//! Authentication: API tokens (how callers of the API prove who they are) and OAuth 2.0 (how
//! heph gets, refreshes and revokes tokens at a connector's provider). Users and roles live in
//! the store; the checks that use them are in `api`.

pub mod api_tokens;
pub mod oauth;
pub mod users;
