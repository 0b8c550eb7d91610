//! Accounts and the rules of the public API, through `heph serve`: browser sessions and their
//! CSRF tokens, passwords, token scopes, who may see what, consent before connecting an
//! account, `Idempotency-Key`, rate limits, cursor pages, and the OpenAPI document against the
//! routes the server answers.

use heph_tests::heph_server::{open_store, Api, HephServer, ServerOptions};
use serde_json::{json, Value};

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// A browser: a cookie jar, and the CSRF token it was handed at sign-in.
struct Browser {
    client: reqwest::Client,
    base: String,
    csrf: Option<String>,
}

impl Browser {
    fn new(server: &HephServer) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
            base: server.url.clone(),
            csrf: None,
        }
    }

    async fn sign_in(&mut self, name: &str, password: &str) -> (u16, Value) {
        let (status, body) = self
            .send(
                "POST",
                "/api/session",
                Some(json!({"name": name, "password": password})),
                false,
            )
            .await;
        if status == 200 {
            self.csrf = body["csrf_token"].as_str().map(str::to_string);
        }
        (status, body)
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> (u16, Value) {
        let mut request = self.client.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if csrf {
            if let Some(token) = &self.csrf {
                request = request.header("X-CSRF-Token", token);
            }
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

async fn token_count(browser: &Browser) -> usize {
    let (_, tokens) = browser.send("GET", "/api/tokens", None, false).await;
    tokens["tokens"].as_array().unwrap().len()
}

const PASSWORD: &str = "a long enough password";

/// A member with a password and an API token.
async fn member(admin: &Api, name: &str) -> String {
    let (status, body) = admin
        .post("/api/users", json!({"name": name, "password": PASSWORD}))
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"]["token"].as_str().unwrap().to_string()
}

#[test]
fn a_browser_session_changes_nothing_without_its_csrf_token() {
    let server = HephServer::start(ServerOptions::default());
    let admin = server.api(&server.admin_token);
    tokio().block_on(async {
        member(&admin, "mia").await;
        let mut browser = Browser::new(&server);
        let (status, refused) = browser.sign_in("mia", "not the password").await;
        assert_eq!(status, 401, "{refused}");
        assert_eq!(refused["error"]["code"], "invalid_credentials");
        let (status, unknown) = browser.sign_in("nobody", PASSWORD).await;
        assert_eq!(
            (status, &unknown["error"]["message"]),
            (401, &refused["error"]["message"]),
            "an unknown name reads like a wrong password"
        );
        let (status, me) = browser.send("GET", "/api/me", None, false).await;
        assert_eq!(status, 401, "{me}");

        let (status, signed_in) = browser.sign_in("mia", PASSWORD).await;
        assert_eq!(status, 200, "{signed_in}");
        assert_eq!(signed_in["user"]["role"], "member");
        let (status, me) = browser.send("GET", "/api/me", None, false).await;
        assert_eq!((status, me["name"].as_str()), (200, Some("mia")), "{me}");

        // A change without the CSRF token (what a page of another site could make the browser
        // send) is refused and changes nothing; with it, it is done.
        let before = token_count(&browser).await;
        for body in [
            json!({"name": "forged"}),
            json!({"name": "forged", "scopes": ["read"]}),
        ] {
            let (status, refused) = browser.send("POST", "/api/tokens", Some(body), false).await;
            assert_eq!(status, 403, "{refused}");
            assert_eq!(refused["error"]["code"], "csrf_failed");
        }
        let forged = Browser {
            client: browser.client.clone(),
            base: server.url.clone(),
            csrf: Some("0".repeat(64)),
        };
        let (status, _) = forged
            .send("POST", "/api/tokens", Some(json!({"name": "forged"})), true)
            .await;
        assert_eq!(status, 403);
        assert_eq!(token_count(&browser).await, before);
        let (status, made) = browser
            .send("POST", "/api/tokens", Some(json!({"name": "mine"})), true)
            .await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(token_count(&browser).await, before + 1);

        // Only argon2id hashes are stored, never the password.
        let (store, _) = open_store(&server).await;
        let (_, hash) = store.user_with_password("mia").await.unwrap().unwrap();
        let hash = hash.unwrap();
        assert!(
            hash.starts_with("$argon2id$") && !hash.contains(PASSWORD),
            "{hash}"
        );

        // A new password ends every session.
        let (status, changed) = browser
            .send(
                "PUT",
                "/api/me/password",
                Some(json!({"current": PASSWORD, "new": "another long password"})),
                true,
            )
            .await;
        assert_eq!(status, 204, "{changed}");
        let (status, _) = browser.send("GET", "/api/me", None, false).await;
        assert_eq!(status, 401);
        let (status, _) = browser.sign_in("mia", PASSWORD).await;
        assert_eq!(status, 401);
        let (status, _) = browser.sign_in("mia", "another long password").await;
        assert_eq!(status, 200);
        let (status, _) = browser.send("DELETE", "/api/session", None, true).await;
        assert_eq!(status, 204);
        let (status, _) = browser.send("GET", "/api/me", None, false).await;
        assert_eq!(status, 401, "signed out");
        assert!(!server.log().contains(PASSWORD));
    });
}

#[test]
fn members_reach_no_admin_call_and_users_see_only_their_own() {
    let server = HephServer::start(ServerOptions::default());
    let admin = server.api(&server.admin_token);
    tokio().block_on(async {
        let alice = server.api(&member(&admin, "alice").await);
        let bob = server.api(&member(&admin, "bob").await);

        for (method, path, body) in [
            ("GET", "/api/users", None),
            ("POST", "/api/users", Some(json!({"name": "mallory", "role": "admin"}))),
            ("POST", "/api/connectors/install", Some(json!({"name": "x", "registry": "http://127.0.0.1:9"}))),
            ("POST", "/api/publishers", Some(json!({"name": "evil", "public_key": "x"}))),
            ("PATCH", "/api/connectors/wordpress", Some(json!({"allow_private_network": true}))),
            ("DELETE", "/api/connectors/wordpress", None),
            ("PUT", "/api/connectors/notion/oauth-app", Some(json!({"client_id": "a", "client_secret": "b"}))),
        ] {
            let (status, refused) = bob.send(method, path, body).await;
            assert_eq!(status, 403, "{method} {path}: {refused}");
            assert_eq!(refused["error"]["code"], "forbidden", "{method} {path}");
        }
        assert_eq!(admin.get("/api/users").await.1["users"].as_array().unwrap().len(), 3);

        // Alice's connection, scenario, run and records are hers alone.
        let (status, connection) = alice
            .post("/api/connections", json!({"consent": true, "connector": "wordpress", "test": false,
                "fields": {"site_url": "https://wp.example.test", "username": "alice", "application_password": "alice-app-password-1234"}}))
            .await;
        assert_eq!(status, 201, "{connection}");
        let (status, scenario) = alice
            .post("/api/scenarios", json!({"name": "private", "trigger": {"type": "manual"},
                "nodes": [{"id": "save", "type": "store", "op": "upsert", "collection": "mine", "key": "{{ trigger.id }}", "record": "{{ trigger }}"}]}))
            .await;
        assert_eq!(status, 201, "{scenario}");
        let scenario = scenario["id"].as_str().unwrap();
        let (status, run) = alice
            .post(&format!("/api/scenarios/{scenario}/run"), json!({"input": {"id": "a1"}}))
            .await;
        assert_eq!(status, 202, "{run}");
        let run_id = run["run"]["id"].as_str().unwrap().to_string();
        let connection = connection["id"].as_str().unwrap();
        for path in [
            format!("/api/connections/{connection}"),
            format!("/api/scenarios/{scenario}"),
            format!("/api/runs/{run_id}"),
        ] {
            let (status, answer) = bob.get(&path).await;
            assert_eq!(status, 404, "bob GET {path}: {answer}");
        }
        let (status, _) = bob.send("DELETE", &format!("/api/connections/{connection}"), None).await;
        assert_eq!(status, 404);
        let (status, _) = bob.post(&format!("/api/scenarios/{scenario}/run"), json!({})).await;
        assert_eq!(status, 404);
        assert_eq!(bob.get("/api/connections").await.1["connections"], json!([]));
        assert_eq!(bob.get("/api/scenarios").await.1["scenarios"], json!([]));
        assert_eq!(bob.get("/api/runs").await.1["runs"], json!([]));
        assert_eq!(bob.get("/api/store").await.1["collections"], json!([]));
        assert_eq!(alice.get(&format!("/api/connections/{connection}")).await.0, 200);

        // Scopes: a read-only token reads and changes nothing; an admin's token without
        // `admin` acts as a member.
        let (_, read_only) = alice.post("/api/tokens", json!({"name": "ro", "scopes": ["read"]})).await;
        let read_only = server.api(read_only["token"].as_str().unwrap());
        assert_eq!(read_only.get("/api/scenarios").await.0, 200);
        let (status, refused) = read_only.send("DELETE", &format!("/api/scenarios/{scenario}"), None).await;
        assert_eq!(status, 403, "{refused}");
        assert_eq!(refused["error"]["code"], "insufficient_scope");
        assert_eq!(alice.get(&format!("/api/scenarios/{scenario}")).await.0, 200, "still there");
        let (status, refused) = alice.post("/api/tokens", json!({"scopes": ["admin"]})).await;
        assert_eq!(status, 403, "a member cannot mint an admin token: {refused}");
        let (_, narrow) = admin.post("/api/tokens", json!({"name": "script", "scopes": ["read", "write"]})).await;
        assert_eq!(narrow["scopes"], json!(["read", "write"]));
        let narrow = server.api(narrow["token"].as_str().unwrap());
        assert_eq!(narrow.get("/api/users").await.0, 403);
        assert_eq!(narrow.get("/api/me").await.1["role"], "member");
    });
}

#[test]
fn connecting_an_account_needs_consent_to_what_the_connector_reaches() {
    let server = HephServer::start(ServerOptions::default());
    let admin = server.api(&server.admin_token);
    tokio().block_on(async {
        let carol = server.api(&member(&admin, "carol").await);
        let body = |consent: bool| {
            json!({"consent": consent, "connector": "wordpress", "test": false,
                "fields": {"site_url": "https://wp.example.test", "username": "carol", "application_password": "carol-app-password-1234"}})
        };
        let (status, refused) = carol.post("/api/connections", body(false)).await;
        assert_eq!(status, 403, "{refused}");
        assert_eq!(refused["error"]["code"], "consent_required");
        assert_eq!(refused["error"]["details"]["connector"], "wordpress");
        assert_eq!(refused["error"]["details"]["auth"], "basic");
        assert!(refused["error"]["details"]["hosts"].is_array(), "{refused}");
        assert_eq!(carol.get("/api/connections").await.1["connections"], json!([]), "nothing connected");

        let (_, shown) = carol.get("/api/connectors/wordpress/consent").await;
        assert_eq!(shown["granted"], Value::Null);
        let (status, given) = carol.post("/api/connectors/wordpress/consent", json!({})).await;
        assert_eq!(status, 200, "{given}");
        assert_eq!(given["granted"]["connector_id"], "wordpress");
        let (status, created) = carol.post("/api/connections", body(false)).await;
        assert_eq!(status, 201, "with the consent given: {created}");
        assert_eq!(carol.get("/api/consents").await.1["consents"].as_array().unwrap().len(), 1);

        let (status, _) = carol.send("DELETE", "/api/consents/wordpress", None).await;
        assert_eq!(status, 204);
        assert_eq!(carol.post("/api/connections", body(false)).await.0, 403, "withdrawn: asked again");
        assert_eq!(carol.post("/api/connections", body(true)).await.0, 201, "consent sent with the request");
        // The OAuth flow asks too, before any redirect to the provider.
        let (status, refused) = carol
            .post("/api/connections/oauth/start", json!({"connector": "notion"}))
            .await;
        assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("consent_required")), "{refused}");
    });
}

#[test]
fn idempotency_keys_replay_the_first_answer_and_rate_limits_answer_429() {
    let server = HephServer::start(ServerOptions {
        env: vec![("HEPH_API_RATE_LIMIT".into(), "120".into())],
        ..Default::default()
    });
    tokio().block_on(async {
        let client = reqwest::Client::new();
        let post = |key: &str, name: &str| {
            client
                .post(format!("{}/api/scenarios", server.url))
                .bearer_auth(&server.admin_token)
                .header("Idempotency-Key", key)
                .json(&json!({"name": name, "trigger": {"type": "manual"}, "nodes": [{"id": "t", "type": "transform", "output": {}}]}))
                .send()
        };
        let first = post("create-once", "once").await.unwrap();
        assert_eq!(first.status(), 201);
        let first: Value = first.json().await.unwrap();
        let again = post("create-once", "once").await.unwrap();
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["id"], first["id"]);
        let other = post("create-once", "another").await.unwrap();
        assert_eq!(other.status(), 422);
        let other: Value = other.json().await.unwrap();
        assert_eq!(other["error"]["code"], "idempotency_key_reused");
        let api = server.api(&server.admin_token);
        let (_, list) = api.get("/api/scenarios").await;
        assert_eq!(list["scenarios"].as_array().unwrap().len(), 1, "{list}");

        // A second token, made before the first one's bucket runs dry.
        let (status, second) = api.post("/api/tokens", json!({"name": "second"})).await;
        assert_eq!(status, 201, "{second}");
        let second = second["token"].as_str().unwrap().to_string();

        // 120 a minute allows bursts of 20: the calls beyond are refused with Retry-After.
        let mut limited = None;
        for _ in 0..40 {
            let response = client
                .get(format!("{}/api/me", server.url))
                .bearer_auth(&server.admin_token)
                .send()
                .await
                .unwrap();
            if response.status() == 429 {
                limited = Some(response);
                break;
            }
        }
        let limited = limited.expect("the burst is limited");
        let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry), "{retry}");
        let body: Value = limited.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        // Another credential has its own bucket.
        assert_eq!(server.api(&second).get("/api/me").await.0, 200);
    });
}

