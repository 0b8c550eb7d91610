//! Hostile connectors, one per attack: each is contained with a clear error, and the host
//! serves the next call as if nothing happened.

use std::time::Duration;

use base64::Engine as _;
use heph::runtime::{CallError, CallOutcome, Connector, Limits, Runtime};
use heph_tests::upstream::{text, Upstream};
use heph_tests::{connection, guest, runtime, tokio};
use serde_json::{json, Value};

fn small_limits() -> Limits {
    Limits {
        memory_bytes: 32 << 20,
        cpu_time: Duration::from_millis(500),
        wall_time: Duration::from_secs(5),
        response_body_bytes: 1 << 20,
        ..Limits::default()
    }
}

/// Runs a guest's `attack` action with a connection it does not need.
async fn attack(g: &Connector, input: &Value) -> CallOutcome<Value> {
    g.run_action(
        &connection(g, "http://unused.invalid", false),
        "attack",
        input,
    )
    .await
}

/// After an attack: the same runtime still runs a well-behaved call.
async fn still_serving(rt: &Runtime) {
    let noop = guest(rt, "noop");
    let outcome = attack(&noop, &json!({"x": 1})).await;
    assert_eq!(
        outcome.result.expect("noop after an attack"),
        json!({"echo": {"x": 1}})
    );
}

async fn upstream() -> Upstream {
    Upstream::start(|req| match req.uri.as_str() {
        "/big" => (200, vec![], bytes::Bytes::from(vec![b'x'; 3 << 20])),
        "/redirect-out" => (
            302,
            vec![("location".into(), "http://evil.example.org/steal".into())],
            Default::default(),
        ),
        "/redirect-port" => (
            302,
            vec![("location".into(), "http://127.0.0.1:1/steal".into())],
            Default::default(),
        ),
        "/redirect-in" => (
            302,
            vec![("location".into(), "/ok".into())],
            Default::default(),
        ),
        _ => text(200, "ok"),
    })
    .await
}

#[test]
fn a_host_outside_the_manifest_is_refused() {
    tokio().block_on(async {
        let up = upstream().await;
        let rt = runtime(small_limits());
        let g = guest(&rt, "escape_other_host");
        let conn = connection(&g, &up.url(), true);
        for url in [
            "http://evil.example.org/",
            "https://127.0.0.1:1/",
            &format!("http://127.0.0.2:{}/", up.addr.port()),
            &format!("https://{}/", up.addr),
        ] {
            let outcome = g.run_action(&conn, "attack", &json!({"url": url})).await;
            let err = outcome.result.expect_err(url);
            assert!(
                matches!(&err, CallError::Permanent(m) if m.contains("refused")),
                "{url}: {err}"
            );
            assert_eq!(outcome.log.refusals.len(), 1, "{url}");
            assert!(
                outcome.log.refusals[0].contains("is not among this connector's allowed hosts"),
                "{}",
                outcome.log.refusals[0]
            );
        }
        assert!(up.received().is_empty(), "nothing may reach any server");
        // The allowed host still works.
        let ok = g
            .run_action(&conn, "attack", &json!({"url": format!("{}/ok", up.url())}))
            .await;
        assert_eq!(ok.result.expect("allowed host")["status"], 200);
        still_serving(&rt).await;
    });
}

#[test]
fn private_loopback_and_metadata_addresses_are_refused() {
    tokio().block_on(async {
        let up = upstream().await;
        let port = up.addr.port();
        let rt = runtime(small_limits());
        let g = guest(&rt, "escape_private_ip");
        let cases = [
            (format!("http://127.0.0.1:{port}"), "loopback"),
            (format!("http://[::1]:{port}"), "loopback"),
            (format!("http://localhost:{port}"), "loopback"),
            (format!("http://[::ffff:127.0.0.1]:{port}"), "loopback"),
            ("http://169.254.169.254".to_string(), "metadata"),
            ("http://10.0.0.1".to_string(), "private"),
            ("http://192.168.1.1".to_string(), "private"),
            ("http://100.64.0.1".to_string(), "carrier-grade NAT"),
            ("http://0.0.0.0".to_string(), "unspecified"),
        ];
        for (site, kind) in &cases {
            let conn = connection(&g, site, false);
            let outcome = g
                .run_action(
                    &conn,
                    "attack",
                    &json!({"url": format!("{site}/latest/meta-data")}),
                )
                .await;
            let err = outcome.result.expect_err(site);
            assert!(
                err.to_string().contains("address is not allowed"),
                "{site}: {err}"
            );
            assert!(
                outcome.log.refusals.iter().any(|r| r.contains(kind)),
                "{site}: {:?}",
                outcome.log.refusals
            );
        }
        // The metadata address stays refused even where private networks are allowed.
        let conn = connection(&g, "http://169.254.169.254", true);
        let outcome = g
            .run_action(&conn, "attack", &json!({"url": "http://169.254.169.254/"}))
            .await;
        assert!(outcome.result.is_err());
        assert!(
            outcome.log.refusals[0].contains("cloud metadata"),
            "{:?}",
            outcome.log.refusals
        );
        assert!(
            up.received().is_empty(),
            "nothing may reach the loopback server"
        );

        // With the admin's approval, loopback is reachable (a self-hosted site, the tests).
        let conn = connection(&g, &format!("http://localhost:{port}"), true);
        let outcome = g
            .run_action(
                &conn,
                "attack",
                &json!({"url": format!("http://localhost:{port}/ok")}),
            )
            .await;
        assert_eq!(outcome.result.expect("private allowed")["body"], "ok");
        still_serving(&rt).await;
    });
}

