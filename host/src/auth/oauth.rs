//! OAuth 2.0 with a connector's provider, through the `oauth2` crate: the authorization URL
//! (code flow, PKCE S256, a random `state`), the code exchange, refresh and revocation
//! (RFC 7009). The provider's quirks come from the manifest: extra authorize parameters,
//! client authentication by HTTP Basic or in the body, scopes joined by spaces or commas.
//!
//! Every request goes through [`Runtime::host_request`], so the manifest's URLs get the same
//! address checks as a connector's own requests. Failures are sorted for the caller:
//! `invalid_grant` means the user must connect again; 408, 429, 5xx, timeouts and network
//! errors are worth retrying later and say nothing about the grant.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    TokenResponse, TokenUrl,
};

use crate::manifest::{ClientAuth, OAuth2, TokenBody};
use crate::runtime::host_http::HostHttpError;
use crate::runtime::Runtime;

/// An OAuth app's client credentials (the secret from the vault).
#[derive(Clone)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The client secret (empty for a public client).
    pub client_secret: String,
}

/// Tokens from the provider.
#[derive(Clone)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if the provider gave one (a refresh may omit it: keep the old one).
    pub refresh_token: Option<String>,
    /// How long the access token lasts.
    pub expires_in: Option<Duration>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens(*** expires in {:?})", self.expires_in)
    }
}

/// Why a token request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// The provider refused the grant (`invalid_grant`): the user must connect again.
    #[error("the provider refused the grant: {0}")]
    InvalidGrant(String),
    /// Worth retrying later (408, 429, 5xx, a timeout, the network).
    #[error("the provider is unavailable: {0}")]
    Retryable(String),
    /// Any other refusal (a misconfigured app, a refused address).
    #[error("{0}")]
    Failed(String),
}

/// The error our HTTP function gives the `oauth2` crate: a retryable status is an error here,
/// so that it is never mistaken for the provider's verdict on the grant.
#[derive(Debug, thiserror::Error)]
enum TransportError {
    #[error("HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Http(#[from] HostHttpError),
}

/// A started authorization: where to send the user, and what to keep until the callback.
pub struct Authorization {
    /// The provider's authorize URL with every parameter.
    pub url: String,
    /// The `state` (its hash is stored; the value only travels through the browser).
    pub state: String,
    /// The PKCE verifier (sealed in the vault until the callback), if PKCE is used.
    pub pkce_verifier: Option<String>,
}

/// The `oauth2` client with the endpoints heph sets: authorize and token (revocation is
/// done by [`revoke`]).
type ProviderClient = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(
    config: &OAuth2,
    credentials: &ClientCredentials,
    redirect_uri: Option<&str>,
) -> Result<ProviderClient, OAuthError> {
    let bad = |what: &str, e: oauth2::url::ParseError| OAuthError::Failed(format!("{what}: {e}"));
    let mut client = BasicClient::new(ClientId::new(credentials.client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(config.authorize_url.clone()).map_err(|e| bad("authorize_url", e))?,
        )
        .set_token_uri(TokenUrl::new(config.token_url.clone()).map_err(|e| bad("token_url", e))?)
        .set_auth_type(match config.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Body => AuthType::RequestBody,
        });
    if !credentials.client_secret.is_empty() {
        client = client.set_client_secret(ClientSecret::new(credentials.client_secret.clone()));
    }
    if let Some(uri) = redirect_uri {
        client = client.set_redirect_uri(
            RedirectUrl::new(uri.to_string()).map_err(|e| bad("redirect URI", e))?,
        );
    }
    Ok(client)
}

/// Builds the authorize URL for a new flow.
pub fn authorize(
    config: &OAuth2,
    credentials: &ClientCredentials,
    redirect_uri: &str,
) -> Result<Authorization, OAuthError> {
    let client = client(config, credentials, Some(redirect_uri))?;
    let mut request = client.authorize_url(CsrfToken::new_random);
    if !config.scopes.is_empty() {
        if config.scope_separator == "," {
            // The crate joins scopes with spaces; a comma provider gets them pre-joined.
            request = request.add_scope(Scope::new(config.scopes.join(",")));
        } else {
            request = request.add_scopes(config.scopes.iter().cloned().map(Scope::new));
        }
    }
    for (name, value) in &config.authorize_params {
        request = request.add_extra_param(name.clone(), value.clone());
    }
    let mut pkce_verifier = None;
    if config.pkce {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        pkce_verifier = Some(verifier.secret().clone());
    }
    let (url, state) = request.url();
    Ok(Authorization {
        url: url.to_string(),
        state: state.secret().clone(),
        pkce_verifier,
    })
}

/// The HTTP client handed to the `oauth2` crate.
struct Transport<'a> {
    runtime: &'a Runtime,
    allow_private: bool,
    /// Send the token request's parameters as a JSON object (Notion) instead of a form.
    json_body: bool,
}