#[test]
fn sign_in_attempts_are_limited_per_address_and_per_account_name() {
    // An hour for the allowances to refill: however slowly the hashes run on a loaded machine,
    // no attempt is given back while the test runs, so the counts are exact.
    let server = HephServer::start(ServerOptions {
        env: vec![("HEPH_SIGN_IN_WINDOW".into(), "3600".into())],
        ..ServerOptions::default()
    });
    tokio().block_on(async {
        let attempt = |from: u8, name: &'static str| {
            let url = format!("{}/api/session", server.url);
            async move {
                let client = reqwest::Client::builder()
                    .local_address(std::net::IpAddr::from([127, 0, 0, from]))
                    .build()
                    .unwrap();
                let response = client
                    .post(url)
                    .json(&json!({"name": name, "password": "not the password"}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap_or_default())
            }
        };
        // One address: ten guesses a minute, whatever the names.
        for i in 0..10 {
            let name = ["ann", "ben"][i % 2];
            assert_eq!(attempt(2, name).await.0, 401, "attempt {i}");
        }
        let (status, refused) = attempt(2, "cid").await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (429, Some("rate_limited")),
            "{refused}"
        );

        // One name from many addresses, one guess each: a burst of twenty, then none.
        let mut answered = 0;
        let mut refused = None;
        for from in 10..60 {
            match attempt(from, "victim").await {
                (401, _) => answered += 1,
                (429, body) => {
                    refused = Some(body);
                    break;
                }
                other => panic!("from 127.0.0.{from}: {other:?}"),
            }
        }
        let refused = refused.expect("guesses at one name are limited");
        assert_eq!(answered, 20, "answered before the limit");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("for this name"),
            "{refused}"
        );
        // Other names, from a fresh address, are still answered.
        assert_eq!(attempt(61, "someone").await.0, 401);
    });
}

