//! The server against hostile users and careless admins, through `heph serve`: what a client
//! with no account, or a member, can make the server spend is bounded (connections, header
//! and body time, body sizes, password hashes), and what it sends is read strictly.

use std::time::Duration;

use heph_tests::heph_server::{HephServer, ServerOptions};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn server(env: &[(&str, &str)]) -> HephServer {
    HephServer::start(ServerOptions {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    })
}

/// A connection from `source` (another loopback address: another client).
async fn connect_from(server: &HephServer, source: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{source}:0").parse().unwrap())
        .unwrap();
    let address = server.url.trim_start_matches("http://").parse().unwrap();
    socket.connect(address).await.unwrap()
}

/// Whether the server closes `stream` within `patience` (it reads end-of-file or a reset).
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an answer (a 408, say); the close follows
        }
    }
}

async fn health(server: &HephServer) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/health", server.url))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[test]
fn idle_and_slow_connections_close_and_one_address_cannot_hold_them_all() {
    let server = server(&[
        ("HEPH_HEADER_TIMEOUT", "2"),
        ("HEPH_MAX_CONNECTIONS_PER_ADDRESS", "8"),
    ]);
    tokio().block_on(async {
        // One client holds its share of idle connections...
        let mut idle = Vec::new();
        for _ in 0..8 {
            idle.push(connect_from(&server, "127.0.0.2").await);
        }
        // ...and the next one from it is closed at once, with nothing read or answered.
        let mut over = connect_from(&server, "127.0.0.2").await;
        assert!(
            closed_within(&mut over, Duration::from_secs(20)).await,
            "a connection over the per-address share stays open"
        );
        // Everyone else is served meanwhile.
        assert_eq!(health(&server).await, 200);
        // Connections that send nothing are closed after the header timeout.
        for stream in &mut idle {
            assert!(
                closed_within(stream, Duration::from_secs(30)).await,
                "an idle connection was never closed"
            );
        }
        // So is one that sends its headers a byte at a time, for longer than the timeout.
        let mut slow = connect_from(&server, "127.0.0.3").await;
        let request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaa";
        let mut cut_off = false;
        for byte in request {
            if slow.write_all(&[*byte]).await.is_err() {
                cut_off = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            cut_off || closed_within(&mut slow, Duration::from_secs(30)).await,
            "a connection sending its headers slowly was never closed"
        );
        // The closed connections gave their places back: the first client is served again.
        let mut again = connect_from(&server, "127.0.0.2").await;
        again
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        again.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    });
    let log = server.log();
    assert!(log.contains("refusing connections"), "{log}");
}

/// Sends a raw request and reads the status and body of the answer.
async fn raw(server: &HephServer, head: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = connect_from(server, "127.0.0.1").await;
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before the whole body is sent: that is the point.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // A chunked answer: the JSON is on the chunk's line.
    let json = body
        .lines()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

#[test]
fn bodies_are_bounded_before_anything_buffers_them() {
    let server = server(&[("HEPH_BODY_TIMEOUT", "2")]);
    let token = server.admin_token.clone();
    tokio().block_on(async {
        // A declared length over the route's limit is refused before a byte of it is read,
        // with or without an Idempotency-Key (which used to buffer 64 MiB first).
        for key in ["", "Idempotency-Key: k1\r\n"] {
            let head = format!(
                "POST /api/scenarios HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\n{key}Content-Length: 104857600\r\nConnection: close\r\n\r\n"
            );
            let (status, body) = raw(&server, &head, b"{").await;
            assert_eq!(status, 413, "{key}: {body}");
            assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
        }
        // A chunked body that grows past the limit is cut off at the limit, also on the
        // idempotent path and the scenario route (which answered 400 before).
        let chunk = vec![b' '; 64 * 1024];
        for (path, key) in [
            ("/api/scenarios", "Idempotency-Key: k2\r\n"),
            ("/api/scenarios", ""),
            ("/api/users", ""),
        ] {
            let mut body = Vec::new();
            for _ in 0..40 {
                body.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
                body.extend(&chunk);
                body.extend(b"\r\n");
            }
            body.extend(b"0\r\n\r\n");
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\n{key}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            let (status, answer) = raw(&server, &head, &body).await;
            assert_eq!(status, 413, "{path} {key}: {answer}");
            assert_eq!(answer["error"]["code"], "payload_too_large", "{answer}");
        }
        // A body that stops arriving ends with 408 after the body timeout.
        let head = format!(
            "POST /api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        );
        let mut stream = connect_from(&server, "127.0.0.1").await;
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"{\"name\": ").await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer))
            .await
            .expect("the server answers a stalled body")
            .unwrap();
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("request_timeout"), "{text}");
    });
}

