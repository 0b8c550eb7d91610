//! Browser sessions: signing in with a name and password opens a session whose random token
//! travels in an `HttpOnly`, `SameSite=Lax` cookie; the store keeps only its SHA-256. Calls
//! that change anything must also carry the session's CSRF token in `X-CSRF-Token`: a page of
//! another site can make the browser send the cookie, but cannot read the token, which is
//! derived from the cookie and handed out only to same-origin script (`GET /api/session`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{api_tokens, passwords};
use crate::app::{App, AppError};
use crate::store::{new_id, SessionRow, User};

/// The cookie's name.
pub const COOKIE: &str = "heph_session";

/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lasts.
pub const LIFETIME_MS: i64 = 7 * 24 * 3_600_000;

/// A new session token and its stored hash.
fn generate() -> (String, String) {
    let token = format!(
        "hephs_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::vault::random_bytes::<32>())
    );
    let hash = api_tokens::hash(&token);
    (token, hash)
}

/// The MAC a session's CSRF token is made of, keyed by its cookie.
fn csrf_mac(session_token: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_token.as_bytes()).ok()?;
    mac.update(b"heph csrf token");
    Some(mac)
}

/// The CSRF token of a session: an HMAC keyed by its cookie, so nothing more is stored and it
/// changes with every new session.
pub fn csrf_token(session_token: &str) -> String {
    csrf_mac(session_token)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `sent` is the CSRF token of the session (compared in constant time).
pub fn csrf_matches(session_token: &str, sent: &str) -> bool {
    match (csrf_mac(session_token), hex::decode(sent)) {
        (Some(mac), Ok(sent)) => mac.verify_slice(&sent).is_ok(),
        _ => false,
    }
}

/// The session cookie of a request's `Cookie` headers.
pub fn cookie_of(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that stores a session (`None`: that clears it). A server reached
/// over https (its public URL says) adds `Secure`.
pub fn set_cookie(token: Option<&str>, public_url: &str) -> String {
    let secure = if public_url.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    match token {
        Some(token) => format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            LIFETIME_MS / 1000
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// A session just opened: its record, the cookie's token and the CSRF token.
pub struct OpenedSession {
    /// The record.
    pub row: SessionRow,
    /// Who signed in.
    pub user: User,
    /// The cookie's value.
    pub token: String,
    /// What `X-CSRF-Token` must carry.
    pub csrf: String,
}

impl App {
    /// Signs a user in. A wrong name and a wrong password get the same answer, in the same time.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        user_agent: &str,
    ) -> Result<OpenedSession, AppError> {
        let found = self.store.user_with_password(name).await?;
        let (user, stored) = match found {
            Some((user, stored)) => (Some(user), stored),
            None => (None, None),
        };
        let matches = passwords::verify(password.to_string(), stored).await?;
        let Some(user) = user.filter(|_| matches) else {
            tracing::info!(user = %name, "sign-in refused");
            return Err(AppError::new(
                "invalid_credentials",
                401,
                "the name or the password is wrong",
            ));
        };
        let (token, hash) = generate();
        let row = self
            .store
            .create_session(&new_id("ses"), &user.id, &hash, user_agent, LIFETIME_MS)
            .await?;
        tracing::info!(user = %user.name, session = %row.id, "signed in");
        let csrf = csrf_token(&token);
        Ok(OpenedSession {
            row,
            user,
            token,
            csrf,
        })
    }

    /// Sets a user's password: their own (with the current one), or anyone's by an admin.
    /// Every session of the user ends: whoever knew the old password is signed out.
    pub async fn set_password(
        &self,
        by: Option<&User>,
        user_id: &str,
        current: Option<&str>,
        new: &str,
    ) -> Result<(), AppError> {
        let target = self.store.user(user_id).await?;
        if let Some(by) = by {
            if by.id == target.id {
                let stored = self.store.password_hash(&target.id).await?;
                // A user without a password yet (made by an API token) may set a first one.
                if stored.is_some()
                    && !passwords::verify(current.unwrap_or_default().to_string(), stored).await?
                {
                    return Err(AppError::new(
                        "invalid_credentials",
                        403,
                        "the current password is wrong",
                    ));
                }
            } else {
                App::require_admin(by)?;
            }
        }
        let phc = passwords::hash(new.to_string()).await?;
        self.store.set_password_hash(&target.id, Some(&phc)).await?;
        self.store.delete_sessions_of(&target.id).await?;
        tracing::info!(user = %target.name, by = by.map(|u| u.name.as_str()).unwrap_or("command line"), "password set");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_the_csrf_token_follows_it() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("theme=dark; heph_session=hephs_abc ; x=1"),
        );
        assert_eq!(cookie_of(&headers).as_deref(), Some("hephs_abc"));
        assert_ne!(csrf_token("hephs_abc"), csrf_token("hephs_abd"));
        assert_eq!(csrf_token("hephs_abc").len(), 64);
        assert!(csrf_matches("hephs_abc", &csrf_token("hephs_abc")));
        assert!(!csrf_matches("hephs_abc", &csrf_token("hephs_abd")));
        assert!(!csrf_matches("hephs_abc", &csrf_token("hephs_abc")[..62]));
        assert!(!csrf_matches("hephs_abc", "not hex"));
        assert!(!csrf_matches("hephs_abc", ""));
        headers.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("heph_session="),
        );
        assert_eq!(cookie_of(&headers), None);
    }

    #[test]
    fn cookies_are_http_only_and_same_site() {
        let set = set_cookie(Some("t"), "https://heph.example.com");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.ends_with("Secure")
        );
        let cleared = set_cookie(None, "http://127.0.0.1:8080");
        assert!(cleared.contains("Max-Age=0") && !cleared.contains("Secure"));
    }
}
