//! OAuth 2.0 against a real authorization server (oidc-provider on loopback) and `heph serve`
//! run as a user runs it: connect through the provider's login and consent pages, use the
//! token through a connector, refresh before expiry and after a 401, rotated refresh tokens,
//! reuse of an old refresh token → `needs_reauth`, re-authorization, revocation on delete;
//! a wrong state, a replayed callback and a missing PKCE verifier are refused; and no secret
//! is ever found in the database, the log or an API answer.

use std::time::{Duration, Instant};

use heph_tests::heph_server::{execute_sql, peek_secret, Api, HephServer, ServerOptions};
use heph_tests::oauth_probe_dir;
use heph_tests::oauth_server::{authorize_in_browser, free_port, Provider};
use serde_json::{json, Value};

const ACCESS: &str = "oauth:access_token";
const REFRESH: &str = "oauth:refresh_token";

struct Setup {
    provider: Provider,
    server: HephServer,
    member: Api,
    member_token: String,
    connector: String,
    client: (&'static str, &'static str),
}

/// A provider, a heph server that knows it (connector installed, private network allowed,
/// OAuth app registered by the admin), and a member.
async fn setup(client_auth: &str, access_ttl: u64, refresh_margin: u64) -> Setup {
    setup_on(
        client_auth,
        access_ttl,
        refresh_margin,
        ServerOptions::default(),
    )
    .await
}