#[test]
fn a_redirect_out_of_the_allowlist_is_refused_at_the_next_hop() {
    tokio().block_on(async {
        let up = upstream().await;
        let rt = runtime(small_limits());
        let g = guest(&rt, "redirect_out");
        let conn = connection(&g, &up.url(), true);
        for path in ["/redirect-out", "/redirect-port"] {
            let outcome = g
                .run_action(
                    &conn,
                    "attack",
                    &json!({"url": format!("{}{path}", up.url())}),
                )
                .await;
            let err = outcome.result.expect_err(path);
            assert!(err.to_string().contains("refused"), "{path}: {err}");
            assert_eq!(
                outcome.log.requests.len(),
                2,
                "{path}: the first hop is made, the second refused"
            );
            assert_eq!(outcome.log.requests[0].status, Some(302));
            assert!(
                outcome.log.refusals[0].contains("allowed hosts"),
                "{:?}",
                outcome.log.refusals
            );
        }
        // A redirect within the allowed host is followed.
        let outcome = g
            .run_action(
                &conn,
                "attack",
                &json!({"url": format!("{}/redirect-in", up.url())}),
            )
            .await;
        assert_eq!(
            outcome.result.expect("redirect within the host")["body"],
            "ok"
        );
        still_serving(&rt).await;
    });
}

#[test]
fn a_guest_cannot_set_credentials_and_the_host_adds_them_only_for_its_hosts() {
    tokio().block_on(async {
        let up = upstream().await;
        let rt = runtime(small_limits());
        let g = guest(&rt, "steal_authorization");
        let conn = connection(&g, &up.url(), true);
        let outcome = g
            .run_action(
                &conn,
                "attack",
                &json!({"url": format!("{}/echo", up.url())}),
            )
            .await;
        let answer = outcome.result.expect("the attack call itself completes");
        assert_eq!(
            answer["refused"],
            json!(["authorization", "cookie", "proxy-authorization"])
        );
        assert!(
            answer["sdk_error"]
                .as_str()
                .unwrap_or("")
                .contains("cannot be set"),
            "{answer}"
        );
        assert_eq!(answer["status"], 200);
        let received = up.received();
        assert_eq!(received.len(), 1, "only the plain request is sent");
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("heph-user:s3cret-from-vault")
        );
        assert_eq!(
            received[0].header("authorization"),
            Some(expected.as_str()),
            "the host injects the connection's credential"
        );
        assert!(received[0].header("cookie").is_none());
        assert!(
            !answer.to_string().contains("s3cret"),
            "the guest never sees the secret"
        );
        assert!(
            !format!("{:?}", outcome.log).contains("s3cret"),
            "nor does the call log"
        );
        still_serving(&rt).await;
    });
}

#[test]
fn an_endless_loop_ends_at_the_cpu_deadline() {
    tokio().block_on(async {
        let rt = runtime(small_limits());
        let g = guest(&rt, "loop_forever");
        let outcome = attack(&g, &json!({})).await;
        assert!(
            matches!(outcome.result, Err(CallError::CpuTime(_))),
            "{:?}",
            outcome.result
        );
        assert!(
            outcome.duration < Duration::from_secs(4),
            "stopped near its 0.5 s budget, not the wall limit"
        );
        still_serving(&rt).await;
    });
}

#[test]
fn a_call_waiting_forever_ends_at_the_wall_clock_limit() {
    tokio().block_on(async {
        // A server that accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let rt = runtime(Limits {
            wall_time: Duration::from_secs(1),
            ..small_limits()
        });
        let g = guest(&rt, "escape_private_ip");
        let outcome = g
            .run_action(
                &connection(&g, &format!("http://{addr}"), true),
                "attack",
                &json!({"url": format!("http://{addr}/")}),
            )
            .await;
        assert!(
            matches!(outcome.result, Err(CallError::WallTime(_))),
            "{:?}",
            outcome.result
        );
        still_serving(&rt).await;
    });
}

#[test]
fn allocating_past_the_memory_cap_ends_the_call() {
    tokio().block_on(async {
        let rt = runtime(small_limits());
        let g = guest(&rt, "alloc_bomb");
        let outcome = attack(&g, &json!({})).await;
        assert!(
            matches!(outcome.result, Err(CallError::Memory(32))),
            "{:?}",
            outcome.result
        );
        still_serving(&rt).await;
    });
}

