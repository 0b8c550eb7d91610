//! Credentials, as the runtime sees them: something that can say what to add to a request.
//! The connection store, the vault and OAuth plug in here by implementing
//! [`CredentialSource`]; the runtime never knows where a secret lives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::redact::Redactor;
use crate::manifest::Auth;

/// What to add to a request for the connection's own hosts.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing.
    None,
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// A header with a secret value.
    Header {
        /// Header name.
        name: String,
        /// Its value.
        value: String,
    },
    /// A query parameter with a secret value.
    Query {
        /// Parameter name.
        name: String,
        /// Its value.
        value: String,
    },
}

impl std::fmt::Debug for Credential {
    // Never print a secret, even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::None => write!(f, "None"),
            Credential::Basic { username, .. } => write!(f, "Basic({username}:***)"),
            Credential::Bearer(_) => write!(f, "Bearer(***)"),
            Credential::Header { name, .. } => write!(f, "Header({name}: ***)"),
            Credential::Query { name, .. } => write!(f, "Query({name}=***)"),
        }
    }
}

impl Credential {
    /// Every secret string in it, for redaction.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Credential::None => vec![],
            Credential::Basic { password, .. } => vec![password],
            Credential::Bearer(t) => vec![t],
            Credential::Header { value, .. } | Credential::Query { value, .. } => vec![value],
        }
    }
}

/// A future returned by a [`CredentialSource`].
pub type CredentialFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credential, String>> + Send + 'a>>;

/// Where the runtime gets a connection's credential, once per request.
pub trait CredentialSource: Send + Sync {
    /// The credential to use now (an OAuth source refreshes an expiring token first).
    fn credential(&self) -> CredentialFuture<'_>;

    /// A secret connection field by name, for webhook signature checks; never given to guests.
    fn secret(&self, field: &str) -> Option<String>;

    /// The forms of every secret this source knows (fields and credentials), built once: what
    /// a call hands back is scrubbed of each.
    fn redactor(&self) -> Arc<Redactor> {
        Arc::default()
    }

    /// Whether [`rejected`](Self::rejected) can produce a new credential (OAuth). The runtime
    /// then keeps each request's body so that it can send the request again after a 401.
    fn refreshable(&self) -> bool {
        false
    }

    /// The upstream answered 401 to a request carrying `used`: a fresh credential to retry
    /// with once (an OAuth source refreshes its token), or why there is none.
    fn rejected(&self, used: &Credential) -> CredentialFuture<'_> {
        let _ = used;
        Box::pin(async { Err("this credential cannot be refreshed".to_string()) })
    }

    /// Waits until the connection may send its next request: where a connection's rate
    /// limit applies. Called before each outbound request.
    fn admit(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }

    /// The upstream answered 429 and asked to wait (`Retry-After`, when it said): the
    /// connection's next requests hold off.
    fn throttled(&self, retry_after: Option<std::time::Duration>) {
        let _ = retry_after;
    }
}

/// Credentials built from a connection's fields and the manifest's auth section: the
/// connection file of `heph connector call`, and any connection whose secrets are at hand.
pub struct StaticCredentials {
    credential: Credential,
    secrets: Map<String, Value>,
    redactor: Arc<Redactor>,
}

impl StaticCredentials {
    /// Fills the auth templates from the connection's public fields and secrets.
    pub fn new(auth: &Auth, public: &Value, secrets: Map<String, Value>) -> StaticCredentials {
        let fill = |template: &str| -> String {
            match template.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(field) => secrets
                    .get(field)
                    .or_else(|| public.get(field))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                None => template.to_string(),
            }
        };
        let credential = match auth {
            // OAuth tokens live in the store and are handed out by its own source; a connection
            // file has none. The bearer alternative (an integration secret) is static.
            Auth::OAuth2(oauth) => match oauth.or_bearer.as_deref().map(fill) {
                Some(token) if !token.is_empty() => Credential::Bearer(token),
                _ => Credential::None,
            },
            Auth::None => Credential::None,
            Auth::Basic { username, password } => Credential::Basic {
                username: fill(username),
                password: fill(password),
            },
            Auth::Bearer { token } => Credential::Bearer(fill(token)),
            Auth::ApiKey {
                header,
                query,
                prefix,
                value,
            } => {
                let value = format!("{}{}", prefix.as_deref().unwrap_or(""), fill(value));
                match (header, query) {
                    (_, Some(q)) => Credential::Query {
                        name: q.clone(),
                        value,
                    },
                    (Some(h), None) => Credential::Header {
                        name: h.clone(),
                        value,
                    },
                    (None, None) => Credential::Header {
                        name: "x-api-key".into(),
                        value,
                    },
                }
            }
        };
        let values = secrets.values().filter_map(Value::as_str);
        let redactor = Arc::new(Redactor::new(values, std::slice::from_ref(&credential)));
        StaticCredentials {
            credential,
            secrets,
            redactor,
        }
    }
}

impl CredentialSource for StaticCredentials {
    fn credential(&self) -> CredentialFuture<'_> {
        let credential = self.credential.clone();
        Box::pin(async move { Ok(credential) })
    }

    fn secret(&self, field: &str) -> Option<String> {
        self.secrets
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    fn redactor(&self) -> Arc<Redactor> {
        self.redactor.clone()
    }
}
