//! Who is calling, and may they: one middleware in front of every route resolves the credential
//! (`Authorization: Bearer heph_…`, or the session cookie of a signed-in browser), checks the
//! token's scope for the method and the CSRF token of a browser that changes anything, and
//! takes the call from its rate-limit bucket. Handlers then ask for a [`Caller`], which is
//! there only when all of that passed.
//!
//! [`Caller`]: super::extract::Caller

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method};

use super::limits::{Rate, RateLimits, Verdict};
use super::ApiError;
use crate::app::{App, AppError};
use crate::auth::{api_tokens, scopes, sessions};
use crate::store::{Role, SessionRow, User};

/// The API's own settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The rate each credential (and each address calling without one) is allowed.
    pub rate: Rate,
    /// Over how long the sign-in allowances (10 attempts per address, 20 per account name)
    /// refill: a minute by default.
    pub sign_in_window: std::time::Duration,
    /// How long a request's body may take to arrive, whole.
    pub body_timeout: std::time::Duration,
    /// Connections at once, in total and per client address, and the header timeout.
    pub connections: super::server::ConnectionLimits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            rate: Rate::API,
            sign_in_window: std::time::Duration::from_secs(60),
            body_timeout: std::time::Duration::from_secs(30),
            connections: Default::default(),
        }
    }
}

/// What the middleware shares between requests.
pub struct Gate {
    pub(super) app: Arc<App>,
    pub(super) config: ApiConfig,
    pub(super) limits: RateLimits,
}

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An API token (`tok_…`).
    Token(String),
    /// A browser session.
    Session(SessionRow),
}

impl Credential {
    /// The credential's id: the key of its rate-limit bucket and of its idempotency keys.
    pub fn id(&self) -> &str {
        match self {
            Credential::Token(id) => id,
            Credential::Session(session) => &session.id,
        }
    }
}

/// An authenticated caller, as the middleware leaves it in the request's extensions.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who, with the role this credential may act with (a token without `admin` acts as a
    /// member).
    pub user: User,
    /// How.
    pub credential: Credential,
}

/// Why a request carries no [`Authenticated`]: what the caller is told if the route needs one.
#[derive(Debug, Clone)]
pub struct Unauthenticated(pub String);

/// The middleware.
pub async fn authenticate(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into());
    // The body is not `Sync`: hold it apart while `resolve` reads the head.
    let (mut parts, body) = request.into_parts();
    let resolved = match resolve(&gate.app, &parts.method, &parts.headers).await {
        Ok(resolved) => resolved,
        Err(e) => return ApiError(e).into_response(),
    };
    let path = parts.uri.path();
    // Calls without a credential are limited per address only on the API: webhook deliveries
    // and OAuth redirects come from providers, in bursts that are theirs to decide.
    let bucket = match &resolved {
        Ok(caller) => Some(caller.credential.id().to_string()),
        Err(_) if path.starts_with("/api/") => Some(format!("addr:{address}")),
        Err(_) => None,
    };
    let remaining = match bucket.map(|b| gate.limits.take(&b, gate.config.rate)) {
        Some(Verdict::Limited { retry_after }) => return limited(retry_after),
        Some(Verdict::Allowed { remaining }) => Some(remaining),
        None => None,
    };
    if parts.method == Method::POST && path == "/api/session" {
        if let Verdict::Limited { retry_after } = gate.limits.take(
            &format!("sign-in:{address}"),
            Rate::SIGN_IN.over(gate.config.sign_in_window),
        ) {
            return limited(retry_after);
        }
        // The handler limits attempts per account name too (the name is in the body).
        parts.extensions.insert(SignInLimits(gate.clone()));
    }
    match resolved {
        Ok(caller) => {
            parts.extensions.insert(caller);
        }
        Err(why) => {
            parts.extensions.insert(why);
        }
    }
    let request = Request::from_parts(parts, body);
    let mut response = next.run(request).await;
    if let Ok(limit) = HeaderValue::from_str(&gate.config.rate.burst.to_string()) {
        response.headers_mut().insert("ratelimit-limit", limit);
    }
    if let Some(Ok(left)) = remaining.map(|r| HeaderValue::from_str(&r.to_string())) {
        response.headers_mut().insert("ratelimit-remaining", left);
    }
    response
}

