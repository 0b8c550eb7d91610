//! The providers' OAuth endpoints, in front of the real authorization server of the tests
//! (oidc-provider). Each token endpoint checks what its provider requires (Notion: a JSON body
//! and HTTP Basic client authentication; Google and LinkedIn: a form body with the client's
//! credentials in it), forwards the request to oidc-provider's `/token` as a form, and answers
//! in the provider's shape (Notion adds its workspace; LinkedIn lists scopes with commas). The
//! access tokens it hands out are then accepted by the API fakes, with their scopes.
//!
//! The authorize endpoints are the user's browser's business: [`authorize_url`] checks the
//! URL heph built against the provider's rules and turns it into the oidc-provider URL that
//! the provider's login page would be.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{json, Answer, Received, World};

/// A provider's OAuth endpoints and rules.
pub struct Endpoints {
    /// The authorize URL, as the provider documents it.
    pub authorize: &'static str,
    /// Parameters the authorize URL must carry, with their values.
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Whether the authorize URL must carry a PKCE challenge (S256).
    pub pkce: bool,
    /// Host and path of the token endpoint.
    pub token: (&'static str, &'static str),
    /// Notion has no scopes, but oidc-provider grants nothing without one: the scope its
    /// login page is asked for when heph's URL has none.
    pub scope_when_none: Option<&'static str>,
}

/// Notion's public integrations.
pub const NOTION: Endpoints = Endpoints {
    authorize: "https://api.notion.com/v1/oauth/authorize",
    authorize_params: &[("owner", "user"), ("response_type", "code")],
    pkce: false,
    token: ("api.notion.com", "/v1/oauth/token"),
    scope_when_none: Some("openid"),
};

/// Google's web-server flow with offline access.
pub const GOOGLE: Endpoints = Endpoints {
    authorize: "https://accounts.google.com/o/oauth2/v2/auth",
    authorize_params: &[
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("response_type", "code"),
    ],
    pkce: true,
    token: ("oauth2.googleapis.com", "/token"),
    scope_when_none: None,
};

/// LinkedIn's authorization code flow (3-legged OAuth).
pub const LINKEDIN: Endpoints = Endpoints {
    authorize: "https://www.linkedin.com/oauth/v2/authorization",
    authorize_params: &[("response_type", "code")],
    pkce: false,
    token: ("www.linkedin.com", "/oauth/v2/accessToken"),
    scope_when_none: None,
};

/// Checks an authorize URL heph built against the provider's rules; the oidc-provider URL the
/// browser is sent to, with the same query.
pub fn authorize_url(endpoints: &Endpoints, url: &str, issuer: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let base = format!("{}{}", parsed.origin().ascii_serialization(), parsed.path());
    if base != endpoints.authorize {
        return Err(format!("authorize URL {base}, not {}", endpoints.authorize));
    }
    let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (name, value) in endpoints.authorize_params {
        if param(name) != Some(value) {
            return Err(format!("{name} should be {value}: {url}"));
        }
    }
    for name in ["client_id", "redirect_uri", "state"] {
        if param(name).is_none_or(str::is_empty) {
            return Err(format!("no {name}: {url}"));
        }
    }
    let pkce = param("code_challenge_method") == Some("S256") && param("code_challenge").is_some();
    if pkce != endpoints.pkce {
        return Err(format!(
            "PKCE should be {}: {url}",
            if endpoints.pkce { "used" } else { "absent" }
        ));
    }
    let mut login = url::Url::parse(&format!("{issuer}/auth")).map_err(|e| e.to_string())?;
    login.set_query(parsed.query());
    if let (None, Some(scope)) = (param("scope"), endpoints.scope_when_none) {
        login.query_pairs_mut().append_pair("scope", scope);
    }
    Ok(login.to_string())
}