#[test]
fn bodies_are_read_strictly_in_json_and_yaml_alike() {
    let server = server(&[]);
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        // A key twice is refused, naming the key, in a JSON body, a JSON definition and a
        // YAML one.
        let (status, body) = api
            .send_raw(
                "POST",
                "/api/users",
                r#"{"name": "ann", "name": "bob", "password": "a long password"}"#,
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("`name` appears twice"),
            "{body}"
        );
        let definition = r#"{"name": "twice", "trigger": {"type": "manual"},
            "nodes": [{"id": "a", "type": "delay", "seconds": 1, "seconds": 2}]}"#;
        let (status, body) = api.send_raw("POST", "/api/scenarios", definition).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains("`seconds` appears twice"), "{body}");
        for yaml in [
            "name: twice\nname: again\ntrigger: {type: manual}\nnodes: []\n",
            "name: inf\ntrigger: {type: manual}\nvars: {n: .inf}\nnodes: []\n",
            "name: nan\ntrigger: {type: manual}\nvars: {n: .nan}\nnodes: []\n",
            "name: big\ntrigger: {type: manual}\nvars: {n: 1e400}\nnodes: []\n",
        ] {
            let (status, body) = api
                .send_typed("POST", "/api/scenarios", "application/yaml", yaml)
                .await;
            assert_eq!(status, 400, "{yaml}: {body}");
            assert_eq!(body["error"]["code"], "invalid_yaml", "{body}");
        }
        let (status, body) = api
            .send_raw("POST", "/api/scenarios", r#"{"n": 1e400}"#)
            .await;
        assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid_json")), "{body}");
        // A body that is not an object is refused, not read as an empty request.
        for text in ["[]", "[\"x\"]", "7", "null"] {
            let (status, body) = api.send_raw("POST", "/api/tokens", text).await;
            assert_eq!(status, 400, "{text}: {body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("object"), "{body}");
            let (status, body) = api.send_raw("POST", "/api/scenarios", text).await;
            assert_eq!(status, 400, "{text}: {body}");
        }
        let (status, _) = api
            .send_raw(
                "POST",
                "/api/scenarios",
                r#"{"name": "m", "trigger": {"type": "manual"}, "nodes": []}"#,
            )
            .await;
        assert_eq!(status, 201);
        let (status, body) = api.send_raw("POST", "/api/scenarios/m/run", "[]").await;
        assert_eq!(status, 400, "an array started a run: {body}");
        let (status, body) = api.get("/api/runs").await;
        assert_eq!(status, 200);
        assert_eq!(body["runs"].as_array().map(Vec::len), Some(0), "{body}");
    });
}

