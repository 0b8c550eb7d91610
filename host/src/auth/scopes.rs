//! What an API token may do. `read` reads (GET); `write` creates, changes, runs and deletes the
//! user's own things; `admin` does what only admins may (and only an admin's token can have
//! it). A token without `admin` acts as a member even when its user is an admin, so that a
//! token handed to a script cannot manage users or install connectors.

use crate::app::AppError;
use crate::store::Role;

/// Reads.
pub const READ: &str = "read";
/// Changes the user's own things.
pub const WRITE: &str = "write";
/// Admin calls.
pub const ADMIN: &str = "admin";

/// Every scope, in order.
pub const ALL: [&str; 3] = [READ, WRITE, ADMIN];

/// The scopes of a new token: the ones asked for, checked, or by default all the role allows.
pub fn for_new_token(requested: Option<&[String]>, role: Role) -> Result<Vec<String>, AppError> {
    let allowed: &[&str] = match role {
        Role::Admin => &ALL,
        Role::Member => &[READ, WRITE],
    };
    let Some(requested) = requested else {
        return Ok(allowed.iter().map(|s| s.to_string()).collect());
    };
    if requested.is_empty() {
        return Err(AppError::invalid(
            "a token needs at least one scope: `read`, `write` or `admin`",
        ));
    }
    let mut scopes = Vec::new();
    for scope in requested {
        if !ALL.contains(&scope.as_str()) {
            return Err(AppError::invalid(format!(
                "unknown scope `{scope}`: scopes are `read`, `write` and `admin`"
            )));
        }
        if !allowed.contains(&scope.as_str()) {
            return Err(AppError::forbidden(format!(
                "a {} cannot hold a token with the `{scope}` scope",
                if role == Role::Member {
                    "member"
                } else {
                    "user"
                }
            )));
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    // In canonical order, so that two equal sets read the same.
    scopes.sort_by_key(|s| ALL.iter().position(|a| a == s));
    Ok(scopes)
}

/// The scope a request needs: reading methods need `read`, the others `write`.
pub fn needed_for(method: &http::Method) -> &'static str {
    if matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    ) {
        READ
    } else {
        WRITE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn new_tokens_get_what_the_role_allows_unless_narrowed() -> Result<(), AppError> {
        assert_eq!(
            for_new_token(None, Role::Member)?,
            strings(&["read", "write"])
        );
        assert_eq!(for_new_token(None, Role::Admin)?, strings(&ALL));
        assert_eq!(
            for_new_token(Some(&strings(&["write", "read", "read"])), Role::Admin)?,
            strings(&["read", "write"])
        );
        let e = for_new_token(Some(&strings(&["admin"])), Role::Member).unwrap_err();
        assert_eq!(e.status, 403);
        let e = for_new_token(Some(&strings(&["delete"])), Role::Admin).unwrap_err();
        assert!(e.message.contains("unknown scope `delete`"));
        assert_eq!(
            for_new_token(Some(&[]), Role::Admin).unwrap_err().status,
            400
        );
        Ok(())
    }

    #[test]
    fn reading_methods_need_read() {
        assert_eq!(needed_for(&http::Method::GET), READ);
        assert_eq!(needed_for(&http::Method::POST), WRITE);
        assert_eq!(needed_for(&http::Method::DELETE), WRITE);
    }
}