#[test]
fn unbounded_recursion_ends_the_call() {
    tokio().block_on(async {
        let rt = runtime(small_limits());
        let g = guest(&rt, "deep_recursion");
        let outcome = attack(&g, &json!({})).await;
        assert!(
            matches!(&outcome.result, Err(CallError::Trap(m)) if m.contains("stack overflow")),
            "{:?}",
            outcome.result
        );
        still_serving(&rt).await;
    });
}

#[test]
fn a_response_larger_than_the_cap_is_refused() {
    tokio().block_on(async {
        let up = upstream().await;
        let rt = runtime(small_limits());
        let g = guest(&rt, "huge_response");
        let outcome = g
            .run_action(
                &connection(&g, &up.url(), true),
                "attack",
                &json!({"url": format!("{}/big", up.url())}),
            )
            .await;
        let err = outcome.result.expect_err("3 MiB over a 1 MiB cap");
        assert!(
            err.to_string().contains("larger than the host allows"),
            "{err}"
        );
        assert!(
            outcome.log.requests[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains("bytes, more than"),
            "{:?}",
            outcome.log.requests
        );
        still_serving(&rt).await;
    });
}

#[test]
fn a_request_body_larger_than_the_cap_is_refused() {
    tokio().block_on(async {
        let up = upstream().await;
        let rt = runtime(Limits {
            request_body_bytes: 256 << 10,
            ..small_limits()
        });
        let g = guest(&rt, "huge_request");
        let conn = connection(&g, &up.url(), true);
        let url = format!("{}/upload", up.url());
        let outcome = g
            .run_action(&conn, "attack", &json!({"url": url, "bytes": 1 << 20}))
            .await;
        let err = outcome.result.expect_err("1 MiB over a 256 KiB cap");
        assert!(
            matches!(&err, CallError::InvalidInput(m) if m.contains("larger than the host allows")),
            "{err}"
        );
        assert!(
            outcome.log.requests[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains("request body is larger"),
            "{:?}",
            outcome.log.requests
        );
        assert!(
            up.received().iter().all(|r| r.body.len() < 1 << 20),
            "the whole body never reaches the upstream"
        );
        // Under the cap, the same upload goes through.
        let ok = g
            .run_action(&conn, "attack", &json!({"url": url, "bytes": 100 << 10}))
            .await;
        assert_eq!(ok.result.expect("an upload under the cap")["status"], 200);
        assert_eq!(up.received().last().map(|r| r.body.len()), Some(100 << 10));
        still_serving(&rt).await;
    });
}

#[test]
fn a_panic_ends_the_call_and_its_message_reaches_the_log() {
    tokio().block_on(async {
        let rt = runtime(small_limits());
        let g = guest(&rt, "panic_now");
        let outcome = attack(&g, &json!({"reason": "testing"})).await;
        assert!(
            matches!(&outcome.result, Err(CallError::Trap(m)) if m.contains("panicked")),
            "{:?}",
            outcome.result
        );
        assert!(
            outcome
                .log
                .output
                .contains("guest panicked on purpose: testing"),
            "{}",
            outcome.log.output
        );
        still_serving(&rt).await;
    });
}

#[test]
fn a_guest_has_no_files_environment_sockets_or_arguments() {
    tokio().block_on(async {
        let rt = runtime(small_limits());
        let g = guest(&rt, "ambient_authority");
        let outcome = attack(&g, &json!({})).await;
        let seen: Value = outcome.result.expect("the probe completes");
        assert_eq!(seen["file"], false);
        assert_eq!(seen["dir"], false);
        assert_eq!(seen["env"], 0);
        assert_eq!(seen["args"], 0);
        assert_eq!(seen["tcp"], false);
        assert_eq!(seen["lookup"], false);
        assert_eq!(seen["random"], true, "WASI random is available");
        assert_eq!(seen["clock"], true, "WASI wall clock is available");
        assert!(
            outcome.log.output.contains("ambient check printed this"),
            "stdout goes to the call log"
        );
    });
}

#[test]
fn many_hostile_calls_at_once_leave_the_host_serving() {
    tokio().block_on(async {
        let rt = std::sync::Arc::new(runtime(small_limits()));
        let mut tasks = Vec::new();
        for name in [
            "loop_forever",
            "alloc_bomb",
            "deep_recursion",
            "panic_now",
            "noop",
        ]
        .iter()
        .cycle()
        .take(20)
        {
            let g = guest(&rt, name);
            tasks.push(tokio::spawn(async move {
                let outcome = g
                    .run_action(
                        &connection(&g, "http://unused.invalid", false),
                        "attack",
                        &json!({}),
                    )
                    .await;
                (g.manifest().id.clone(), outcome.result.is_ok())
            }));
        }
        for task in tasks {
            let (id, ok) = task.await.expect("no host panic");
            assert_eq!(ok, id == "noop", "{id}");
        }
        still_serving(&rt).await;
    });
}

#[test]
fn describe_needs_no_connection_and_makes_no_request() {
    tokio().block_on(async {
        let rt = runtime(small_limits());
        let g = guest(&rt, "escape_other_host");
        let outcome = g.describe().await;
        let description = outcome.result.expect("describe");
        assert_eq!(description["actions"][0]["name"], "attack");
        assert!(outcome.log.requests.is_empty());
    });
}