/// The same token request with its form parameters as a JSON object.
fn as_json(mut request: oauth2::HttpRequest) -> oauth2::HttpRequest {
    let fields: serde_json::Map<String, serde_json::Value> =
        url::form_urlencoded::parse(request.body())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
    *request.body_mut() = serde_json::Value::Object(fields).to_string().into_bytes();
    request.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    request
}

type TransportFuture<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, TransportError>> + Send + 'c>,
>;

impl<'c> oauth2::AsyncHttpClient<'c> for Transport<'_> {
    type Error = TransportError;
    type Future = TransportFuture<'c>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = if self.json_body {
                as_json(request)
            } else {
                request
            };
            let response = self
                .runtime
                .host_request(request, self.allow_private)
                .await?;
            let status = response.status().as_u16();
            if status == 408 || status == 429 || status >= 500 {
                return Err(TransportError::Status(status));
            }
            Ok(response)
        })
    }
}

fn sort<RE: std::error::Error + 'static>(
    error: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> OAuthError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let text = match response.error_description() {
                Some(d) => format!("{}: {d}", response.error()),
                None => response.error().to_string(),
            };
            if *response.error() == BasicErrorResponseType::InvalidGrant {
                OAuthError::InvalidGrant(text)
            } else {
                OAuthError::Failed(text)
            }
        }
        RequestTokenError::Request(e) => OAuthError::Retryable(e.to_string()),
        RequestTokenError::Parse(e, _) => {
            OAuthError::Failed(format!("the token endpoint's answer is not valid: {e}"))
        }
        RequestTokenError::Other(text) => OAuthError::Failed(text),
    }
}

fn tokens(response: oauth2::basic::BasicTokenResponse) -> Tokens {
    Tokens {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        expires_in: response.expires_in(),
    }
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange_code(
    runtime: &Runtime,
    allow_private: bool,
    config: &OAuth2,
    credentials: &ClientCredentials,
    redirect_uri: &str,
    code: &str,
    pkce_verifier: Option<String>,
) -> Result<Tokens, OAuthError> {
    let client = client(config, credentials, Some(redirect_uri))?;
    let http = Transport {
        runtime,
        allow_private,
        json_body: config.token_body == TokenBody::Json,
    };
    let mut request = client.exchange_code(AuthorizationCode::new(code.to_string()));
    if let Some(verifier) = pkce_verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier));
    }
    request.request_async(&http).await.map(tokens).map_err(sort)
}

/// Exchanges a refresh token for a new access token (and perhaps a new refresh token).
pub async fn refresh(
    runtime: &Runtime,
    allow_private: bool,
    config: &OAuth2,
    credentials: &ClientCredentials,
    refresh_token: &str,
) -> Result<Tokens, OAuthError> {
    let client = client(config, credentials, None)?;
    let http = Transport {
        runtime,
        allow_private,
        json_body: config.token_body == TokenBody::Json,
    };
    let token = RefreshToken::new(refresh_token.to_string());
    let response = client
        .exchange_refresh_token(&token)
        .request_async(&http)
        .await
        .map_err(sort)?;
    Ok(tokens(response))
}

/// Revokes a token (RFC 7009). `Ok(false)` when the provider has no revocation endpoint.
///
/// Written out rather than through the `oauth2` crate, which insists on an `https`
/// revocation URL: the address policy of [`Runtime::host_request`] already decides which
/// destinations an install may reach, plain-HTTP loopback included when the admin allowed it.
pub async fn revoke(
    runtime: &Runtime,
    allow_private: bool,
    config: &OAuth2,
    credentials: &ClientCredentials,
    token: &str,
    is_refresh_token: bool,
) -> Result<bool, OAuthError> {
    let Some(url) = &config.revoke_url else {
        return Ok(false);
    };
    // Revoking twice is harmless, so a request lost to the network is sent once more.
    let mut attempt = 0;
    let response = loop {
        attempt += 1;
        let request = revocation_request(url, config, credentials, token, is_refresh_token)?;
        match runtime.host_request(request, allow_private).await {
            Ok(response) => break response,
            Err(HostHttpError::Refused(m)) => return Err(OAuthError::Failed(m)),
            Err(HostHttpError::Network(_)) if attempt == 1 => continue,
            Err(other) => return Err(OAuthError::Retryable(other.to_string())),
        }
    };
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(true),
        408 | 429 | 500..=599 => Err(OAuthError::Retryable(format!("HTTP {status}"))),
        _ => {
            let body: serde_json::Value =
                serde_json::from_slice(response.body()).unwrap_or_default();
            Err(OAuthError::Failed(format!(
                "the provider refused the revocation (HTTP {status}{})",
                body["error"]
                    .as_str()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )))
        }
    }
}

