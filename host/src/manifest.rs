//! The connector manifest (`heph.toml`): identity, auth kind, connection fields, capabilities.

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// A parsed `heph.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique id, such as `wordpress`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Semantic version of this connector.
    pub version: String,
    /// Who publishes it.
    pub publisher: String,
    /// The contract version it was built against (`0.1.0`).
    pub contract: String,
    /// One line on what it connects to.
    #[serde(default)]
    pub description: String,
    /// How the host authenticates its requests.
    #[serde(default)]
    pub auth: Auth,
    /// The fields a connection holds.
    #[serde(default)]
    pub connection: Connection,
    /// What it may reach.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Limits it asks for.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// The actions the component must describe, when the manifest names them: packing checks
    /// that the two agree.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// The triggers the component must describe, when the manifest names them.
    #[serde(default)]
    pub triggers: Option<Vec<String>>,
}

/// How the host adds credentials; `{field}` refers to a connection field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// HTTP Basic.
    Basic {
        /// The user name, usually `{username}`.
        username: String,
        /// The password, usually a secret field.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token, usually a secret field.
        token: String,
    },
    /// A key in a header or a query parameter.
    ApiKey {
        /// Header name (exclusive with `query`).
        #[serde(default)]
        header: Option<String>,
        /// Query parameter name.
        #[serde(default)]
        query: Option<String>,
        /// Optional prefix before the value (e.g. `Token `).
        #[serde(default)]
        prefix: Option<String>,
        /// The key, usually a secret field.
        value: String,
    },
    /// OAuth 2.0 authorization code flow: the user connects in the browser, the host keeps the
    /// tokens, refreshes them and sends `Authorization: Bearer <access token>`.
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2),
}

/// A provider's OAuth 2.0 endpoints and quirks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// Where the user's browser is sent to authorize.
    pub authorize_url: String,
    /// Where codes and refresh tokens are exchanged.
    pub token_url: String,
    /// RFC 7009 revocation endpoint, if the provider has one.
    #[serde(default)]
    pub revoke_url: Option<String>,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How scopes are joined in the authorize URL: `" "` (the standard) or `","`.
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// How the client authenticates at the token endpoint: `basic` (HTTP Basic, the
    /// standard's default) or `body` (client_id and client_secret as form fields).
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Extra authorize parameters (Google's `access_type = "offline"`, `prompt = "consent"`).
    #[serde(default)]
    pub authorize_params: std::collections::BTreeMap<String, String>,
    /// Whether to use PKCE (S256). On by default; turn off only for a provider that rejects it.
    #[serde(default = "default_true")]
    pub pkce: bool,
    /// Another way in without the OAuth flow: a secret connection field (such as Notion's
    /// internal integration secret, `{integration_secret}`) sent as `Authorization: Bearer`.
    /// A connection that holds it is created with its fields and never refreshed.
    #[serde(default)]
    pub or_bearer: Option<String>,
    /// How the token request's parameters are sent: `form` (the standard) or `json` (Notion).
    #[serde(default)]
    pub token_body: TokenBody,
}

/// The encoding of token requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenBody {
    /// `application/x-www-form-urlencoded`, as RFC 6749 says.
    #[default]
    Form,
    /// A JSON object with the same parameters.
    Json,
}

impl OAuth2 {
    /// The secret field of the bearer alternative (`or_bearer = "{field}"`), if any.
    pub fn bearer_field(&self) -> Option<&str> {
        self.or_bearer
            .as_deref()
            .and_then(|t| t.strip_prefix('{'))
            .and_then(|t| t.strip_suffix('}'))
    }
}

fn default_scope_separator() -> String {
    " ".into()
}

fn default_true() -> bool {
    true
}

/// Client authentication at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// The connection's fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Each field.
    #[serde(default)]
    pub fields: Vec<Field>,
}

/// One connection field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Its key.
    pub name: String,
    /// Label.
    #[serde(default)]
    pub title: String,
    /// A JSON Schema string format (`uri`, `email`).
    #[serde(default)]
    pub format: Option<String>,
    /// Whether a connection must have it.
    #[serde(default)]
    pub required: bool,
    /// A secret: never shown, never given to the connector.
    #[serde(default)]
    pub secret: bool,
    /// A signing secret (needs `secret`): the only kind of field that can key the
    /// `signature` import's HMACs, so that a connector cannot compute HMACs keyed by the
    /// user's password or API key.
    #[serde(default)]
    pub sign: bool,
    /// Help text.
    #[serde(default)]
    pub help: String,
    /// The value a connection has while it does not set one (not for secrets). Filled in at
    /// each call, so a new connector version's default reaches existing connections.
    #[serde(default)]
    pub default: Option<String>,
}