/// The buckets, handed to the sign-in handler.
#[derive(Clone)]
pub(super) struct SignInLimits(Arc<Gate>);

impl SignInLimits {
    /// Takes an attempt from the account name's bucket: guesses at one account from many
    /// addresses are slowed as those from one address are.
    pub(super) fn take(&self, name: &str) -> Result<(), Response> {
        let key = format!("sign-in-name:{}", name.to_lowercase());
        let rate = Rate::SIGN_IN_NAME.over(self.0.config.sign_in_window);
        match self.0.limits.take(&key, rate) {
            Verdict::Allowed { .. } => Ok(()),
            Verdict::Limited { retry_after } => Err(limited_as(
                retry_after,
                "too many sign-in attempts for this name",
            )),
        }
    }
}

fn limited(retry_after: std::time::Duration) -> Response {
    limited_as(retry_after, "too many calls with this credential")
}

fn limited_as(retry_after: std::time::Duration, what: &str) -> Response {
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = ApiError(
        AppError::new(
            "rate_limited",
            429,
            format!("{what}; try again in {seconds} s"),
        )
        .with_details(serde_json::json!({ "retry_after_seconds": seconds })),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    response
}

/// The caller of a request. The outer `Err` refuses the request outright (a browser changing
/// something without its CSRF token, a token used beyond its scope); the inner one only says
/// why there is no caller, for routes that need one.
async fn resolve(
    app: &App,
    method: &Method,
    headers: &http::HeaderMap,
) -> Result<Result<Authenticated, Unauthenticated>, AppError> {
    if let Some(header) = headers.get(http::header::AUTHORIZATION) {
        let Some(token) = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
        else {
            return Ok(Err(Unauthenticated(
                "the Authorization header must be `Bearer <token>`".into(),
            )));
        };
        let Some(holder) = app.store.token_holder(&api_tokens::hash(token)).await? else {
            return Ok(Err(Unauthenticated(
                "this API token is not valid (revoked, or never issued)".into(),
            )));
        };
        let needed = scopes::needed_for(method);
        if !holder.scopes.iter().any(|s| s == needed) {
            return Err(AppError::new(
                "insufficient_scope",
                403,
                format!(
                    "this token's scopes ({}) do not include `{needed}`, which {} calls need",
                    holder.scopes.join(", "),
                    method
                ),
            ));
        }
        let mut user = holder.user;
        if !holder.scopes.iter().any(|s| s == scopes::ADMIN) {
            user.role = Role::Member;
        }
        return Ok(Ok(Authenticated {
            user,
            credential: Credential::Token(holder.token_id),
        }));
    }
    let Some(cookie) = sessions::cookie_of(headers) else {
        return Ok(Err(Unauthenticated(
            "sign in, or send an API token: `Authorization: Bearer heph_…` (`heph user create` or `heph token create` makes one)".into(),
        )));
    };
    let Some((session, user)) = app
        .store
        .session_for_token(&api_tokens::hash(&cookie))
        .await?
    else {
        return Ok(Err(Unauthenticated(
            "the session has ended; sign in again".into(),
        )));
    };
    if scopes::needed_for(method) != scopes::READ {
        let sent = headers
            .get(sessions::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !sessions::csrf_matches(&cookie, sent) {
            return Err(AppError::new(
                "csrf_failed",
                403,
                "this change was not sent by heph's own pages: the X-CSRF-Token header is missing or wrong (reload the page)",
            ));
        }
    }
    Ok(Ok(Authenticated {
        user,
        credential: Credential::Session(session),
    }))
}
