//! Hostile connectors as users meet them: on the partner's test bench (`heph connector …`),
//! and installed as a partner's would be (a signed package from a trusted publisher, uploaded
//! to `heph serve`) and driven by members. A trigger that always has more stops at a page cap
//! and does not keep one worker from other runs; an oversized `describe()` is refused at pack
//! and install; a secret an upstream echoes reaches no printout, answer, log line or database
//! row in any form.

use std::time::{Duration, Instant};

use base64::Engine as _;
use heph::packages::check;
use heph::runtime::Limits;
use heph_registry::{Contents, SecretKey};
use heph_tests::heph_server::{Api, HephServer, ServerOptions};
use heph_tests::upstream::Upstream;
use heph_tests::{heph_binary, output, runtime, tokio, GUESTS};
use serde_json::{json, Value};

use super::engine::wait_run;

/// Packs a test guest as its publisher would, signed with `key`.
async fn package(name: &str, key: &SecretKey) -> Vec<u8> {
    let (_, manifest, wasm) = GUESTS
        .iter()
        .find(|(n, ..)| *n == name)
        .unwrap_or_else(|| panic!("no guest {name}"));
    let rt = runtime(Limits::default());
    let checked = check::check(&rt, manifest, wasm)
        .await
        .unwrap_or_else(|e| panic!("{name} passes the checks: {e}"));
    Contents {
        manifest: manifest.to_string(),
        component: wasm.to_vec(),
        describe: checked.describe,
        readme: format!("# {name}\n"),
    }
    .sign("heph-tests", key)
}