/// The same, with the server's store and key chosen by `base`.
async fn setup_on(
    client_auth: &str,
    access_ttl: u64,
    refresh_margin: u64,
    base: ServerOptions,
) -> Setup {
    let client = if client_auth == "body" {
        ("heph-body", "heph-body-secret")
    } else {
        ("heph-basic", "heph-basic-secret")
    };
    let port = free_port();
    let provider = Provider::start(
        &format!("http://127.0.0.1:{port}/oauth/callback"),
        access_ttl,
    );
    let connector = format!("probe-{client_auth}");
    let server = HephServer::start(ServerOptions {
        connector_dirs: vec![oauth_probe_dir(&provider.issuer, &connector, client_auth)],
        refresh_margin: Some(refresh_margin),
        port: Some(port),
        ..base
    });
    let admin = server.api(&server.admin_token);
    let (status, body) = admin
        .patch(
            &format!("/api/connectors/{connector}"),
            json!({"allow_private_network": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin
        .put(
            &format!("/api/connectors/{connector}/oauth-app"),
            json!({"client_id": client.0, "client_secret": client.1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_secret_set"], true);
    assert!(body.get("client_secret").is_none(), "{body}");
    let (status, body) = admin
        .post("/api/users", json!({"name": "learner", "role": "member"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let member_token = body["token"]["token"].as_str().expect("token").to_string();
    Setup {
        member: server.api(&member_token),
        provider,
        server,
        member_token,
        connector,
        client,
    }
}

impl Setup {
    /// Starts a flow and goes through the provider's pages; the callback URL, not yet visited.
    async fn authorize(&self, reauthorize: Option<&str>) -> String {
        let (status, started) = match reauthorize {
            Some(id) => {
                self.member
                    .post(&format!("/api/connections/{id}/reauthorize"), json!({}))
                    .await
            }
            None => {
                self.member
                    .post(
                        "/api/connections/oauth/start",
                        json!({"consent": true, "connector": self.connector, "name": "My learning account",
                               "fields": {"api_base": self.provider.issuer}}),
                    )
                    .await
            }
        };
        assert_eq!(status, 200, "{started}");
        let url = started["authorize_url"].as_str().expect("authorize_url");
        let query: Vec<(String, String)> = url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            param("code_challenge_method").as_deref(),
            Some("S256"),
            "{url}"
        );
        assert!(
            param("code_challenge").is_some_and(|c| c.len() >= 43),
            "{url}"
        );
        assert!(param("state").is_some_and(|s| s.len() >= 16), "{url}");
        assert_eq!(
            param("prompt").as_deref(),
            Some("consent"),
            "the manifest's extra parameter: {url}"
        );
        assert_eq!(
            param("scope").as_deref(),
            Some("openid profile email"),
            "{url}"
        );
        authorize_in_browser(url, "learner-42").await
    }

    /// Connects a new account; its id.
    async fn connect(&self) -> String {
        let callback = self.authorize(None).await;
        let (status, page) = self.member.browser_get(&callback).await;
        assert_eq!(status, 200, "{page}\n{}", self.server.log());
        assert!(page.contains("connected"), "{page}");
        let (_, list) = self.member.get("/api/connections").await;
        let connection = list["connections"]
            .as_array()
            .unwrap()
            .last()
            .expect("a connection")
            .clone();
        assert_eq!(connection["status"], "ok", "{connection}");
        assert_eq!(
            connection["account"]["sub"], "learner-42",
            "test-connection ran through the connector: {connection}"
        );
        connection["id"].as_str().unwrap().to_string()
    }

    async fn call(&self, id: &str, action: &str) -> (u16, Value) {
        self.member
            .post(
                &format!("/api/connections/{id}/actions/{action}"),
                json!({"note": "hello"}),
            )
            .await
    }

    async fn connection(&self, id: &str) -> Value {
        let (status, body) = self.member.get(&format!("/api/connections/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

#[test]
fn connect_use_refresh_rotate_reuse_reauthorize_revoke() {
    heph_tests::tokio().block_on(full_flow(ServerOptions::default()));
}

#[test]
fn connect_use_refresh_rotate_reuse_reauthorize_revoke_on_postgres() {
    heph_tests::tokio().block_on(async {
        let database = heph_tests::postgres::fresh_database().await;
        full_flow(ServerOptions {
            database_url: Some(database),
            ..ServerOptions::default()
        })
        .await
    });
}

/// The whole life of an OAuth connection, on the store `base` names.
async fn full_flow(base: ServerOptions) {
    {
        let s = setup_on("basic", 4, 2, base).await;
        let id = s.connect().await;
        let connected = Instant::now();
        let mut secrets = vec![s.client.1.to_string()];
        let first_access = peek_secret(&s.server, &id, ACCESS)
            .await
            .expect("access token stored");
        let first_refresh = peek_secret(&s.server, &id, REFRESH)
            .await
            .expect("refresh token stored");
        secrets.extend([first_access.clone(), first_refresh.clone()]);

        // The view names the secrets it holds, never their values.
        let view = s.connection(&id).await;
        assert_eq!(view["secrets_set"], json!([ACCESS, REFRESH]), "{view}");

        // An authenticated request through the connector; the token is fresh: no refresh.
        let (status, body) = s.call(&id, "me").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"]["sub"], "learner-42");
        assert_eq!(s.provider.refreshes().await, 0);

        // Near expiry (inside the 2 s margin of a 4 s token), the host refreshes first.
        tokio::time::sleep(Duration::from_millis(2300).saturating_sub(connected.elapsed())).await;
        let (status, body) = s.call(&id, "me").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(s.provider.refreshes().await, 1, "{}", s.server.log());
        let second_access = peek_secret(&s.server, &id, ACCESS).await.unwrap();
        let second_refresh = peek_secret(&s.server, &id, REFRESH).await.unwrap();
        assert_ne!(second_access, first_access);
        assert_ne!(
            second_refresh, first_refresh,
            "the rotated refresh token was saved"
        );
        secrets.extend([second_access.clone(), second_refresh.clone()]);

        // The access token dies at the provider while heph still thinks it valid (its clock
        // says an hour left): the request gets a 401, the host refreshes once and sends the
        // same request, body included, again. (Revoking the access token would not do here:
        // oidc-provider then revokes the refresh tokens of the grant too.)
        let refreshed = Instant::now();
        execute_sql(
            &s.server,
            &format!("UPDATE connections SET token_expires_at = 99999999999999 WHERE id = '{id}'"),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(4400).saturating_sub(refreshed.elapsed())).await;
        let (status, body) = s.call(&id, "me_post").await;
        assert_eq!(status, 200, "{body}\n{}", s.connection(&id).await);
        let seen: Vec<Value> = body["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].clone())
            .collect();
        assert_eq!(
            seen,
            [json!(401), json!(200)],
            "{body}\n{}\n{}",
            s.provider.stats().await,
            s.server.log()
        );
        assert_eq!(s.provider.refreshes().await, 2);
        let third_refresh = peek_secret(&s.server, &id, REFRESH).await.unwrap();
        secrets.extend([
            peek_secret(&s.server, &id, ACCESS).await.unwrap(),
            third_refresh.clone(),
        ]);

        // Someone replays the first, already rotated refresh token: the provider refuses it
        // and revokes the whole grant. The connection's next use cannot refresh any more.
        let (status, refused) = s
            .provider
            .post_form(
                "/token",
                s.client,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &first_refresh),
                ],
            )
            .await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_grant")),
            "{refused}"
        );
        let (status, body) = s.call(&id, "me").await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(
            body["error"]["details"]["connector_code"], "unauthorized",
            "{body}"
        );
        let view = s.connection(&id).await;
        assert_eq!(view["status"], "needs_reauth", "{view}");
        assert!(
            view["last_error"]
                .as_str()
                .unwrap()
                .contains("invalid_grant"),
            "{view}"
        );
        let (status, body) = s.call(&id, "me").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("needs_reauth")),
            "{body}"
        );

        // The user connects again: same connection, working again.
        let callback = s.authorize(Some(&id)).await;
        let (status, page) = s.member.browser_get(&callback).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(s.connection(&id).await["status"], "ok");
        let (status, body) = s.call(&id, "me").await;
        assert_eq!(status, 200, "{body}");

        // A replayed callback finds its state used up.
        let (status, page) = s.member.browser_get(&callback).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("already used"), "{page}");

        // Deleting revokes the tokens at the provider.
        let final_refresh = peek_secret(&s.server, &id, REFRESH).await.unwrap();
        let final_access = peek_secret(&s.server, &id, ACCESS).await.unwrap();
        secrets.extend([final_refresh.clone(), final_access.clone()]);
        assert_eq!(
            s.provider.introspect(s.client, &final_refresh).await["active"],
            true
        );
        let (status, body) = s.member.delete(&format!("/api/connections/{id}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["revoked"], true, "{body}\n{}", s.provider.log());
        assert_eq!(
            s.provider.introspect(s.client, &final_refresh).await["active"],
            false
        );
        assert_eq!(
            s.provider.introspect(s.client, &final_access).await["active"],
            false
        );
        let (status, _) = s.member.get(&format!("/api/connections/{id}")).await;
        assert_eq!(status, 404);

        // No secret in plaintext: not in the database, the log, or any API answer.
        secrets.push(s.member_token.clone());
        secrets.push(s.server.admin_token.clone());
        assert_nowhere(
            &s.server,
            &secrets,
            &[&s.member_token, &s.server.admin_token],
        );
    }
}

/// Asserts no secret appears in the database (the SQLite files, or a `pg_dump`), the server's
/// log or an API answer (`shown_once` are API tokens, which their creation answer shows by
/// design).
pub fn assert_nowhere(server: &HephServer, secrets: &[String], shown_once: &[&str]) {
    let db = match &server.options().database_url {
        Some(url) => heph_tests::postgres::dump(url).into_bytes(),
        None => server.sqlite_bytes(),
    };
    let log = server.log();
    let answers = server.answers();
    assert!(!db.is_empty() && !log.is_empty() && !answers.is_empty());
    for secret in secrets {
        assert!(secret.len() >= 8, "a real secret: {secret}");
        let found_in_db = db.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(
            !found_in_db,
            "a secret is stored in plaintext in the database"
        );
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the server's log"
        );
        if !shown_once.contains(&secret.as_str()) {
            assert!(
                !answers.iter().any(|a| a.contains(secret.as_str())),
                "a secret is in an API answer"
            );
        }
    }
}

#[test]
fn wrong_state_replay_and_missing_pkce_verifier_are_refused() {
    heph_tests::tokio().block_on(async {
        let s = setup("basic", 3600, 60).await;

        // A callback with a state heph never issued.
        let callback = s.authorize(None).await;
        let mut forged = url::Url::parse(&callback).unwrap();
        let pairs: Vec<(String, String)> = forged.query_pairs().into_owned().collect();
        forged
            .query_pairs_mut()
            .clear()
            .extend_pairs(pairs.iter().map(|(k, v)| {
                (
                    k.as_str(),
                    if k == "state" {
                        "forged-state-value"
                    } else {
                        v.as_str()
                    },
                )
            }));
        let (status, page) = s.member.browser_get(forged.as_str()).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("unknown or already used"), "{page}");
        // No state at all.
        let (status, _) = s
            .member
            .browser_get(&format!("{}/oauth/callback?code=abc", s.server.url))
            .await;
        assert_eq!(status, 400);

        // The real callback still works once, then is a replay.
        let (status, page) = s.member.browser_get(&callback).await;
        assert_eq!(status, 200, "{page}");
        let (status, page) = s.member.browser_get(&callback).await;
        assert_eq!(status, 400, "{page}");

        // A code intercepted on its way back cannot be redeemed without the PKCE verifier.
        let intercepted = s.authorize(None).await;
        let code = url::Url::parse(&intercepted)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let redirect = format!("{}/oauth/callback", s.server.url);
        let (status, refused) = s
            .provider
            .post_form(
                "/token",
                s.client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect),
                ],
            )
            .await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_grant")),
            "{refused}"
        );

        // And heph refuses a flow whose stored verifier has gone missing.
        let callback = s.authorize(None).await;
        execute_sql(
            &s.server,
            "DELETE FROM secrets WHERE owner LIKE 'oauth_state/%'",
        )
        .await;
        let (status, page) = s.member.browser_get(&callback).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("PKCE verifier"), "{page}");

        let (_, list) = s.member.get("/api/connections").await;
        assert_eq!(
            list["connections"].as_array().unwrap().len(),
            1,
            "only the one real callback connected: {list}"
        );
    });
}

#[test]
fn many_calls_on_an_expired_token_refresh_it_once() {
    heph_tests::tokio().block_on(async {
        let s = setup("basic", 3600, 60).await;
        let id = s.connect().await;
        execute_sql(
            &s.server,
            &format!("UPDATE connections SET token_expires_at = 1 WHERE id = '{id}'"),
        )
        .await;
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let s = &s;
                let id = id.clone();
                async move { s.call(&id, "me").await }
            })
            .collect();
        for (status, body) in futures::future::join_all(calls).await {
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(s.provider.refreshes().await, 1, "{}", s.server.log());
        let view = s.connection(&id).await;
        assert!(
            view["token_expires_at"].as_i64().unwrap() > 1_000_000,
            "{view}"
        );
    });
}

#[test]
fn a_provider_that_wants_client_credentials_in_the_body() {
    heph_tests::tokio().block_on(async {
        let s = setup("body", 3600, 60).await;
        let id = s.connect().await;
        execute_sql(
            &s.server,
            &format!("UPDATE connections SET token_expires_at = 1 WHERE id = '{id}'"),
        )
        .await;
        let (status, body) = s.call(&id, "me").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(s.provider.refreshes().await, 1);
        assert!(s.server.log().contains("refreshed the OAuth access token"));
    });
}

#[test]
fn a_refresh_that_meets_503_429_or_timeouts_is_retried_later_and_changes_nothing() {
    heph_tests::tokio().block_on(async {
        let s = setup("basic", 3600, 60).await;
        let id = s.connect().await;
        let refresh_before = peek_secret(&s.server, &id, REFRESH).await.unwrap();
        execute_sql(
            &s.server,
            &format!("UPDATE connections SET token_expires_at = 1 WHERE id = '{id}'"),
        )
        .await;
        for status in [503, 429, 500, 408] {
            s.provider.fail_token_requests(status, 1).await;
            let (code, body) = s.call(&id, "me").await;
            assert_eq!(code, 502, "{body}");
            assert_eq!(
                body["error"]["details"]["connector_code"], "transient",
                "HTTP {status}: {body}"
            );
            let view = s.connection(&id).await;
            assert_eq!(
                view["status"], "ok",
                "HTTP {status} leaves the connection as it was: {view}"
            );
            assert_eq!(
                peek_secret(&s.server, &id, REFRESH).await.unwrap(),
                refresh_before
            );
        }
        assert_eq!(s.provider.refreshes().await, 0);
        // The provider is back: the next use refreshes and works.
        let (code, body) = s.call(&id, "me").await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(s.provider.refreshes().await, 1);
        assert!(s
            .server
            .log()
            .contains("token refresh failed; will retry later"));
    });
}

#[test]
fn two_servers_on_one_postgres_database_refresh_a_token_once() {
    heph_tests::tokio().block_on(async {
        let key = heph::vault::MasterKey::generate().to_base64();
        let database = heph_tests::postgres::fresh_database().await;
        let base = ServerOptions {
            database_url: Some(database.clone()),
            master_key: Some(key.clone()),
            ..ServerOptions::default()
        };
        let s = setup_on("basic", 3600, 60, base).await;
        let id = s.connect().await;
        // A second process on the same database and key, as a scaled-out server or worker.
        let other = HephServer::start(ServerOptions {
            skip_admin: true,
            port: None,
            ..s.server.options().clone()
        });
        let there = other.api(&s.member_token);
        execute_sql(
            &s.server,
            &format!("UPDATE connections SET token_expires_at = 1 WHERE id = '{id}'"),
        )
        .await;
        // A slow token endpoint: both processes see the expired token while a refresh runs.
        s.provider.slow_token_requests(700).await;
        let calls: Vec<_> = (0..12)
            .map(|i| {
                let api = if i % 2 == 0 {
                    s.member.clone()
                } else {
                    there.clone()
                };
                let id = id.clone();
                async move {
                    api.post(&format!("/api/connections/{id}/actions/me"), json!({}))
                        .await
                }
            })
            .collect();
        for (status, body) in futures::future::join_all(calls).await {
            assert_eq!(status, 200, "{body}\n{}\n{}", s.server.log(), other.log());
        }
        assert_eq!(
            s.provider.refreshes().await,
            1,
            "one refresh for both processes"
        );
        // The tokens are sealed in PostgreSQL too.
        let mut secrets = vec![s.client.1.to_string()];
        for field in [ACCESS, REFRESH] {
            secrets.push(peek_secret(&s.server, &id, field).await.unwrap());
        }
        let dump = heph_tests::postgres::dump(&database);
        assert!(dump.contains(&id));
        for secret in &secrets {
            assert!(
                !dump.contains(secret.as_str()),
                "a token is in the PostgreSQL dump in plaintext"
            );
            assert!(
                !s.server.log().contains(secret.as_str()) && !other.log().contains(secret.as_str())
            );
        }
    });
}
