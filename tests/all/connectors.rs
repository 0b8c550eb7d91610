//! What the tests of the first-party connectors share: a `heph serve` that reaches the
//! provider fakes (`--resolve` and the test CA), connections by secret or through each
//! provider's OAuth flow against the real authorization server, and action calls.

use heph_tests::heph_server::{Api, HephServer, ServerOptions};
use heph_tests::oauth_server::{authorize_in_browser, free_port, Provider};
use heph_tests::providers::oauth::{self, Endpoints};
use heph_tests::providers::{Providers, Received};
use serde_json::{json, Value};

pub const NOTION_SECRET: &str = "ntn_4471fake5ecret";
pub const NOTES: &str = "2a1f7c0e-8b3d-4e51-9c6a-0d2e4f6a8b10";

/// A `heph serve` that reaches the fakes.
pub fn server(providers: &Providers) -> HephServer {
    HephServer::start(ServerOptions {
        env: providers.env(),
        ..ServerOptions::default()
    })
}

/// A Notion connection with the internal integration secret; its view.
pub async fn notion_connection(api: &Api) -> Value {
    let (status, conn) = api
        .post(
            "/api/connections",
            json!({"consent": true, "connector": "notion", "name": "Notes", "fields": {"integration_secret": NOTION_SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{conn}");
    conn
}

/// Runs an action of a connection.
pub async fn action(api: &Api, connection: &str, name: &str, input: Value) -> (u16, Value) {
    api.post(
        &format!("/api/connections/{connection}/actions/{name}"),
        input,
    )
    .await
}

/// A server connected to a provider through its OAuth flow.
pub struct Connected {
    /// The authorization server behind the provider's token endpoint.
    pub authorization_server: Provider,
    pub server: HephServer,
    /// The admin's API.
    pub api: Api,
    /// The connection's view.
    pub connection: Value,
    /// The authorize URL heph sent the browser to.
    pub authorize_url: String,
}

impl Connected {
    /// The connection's id.
    pub fn id(&self) -> String {
        self.connection["id"].as_str().expect("id").to_string()
    }
}

/// Starts oidc-provider behind the fakes' token endpoints and a `heph serve` whose callback it
/// knows, registers the OAuth app (client `client`, as the provider's console gives it), and
/// connects `connector` with `fields` through the provider's pages as a user would.
pub async fn connect(
    providers: &Providers,
    endpoints: &Endpoints,
    connector: &str,
    client: &str,
    fields: Value,
) -> Connected {
    let port = free_port();
    let authorization_server =
        Provider::start(&format!("http://127.0.0.1:{port}/oauth/callback"), 3600);
    providers.use_authorization_server(&authorization_server.issuer);
    let server = HephServer::start(ServerOptions {
        env: providers.env(),
        port: Some(port),
        ..ServerOptions::default()
    });
    let api = server.api(&server.admin_token);
    let (status, body) = api
        .put(
            &format!("/api/connectors/{connector}/oauth-app"),
            json!({"client_id": client, "client_secret": format!("{client}-secret")}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, started) = api
        .post(
            "/api/connections/oauth/start",
            json!({"consent": true, "connector": connector, "name": format!("My {connector}"), "fields": fields}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let authorize_url = started["authorize_url"]
        .as_str()
        .expect("authorize_url")
        .to_string();
    let login_page = oauth::authorize_url(endpoints, &authorize_url, &authorization_server.issuer)
        .unwrap_or_else(|e| panic!("{e}"));
    let callback = authorize_in_browser(&login_page, "learner-42").await;
    let (status, page) = api.browser_get(&callback).await;
    assert_eq!(
        status,
        200,
        "{page}\n{}\n{}",
        server.log(),
        authorization_server.log()
    );
    assert!(page.contains("connected"), "{page}");
    let (_, list) = api.get("/api/connections").await;
    let connection = list["connections"]
        .as_array()
        .and_then(|c| c.last())
        .expect("a connection")
        .clone();
    assert_eq!(connection["status"], "ok", "{connection}\n{}", server.log());
    Connected {
        authorization_server,
        server,
        api,
        connection,
        authorize_url,
    }
}

/// The query parameters of a URL.
pub fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .expect("URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// One parameter of a URL's query.
pub fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The first request a provider's token endpoint received, and its form fields.
pub fn token_request(
    providers: &Providers,
    endpoints: &Endpoints,
) -> (Received, std::collections::HashMap<String, String>) {
    let (host, path) = endpoints.token;
    let request = providers
        .received(host)
        .into_iter()
        .find(|r| r.uri == path)
        .expect("a token request");
    let form = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    (request, form)
}

/// What a form needs from a schema: an object whose properties each have a type (or a
/// choice of them) and whose required names are among its properties. Adds what is missing
/// to `problems`.
fn check_form_schema(schema: &Value, place: &str, problems: &mut Vec<String>) {
    if schema["type"] != "object" {
        problems.push(format!("{place}: not an object schema: {schema}"));
        return;
    }
    let Some(properties) = schema["properties"].as_object() else {
        problems.push(format!("{place}: no properties"));
        return;
    };
    for (name, property) in properties {
        let typed = ["type", "enum", "oneOf", "anyOf"]
            .iter()
            .any(|k| property.get(k).is_some());
        if !typed {
            problems.push(format!("{place}.{name}: no type"));
        }
        if property["type"] == "object" && property.get("properties").is_some() {
            check_form_schema(property, &format!("{place}.{name}"), problems);
        }
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or("");
        if !properties.contains_key(name) {
            problems.push(format!("{place}: required `{name}` is not a property"));
        }
    }
}

/// Checks one action or trigger: a title and a description for the form, its input (or
/// config) schema, and an output schema for the mappings that follow it.
fn check_operation(operation: &Value, place: &str, schema: &str, problems: &mut Vec<String>) {
    for field in ["title", "description"] {
        if !operation[field].is_string() {
            problems.push(format!("{place}: no {field}"));
        }
    }
    check_form_schema(&operation[schema], &format!("{place} {schema}"), problems);
    if operation["output"]["type"] != "object" {
        problems.push(format!("{place}: no output schema"));
    }
}

#[test]
fn every_first_party_action_and_trigger_describes_its_form() {
    heph_tests::tokio().block_on(async {
        let server = HephServer::start(ServerOptions::default());
        let api = server.api(&server.admin_token);
        let mut problems = Vec::new();
        for connector in ["wordpress", "notion", "google-calendar", "linkedin"] {
            let (status, body) = api.get(&format!("/api/connectors/{connector}")).await;
            assert_eq!(status, 200, "{body}");
            let describe = &body["describe"];
            let actions = describe["actions"].as_array().expect("actions");
            assert!(!actions.is_empty(), "{connector}");
            for action in actions {
                let place = format!("{connector}/{}", action["name"].as_str().unwrap_or("?"));
                check_operation(action, &place, "input", &mut problems);
            }
            for trigger in describe["triggers"].as_array().expect("triggers") {
                let place = format!("{connector}/{}", trigger["name"].as_str().unwrap_or("?"));
                if !["poll", "webhook"].contains(&trigger["kind"].as_str().unwrap_or("")) {
                    problems.push(format!("{place}: kind is poll or webhook"));
                }
                check_operation(trigger, &place, "config", &mut problems);
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    });
}