/// Trusts the test publisher and installs `names` on the server, approved.
async fn install(server: &HephServer, api: &Api, names: &[&str]) {
    let key = SecretKey::generate().expect("key");
    let (status, body) = api
        .post(
            "/api/publishers",
            json!({"name": "heph-tests", "public_key": key.public().to_string()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for name in names {
        let answer = reqwest::Client::new()
            .post(format!(
                "{}/api/connectors/packages?approve=true",
                server.url
            ))
            .bearer_auth(&server.admin_token)
            .body(package(name, &key).await)
            .send()
            .await
            .expect("upload");
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or_default();
        assert!(status == 200 || status == 201, "{name}: {status} {body}");
    }
}

async fn connect(api: &Api, connector: &str, site: &str, password: &str) -> String {
    let (status, body) = api
        .patch(
            &format!("/api/connectors/{connector}"),
            json!({"allow_private_network": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, conn) = api
        .post(
            "/api/connections",
            json!({"consent": true, "connector": connector, "name": connector,
                   "fields": {"site_url": site, "username": "heph-user", "password": password}}),
        )
        .await;
    assert_eq!(status, 201, "{conn}");
    conn["id"].as_str().unwrap().to_string()
}

#[test]
fn a_trigger_that_always_has_more_yields_its_worker_to_other_runs() {
    // One worker, and turns of three pages: the endless run must hand the worker back.
    let server = HephServer::start(ServerOptions {
        env: vec![
            ("HEPH_WORKERS".into(), "1".into()),
            ("HEPH_POLL_PAGES_PER_TURN".into(), "3".into()),
        ],
        ..ServerOptions::default()
    });
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        install(&server, &api, &["endless_pages"]).await;
        connect(&api, "endless-pages", "http://127.0.0.1:1", "unused-password").await;
        let (status, endless) = api
            .post(
                "/api/scenarios",
                json!({"name": "endless", "trigger": {"type": "poll", "connector": "endless-pages", "trigger": "forever", "every": "1h"},
                       "nodes": [{"id": "save", "type": "store", "op": "upsert", "collection": "endless",
                                  "key": "{{ trigger_id }}", "record": "{{ trigger }}"}]}),
            )
            .await;
        assert_eq!(status, 201, "{endless}");
        let (status, quick) = api
            .post(
                "/api/scenarios",
                json!({"name": "quick", "trigger": {"type": "manual"},
                       "nodes": [{"id": "save", "type": "store", "op": "upsert", "collection": "quick",
                                  "key": "one", "record": {"done": true}}]}),
            )
            .await;
        assert_eq!(status, 201, "{quick}");
        let run = |id: Value| {
            let api = &api;
            async move {
                let (status, started) = api
                    .post(&format!("/api/scenarios/{}/run", id.as_str().unwrap()), json!({}))
                    .await;
                assert!(status == 202 || status == 200, "{started}");
                started["run"]["id"].as_str().unwrap().to_string()
            }
        };
        let endless_run = run(endless["id"].clone()).await;
        // The endless run has the only worker; wait until it has read a few pages.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, r) = api.get(&format!("/api/runs/{endless_run}?limit=1")).await;
            if r["pages"].as_i64().unwrap_or(0) >= 2 {
                break;
            }
            assert!(Instant::now() < deadline, "the endless run reads no pages: {r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Another run still gets the worker and finishes.
        let quick_run = run(quick["id"].clone()).await;
        let done = wait_run(&api, &quick_run, 10).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        // The endless run goes on from its cursor, turn after turn, saying so.
        let (_, r) = api.get(&format!("/api/runs/{endless_run}?limit=1")).await;
        assert!(matches!(r["status"].as_str(), Some("queued" | "running")), "{r}");
        let events = r["events"].to_string();
        assert!(events.contains("goes back in the queue"), "{events}");
        let (status, _) = api
            .post(&format!("/api/runs/{endless_run}/cancel"), json!({}))
            .await;
        assert_eq!(status, 200);
        let ended = wait_run(&api, &endless_run, 1).await;
        assert_eq!(ended["status"], "cancelled", "{ended}");
    });
}

#[test]
fn an_echoed_secret_reaches_no_answer_log_or_row_in_any_form() {
    const PASSWORD: &str = "echoed-Pa55word!";
    let server = HephServer::start(ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let up = Upstream::start(|req| {
            let echo = json!({"authorization": req.header("authorization"), "url": req.uri});
            (200, vec![], bytes::Bytes::from(echo.to_string()))
        })
        .await;
        install(&server, &api, &["decode_secrets"]).await;
        let conn = connect(&api, "decode-secrets", &up.url(), PASSWORD).await;
        let url = format!("{}/echo", up.url());
        // Called directly, in a scenario's run, and failing with the secret in its error.
        let (status, answer) = api
            .post(&format!("/api/connections/{conn}/actions/attack"), json!({"url": url}))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["output"]["decoded"], true, "the guest decoded it: {answer}");
        let (status, scenario) = api
            .post(
                "/api/scenarios",
                json!({"name": "echo", "trigger": {"type": "manual"},
                       "nodes": [{"id": "steal", "type": "action", "connector": "decode-secrets", "action": "attack",
                                  "input": {"url": url}},
                                 {"id": "fail", "type": "action", "connector": "decode-secrets", "action": "attack",
                                  "after": "steal", "input": {"url": url, "fail": true}}]}),
            )
            .await;
        assert_eq!(status, 201, "{scenario}");
        let (_, started) = api
            .post(&format!("/api/scenarios/{}/run", scenario["id"].as_str().unwrap()), json!({}))
            .await;
        let run = wait_run(&api, started["run"]["id"].as_str().unwrap(), 10).await;
        assert!(run.to_string().contains("***"), "the run shows the masked value: {run}");
        let b64 = base64::engine::general_purpose::STANDARD;
        let forms = [
            PASSWORD.to_string(),
            b64.encode(PASSWORD),
            b64.encode(format!("heph-user:{PASSWORD}")),
            hex::encode(PASSWORD),
            PASSWORD.chars().rev().collect(),
            "echoed-Pa55word%21".to_string(),
        ];
        let answers = server.answers().join("\n");
        let log = server.log();
        let database = String::from_utf8_lossy(&server.sqlite_bytes()).into_owned();
        for form in &forms {
            assert!(!answers.contains(form.as_str()), "an API answer holds `{form}`");
            assert!(!log.contains(form.as_str()), "the server log holds `{form}`");
            assert!(!database.contains(form.as_str()), "the database holds `{form}`");
        }
    });
}

/// A connector directory (`--connector-dir`) holding a test guest.
fn guest_dir(name: &str) -> std::path::PathBuf {
    let (_, manifest, wasm) = GUESTS.iter().find(|(n, ..)| *n == name).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "heph-{name}-{}",
        hex::encode(heph::vault::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("heph.toml"), manifest).unwrap();
    std::fs::write(dir.join(format!("{name}.wasm")), wasm).unwrap();
    dir
}

/// `heph connector …` with a guest's directory and a connection file.
fn bench(name: &str, site: &str, password: &str, args: &[&str]) -> (i32, String, String) {
    let dir = guest_dir(name);
    let connection = dir.join("connection.json");
    let values = json!({"site_url": site, "username": "heph-user", "password": password,
                        "allow_private_network": true});
    std::fs::write(&connection, values.to_string()).unwrap();
    output(
        std::process::Command::new(heph_binary())
            .env("HEPH_DATA_DIR", dir.join("data"))
            .env("HEPH_CONNECTOR_DIR", &dir)
            .args(["connector"])
            .args(args)
            .arg("--connection")
            .arg(&connection),
    )
}

#[test]
fn poll_all_stops_at_its_page_cap_on_a_trigger_that_always_has_more() {
    let (code, out, err) = bench(
        "endless_pages",
        "http://unused.invalid",
        "unused-password",
        &[
            "poll",
            "endless-pages",
            "forever",
            "--all",
            "--max-pages",
            "5",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 5, "one item per page: {out}");
    assert!(err.contains("stopped after 5 pages"), "{err}");
    assert!(err.contains("cursor: 5"), "the cursor to go on from: {err}");
}

#[test]
fn an_oversized_describe_is_refused_at_pack_install_and_on_the_bench() {
    tokio().block_on(async {
        let (_, manifest, wasm) = GUESTS.iter().find(|(n, ..)| *n == "huge_describe").unwrap();
        let rt = runtime(Limits::default());
        // Packing and installing both check the component this way.
        let err = check::check(&rt, manifest, wasm)
            .await
            .err()
            .expect("a 5 MB describe() is refused")
            .to_string();
        assert!(err.contains("describe_bytes"), "{err}");
    });
    let dir = guest_dir("huge_describe");
    let (code, out, err) = output(
        std::process::Command::new(heph_binary())
            .env("HEPH_DATA_DIR", dir.join("data"))
            .env("HEPH_CONNECTOR_DIR", &dir)
            .args(["connector", "describe", "huge-describe"]),
    );
    assert_ne!(code, 0);
    assert!(out.len() < 1000, "nothing huge is printed");
    assert!(err.contains("describe_bytes"), "{err}");
}

#[test]
fn the_bench_prints_no_form_of_an_echoed_secret() {
    const PASSWORD: &str = "bench-Pa55word!";
    tokio().block_on(async {
        let up = Upstream::start(|req| {
            let echo = json!({"authorization": req.header("authorization"), "url": req.uri});
            (200, vec![], bytes::Bytes::from(echo.to_string()))
        })
        .await;
        let site = up.url();
        let input = json!({"url": format!("{site}/echo")}).to_string();
        let (code, out, err) = tokio::task::spawn_blocking(move || {
            bench(
                "decode_secrets",
                &site,
                PASSWORD,
                &["call", "decode-secrets", "attack", "-v", "--input", &input],
            )
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("\"decoded\": true"), "{out}");
        let b64 = base64::engine::general_purpose::STANDARD;
        for form in [
            PASSWORD.to_string(),
            b64.encode(PASSWORD),
            b64.encode(format!("heph-user:{PASSWORD}")),
            hex::encode(PASSWORD),
            PASSWORD.chars().rev().collect(),
        ] {
            assert!(
                !out.contains(&form) && !err.contains(&form),
                "`{form}` printed:\n{out}\n{err}"
            );
        }
    });
}

#[test]
fn a_delivery_split_into_400000_items_queues_no_run() {
    let server = HephServer::start(ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        install(&server, &api, &["oversized_answers"]).await;
        connect(&api, "oversized-answers", "http://127.0.0.1:1", "unused-password").await;
        let (status, scenario) = api
            .post(
                "/api/scenarios",
                json!({"name": "split", "trigger": {"type": "webhook", "connector": "oversized-answers", "trigger": "split"},
                       "nodes": [{"id": "save", "type": "store", "op": "upsert", "collection": "split",
                                  "key": "{{ trigger_id }}", "record": "{{ trigger }}"}]}),
            )
            .await;
        assert_eq!(status, 201, "{scenario}");
        let id = scenario["id"].as_str().unwrap();
        api.post(&format!("/api/scenarios/{id}/enable"), json!({})).await;
        let url = scenario["webhook_url"].as_str().expect("a webhook URL");
        let answer = reqwest::Client::new().post(url).body("{}").send().await.unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or_default();
        assert!(status >= 400, "the delivery is refused: {status} {body}");
        assert!(body.to_string().contains("items_per_call"), "{body}");
        let (_, runs) = api.get(&format!("/api/runs?scenario={id}")).await;
        assert_eq!(runs["runs"], json!([]), "no run was queued: {runs}");
    });
}

#[test]
fn on_the_bench_waiting_is_not_cpu_output_is_cut_hmacs_need_a_signing_key() {
    // A thousand short sleeps against a half-second CPU budget set by the operator.
    let (code, out, err) = bench(
        "sleep_often",
        "http://unused.invalid",
        "unused-password",
        &[
            "--call-limit",
            "cpu_time_ms=500",
            "call",
            "sleep-often",
            "attack",
            "--input",
            r#"{"times": 1000, "ms": 1}"#,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"slept\": 1000"), "{out}");
    // A megabyte of stdout: cut and marked, the call goes on.
    let (code, out, err) = bench(
        "print_flood",
        "http://unused.invalid",
        "unused-password",
        &["call", "print-flood", "attack", "-v", "--input", "{}"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"printed\""), "{out}");
    assert!(
        err.contains("more bytes of output were dropped"),
        "{}",
        &err[err.len().saturating_sub(500)..]
    );
    assert!(
        err.len() < 200_000,
        "the output printed is bounded: {} bytes",
        err.len()
    );
    // The password keys no HMAC; the declared signing key does.
    let dir = guest_dir("hmac_oracle");
    let connection = dir.join("connection.json");
    let values = json!({"site_url": "http://unused.invalid", "username": "u", "password": "a-password-123",
                        "hook_secret": "hook-secret-123"});
    std::fs::write(&connection, values.to_string()).unwrap();
    let (code, out, err) = output(
        std::process::Command::new(heph_binary())
            .env("HEPH_DATA_DIR", dir.join("data"))
            .env("HEPH_CONNECTOR_DIR", &dir)
            .args([
                "connector",
                "call",
                "hmac-oracle",
                "attack",
                "--input",
                "{}",
                "--connection",
            ])
            .arg(&connection),
    );
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(answer["by_password"], false);
    assert_eq!(
        answer["by_signing_key"].as_str().map(str::len),
        Some(64),
        "{answer}"
    );
}

#[test]
fn on_the_bench_a_mapped_name_reaches_only_its_mapped_port() {
    tokio().block_on(async {
        let mapped = Upstream::start(|_| heph_tests::upstream::text(200, "mapped")).await;
        let other = Upstream::start(|_| heph_tests::upstream::text(200, "other")).await;
        let resolve = format!("site.test={}", mapped.addr);
        // `heph --resolve … connector call` fetching the member's own site.
        let fetch = |site: String| {
            let resolve = resolve.clone();
            tokio::task::spawn_blocking(move || {
                let input = json!({"url": format!("{site}/")}).to_string();
                let args = [
                    "--resolve",
                    &resolve,
                    "call",
                    "escape-private-ip",
                    "attack",
                    "--input",
                    &input,
                ];
                bench("escape_private_ip", &site, "unused-password", &args)
            })
        };
        let (code, _, err) = fetch(format!("http://site.test:{}", other.addr.port()))
            .await
            .unwrap();
        assert_ne!(code, 0);
        assert!(err.contains("another port of that address"), "{err}");
        assert!(other.received().is_empty());
        let (code, out, err) = fetch(format!("http://SITE.test.:{}", mapped.addr.port()))
            .await
            .unwrap();
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("mapped"), "{out}");
    });
}

#[test]
fn through_the_api_one_members_calls_hold_only_their_share_and_a_full_share_answers_503() {
    // Two instances, one per user, and a short wait for a slot.
    let server = HephServer::start(ServerOptions {
        env: vec![(
            "HEPH_CALL_LIMITS".into(),
            "instances=2,instances_per_user=1,admission_wait_ms=300".into(),
        )],
        ..ServerOptions::default()
    });
    let admin = server.api(&server.admin_token);
    tokio().block_on(async {
        install(&server, &admin, &["sleep_often", "noop"]).await;
        // Mallory (the admin here) holds his one instance with a long call.
        let slow = connect(
            &admin,
            "sleep-often",
            "http://unused.invalid",
            "unused-password",
        )
        .await;
        let (status, body) = admin
            .post(
                "/api/users",
                json!({"name": "alice", "password": "a long enough password"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let alice = server.api(body["token"]["token"].as_str().unwrap());
        let (status, conn) = alice
            .post(
                "/api/connections",
                json!({"consent": true, "connector": "noop", "name": "noop", "fields": {}}),
            )
            .await;
        assert_eq!(status, 201, "{conn}");
        let quick = conn["id"].as_str().unwrap().to_string();
        let held = tokio::spawn({
            let url = format!("{}/api/connections/{slow}/actions/attack", server.url);
            let token = server.admin_token.clone();
            async move {
                let _ = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"times": 1, "ms": 60_000}))
                    .send()
                    .await;
            }
        });
        // Mallory's next call finds his share taken: 503 busy with Retry-After, not a crash.
        let mut busy = None;
        for _ in 0..200 {
            let answer = reqwest::Client::new()
                .post(format!(
                    "{}/api/connections/{slow}/actions/attack",
                    server.url
                ))
                .bearer_auth(&server.admin_token)
                .json(&json!({"times": 1, "ms": 1}))
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let retry_after = answer.headers().get("retry-after").cloned();
            let body: Value = answer.json().await.unwrap_or_default();
            match status {
                503 => {
                    busy = Some((retry_after, body));
                    break;
                }
                200 => tokio::time::sleep(Duration::from_millis(50)).await,
                other => panic!("only 200 or 503, never {other}: {body}"),
            }
        }
        let (retry_after, body) = busy.expect("a call past the user's share ends as busy");
        assert_eq!(body["error"]["code"], "busy", "{body}");
        assert!(retry_after.is_some(), "503 says when to come back");
        // Alice is served meanwhile.
        for _ in 0..5 {
            let (status, answer) = alice
                .post(
                    &format!("/api/connections/{quick}/actions/attack"),
                    json!({"n": 1}),
                )
                .await;
            assert_eq!(status, 200, "{answer}");
        }
        held.abort();
    });
}