/// What the connector may reach.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Allowed hosts (see `runtime::policy`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The hosts that receive the connection's credential, each also in `hosts`. Default: all
    /// of `hosts`. A connector that also fetches from elsewhere (images from the user's site)
    /// names its API hosts here, so the token never goes there.
    #[serde(default)]
    pub authenticated_hosts: Option<Vec<String>>,
    /// Whether it asks to reach private networks (a self-hosted service on the LAN). Shown to
    /// the admin at install; approving the install grants it.
    #[serde(default)]
    pub private_network: bool,
}

/// Limits the connector asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    /// At most this many requests in flight per call.
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
    /// At most this many requests per second per connection (the upstream's rate limit).
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    /// How many requests may go at once before the rate applies (default 1).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("heph.toml: {0}")]
pub struct ManifestError(String);

impl Manifest {
    /// Parses and checks a manifest.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError(e.to_string()))?;
        if !heph_registry::is_name(&manifest.id) {
            return Err(ManifestError(format!(
                "id `{}` must be lower-case letters, digits, `-` or `_`",
                manifest.id
            )));
        }
        if let Auth::OAuth2(oauth) = &manifest.auth {
            for (name, url) in [
                ("authorize_url", Some(&oauth.authorize_url)),
                ("token_url", Some(&oauth.token_url)),
                ("revoke_url", oauth.revoke_url.as_ref()),
            ] {
                if let Some(url) = url {
                    match url::Url::parse(url) {
                        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                        _ => {
                            return Err(ManifestError(format!(
                                "auth.{name} `{url}` must be an http(s) URL"
                            )))
                        }
                    }
                }
            }
            if oauth.scope_separator != " " && oauth.scope_separator != "," {
                return Err(ManifestError(format!(
                    "auth.scope_separator `{}` must be \" \" or \",\"",
                    oauth.scope_separator
                )));
            }
        }
        if manifest.contract != "0.1.0" {
            return Err(ManifestError(format!(
                "contract `{}` is not supported by this host (it supports 0.1.0)",
                manifest.contract
            )));
        }
        if let Some(authenticated) = &manifest.capabilities.authenticated_hosts {
            for host in authenticated {
                if !manifest.capabilities.hosts.contains(host) {
                    return Err(ManifestError(format!(
                        "capabilities.authenticated_hosts names `{host}`, which is not in capabilities.hosts"
                    )));
                }
            }
        }
        for field in &manifest.connection.fields {
            if field.sign && !field.secret {
                return Err(ManifestError(format!(
                    "connection field `{}` is a signing key (`sign = true`) and must be `secret = true` too",
                    field.name
                )));
            }
            if field.secret && field.default.is_some() {
                return Err(ManifestError(format!(
                    "connection field `{}` is secret and cannot have a default",
                    field.name
                )));
            }
        }
        if let Auth::OAuth2(oauth) = &manifest.auth {
            if let Some(field) = oauth.bearer_field() {
                if !manifest.secret_fields().any(|f| f == field) {
                    return Err(ManifestError(format!(
                        "auth.or_bearer names `{field}`, which must be a secret connection field"
                    )));
                }
            }
        }
        for name in manifest.auth.referenced_fields() {
            if !manifest.connection.fields.iter().any(|f| f.name == name) {
                return Err(ManifestError(format!(
                    "auth refers to `{{{name}}}`, which is not a connection field"
                )));
            }
        }
        Ok(manifest)
    }

    /// The names of the signing secrets: the fields that may key `sign-hmac-sha256` and
    /// `verify-hmac-sha256`.
    pub fn signing_fields(&self) -> impl Iterator<Item = &str> {
        self.connection
            .fields
            .iter()
            .filter(|f| f.secret && f.sign)
            .map(|f| f.name.as_str())
    }

    /// The names of the secret fields.
    pub fn secret_fields(&self) -> impl Iterator<Item = &str> {
        self.connection
            .fields
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name.as_str())
    }

    /// The JSON Schema of a connection (secrets marked `writeOnly`).
    pub fn connection_schema(&self) -> Value {
        let mut properties = Map::new();
        for f in &self.connection.fields {
            let mut p = json!({"type": "string", "title": f.title, "description": f.help});
            if let Some(format) = &f.format {
                p["format"] = json!(format);
            }
            if f.secret {
                p["writeOnly"] = json!(true);
            }
            if let Some(default) = &f.default {
                p["default"] = json!(default);
            }
            properties.insert(f.name.clone(), p);
        }
        let required: Vec<&str> = self
            .connection
            .fields
            .iter()
            .filter(|f| f.required && f.default.is_none())
            .map(|f| f.name.as_str())
            .collect();
        json!({"type": "object", "properties": properties, "required": required})
    }

    /// A connection's non-secret fields with the manifest's defaults filled in where it has
    /// none, as the connector and the host templates see them.
    pub fn with_defaults(&self, public: &Value) -> Value {
        let mut fields = public.as_object().cloned().unwrap_or_default();
        for f in &self.connection.fields {
            if let Some(default) = &f.default {
                let missing = fields
                    .get(&f.name)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if missing {
                    fields.insert(f.name.clone(), Value::String(default.clone()));
                }
            }
        }
        Value::Object(fields)
    }

    /// Splits a connection's values into the non-secret part (given to the connector) and the
    /// secret part (kept by the host); checks required fields.
    pub fn split_connection(
        &self,
        values: &Map<String, Value>,
    ) -> Result<(Value, Map<String, Value>), ManifestError> {
        let mut public = Map::new();
        let mut secrets = Map::new();
        for f in &self.connection.fields {
            match values.get(&f.name) {
                Some(Value::String(s)) if !s.is_empty() => {
                    let target = if f.secret { &mut secrets } else { &mut public };
                    target.insert(f.name.clone(), Value::String(s.clone()));
                }
                Some(Value::Null) | None => {}
                Some(Value::String(_)) => {}
                Some(_) => {
                    return Err(ManifestError(format!(
                        "connection field `{}` must be a string",
                        f.name
                    )))
                }
            }
            if f.required
                && f.default.is_none()
                && !public.contains_key(&f.name)
                && !secrets.contains_key(&f.name)
            {
                return Err(ManifestError(format!(
                    "the connection lacks `{}` ({})",
                    f.name,
                    if f.title.is_empty() {
                        &f.name
                    } else {
                        &f.title
                    }
                )));
            }
        }
        Ok((Value::Object(public), secrets))
    }
}