#[test]
fn lists_page_with_cursors() {
    let server = HephServer::start(ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        for i in 0..5 {
            let (status, _) = api
                .post("/api/scenarios", json!({"name": format!("s{i}"), "trigger": {"type": "manual"}, "nodes": [{"id": "t", "type": "transform", "output": {}}]}))
                .await;
            assert_eq!(status, 201);
        }
        let mut names = Vec::new();
        let mut path = "/api/scenarios?limit=2".to_string();
        loop {
            let (status, page) = api.get(&path).await;
            assert_eq!(status, 200, "{page}");
            for s in page["scenarios"].as_array().unwrap() {
                names.push(s["name"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/scenarios?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"]);
        let (status, bad) = api.get("/api/scenarios?cursor=%21%21").await;
        assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_input")));
        // A size outside the documented 1–1000 is refused, not quietly changed.
        for path in [
            "/api/scenarios?limit=0",
            "/api/scenarios?limit=1001",
            "/api/runs?limit=-1",
            "/api/store/users?limit=5000",
            "/api/tokens?limit=2147483648",
        ] {
            let (status, bad) = api.get(path).await;
            assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_input")), "{path}: {bad}");
            assert!(bad["error"]["message"].as_str().unwrap().contains("limit"), "{bad}");
        }
        let (status, all) = api.get("/api/scenarios?limit=1000").await;
        assert_eq!((status, all["scenarios"].as_array().map(Vec::len)), (200, Some(5)));

        // The short lists page too (by id or name), here one item a page.
        let (_, all) = api.get("/api/connectors?limit=1000").await;
        let mut expected: Vec<String> = all["connectors"].as_array().unwrap().iter()
            .map(|c| c["id"].as_str().unwrap().to_string()).collect();
        expected.sort();
        assert!(expected.len() >= 4, "{all}");
        let mut seen = Vec::new();
        let mut path = "/api/connectors?limit=1".to_string();
        loop {
            let (status, page) = api.get(&path).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["connectors"].as_array().map(Vec::len), Some(1), "{page}");
            seen.push(page["connectors"][0]["id"].as_str().unwrap().to_string());
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/connectors?limit=1&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, expected);
        for (collection, id) in [("b-notes", "1"), ("a-notes", "1")] {
            assert_eq!(api.put(&format!("/api/store/{collection}/{id}"), json!({})).await.0, 200);
        }
        let (_, first) = api.get("/api/store?limit=1").await;
        assert_eq!(first["collections"][0]["name"], "a-notes", "{first}");
        let cursor = first["next_cursor"].as_str().unwrap();
        let (_, second) = api.get(&format!("/api/store?limit=1&cursor={cursor}")).await;
        assert_eq!(second["collections"][0]["name"], "b-notes", "{second}");
        assert!(second.get("next_cursor").is_none(), "{second}");
        let (status, _) = api.get("/api/publishers?limit=1").await;
        assert_eq!(status, 200);
    });
}

/// What the framework refuses on its own (a query that does not parse, a method a route does
/// not take) and what the document's schemas forbid come back in the error shape.
#[test]
fn refusals_the_document_describes_come_in_the_error_shape() {
    let server = HephServer::start(ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let (status, bad) = api.get("/api/scenarios?limit=ten").await;
        assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_input")), "{bad}");
        let (status, bad) = api.delete("/api/connectors/wordpress?disable_scenarios=maybe").await;
        assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_input")), "{bad}");
        let (status, bad) = api.get("/api/runs/run_x?after=-1").await;
        assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_input")), "{bad}");

        let response = reqwest::Client::new()
            .patch(format!("{}/api/tokens", server.url))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405);
        let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
        assert!(allow.as_deref().is_some_and(|a| a.contains("GET") && a.contains("POST")), "{allow:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("PATCH"), "{body}");

        // Login names are ASCII, as the document's pattern says; roles are the two there are.
        let (status, bad) = api.post("/api/users", json!({"name": "zoë"})).await;
        assert_eq!(status, 400, "{bad}");
        assert!(bad["error"]["message"].as_str().unwrap().contains("ASCII"), "{bad}");
        let (status, bad) = api.post("/api/users", json!({"name": "zoe", "role": "owner"})).await;
        assert_eq!((status, bad["error"]["code"].as_str()), (422, Some("invalid_json")), "{bad}");
        let (status, _) = api.post("/api/users", json!({"name": "zoe", "role": "admin"})).await;
        assert_eq!(status, 201);

        // A publisher key is taken exactly as `heph keygen` prints it, not padded.
        let key = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
        let (status, bad) = api
            .post("/api/publishers", json!({"name": "acme", "public_key": format!(" {key}")}))
            .await;
        assert_eq!(status, 400, "{bad}");
        let (status, body) = api
            .post("/api/publishers", json!({"name": "acme", "public_key": key}))
            .await;
        assert_eq!(status, 201, "{body}");

        // Registry URLs are http(s) as written; a registry name must look like a connector's.
        let (status, bad) = api.get("/api/registry/connectors?registry=%20HTTP://example.com").await;
        assert_eq!(status, 400, "{bad}");
        assert!(bad["error"]["message"].as_str().unwrap().contains("http(s) URL"), "{bad}");
        let (status, bad) = api
            .post("/api/connectors/install", json!({"name": "Word Press", "registry": "http://127.0.0.1:9"}))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert!(bad["error"]["message"].as_str().unwrap().contains("lower-case"), "{bad}");

        // A YAML definition reads as the same JSON would: a number wider than 64 bits is a float.
        let yaml = "name: wide\ntrigger: {type: manual}\nvariables: {big: -529449292760270055145472}\nnodes:\n  - {id: t, type: transform, output: {}}\n";
        let (status, created) = api.send_typed("POST", "/api/scenarios", "application/yaml", yaml).await;
        assert_eq!(status, 201, "{created}");
        let (_, scenario) = api.get("/api/scenarios/wide").await;
        assert!(scenario["definition"]["variables"]["big"].as_f64().is_some_and(|n| n < -5.2e23), "{scenario}");
    });
}

#[test]
fn every_documented_operation_is_served_and_fails_in_the_documented_shape() {
    let server = HephServer::start(ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let (status, doc) = api.get("/api/openapi.json").await;
        assert_eq!(status, 200);
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["components"]["securitySchemes"]["token"].is_object());
        let (status, page) = api.browser_get(&format!("{}/api/docs", server.url)).await;
        assert_eq!(status, 200);
        assert!(page.contains("/api/openapi.json"));

        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations += 1;
                // Pages for browsers (the OAuth callback) document each answer as HTML.
                let errors_documented = operation["responses"]["default"].is_object()
                    || operation["responses"]["4XX"]["content"]["text/html"].is_object();
                assert!(errors_documented, "{method} {path}: errors are documented");
                // Path parameters that name nothing: each call must be routed (not 405 or the
                // fallback's 404 `no such endpoint`) and fail, if it fails, in the error shape.
                let concrete = path
                    .replace("{id}", "nope")
                    .replace("{action}", "nope")
                    .replace("{collection}", "nope")
                    .replace("{connector}", "nope")
                    .replace("{name}", "nope");
                let body = (method != "get" && method != "delete").then(|| json!({}));
                let (status, answer) = api.send(&method.to_uppercase(), &concrete, body).await;
                assert!(status < 500, "{method} {concrete}: {status} {answer}");
                assert_ne!(status, 405, "{method} {path} is documented but not routed");
                if status >= 400 && answer.is_object() {
                    assert!(
                        answer["error"]["code"].is_string(),
                        "{method} {concrete}: {answer}"
                    );
                    assert_ne!(
                        answer["error"]["message"], "no such endpoint",
                        "{method} {path} is documented but not routed"
                    );
                }
            }
        }
        assert!(operations >= 55, "{operations} operations documented");

        // What schemathesis found: an empty registry URL was a 502, not the caller's error.
        // Empty now means "the server's registry", and this server has none.
        let (status, refused) = api
            .post(
                "/api/connectors/install",
                json!({"name": "", "registry": ""}),
            )
            .await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["error"]["code"], "registry_missing", "{refused}");
        let (status, refused) = api
            .post(
                "/api/connectors/install",
                json!({"name": "x", "registry": "ftp://registry.example"}),
            )
            .await;
        assert_eq!(status, 400, "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("http(s) URL"),
            "{refused}"
        );
    });
}

