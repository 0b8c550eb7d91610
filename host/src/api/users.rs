//! `/api/me`, `/api/users` (admins), `/api/tokens`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Caller, JsonBody};
use super::pagination::{page, PageQuery};
use super::ApiError;
use crate::app::App;
use crate::auth::users::{CreateUser, IssuedToken};
use crate::store::{ApiTokenRow, Role, User};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(edit_user, delete_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/me", tag = "users", responses((status = 200, body = User)))]
async fn me(Caller(user): Caller) -> Json<User> {
    Json(user)
}

/// A page of users.
#[derive(Serialize, ToSchema)]
struct Users {
    users: Vec<User>,
    /// The cursor of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/users", tag = "users", params(PageQuery),
    responses((status = 200, body = Users)))]
async fn list_users(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Users>, ApiError> {
    let all = app.list_users(&user).await?;
    let (users, next_cursor) = page(all, |u| (u.created_at, u.id.clone()), &q)?;
    Ok(Json(Users { users, next_cursor }))
}

/// A new user and their first API token (shown once).
#[derive(Serialize, ToSchema)]
struct CreatedUser {
    user: User,
    token: IssuedToken,
}

/// Creates a user (admins): with a password they can sign in to the dashboard.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = CreatedUser)))]
async fn create_user(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let (user, token) = app.create_user(Some(&user), body).await?;
    Ok((StatusCode::CREATED, Json(CreatedUser { user, token })))
}

/// Body of `PATCH /api/users/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EditUser {
    /// The new role.
    role: Role,
}

/// Changes a user's role (admins); the last admin stays one (409 `last_admin`).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", request_body = EditUser,
    params(("id" = String, Path, description = "`usr_…`")),
    responses((status = 200, body = User)))]
async fn edit_user(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EditUser>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(app.set_role(Some(&user), &id, body.role).await?))
}

/// Deletes a user with their tokens, sessions, connections, scenarios, runs and records
/// (admins). Refused for oneself (409 `cannot_delete_self`) and while the user's runs are
/// queued or running (409 `user_busy`).
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users",
    params(("id" = String, Path, description = "`usr_…`")),
    responses((status = 204, description = "Deleted")))]
async fn delete_user(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_user(Some(&user), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of tokens.
#[derive(Serialize, ToSchema)]
struct Tokens {
    tokens: Vec<ApiTokenRow>,
    /// The cursor of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// The caller's API tokens (names, scopes and dates; tokens themselves are not kept).
#[utoipa::path(get, path = "/api/tokens", tag = "users", params(PageQuery),
    responses((status = 200, body = Tokens)))]
async fn list_tokens(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Tokens>, ApiError> {
    let all = app.list_tokens(&user).await?;
    let (tokens, next_cursor) = page(all, |t| (t.created_at, t.id.clone()), &q)?;
    Ok(Json(Tokens {
        tokens,
        next_cursor,
    }))
}

/// Body of `POST /api/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// A name to recognise it by.
    #[serde(default)]
    name: String,
    /// `read`, `write`, `admin` (at least one); default: all the user's role allows.
    #[serde(default)]
    #[schema(value_type = Option<Vec<ScopeName>>, min_items = 1)]
    scopes: Option<Vec<String>>,
}

/// A scope of an API token (for the document; the server reads them as strings).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ScopeName {
    /// Reads.
    Read,
    /// Creates, changes, runs and deletes the user's own things.
    Write,
    /// What only admins may do.
    Admin,
}

/// A new API token for the caller (shown once).
#[utoipa::path(post, path = "/api/tokens", tag = "users", request_body = NewToken,
    responses((status = 201, body = IssuedToken)))]
async fn create_token(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let token = app
        .create_token(&user, &body.name, body.scopes.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "users",
    params(("id" = String, Path, description = "`tok_…`")),
    responses((status = 204, description = "Revoked")))]
async fn delete_token(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_token(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