/// Answers a request to a token endpoint (or Google's revocation endpoint); `None` for any
/// other request.
pub fn token_front(world: &Arc<Mutex<World>>, host: &str, request: &Received) -> Option<Answer> {
    let path = request.uri.split('?').next().unwrap_or("");
    let provider = [
        ("notion", &NOTION),
        ("google", &GOOGLE),
        ("linkedin", &LINKEDIN),
    ]
    .into_iter()
    .find(|(_, e)| e.token == (host, path))
    .map(|(name, _)| name);
    if (host, path) == ("oauth2.googleapis.com", "/revoke") {
        let token = url::form_urlencoded::parse(&request.body)
            .chain(url::form_urlencoded::parse(
                request.uri.split('?').nth(1).unwrap_or("").as_bytes(),
            ))
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned());
        let mut world = world.lock().unwrap();
        return Some(match token {
            Some(token) => {
                world.tokens.remove(&token);
                world.revoked.push(token);
                json(200, &json!({}))
            }
            None => json(
                400,
                &json!({"error": "invalid_request", "error_description": "Missing required parameter: token"}),
            ),
        });
    }
    let provider = provider?;
    if request.method != "POST" {
        return Some(json(405, &json!({"error": "invalid_request"})));
    }
    let content_type = request.header("content-type").unwrap_or("");
    let form: Vec<(String, String)> = if provider == "notion" {
        // Notion takes JSON, and the client's credentials only as HTTP Basic.
        if !content_type.starts_with("application/json") {
            return Some(json(
                400,
                &json!({"error": "invalid_request", "error_description": "body must be JSON"}),
            ));
        }
        if !request
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
        {
            return Some(json(
                401,
                &json!({"error": "invalid_client", "error_description": "Client authentication (HTTP Basic) is required."}),
            ));
        }
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
            return Some(json(
                400,
                &json!({"error": "invalid_request", "error_description": "body must be a JSON object"}),
            ));
        };
        body.into_iter()
            .map(|(k, v)| {
                (
                    k,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect()
    } else {
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Some(json(
                400,
                &json!({"error": "invalid_request", "error_description": "Content-Type must be application/x-www-form-urlencoded"}),
            ));
        }
        url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect()
    };
    let issuer = world.lock().unwrap().authorization_server.clone()?;
    let authorization = request.header("authorization").map(str::to_string);
    let (status, mut body) = forward(&format!("{issuer}/token"), authorization, form);
    if status == 200 {
        let access = body["access_token"].as_str().unwrap_or("").to_string();
        let scope = body["scope"].as_str().unwrap_or("").to_string();
        let mut world = world.lock().unwrap();
        world.tokens.insert(access.clone());
        world.scopes.insert(access, scope.clone());
        match provider {
            "notion" => {
                for field in ["expires_in", "id_token", "scope"] {
                    body.as_object_mut().map(|b| b.remove(field));
                }
                body["token_type"] = json!("bearer");
                body["bot_id"] = json!("bot-1");
                body["workspace_id"] = json!("ws-learners");
                body["workspace_name"] = json!("Learner's notes");
                body["workspace_icon"] = Value::Null;
                body["owner"] = json!({"type": "user", "user": {"object": "user", "id": "user-1"}});
                body["duplicated_template_id"] = Value::Null;
                body["request_id"] = json!("fake");
            }
            "linkedin" => {
                body["scope"] = json!(scope.split(' ').collect::<Vec<_>>().join(","));
                if body.get("refresh_token").is_some() {
                    body["refresh_token_expires_in"] = json!(31_536_000);
                }
            }
            _ => {}
        }
    }
    Some(json(status, &body))
}

/// Posts a form to oidc-provider from the fake's (synchronous) handler.
fn forward(url: &str, authorization: Option<String>, form: Vec<(String, String)>) -> (u16, Value) {
    let url = url.to_string();
    tokio::task::block_in_place(move || {
        tokio::runtime::Handle::current().block_on(async move {
            let mut request = reqwest::Client::new().post(&url).form(&form);
            if let Some(authorization) = authorization {
                request = request.header("authorization", authorization);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.json().await.unwrap_or(Value::Null))
                }
                Err(e) => (
                    502,
                    json!({"error": "server_error", "error_description": e.to_string()}),
                ),
            }
        })
    })
}

/// Whether `token` was granted `scope` (tokens added by the test directly have every scope).
pub fn has_scope(world: &World, token: &str, scope: &str) -> bool {
    match world.scopes.get(token) {
        Some(granted) => granted.split([' ', ',']).any(|s| s == scope),
        None => true,
    }
}
