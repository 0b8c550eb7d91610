//! The dashboard in a real browser: Debian's Chromium, driven by `tests/browser/dashboard.mjs`
//! (playwright-core), against the real `heph serve`, a real registry and the real WordPress
//! of the tests. The script walks the pages as an admin and a member would and saves a
//! screenshot of each in `target/dashboard-screenshots`; this side prepares the servers and
//! then checks through the API that what the browser did really happened.

use std::path::{Path, PathBuf};
use std::process::Command;

use heph_registry::{Contents, RegistryClient, SecretKey};
use heph_tests::heph_server::{HephServer, ServerOptions};
use heph_tests::tokio;
use heph_tests::wordpress::{site_lock, wordpress};
use serde_json::json;

use super::engine::collection;
use super::registry::RegistryProcess;

const ADMIN_PASSWORD: &str = "admin password 1";
const MEMBER_PASSWORD: &str = "member password 1";
const SCENARIO: &str = "WordPress users to the portal — Zoë’s ✓";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

fn set_password(server: &HephServer, args: &[&str], password: &str) -> String {
    let out = server
        .cli(args)
        .env("HEPH_PASSWORD", password)
        .output()
        .expect("heph");
    assert!(
        out.status.success(),
        "heph {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_admin_installs_wordpress_and_a_member_imports_its_users_in_the_browser() {
    let browser = workspace().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core/package.json").is_file()
            && Path::new("/usr/bin/chromium").is_file(),
        "the browser tests need Debian's chromium and playwright-core: run scripts/install-test-deps"
    );
    let wp = wordpress();
    let _site = site_lock();
    let registry_dir = std::env::temp_dir().join(format!(
        "heph-dashboard-registry-{}",
        hex::encode(heph::vault::random_bytes::<6>())
    ));
    // The registry's operator publishes as `heph`, a reserved name only their key may take.
    let key = SecretKey::generate().expect("a key");
    let registry = RegistryProcess::start_with(
        &registry_dir,
        &["--official-key", &key.public().to_string()],
    );
    let server = HephServer::start(ServerOptions {
        env: vec![("HEPH_REGISTRY".into(), registry.url.clone())],
        ..Default::default()
    });
    let admin = server.api(&server.admin_token);
    set_password(&server, &["user", "password", "admin"], ADMIN_PASSWORD);
    let member_token = set_password(
        &server,
        &["user", "create", "mia", "--password"],
        MEMBER_PASSWORD,
    );
    let member = server.api(&member_token);

    tokio().block_on(async {
        // The registry holds WordPress, signed by its publisher; this server trusts the
        // publisher but has not installed it (the built-in install is removed first).
        let (status, built_in) = admin.get("/api/connectors/wordpress").await;
        assert_eq!(status, 200, "{built_in}");
        let builtin = heph::catalog::builtin("wordpress").expect("WordPress is built in");
        let package = Contents {
            manifest: builtin.manifest.to_string(),
            component: builtin.component.to_vec(),
            describe: built_in["describe"].clone(),
            readme: "# WordPress\n".into(),
        }
        .sign("heph", &key);
        let client = RegistryClient::new(&registry.url);
        let publisher = client
            .register("heph", &key.public().to_string())
            .await
            .expect("register the publisher");
        client
            .publish(
                publisher["token"].as_str().expect("a publish token"),
                package,
            )
            .await
            .expect("publish WordPress");
        let (status, body) = admin.delete("/api/connectors/wordpress").await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = admin
            .post(
                "/api/publishers",
                json!({"name": "heph", "public_key": key.public().to_string()}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    });

    let users = tokio().block_on(wp.all("/wp/v2/users?context=edit"));
    let first = users
        .iter()
        .min_by_key(|u| u["id"].to_string())
        .expect("WordPress has users");
    let shots = workspace().join("target/dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let output = Command::new("node")
        .arg(browser.join("dashboard.mjs"))
        .env("HEPH_URL", &server.url)
        .env("SCREENSHOTS", &shots)
        .env("ADMIN_NAME", "admin")
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MEMBER_NAME", "mia")
        .env("MEMBER_PASSWORD", MEMBER_PASSWORD)
        .env("WP_SITE_URL", &wp.site_url)
        .env("WP_USERNAME", &wp.username)
        .env("WP_APP_PASSWORD", &wp.application_password)
        .env("SCENARIO_NAME", SCENARIO)
        .env("EXPECT_USERS", users.len().to_string())
        .env("EXPECT_RECORD", first["id"].to_string())
        .env(
            "EXPECT_EMAIL",
            first["email"].as_str().unwrap_or_default().to_lowercase(),
        )
        .output()
        .expect("node runs tests/browser/dashboard.mjs");
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser test failed (screenshots in {}):\n{said}\nserver log:\n{}",
        shots.display(),
        server.log()
    );

    // What the browser did, seen through the API.
    tokio().block_on(async {
        let (_, installed) = admin.get("/api/connectors/wordpress").await;
        assert_eq!(installed["status"], "active", "{installed}");
        assert!(
            installed["source"]
                .as_str()
                .unwrap_or("")
                .starts_with("registry "),
            "{installed}"
        );
        assert_eq!(installed["allow_private_network"], true);

        // The user the admin made, promoted and deleted in the browser is gone.
        let (_, listed) = admin.get("/api/users").await;
        let names: Vec<&str> = listed["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u["name"].as_str())
            .collect();
        assert!(!names.contains(&"intern"), "{listed}");
        assert!(names.contains(&"mia"), "{listed}");

        let (_, consents) = member.get("/api/consents").await;
        assert_eq!(
            consents["consents"][0]["connector_id"], "wordpress",
            "{consents}"
        );
        let (_, connections) = member.get("/api/connections").await;
        assert_eq!(
            connections["connections"][0]["status"], "ok",
            "{connections}"
        );

        let (_, scenarios) = member.get("/api/scenarios").await;
        let scenario = &scenarios["scenarios"][0];
        assert_eq!(scenario["name"], SCENARIO);
        let definition = &scenario["definition"];
        assert_eq!(
            definition["trigger"]["connector"], "wordpress",
            "{definition}"
        );
        assert_eq!(
            definition["nodes"][0]["output"]["email"], "{{ trigger.email | lower }}",
            "{definition}"
        );
        assert_eq!(
            definition["nodes"][1]["record"], "{{ user }}",
            "{definition}"
        );

        let stored = collection(&member, "users").await;
        assert_eq!(stored.len(), users.len(), "every WordPress user, once");
        for user in &users {
            let id = user["id"].to_string();
            let record = stored
                .iter()
                .find(|r| r["id"] == id.as_str())
                .unwrap_or_else(|| panic!("user {id} is missing"));
            assert_eq!(
                record["data"]["email"],
                user["email"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .as_str()
            );
            assert_eq!(record["data"]["wordpress_id"], user["id"]);
        }
        // The admin's own store is untouched: the member's data is the member's.
        let (_, theirs) = admin.get("/api/store").await;
        assert_eq!(theirs["collections"], json!([]), "{theirs}");
    });
    let pages: Vec<String> = std::fs::read_dir(&shots)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(pages.len() >= 15, "a screenshot of each page: {pages:?}");
}

/// The pieces the dashboard stands on, through the API: the page and its policy, a mapping's
/// preview (its result, and each broken field named), and clear refusals for a registry that
/// is not set and a trigger sample through a connection that is not there.
#[test]
fn the_dashboard_page_and_the_calls_behind_the_builder() {
    let server = HephServer::start(ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let page = reqwest::get(format!("{}/", server.url)).await.expect("the page");
        assert_eq!(page.status(), 200);
        let policy = page.headers()["content-security-policy"].to_str().unwrap_or_default().to_string();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(page.text().await.unwrap_or_default().contains("/ui/app.js"));
        let script = reqwest::get(format!("{}/ui/views/builder.js", server.url)).await.expect("a script");
        assert_eq!(script.headers()["content-type"], "text/javascript");
        let missing = reqwest::get(format!("{}/ui/nothing.js", server.url)).await.expect("an answer");
        assert_eq!(missing.status(), 404);

        let context = json!({"trigger": {"email": "Zoë@Example.ORG", "id": 7}, "trigger_id": "7"});
        let (status, body) = api
            .post("/api/mappings/preview", json!({"mapping": {"email": "{{ trigger.email | lower }}", "id": "{{ trigger.id }}", "label": "user {{ trigger_id }}"}, "context": context}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"], json!({"email": "zoë@example.org", "id": 7, "label": "user 7"}));
        let (status, body) = api
            .post("/api/mappings/preview", json!({"mapping": {"ok": "{{ trigger.id }}", "bad": {"deep": "{{ trigger.id | }}"}}, "context": context}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"]["details"]["fields"]["bad.deep"].as_str().unwrap_or("").contains("syntax"), "{body}");
        let (status, body) = api
            .post("/api/mappings/preview", json!({"mapping": "{{ trigger.id | int(base='x') }}", "context": context}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "mapping_failed", "{body}");

        let (status, body) = api.get("/api/registry/connectors?q=word").await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "registry_missing", "{body}");
        let (status, body) = api
            .post("/api/connections/con_nothing/triggers/users/sample", json!({}))
            .await;
        assert_eq!(status, 404, "{body}");
    });
}
