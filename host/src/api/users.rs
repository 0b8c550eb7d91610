//! `/api/me`, `/api/users` (admins), `/api/tokens`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Caller, JsonBody};
use super::ApiError;
use crate::app::App;
use crate::auth::users::CreateUser;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/tokens", get(list_tokens).post(create_token))
        .route("/api/tokens/{id}", delete(delete_token))
}

async fn me(Caller(user): Caller) -> Json<Value> {
    Json(json!(user))
}

async fn list_users(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "users": app.list_users(&user).await? })))
}

async fn create_user(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (created, token) = app.create_user(Some(&user), body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": created, "token": token})),
    ))
}

async fn list_tokens(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "tokens": app.list_tokens(&user).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    name: String,
}

async fn create_token(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(json!(app.create_token(&user, &body.name).await?)),
    ))
}

async fn delete_token(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_token(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