impl Auth {
    /// Its kind, as written in the manifest.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Basic { .. } => "basic",
            Auth::Bearer { .. } => "bearer",
            Auth::ApiKey { .. } => "api_key",
            Auth::OAuth2(_) => "oauth2",
        }
    }

    /// The connection fields the auth templates name.
    pub fn referenced_fields(&self) -> Vec<String> {
        let templates: Vec<&str> = match self {
            Auth::None => vec![],
            Auth::Basic { username, password } => vec![username, password],
            Auth::Bearer { token } => vec![token],
            Auth::ApiKey { value, .. } => vec![value],
            Auth::OAuth2(oauth) => oauth.or_bearer.iter().map(String::as_str).collect(),
        };
        templates
            .into_iter()
            .filter_map(|t| t.strip_prefix('{').and_then(|t| t.strip_suffix('}')))
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wordpress_manifest_parses() {
        let m = Manifest::parse(include_str!("../../plugins/wordpress/heph.toml")).unwrap();
        assert_eq!(m.id, "wordpress");
        assert_eq!(
            m.secret_fields().collect::<Vec<_>>(),
            ["application_password", "webhook_secret"]
        );
        let values = json!({"site_url": "http://x", "username": "u", "application_password": "p"});
        let (public, secrets) = m.split_connection(values.as_object().unwrap()).unwrap();
        assert_eq!(public, json!({"site_url": "http://x", "username": "u"}));
        assert_eq!(secrets.get("application_password"), Some(&json!("p")));
        let err = m
            .split_connection(json!({"site_url": "http://x"}).as_object().unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("lacks `username`"), "{err}");
    }

    #[test]
    fn bad_manifests_are_explained() {
        let base = "name='x'\nversion='1'\npublisher='p'\n";
        for (text, needle) in [
            (format!("id='X Y'\ncontract='0.1.0'\n{base}"), "lower-case"),
            (format!("id='x'\ncontract='9.0.0'\n{base}"), "not supported"),
            (
                format!("id='x'\ncontract='0.1.0'\n{base}[auth]\nkind='bearer'\ntoken='{{tok}}'\n"),
                "not a connection field",
            ),
            (
                format!("id='x'\ncontract='0.1.0'\n{base}surprise=1\n"),
                "unknown field",
            ),
        ] {
            let err = Manifest::parse(&text).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