/// The RFC 7009 request. (A plain function: the form serializer is not `Send`, so it must not
/// live inside the async caller.)
fn revocation_request(
    url: &str,
    config: &OAuth2,
    credentials: &ClientCredentials,
    token: &str,
    is_refresh_token: bool,
) -> Result<http::Request<Vec<u8>>, OAuthError> {
    let hint = if is_refresh_token {
        "refresh_token"
    } else {
        "access_token"
    };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token)
        .append_pair("token_type_hint", hint);
    let mut request = http::Request::post(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json");
    match config.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 2.3.1: both parts form-urlencoded before the Basic encoding.
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                encode(&credentials.client_id),
                encode(&credentials.client_secret)
            );
            use base64::Engine as _;
            request = request.header(
                http::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            );
        }
        ClientAuth::Body => {
            form.append_pair("client_id", &credentials.client_id);
            if !credentials.client_secret.is_empty() {
                form.append_pair("client_secret", &credentials.client_secret);
            }
        }
    }
    request
        .body(form.finish().into_bytes())
        .map_err(|e| OAuthError::Failed(format!("revoke_url: {e}")))
}

/// The redirect URI heph registers: `<public URL>/oauth/callback`.
pub fn redirect_uri(public_url: &str) -> String {
    format!("{}/oauth/callback", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Auth, Manifest};

    fn manifest(auth: &str) -> OAuth2 {
        let text = format!(
            "id='p'\nname='P'\nversion='1'\npublisher='x'\ncontract='0.1.0'\n[auth]\nkind='oauth2'\n{auth}"
        );
        match Manifest::parse(&text).unwrap().auth {
            Auth::OAuth2(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn query(url: &str) -> Vec<(String, String)> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    const CLIENT: fn() -> ClientCredentials = || ClientCredentials {
        client_id: "the-client".into(),
        client_secret: "s".into(),
    };

    #[test]
    fn google_style_extra_parameters_and_pkce() {
        let config = manifest(
            "authorize_url='https://accounts.example/o/oauth2/v2/auth'\ntoken_url='https://oauth2.example/token'\n\
             scopes=['openid','https://www.example/auth/calendar']\nauthorize_params={access_type='offline', prompt='consent'}\n",
        );
        assert_eq!(
            config.client_auth,
            ClientAuth::Basic,
            "the standard's default"
        );
        let started = authorize(&config, &CLIENT(), "https://heph.example/oauth/callback").unwrap();
        let q = query(&started.url);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("the-client"));
        assert_eq!(
            get("redirect_uri"),
            Some("https://heph.example/oauth/callback")
        );
        assert_eq!(
            get("scope"),
            Some("openid https://www.example/auth/calendar")
        );
        assert_eq!(get("access_type"), Some("offline"));
        assert_eq!(get("prompt"), Some("consent"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("state"), Some(started.state.as_str()));
        let verifier = started.pkce_verifier.unwrap();
        use base64::Engine as _;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
        assert_eq!(get("code_challenge"), Some(challenge.as_str()));
        let again = authorize(&config, &CLIENT(), "https://heph.example/oauth/callback").unwrap();
        assert_ne!(again.state, started.state, "a fresh state per flow");
    }

    #[test]
    fn comma_scopes_and_body_client_auth() {
        let config = manifest(
            "authorize_url='https://p.example/auth'\ntoken_url='https://p.example/token'\n\
             scopes=['read','write']\nscope_separator=','\nclient_auth='body'\npkce=false\n",
        );
        assert_eq!(config.client_auth, ClientAuth::Body);
        let started = authorize(&config, &CLIENT(), "https://h/oauth/callback").unwrap();
        let q = query(&started.url);
        assert!(q.contains(&("scope".into(), "read,write".into())), "{q:?}");
        assert!(!q.iter().any(|(k, _)| k == "code_challenge"));
        assert!(started.pkce_verifier.is_none());
        let request = revocation_request("https://p.example/revoke", &manifest("authorize_url='https://p.example/a'\ntoken_url='https://p.example/t'\nrevoke_url='https://p.example/revoke'\nclient_auth='body'\n"), &CLIENT(), "tok", true).unwrap();
        let body = String::from_utf8(request.body().clone()).unwrap();
        assert_eq!(
            body,
            "token=tok&token_type_hint=refresh_token&client_id=the-client&client_secret=s"
        );
        assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
    }

    #[test]
    fn bad_oauth_manifests_are_explained() {
        for (auth, needle) in [
            (
                "authorize_url='nope'\ntoken_url='https://t'\n",
                "authorize_url",
            ),
            (
                "authorize_url='https://a'\ntoken_url='ftp://t'\n",
                "token_url",
            ),
            (
                "authorize_url='https://a'\ntoken_url='https://t'\nscope_separator=';'\n",
                "scope_separator",
            ),
        ] {
            let text = format!("id='p'\nname='P'\nversion='1'\npublisher='x'\ncontract='0.1.0'\n[auth]\nkind='oauth2'\n{auth}");
            let err = Manifest::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