#[test]
fn a_sign_in_flood_waits_for_a_few_password_checks_instead_of_taking_the_memory() {
    let server = server(&[]);
    let before = server.peak_rss();
    let statuses = tokio().block_on(async {
        // 10 addresses, 10 attempts each: every one within the sign-in rate limits.
        let attempts = (2..12).flat_map(|n| {
            let address = format!("127.0.0.{n}");
            (0..10).map(move |i| (address.clone(), i))
        });
        let tasks: Vec<_> = attempts
            .map(|(address, i)| {
                let url = format!("{}/api/session", server.url);
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .local_address(address.parse::<std::net::IpAddr>().unwrap())
                        .build()
                        .unwrap();
                    let answer = client
                        .post(url)
                        .json(&json!({"name": format!("nobody{i}"), "password": "a wrong password"}))
                        .send()
                        .await
                        .unwrap();
                    let status = answer.status().as_u16();
                    let retry = answer.headers().contains_key("retry-after");
                    (status, retry)
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        statuses
    });
    for (status, retry_after) in &statuses {
        assert!(
            *status == 401 || (*status == 503 && *retry_after),
            "{statuses:?}"
        );
    }
    assert!(statuses.iter().any(|(s, _)| *s == 401), "{statuses:?}");
    // At most 4 checks of 19 MiB run at once: the peak stays far below 100 × 19 MiB.
    let grown = server.peak_rss().saturating_sub(before);
    assert!(
        grown < 256 * 1024 * 1024,
        "the server grew by {} MiB during the flood",
        grown / (1024 * 1024)
    );
}

#[test]
fn scenario_sizes_retries_and_intervals_stay_within_their_documented_ranges() {
    let server = server(&[]);
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let chain = |n: usize| -> Value {
            let nodes: Vec<Value> = (0..n)
                .map(|i| {
                    json!({"id": format!("n{i}"), "type": "transform",
                           "output": {"v": if i == 0 { "{{ trigger.x }}".to_string() }
                                              else { format!("{{{{ n{}.v }}}}", i - 1) }}})
                })
                .collect();
            json!({"name": format!("chain{n}"), "trigger": {"type": "manual"}, "nodes": nodes})
        };
        // At the cap a chain is checked (each node reads the one before it) and saved...
        let (status, body) = api.post("/api/scenarios", chain(500)).await;
        assert_eq!(status, 201, "{:.2000}", body.to_string());
        // ...one more is refused before any checking, saying what to do.
        let (status, body) = api.post("/api/scenarios", chain(501)).await;
        assert_eq!(status, 422, "{body}");
        let problem = &body["error"]["details"]["problems"][0];
        assert_eq!(problem["field"], "nodes", "{body}");
        assert!(problem["message"].as_str().unwrap().contains("at most 500"), "{body}");
        // Retries past the range are refused, not quietly lowered.
        let (status, body) = api
            .post(
                "/api/scenarios",
                json!({"name": "r", "trigger": {"type": "manual"}, "settings": {"retries": 1000000},
                       "nodes": [{"id": "a", "type": "delay", "seconds": 1, "retries": 11}]}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let text = body.to_string();
        assert!(text.contains("settings.retries") && text.contains("from 0 to 10"), "{body}");
        assert_eq!(body["error"]["details"]["problems"][1]["node"], "a", "{body}");
        // An interval that would overflow is refused, not wrapped around to minutes.
        let (status, body) = api
            .post(
                "/api/scenarios",
                json!({"name": "e", "trigger": {"type": "poll", "connector": "wordpress",
                       "trigger": "users", "every": "94368760191893771d"}, "nodes": []}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("at most 366d"), "{body}");
    });
}

#[test]
fn the_store_the_key_and_the_compiled_cache_are_private_to_heph_s_user() {
    use std::os::unix::fs::PermissionsExt;
    let server = server(&[]);
    tokio().block_on(async {
        // A write, so that the WAL and shared-memory files exist.
        let (status, _) = server
            .api(&server.admin_token)
            .post("/api/tokens", json!({"name": "t"}))
            .await;
        assert_eq!(status, 201);
    });
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = server.dir();
    assert_eq!(mode(dir), 0o700, "the data directory");
    for name in ["heph.db", "heph.db-wal", "heph.db-shm", "master.key"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    // Everything else heph wrote there: no file or directory readable by others.
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "serve.log") {
                continue; // the test's own capture of stderr
            }
            assert_eq!(mode(&path) & 0o077, 0, "{} is readable by others", path.display());
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
}

#[test]
fn registry_urls_named_in_requests_go_through_the_address_policy() {
    let strict = server(&[]);
    let relaxed = server(&[("HEPH_REGISTRY_ALLOW_PRIVATE", "true")]);
    tokio().block_on(async {
        let search = |api: heph_tests::heph_server::Api, registry: &'static str| async move {
            let path = format!("/api/registry/connectors?registry={registry}");
            api.get(&path).await
        };
        let install = |api: heph_tests::heph_server::Api, registry: &'static str| async move {
            api.post("/api/connectors/install", json!({"name": "x", "registry": registry}))
                .await
        };
        let api = strict.api(&strict.admin_token);
        for (registry, kind) in [
            ("http://127.0.0.1:9", "loopback"),
            ("http://localhost:9", "loopback"),
            ("http://[::1]:9", "loopback"),
            ("http://10.0.0.1:9", "private"),
            ("http://169.254.169.254", "metadata"),
            ("http://[::ffff:169.254.169.254]", "metadata"),
        ] {
            for (status, body) in [
                search(api.clone(), registry).await,
                install(api.clone(), registry).await,
            ] {
                assert_eq!(status, 403, "{registry}: {body}");
                assert_eq!(body["error"]["code"], "address_not_allowed", "{body}");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains(kind), "{registry}: {message}");
            }
        }
        // The operator may allow private registries: then the fetch is tried (and fails, as
        // nothing listens there), but a metadata address stays refused.
        let api = relaxed.api(&relaxed.admin_token);
        let (status, body) = search(api.clone(), "http://127.0.0.1:9").await;
        assert_eq!((status, &body["error"]["code"]), (502, &json!("registry_error")), "{body}");
        let (status, body) = install(api, "http://169.254.169.254").await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("metadata"), "{body}");
    });
}

