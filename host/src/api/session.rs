//! Signing in and out (`/api/session`), the caller's sessions, password and consents.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authn::{Credential, SignInLimits};
use super::extract::{Caller, CallerWith, JsonBody};
use super::ApiError;
use crate::app::App;
use crate::auth::consent::ConsentRequest;
use crate::auth::sessions;
use crate::store::{ConsentRow, SessionRow, User};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(sign_in, current, sign_out))
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
        .routes(routes!(change_password))
        .routes(routes!(set_password))
        .routes(routes!(list_consents))
        .routes(routes!(revoke_consent))
        .routes(routes!(consent_request, give_consent))
}

/// Body of `POST /api/session`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// Login name.
    name: String,
    /// Password.
    password: String,
}

/// The signed-in caller.
#[derive(Serialize, ToSchema)]
struct SessionView {
    /// Who.
    user: User,
    /// The session (absent when the caller used an API token).
    session: Option<SessionRow>,
    /// What changing calls must send in `X-CSRF-Token` (absent for API tokens, which need none).
    csrf_token: Option<String>,
}

/// Signs in with a name and password: sets the session cookie and answers the CSRF token.
#[utoipa::path(post, path = "/api/session", tag = "accounts", request_body = SignIn,
    security(()),
    responses((status = 200, description = "Signed in; the cookie is set", body = SessionView)))]
async fn sign_in(
    State(app): State<Arc<App>>,
    limits: Option<Extension<SignInLimits>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Response, ApiError> {
    if let Some(Extension(limits)) = limits {
        if let Err(limited) = limits.take(&body.name) {
            return Ok(limited);
        }
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    let opened = app.sign_in(&body.name, &body.password, agent).await?;
    let cookie = sessions::set_cookie(Some(&opened.token), &app.config.public_url);
    let view = SessionView {
        user: opened.user,
        session: Some(opened.row),
        csrf_token: Some(opened.csrf),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(view)).into_response())
}

/// The caller, and for a browser its session and CSRF token.
#[utoipa::path(get, path = "/api/session", tag = "accounts",
    responses((status = 200, body = SessionView)))]
async fn current(
    headers: HeaderMap,
    CallerWith(user, credential): CallerWith,
) -> Json<SessionView> {
    let (session, csrf_token) = match credential {
        Credential::Session(session) => (
            Some(session),
            sessions::cookie_of(&headers).map(|c| sessions::csrf_token(&c)),
        ),
        Credential::Token(_) => (None, None),
    };
    Json(SessionView {
        user,
        session,
        csrf_token,
    })
}

/// Signs out: ends this browser's session and clears its cookie.
#[utoipa::path(delete, path = "/api/session", tag = "accounts",
    responses((status = 204, description = "Signed out")))]
async fn sign_out(
    State(app): State<Arc<App>>,
    CallerWith(user, credential): CallerWith,
) -> Result<Response, ApiError> {
    if let Credential::Session(session) = &credential {
        app.store.delete_session(&user.id, &session.id).await?;
    }
    let cookie = sessions::set_cookie(None, &app.config.public_url);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[derive(Serialize, ToSchema)]
struct Sessions {
    sessions: Vec<SessionRow>,
}

/// The caller's signed-in browsers.
#[utoipa::path(get, path = "/api/sessions", tag = "accounts",
    responses((status = 200, body = Sessions)))]
async fn list_sessions(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
) -> Result<Json<Sessions>, ApiError> {
    let sessions = app.store.sessions(&user.id).await?;
    Ok(Json(Sessions { sessions }))
}

/// Signs one of the caller's browsers out.
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "accounts",
    params(("id" = String, Path, description = "`ses_…`")),
    responses((status = 204, description = "Ended")))]
async fn end_session(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.store.delete_session(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `PUT /api/me/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    /// The current password (not needed to set a first one).
    #[serde(default)]
    current: Option<String>,
    /// The new one, 10–1024 characters.
    #[schema(min_length = 10, max_length = 1024)]
    new: String,
}

/// Changes the caller's password; every session of theirs ends.
#[utoipa::path(put, path = "/api/me/password", tag = "accounts", request_body = ChangePassword,
    responses((status = 204, description = "Changed")))]
async fn change_password(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    JsonBody(body): JsonBody<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    app.set_password(Some(&user), &user.id, body.current.as_deref(), &body.new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `PUT /api/users/{id}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    /// 10–1024 characters.
    #[schema(min_length = 10, max_length = 1024)]
    password: String,
}

/// Sets a user's password (admins); every session of theirs ends.
#[utoipa::path(put, path = "/api/users/{id}/password", tag = "users", request_body = NewPassword,
    params(("id" = String, Path, description = "`usr_…`")),
    responses((status = 204, description = "Set")))]
async fn set_password(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewPassword>,
) -> Result<StatusCode, ApiError> {
    App::require_admin(&user)?;
    app.set_password(Some(&user), &id, None, &body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct Consents {
    consents: Vec<ConsentRow>,
}

/// The consents the caller gave.
#[utoipa::path(get, path = "/api/consents", tag = "accounts",
    responses((status = 200, body = Consents)))]
async fn list_consents(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
) -> Result<Json<Consents>, ApiError> {
    let consents = app.store.consents(&user.id).await?;
    Ok(Json(Consents { consents }))
}

/// Withdraws a consent: new connections of that connector will ask again.
#[utoipa::path(delete, path = "/api/consents/{connector}", tag = "accounts",
    params(("connector" = String, Path, description = "The connector's id")),
    responses((status = 204, description = "Withdrawn")))]
async fn revoke_consent(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(connector): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.store.revoke_consent(&user.id, &connector).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What connecting an account of this connector means: the hosts it reaches, how it signs in.
#[utoipa::path(get, path = "/api/connectors/{id}/consent", tag = "connectors",
    params(("id" = String, Path, description = "The connector's id")),
    responses((status = 200, body = ConsentRequest)))]
async fn consent_request(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<ConsentRequest>, ApiError> {
    Ok(Json(app.consent_request(&user, &id).await?))
}

/// Agrees to what `GET …/consent` shows.
#[utoipa::path(post, path = "/api/connectors/{id}/consent", tag = "connectors",
    params(("id" = String, Path, description = "The connector's id")),
    responses((status = 200, body = ConsentRequest)))]
async fn give_consent(
    State(app): State<Arc<App>>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<ConsentRequest>, ApiError> {
    Ok(Json(app.grant_consent(&user, &id).await?))
}
