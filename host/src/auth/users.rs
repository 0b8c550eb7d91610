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
    /// Login name: 1–64 ASCII letters, digits, `.`, `_`, `-` or `@`.
    #[schema(pattern = r"^[A-Za-z0-9._@-]{1,64}$")]
    pub name: String,
    /// `admin` or `member` (default).
    #[serde(default)]
    pub role: Option<Role>,
    /// A password to sign in to the dashboard with (10–1024 characters); without one the
    /// user works only through API tokens until a password is set.
    #[serde(default)]
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
}

fn check_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(format!(
            "user name `{name}` must be 1–64 ASCII letters, digits, `.`, `_`, `-` or `@`"
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
        let role = request.role.unwrap_or(Role::Member);
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

    /// Makes a user an admin or a member. `by` is the admin doing it; `None` is the command
    /// line on the server's own machine. The last admin stays one, so that someone can still
    /// manage the server.
    pub async fn set_role(
        &self,
        by: Option<&User>,
        id: &str,
        role: Role,
    ) -> Result<User, AppError> {
        if let Some(admin) = by {
            App::require_admin(admin)?;
        }
        let user = self.store.user(id).await?;
        if role == Role::Member {
            self.keep_an_admin(&user).await?;
        }
        self.store.set_role(&user.id, role).await?;
        tracing::info!(user = %user.name, ?role, by = by_name(by), "role changed");
        Ok(User { role, ..user })
    }

    /// Refuses to take away the last admin.
    async fn keep_an_admin(&self, user: &User) -> Result<(), AppError> {
        if user.role == Role::Admin && self.store.admin_count().await? <= 1 {
            return Err(AppError::conflict(format!(
                "`{}` is the only admin: make another user an admin first",
                user.name
            ))
            .with_code("last_admin"));
        }
        Ok(())
    }

    /// Deletes a user with everything of theirs: tokens, sessions, connections and their
    /// secrets, scenarios, runs and records. `by` is the admin doing it (`None`: the command
    /// line). Admins cannot delete themselves, the last admin stays, and a user whose runs are
    /// going is deleted once they have ended (or been cancelled).
    pub async fn delete_user(&self, by: Option<&User>, id: &str) -> Result<(), AppError> {
        if let Some(admin) = by {
            App::require_admin(admin)?;
        }
        let user = self.store.user(id).await?;
        if by.is_some_and(|admin| admin.id == user.id) {
            return Err(
                AppError::conflict("you cannot delete yourself: another admin can")
                    .with_code("cannot_delete_self"),
            );
        }
        self.keep_an_admin(&user).await?;
        let live = self.store.live_runs_of_user(&user.id).await?;
        if live > 0 {
            return Err(AppError::conflict(format!(
                "`{}` has {live} run(s) queued or running: cancel them (or wait for them to end), then delete",
                user.name
            ))
            .with_code("user_busy"));
        }
        self.store.delete_user(&user.id).await?;
        tracing::info!(user = %user.name, by = by_name(by), "user deleted");
        Ok(())
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

/// Who did something, for the log.
fn by_name(by: Option<&User>) -> &str {
    by.map_or("command line", |u| u.name.as_str())
}