#[test]
fn records_are_at_most_a_mebibyte_through_the_api_and_through_runs() {
    let server = server(&[]);
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let big = json!({"text": "x".repeat(1100 * 1024)});
        let (status, body) = api.put("/api/store/notes/n1", big.clone()).await;
        assert_eq!(status, 413, "{:.300}", body.to_string());
        assert_eq!(body["error"]["code"], "record_too_large", "{body}");
        let (status, _) = api.get("/api/store/notes/n1").await;
        assert_eq!(status, 404);
        // A record is any JSON value (the document says so), read as strictly as any body.
        for value in ["null", "\"text\"", "[1, 2]", "{\"a\": 1}"] {
            let (status, body) = api.send_raw("PUT", "/api/store/notes/any", value).await;
            assert_eq!(status, 200, "{value}: {body}");
        }
        let (status, body) = api
            .send_raw("PUT", "/api/store/notes/any", r#"{"a": 1, "a": 2}"#)
            .await;
        assert_eq!(status, 400, "{body}");
        let (status, created) = api
            .post(
                "/api/scenarios",
                json!({"name": "hoard", "trigger": {"type": "manual"}, "nodes": [
                    {"id": "keep", "type": "store", "op": "upsert", "collection": "notes",
                     "key": "n2", "record": "{{ trigger }}"}]}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let run = crate::engine::run_now(&api, "hoard", Some(big)).await;
        let item = &run["items"][0];
        assert_eq!(item["status"], "failed", "{:.500}", run.to_string());
        let step = &item["steps"][0];
        assert_eq!(step["error_code"], "limit_exceeded", "{:.500}", step.to_string());
        assert!(step["error"].as_str().unwrap().contains("at most 1024 KiB"), "{step}");
        assert_eq!(step["attempts"], 1, "a record too large is not retried");
        // The step keeps what it was given as its size and its start, not 1 MiB again.
        assert_eq!(step["input"]["truncated"], true, "{:.300}", step.to_string());
        let (status, _) = api.get("/api/store/notes/n2").await;
        assert_eq!(status, 404);
    });
}

#[test]
fn a_tiny_template_cannot_build_a_large_value_in_a_preview_or_a_run() {
    let server = server(&[]);
    let api = server.api(&server.admin_token);
    let before = server.peak_rss();
    tokio().block_on(async {
        let doubling = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
        let folded = format!("{{{{ {} }}}}", vec!["'x' * 1000000"; 200].join(" ~ "));
        let looped = "{% set big = 'x' * 1000000 %}{% for i in range(1000) %}{{ big }}{% endfor %}";
        for template in [doubling.to_string(), folded, looped.to_string()] {
            let (status, body) = api
                .post("/api/mappings/preview", json!({"mapping": {"text": template}}))
                .await;
            assert_eq!(status, 400, "{:.300}", body.to_string());
            assert_eq!(body["error"]["code"], "mapping_failed", "{:.300}", body.to_string());
            assert!(body.to_string().contains("more than 32 MiB"), "{:.300}", body.to_string());
        }
        // In a run the node fails with the same reason, and nothing large is stored.
        let (status, created) = api
            .post(
                "/api/scenarios",
                json!({"name": "grow", "trigger": {"type": "manual"}, "nodes": [
                    {"id": "grow", "type": "transform", "output": {"text": doubling}}]}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let run = crate::engine::run_now(&api, "grow", None).await;
        let step = &run["items"][0]["steps"][0];
        assert_eq!(run["items"][0]["status"], "failed", "{:.500}", run.to_string());
        assert!(step["error"].as_str().unwrap().contains("more than 32 MiB"), "{step}");
    });
    // The server never held the gigabytes those templates describe.
    let grown = server.peak_rss().saturating_sub(before);
    assert!(grown < 256 * 1024 * 1024, "grew by {} MiB", grown / (1024 * 1024));
}

/// Creates a member and returns their API client.
async fn member(server: &HephServer, name: &str) -> heph_tests::heph_server::Api {
    let (status, body) = server
        .api(&server.admin_token)
        .post("/api/users", json!({"name": name, "password": "a long password"}))
        .await;
    assert_eq!(status, 201, "{body}");
    server.api(body["token"]["token"].as_str().unwrap())
}

#[test]
fn runs_waiting_in_delays_hold_no_worker_and_go_on_when_due() {
    // Two workers (the default); one member's runs wait in long delays.
    let server = server(&[]);
    tokio().block_on(async {
        let ann = member(&server, "ann").await;
        let bob = member(&server, "bob").await;
        let waiting = json!({"name": "later", "trigger": {"type": "manual"}, "nodes": [
            {"id": "wait", "type": "delay", "seconds": 3600},
            {"id": "after", "type": "transform", "output": {"done": true}}]});
        let (status, _) = ann.post("/api/scenarios", waiting).await;
        assert_eq!(status, 201);
        let mut parked = Vec::new();
        for _ in 0..3 {
            let (status, started) = ann.post("/api/scenarios/later/run", json!({})).await;
            assert_eq!(status, 202, "{started}");
            parked.push(started["run"]["id"].as_str().unwrap().to_string());
        }
        // Each parks: its item waits, the run is back in the queue until the delay is over.
        for id in &parked {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            loop {
                let (_, run) = ann.get(&format!("/api/runs/{id}")).await;
                if run["items"][0]["status"] == "waiting" && run["status"] == "queued" {
                    assert!(run.to_string().contains("(a delay, or an upstream's Retry-After)"), "{run}");
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "never parked: {run}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Another member's run is served meanwhile: no worker is held by the waiting runs.
        let (status, _) = bob
            .post("/api/scenarios", json!({"name": "now", "trigger": {"type": "manual"},
                "nodes": [{"id": "t", "type": "transform", "output": {"ok": 1}}]}))
            .await;
        assert_eq!(status, 201);
        let run = crate::engine::run_now(&bob, "now", None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        for id in &parked {
            let (_, run) = ann.get(&format!("/api/runs/{id}")).await;
            assert_eq!(run["status"], "queued", "still waiting: {run}");
        }
        // A delay that is over goes on where it stopped: the node after it runs once, and
        // the item's steps follow on.
        let short = json!({"name": "soon", "trigger": {"type": "manual"}, "nodes": [
            {"id": "first", "type": "transform", "output": {"n": "{{ trigger.n }}"}},
            {"id": "wait", "type": "delay", "seconds": 2},
            {"id": "after", "type": "transform", "output": {"n": "{{ first.n }}", "waited": "{{ wait.waits }}"}}]});
        let (status, _) = ann.post("/api/scenarios", short).await;
        assert_eq!(status, 201);
        let run = crate::engine::run_now(&ann, "soon", Some(json!({"n": 7}))).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let item = &run["items"][0];
        assert_eq!(item["status"], "done", "{item}");
        let steps: Vec<&str> = item["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node_id"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["first", "wait", "after"], "{item}");
        assert_eq!(item["steps"][2]["output"], json!({"n": 7, "waited": 2.0}), "{item}");
        assert_eq!(run["items_done"], 1, "{run}");
        // Cancelling a parked run ends it at once.
        let (status, cancelled) = ann.post(&format!("/api/runs/{}/cancel", parked[0]), json!({})).await;
        assert_eq!(status, 200, "{cancelled}");
        assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    });
}

#[test]
fn workers_go_to_the_user_with_the_fewest_runs_running_first() {
    // Everything is queued before any worker starts, so that how fast the machine queues does
    // not decide the order.
    let mut server = server(&[("HEPH_WORKERS", "0")]);
    tokio().block_on(async {
        let ann = member(&server, "ann").await;
        let bob = member(&server, "bob").await;
        // Ann's runs each hold a worker for five seconds (delays short enough to wait inline).
        let waits: Vec<Value> = (0..5)
            .map(|i| json!({"id": format!("w{i}"), "type": "delay", "seconds": 1}))
            .collect();
        let busy = json!({"name": "busy", "trigger": {"type": "manual"}, "nodes": waits});
        assert_eq!(ann.post("/api/scenarios", busy).await.0, 201);
        let one = json!({"name": "one", "trigger": {"type": "manual"}, "nodes": [
            {"id": "t", "type": "transform", "output": {"ok": 1}}]});
        assert_eq!(bob.post("/api/scenarios", one).await.0, 201);
        let mut anns = Vec::new();
        for _ in 0..8 {
            let (_, started) = ann.post("/api/scenarios/busy/run", json!({})).await;
            anns.push(started["run"]["id"].as_str().unwrap().to_string());
        }
        // Bob's run, queued after all of Ann's, goes before those still queued: the second
        // worker to claim takes it, while the first holds one of Ann's.
        let (status, started) = bob.post("/api/scenarios/one/run", json!({})).await;
        assert_eq!(status, 202, "{started}");
        server.restart_with(&[("HEPH_WORKERS", "2")]);
        let bobs = crate::engine::wait_run(&bob, started["run"]["id"].as_str().unwrap(), 10).await;
        assert_eq!(bobs["status"], "succeeded", "{bobs}");
        let mut after_bob = 0;
        let mut seen = Vec::new();
        for id in &anns {
            let run = crate::engine::wait_run(&ann, id, 10).await;
            assert_eq!(run["status"], "succeeded", "{run}");
            if run["started_at"].as_i64() > bobs["started_at"].as_i64() {
                after_bob += 1;
            }
            seen.push((run["started_at"].clone(), run["finished_at"].clone()));
        }
        assert!(
            after_bob >= 5,
            "only {after_bob} of Ann's 8 runs started after Bob's ({}–{}): {seen:?}",
            bobs["started_at"],
            bobs["finished_at"]
        );
    });
}