/// Every secret the store holds, under any key.
async fn secret_count(server: &HephServer) -> i64 {
    let (store, _) = open_store(server).await;
    let count = store
        .secret_key_usage()
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    store.close().await;
    count
}

#[test]
fn admins_change_roles_and_delete_users_with_everything_of_theirs() {
    let server = HephServer::start(ServerOptions::default());
    let admin = server.api(&server.admin_token);
    tokio().block_on(async {
        let (_, me) = admin.get("/api/me").await;
        let admin_id = me["id"].as_str().unwrap().to_string();
        let secrets_before = secret_count(&server).await;

        // Dora has a connection (a sealed password), a webhook scenario (a sealed URL token)
        // made with an Idempotency-Key (a sealed answer), a run and a record.
        let dora_token = member(&admin, "dora").await;
        let dora = server.api(&dora_token);
        let (_, dora_me) = dora.get("/api/me").await;
        let dora_id = dora_me["id"].as_str().unwrap().to_string();
        let (status, connection) = dora
            .post("/api/connections", json!({"consent": true, "connector": "wordpress", "test": false,
                "fields": {"site_url": "https://wp.example.test", "username": "dora", "application_password": "dora-app-password-1234"}}))
            .await;
        assert_eq!(status, 201, "{connection}");
        let connection_id = connection["id"].as_str().unwrap().to_string();
        let response = reqwest::Client::new()
            .post(format!("{}/api/scenarios", server.url))
            .bearer_auth(&dora_token)
            .header("Idempotency-Key", "dora-hook-1")
            .json(&json!({"name": "hook", "trigger": {"type": "webhook"}, "nodes": [{"id": "t", "type": "transform", "output": {}}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let (status, manual) = dora
            .post("/api/scenarios", json!({"name": "manual", "trigger": {"type": "manual"}, "nodes": [{"id": "t", "type": "transform", "output": {}}]}))
            .await;
        assert_eq!(status, 201, "{manual}");
        let (status, started) = dora.post("/api/scenarios/manual/run", json!({"input": {"a": 1}})).await;
        assert_eq!(status, 202, "{started}");
        let run_id = started["run"]["id"].as_str().unwrap().to_string();
        crate::engine::wait_run(&dora, &run_id, 1).await;
        assert_eq!(dora.put("/api/store/notes/n1", json!({"text": "hi"})).await.0, 200);
        assert!(secret_count(&server).await >= secrets_before + 3);

        // Roles: a member is made an admin and back; the last admin stays one.
        let (status, promoted) = admin.patch(&format!("/api/users/{dora_id}"), json!({"role": "admin"})).await;
        assert_eq!((status, promoted["role"].as_str()), (200, Some("admin")), "{promoted}");
        let (status, demoted) = admin.patch(&format!("/api/users/{dora_id}"), json!({"role": "member"})).await;
        assert_eq!((status, demoted["role"].as_str()), (200, Some("member")), "{demoted}");
        let (status, refused) = admin.patch(&format!("/api/users/{admin_id}"), json!({"role": "member"})).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("last_admin")), "{refused}");
        let (status, refused) = admin.patch(&format!("/api/users/{dora_id}"), json!({"role": "owner"})).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (422, Some("invalid_json")), "{refused}");
        assert_eq!(admin.patch("/api/users/usr_nobody", json!({"role": "admin"})).await.0, 404);

        // Who may delete whom, and when.
        assert_eq!(dora.delete(&format!("/api/users/{admin_id}")).await.0, 403, "members may not");
        let (status, refused) = admin.delete(&format!("/api/users/{admin_id}")).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("cannot_delete_self")), "{refused}");
        heph_tests::heph_server::execute_sql(&server, &format!("UPDATE runs SET status = 'running' WHERE id = '{run_id}'")).await;
        let (status, refused) = admin.delete(&format!("/api/users/{dora_id}")).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("user_busy")), "{refused}");
        heph_tests::heph_server::execute_sql(&server, &format!("UPDATE runs SET status = 'succeeded' WHERE id = '{run_id}'")).await;

        let (status, _) = admin.delete(&format!("/api/users/{dora_id}")).await;
        assert_eq!(status, 204);
        assert_eq!(dora.get("/api/me").await.0, 401, "her token went with her");
        assert_eq!(admin.delete(&format!("/api/users/{dora_id}")).await.0, 404);
        let (_, users) = admin.get("/api/users").await;
        assert!(!users.to_string().contains("dora"), "{users}");
        assert_eq!(secret_count(&server).await, secrets_before, "her sealed secrets are gone too");
        assert_eq!(heph_tests::heph_server::peek_secret(&server, &connection_id, "application_password").await, None);

        // The name is free again, and nothing of hers comes back with it.
        let again = server.api(&member(&admin, "dora").await);
        for (path, list) in [("/api/connections", "connections"), ("/api/scenarios", "scenarios"), ("/api/runs", "runs")] {
            assert_eq!(again.get(path).await.1[list], json!([]), "{path}");
        }
        assert_eq!(again.get("/api/store").await.1["collections"], json!([]));

        // The same from the command line on the server's machine.
        let admin_name = me["name"].as_str().unwrap();
        let cli = |args: &[&str]| {
            let out = server.cli(args).output().unwrap();
            (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
        };
        let (ok, said) = cli(&["user", "role", admin_name, "member"]);
        assert!(!ok && said.contains("only admin"), "{said}");
        assert!(cli(&["user", "role", "dora", "admin"]).0);
        assert_eq!(admin.get("/api/users").await.1["users"][1]["role"], "admin");
        let (ok, said) = cli(&["user", "delete", "dora"]);
        assert!(ok, "{said}");
        assert_eq!(again.get("/api/me").await.0, 401);
    });
}
