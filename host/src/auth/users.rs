//! Users and their API tokens, as services: an admin creates users; everyone manages their own
//! tokens. A token is returned once, at creation; only its hash is kept.

use serde::{Deserialize, Serialize};

use super::api_tokens;
use crate::app::{App, AppError};
use crate::store::{new_id, ApiTokenRow, Role, User};

/// A new token: the only time the token itself is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The token's record.
    #[serde(flatten)]
    pub row: ApiTokenRow,
    /// The token. Store it now: it cannot be shown again.
    pub token: String,
}

/// Body of `POST /api/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name.
    pub name: String,
    /// `admin` or `member` (default).
    #[serde(default)]
    pub role: Option<String>,
    /// A password to sign in to the dashboard with (at least 10 characters); without one the
    /// user works only through API tokens until a password is set.
    #[serde(default)]
    pub password: Option<String>,
}

fn parse_role(role: Option<&str>) -> Result<Role, AppError> {
    match role.unwrap_or("member") {
        "admin" => Ok(Role::Admin),
        "member" => Ok(Role::Member),
        other => Err(AppError::invalid(format!(
            "role `{other}` must be `admin` or `member`"
        ))),
    }
}

fn check_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(format!(
            "user name `{name}` must be 1–64 letters, digits, `.`, `_`, `-` or `@`"
        )))
    }
}

impl App {
    /// Creates a user with a first API token. `by` is the admin creating it; `None` is the
    /// command line on the server's own machine (how the first admin is made).
    pub async fn create_user(
        &self,
        by: Option<&User>,
        request: CreateUser,
    ) -> Result<(User, IssuedToken), AppError> {
        if let Some(admin) = by {
            App::require_admin(admin)?;
        }
        check_name(&request.name)?;
        let role = parse_role(request.role.as_deref())?;
        // Hash first: a refused password must not leave a user behind.
        let password = match request.password {
            Some(p) => Some(super::passwords::hash(p).await?),
            None => None,
        };
        let user = self
            .store
            .create_user(&new_id("usr"), &request.name, role)
            .await?;
        if let Some(phc) = &password {
            self.store.set_password_hash(&user.id, Some(phc)).await?;
        }
        let token = self.create_token(&user, "first token", None).await?;
        tracing::info!(user = %user.name, role = ?user.role, by = by.map(|u| u.name.as_str()).unwrap_or("command line"), "user created");
        Ok((user, token))
    }

    /// Every user (admins only).
    pub async fn list_users(&self, by: &User) -> Result<Vec<User>, AppError> {
        App::require_admin(by)?;
        Ok(self.store.users().await?)
    }

    /// A new API token for a user, with the scopes asked for (default: all the role allows).
    pub async fn create_token(
        &self,
        user: &User,
        name: &str,
        scopes: Option<&[String]>,
    ) -> Result<IssuedToken, AppError> {
        let scopes = super::scopes::for_new_token(scopes, user.role)?;
        let (token, hash) = api_tokens::generate();
        let name = if name.trim().is_empty() {
            "token"
        } else {
            name.trim()
        };
        let row = self
            .store
            .create_token(&new_id("tok"), &user.id, name, &hash, &scopes)
            .await?;
        Ok(IssuedToken { row, token })
    }

    /// A user's tokens (no token values: only hashes are kept).
    pub async fn list_tokens(&self, user: &User) -> Result<Vec<ApiTokenRow>, AppError> {
        Ok(self.store.tokens(&user.id).await?)
    }

    /// Revokes one of a user's tokens.
    pub async fn delete_token(&self, user: &User, id: &str) -> Result<(), AppError> {
        Ok(self.store.delete_token(&user.id, id).await?)
    }
}
