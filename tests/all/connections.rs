//! Connections through `heph serve`, on SQLite and on PostgreSQL: two users who cannot reach
//! each other's connections, write-only secrets (in no answer, log line, database file or
//! dump), field validation, enable/disable, and the vault's key handling at start and during
//! a rotation while the server keeps serving.

use heph_tests::heph_server::{peek_secret, Api, HephServer, ServerOptions};
use heph_tests::postgres;
use serde_json::{json, Value};

use crate::oauth::assert_nowhere;

/// A WordPress connection that is never tested (no network needed).
async fn create_wordpress(api: &Api, name: &str, password: &str) -> String {
    let (status, body) = api
        .post(
            "/api/connections",
            json!({"consent": true, "connector": "wordpress", "name": name, "test": false, "fields": {
                "site_url": "https://wp.example.test", "username": name,
                "application_password": password, "webhook_secret": format!("{password}-hook")}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "untested");
    assert_eq!(
        body["secrets_set"],
        json!(["application_password", "webhook_secret"]),
        "{body}"
    );
    assert!(!body.to_string().contains(password), "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn two_users_and_their_secrets(server: &HephServer) -> Vec<String> {
    let admin = server.api(&server.admin_token);
    let mut tokens = Vec::new();
    for name in ["alice", "bob"] {
        let (status, body) = admin.post("/api/users", json!({"name": name})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["user"]["role"], "member");
        tokens.push(body["token"]["token"].as_str().unwrap().to_string());
    }
    let (alice, bob) = (server.api(&tokens[0]), server.api(&tokens[1]));
    let alice_conn = create_wordpress(&alice, "alice", "alice-app-password-1234").await;
    let bob_conn = create_wordpress(&bob, "bob", "bob-app-password-5678").await;

    // Each sees only their own.
    let (_, list) = bob.get("/api/connections").await;
    let ids: Vec<&str> = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bob_conn.as_str()]);
    // Bob can neither read, edit, test, use, re-authorize nor delete Alice's: 404, as if it
    // did not exist.
    let path = format!("/api/connections/{alice_conn}");
    for (method, path, body) in [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"name": "mine now"}))),
        ("POST", format!("{path}/test"), None),
        (
            "POST",
            format!("{path}/actions/list_users"),
            Some(json!({})),
        ),
        ("POST", format!("{path}/reauthorize"), None),
        ("DELETE", path.clone(), None),
    ] {
        let (status, answer) = bob.send(method, &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
    }
    // An unknown id looks the same.
    let (status, _) = bob.get("/api/connections/con_doesnotexist").await;
    assert_eq!(status, 404);
    // Members cannot do admin things.
    let (status, answer) = bob.post("/api/users", json!({"name": "mallory"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = bob
        .patch(
            "/api/connectors/wordpress",
            json!({"allow_private_network": true}),
        )
        .await;
    assert_eq!(status, 403);
    // Without a token, nothing.
    let (status, answer) = server.api("heph_not-a-token").get("/api/connections").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );

    // Alice's connection is intact; she edits it: a new secret replaces the old one, a
    // cleared secret is gone, and the credentials change resets the status.
    let (status, view) = alice
        .patch(&path, json!({"fields": {"application_password": "alice-new-password-9999", "webhook_secret": null}}))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["secrets_set"],
        json!(["application_password"]),
        "{view}"
    );
    assert_eq!(view["name"], "alice");
    assert_eq!(
        peek_secret(server, &alice_conn, "application_password")
            .await
            .as_deref(),
        Some("alice-new-password-9999")
    );
    // Disabled, it cannot be used; enabled again, it can be tried.
    let (_, view) = alice.patch(&path, json!({"enabled": false})).await;
    assert_eq!(view["enabled"], false);
    let (status, answer) = alice.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("connection_disabled")),
        "{answer}"
    );
    // Bad input: every problem at once, by field; malformed JSON; an unknown connector.
    let (status, answer) = alice
        .post(
            "/api/connections",
            json!({"consent": true, "connector": "wordpress", "fields": {"site_url": "ftp://x", "colour": "red"}}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let fields: Vec<&str> = answer["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["site_url", "colour", "username", "application_password"],
        "{answer}"
    );
    let (status, answer) = alice
        .post(
            "/api/connections",
            json!({"consent": true, "connector": "nope"}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{answer}"
    );
    let (status, answer) = alice
        .send_raw("POST", "/api/connections", "{not json")
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{answer}"
    );
    let (status, answer) = alice
        .send_raw("POST", "/api/connections", r#"{"connector": 7}"#)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("invalid_json")),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connector"),
        "{answer}"
    );

    // Bob deletes his own.
    let (status, answer) = bob.delete(&format!("/api/connections/{bob_conn}")).await;
    assert_eq!(status, 200, "{answer}");
    let (_, list) = bob.get("/api/connections").await;
    assert_eq!(list["connections"], json!([]));

    let mut secrets: Vec<String> = [
        "alice-app-password-1234",
        "alice-app-password-1234-hook",
        "alice-new-password-9999",
        "bob-app-password-5678",
        "bob-app-password-5678-hook",
    ]
    .map(String::from)
    .to_vec();
    secrets.extend(tokens);
    secrets
}

#[test]
fn users_are_isolated_and_secrets_stay_sealed_on_sqlite() {
    heph_tests::tokio().block_on(async {
        let server = HephServer::start(ServerOptions::default());
        let secrets = two_users_and_their_secrets(&server).await;
        let shown_once: Vec<&str> = secrets
            .iter()
            .filter(|s| s.starts_with("heph_"))
            .map(String::as_str)
            .collect();
        assert_nowhere(&server, &secrets, &shown_once);
    });
}

#[test]
fn users_are_isolated_and_secrets_stay_sealed_on_postgres() {
    heph_tests::tokio().block_on(async {
        let url = postgres::fresh_database().await;
        let server = HephServer::start(ServerOptions {
            database_url: Some(url.clone()),
            ..ServerOptions::default()
        });
        let secrets = two_users_and_their_secrets(&server).await;
        let dump = postgres::dump(&url);
        assert!(
            dump.contains("CREATE TABLE public.connections"),
            "a real dump"
        );
        assert!(dump.contains("alice"), "the dump holds the connections");
        for secret in &secrets {
            assert!(
                !dump.contains(secret.as_str()),
                "a secret is in the PostgreSQL dump in plaintext"
            );
        }
        let shown_once: Vec<&str> = secrets
            .iter()
            .filter(|s| s.starts_with("heph_"))
            .map(String::as_str)
            .collect();
        for secret in &secrets {
            assert!(!server.log().contains(secret.as_str()));
            if !shown_once.contains(&secret.as_str()) {
                assert!(!server.answers().iter().any(|a| a.contains(secret.as_str())));
            }
        }
    });
}

#[test]
fn a_wrong_or_missing_master_key_stops_the_start_with_a_clear_error() {
    heph_tests::tokio().block_on(async {
        let mut server = HephServer::start(ServerOptions::default());
        let api = server.api(&server.admin_token);
        create_wordpress(&api, "carol", "carol-password-0000").await;
        server.stop();

        let key_file = server.dir().join("master.key");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&key_file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "the key file is private");

        // Another key: refused, naming the key the data needs.
        let other =
            String::from_utf8(server.cli(&["vault", "keygen"]).output().unwrap().stdout).unwrap();
        let out = server
            .cli(&["connection", "list"])
            .env("HEPH_MASTER_KEY", other.trim())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("wrong master key") && err.contains("not in the keyring"),
            "{err}"
        );
        // Not a key at all.
        let out = server
            .cli(&["user", "list"])
            .env("HEPH_MASTER_KEY", "not-base64!")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("base64"), "{err}");
        // The key file readable by others: refused.
        std::fs::set_permissions(
            &key_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        let out = server.cli(&["user", "list"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("chmod 600"), "{err}");
        // No key at all, with secrets stored: refused, never a new key over old data.
        std::fs::remove_file(&key_file).unwrap();
        let out = server.cli(&["user", "list"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("no master key was found"),
            "{err}"
        );
        assert!(!key_file.exists(), "no key was made up");
    });
}

#[test]
fn rotation_while_the_server_keeps_serving_loses_nothing() {
    heph_tests::tokio().block_on(async {
        let server = HephServer::start(ServerOptions::default());
        let api = server.api(&server.admin_token);
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(
                create_wordpress(&api, &format!("user{i}"), &format!("first-password-{i:04}"))
                    .await,
            );
        }
        let old_key: Value =
            serde_json::from_slice(&server.cli(&["vault", "status"]).output().unwrap().stdout)
                .unwrap();

        // Writers keep changing passwords through the API while `heph vault rotate` runs in
        // another process.
        let rotate = server.cli(&["vault", "rotate"]).output();
        let writers = async {
            let mut last = vec![String::new(); ids.len()];
            for round in 0..30 {
                for (i, id) in ids.iter().enumerate() {
                    let password = format!("password-{i:04}-round-{round:03}");
                    let (status, body) = api
                        .patch(
                            &format!("/api/connections/{id}"),
                            json!({"fields": {"application_password": password}}),
                        )
                        .await;
                    assert_eq!(status, 200, "{body}");
                    last[i] = password;
                }
            }
            last
        };
        let (rotated, last) = tokio::join!(tokio::task::spawn_blocking(move || rotate), writers);
        let rotated = rotated.unwrap().unwrap();
        assert!(
            rotated.status.success(),
            "{}",
            String::from_utf8_lossy(&rotated.stderr)
        );
        let report: Value = serde_json::from_slice(&rotated.stdout).unwrap();
        assert_ne!(report["active_key"], old_key["active_key"]);

        // A last pass for values written with the old key before the server noticed the new
        // one, then nothing is left under the old key and it can be retired.
        let again = server
            .cli(&["vault", "rotate", "--no-new-key"])
            .output()
            .unwrap();
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        let status: Value =
            serde_json::from_slice(&server.cli(&["vault", "status"]).output().unwrap().stdout)
                .unwrap();
        let by_key = status["secrets_by_key"].as_object().unwrap();
        assert_eq!(
            by_key.keys().collect::<Vec<_>>(),
            [report["active_key"].as_str().unwrap()],
            "{status}"
        );
        let retired = server.cli(&["vault", "retire"]).output().unwrap();
        assert!(String::from_utf8_lossy(&retired.stderr)
            .contains(old_key["active_key"].as_str().unwrap()));

        // Every value is the last one written, readable with the new key alone.
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                peek_secret(&server, id, "application_password")
                    .await
                    .as_deref(),
                Some(last[i].as_str())
            );
            assert_eq!(
                peek_secret(&server, id, "webhook_secret").await,
                Some(format!("first-password-{i:04}-hook"))
            );
        }
        // The server still serves with the rotated keys.
        let (status, body) = api
            .patch(
                &format!("/api/connections/{}", ids[0]),
                json!({"name": "after rotation"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    });
}

#[test]
fn a_real_wordpress_connection_is_tested_used_and_refused_with_a_wrong_password() {
    heph_tests::tokio().block_on(async {
        let wp = heph_tests::wordpress::wordpress();
        let server = HephServer::start(ServerOptions::default());
        let admin = server.api(&server.admin_token);
        // The test WordPress is on loopback: the admin lets the install reach it.
        let fields = Value::Object(wp.values(false, &wp.application_password));
        let (status, view) = admin
            .post(
                "/api/connections",
                json!({"consent": true, "connector": "wordpress", "fields": fields}),
            )
            .await;
        assert_eq!(status, 201, "{view}");
        assert_eq!(
            view["status"], "error",
            "refused before the admin allows private networks: {view}"
        );
        assert!(
            view["last_error"].as_str().unwrap().contains("private"),
            "{view}"
        );
        let id = view["id"].as_str().unwrap().to_string();
        let (status, _) = admin
            .patch(
                "/api/connectors/wordpress",
                json!({"allow_private_network": true}),
            )
            .await;
        assert_eq!(status, 200);

        let (status, tested) = admin
            .post(&format!("/api/connections/{id}/test"), json!({}))
            .await;
        assert_eq!(status, 200, "{tested}");
        assert_eq!(tested["ok"], true, "{tested}");
        assert_eq!(
            tested["account"]["username"],
            wp.username.as_str(),
            "{tested}"
        );
        assert_eq!(tested["connection"]["status"], "ok");
        assert_eq!(
            tested["connection"]["account"]["username"],
            wp.username.as_str()
        );

        let (status, answer) = admin
            .post(
                &format!("/api/connections/{id}/actions/list_users"),
                json!({"per_page": 5}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer["requests"][0]["url"]
                .as_str()
                .unwrap()
                .starts_with(&wp.site_url),
            "{answer}"
        );

        // A wrong password: the site refuses, the connection needs the user's attention.
        let (status, view) = admin
            .patch(
                &format!("/api/connections/{id}"),
                json!({"fields": {"application_password": "wrong wrong wrong wrong"}}),
            )
            .await;
        assert_eq!(
            (status, view["status"].as_str()),
            (200, Some("untested")),
            "{view}"
        );
        let (_, tested) = admin
            .post(&format!("/api/connections/{id}/test"), json!({}))
            .await;
        assert_eq!(tested["ok"], false, "{tested}");
        assert_eq!(tested["error"]["code"], "unauthorized", "{tested}");
        assert_eq!(tested["connection"]["status"], "needs_reauth", "{tested}");
        let secrets = vec![
            wp.application_password.clone(),
            "wrong wrong wrong wrong".to_string(),
        ];
        assert_nowhere(&server, &secrets, &[]);
    });
}

#[test]
fn the_command_line_mirrors_the_api() {
    let server = HephServer::start(ServerOptions::default());
    let run = |args: &[&str]| {
        let out = server.cli(args).output().expect("heph");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let fields = server.dir().join("wp.json");
    std::fs::write(&fields, r#"{"site_url": "https://wp.example.test", "username": "ann", "application_password": "cli-secret-password"}"#).unwrap();

    let (code, out, err) = run(&[
        "connection",
        "create",
        "wordpress",
        "--name",
        "Blog",
        "--fields",
        fields.to_str().unwrap(),
        "--no-test",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let view: Value = serde_json::from_str(&out).unwrap();
    let id = view["id"].as_str().unwrap().to_string();
    assert_eq!(view["secrets_set"], json!(["application_password"]));
    assert!(!out.contains("cli-secret-password"));

    let (code, out, _) = run(&["connection", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains(&id) && out.contains("Blog") && out.contains("untested"),
        "{out}"
    );
    let (code, out, _) = run(&["connection", "disable", &id]);
    assert_eq!(
        (code, out.contains("\"enabled\": false")),
        (Some(0), true),
        "{out}"
    );
    let (code, _, err) = run(&["connection", "test", &id]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("disabled"), "{err}");
    run(&["connection", "enable", &id]);
    let (code, out, _) = run(&["connection", "edit", &id, "--name", "Portal blog"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Portal blog"));
    // OAuth commands on a connector without OAuth say so.
    let (code, _, err) = run(&["connection", "connect", "wordpress"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("does not use OAuth"), "{err}");
    // Tokens.
    let (code, token, _) = run(&["token", "create", "--name", "laptop"]);
    assert_eq!(code, Some(0));
    assert!(token.trim().starts_with("heph_"));
    let (_, list, _) = run(&["token", "list"]);
    assert!(
        list.contains("laptop") && !list.contains(token.trim()),
        "{list}"
    );
    let (code, _, err) = run(&["connection", "show", "con_missing"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not found"), "{err}");
    let (code, out, _) = run(&["connection", "delete", &id]);
    assert_eq!(code, Some(0), "{out}");
    let (_, out, err) = run(&["connection", "list"]);
    assert!(
        out.is_empty() && err.contains("no connections"),
        "{out} {err}"
    );
    assert!(!server
        .sqlite_bytes()
        .windows(19)
        .any(|w| w == b"cli-secret-password"));
}

#[test]
fn a_secret_an_upstream_reflects_is_redacted_from_what_the_call_returns() {
    heph_tests::tokio().block_on(async {
        // An upstream that echoes the request's Authorization header and query, as httpbin does.
        let up = heph_tests::upstream::Upstream::start(|r| {
            let auth = r.header("authorization").unwrap_or("").to_string();
            heph_tests::upstream::text(200, &format!("you sent {auth} and {}", r.uri))
        })
        .await;
        let (_, _, wasm) = heph_tests::GUESTS.iter().find(|(n, ..)| *n == "escape_other_host").unwrap();
        let dir = server_connector_dir(
            "reflect",
            "[auth]\nkind='bearer'\ntoken='{key}'\n[[connection.fields]]\nname='site_url'\n\
             [[connection.fields]]\nname='key'\nsecret=true\n[capabilities]\nhosts=['{site_url}']\n",
            wasm,
        );
        let server = HephServer::start(ServerOptions { connector_dirs: vec![dir], ..ServerOptions::default() });
        let admin = server.api(&server.admin_token);
        admin.patch("/api/connectors/reflect", json!({"allow_private_network": true})).await;
        let (status, view) = admin
            .post("/api/connections", json!({"consent": true, "connector": "reflect", "test": false,
                "fields": {"site_url": up.url(), "key": "reflected-secret-4242"}}))
            .await;
        assert_eq!(status, 201, "{view}");
        let id = view["id"].as_str().unwrap();
        let (status, answer) = admin
            .post(&format!("/api/connections/{id}/actions/attack"), json!({"url": format!("{}/echo", up.url())}))
            .await;
        assert_eq!(status, 200, "{answer}");
        let body = answer["output"]["body"].as_str().unwrap();
        assert_eq!(body, "you sent Bearer *** and /echo", "{answer}");
        assert_eq!(up.received()[0].header("authorization"), Some("Bearer reflected-secret-4242"), "the upstream did get it");
        assert_nowhere(&server, &["reflected-secret-4242".to_string()], &[]);
    });
}

/// A connector directory with a test guest's component under another manifest.
fn server_connector_dir(id: &str, rest: &str, wasm: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "heph-{id}-{}",
        hex::encode(heph::vault::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("heph.toml"),
        format!("id='{id}'\nname='{id}'\nversion='0.1.0'\npublisher='heph-tests'\ncontract='0.1.0'\n{rest}"),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{id}.wasm")), wasm).unwrap();
    dir
}
