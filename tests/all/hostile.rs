//! Hostile connectors against the runtime's bounds, one class of attack each: a flood of slow
//! calls by one user, memory the host holds for a guest, oversized answers, endless pages,
//! sleeping charged as CPU, `--resolve` ports, secrets leaving in encoded forms, the HMAC
//! oracle, and a flood of output. Each ends the attacker's own call with a clear error (or
//! bounds what it keeps) and leaves the host serving everyone else.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use heph::manifest::Manifest;
use heph::runtime::{
    CallError, ConnectionContext, Limits, ResolveOverrides, Runtime, RuntimeConfig,
};
use heph_tests::upstream::{text, Upstream};
use heph_tests::{connection, guest, runtime, tokio, GUESTS};
use serde_json::json;

fn limits() -> Limits {
    Limits {
        cpu_time: Duration::from_millis(500),
        wall_time: Duration::from_secs(60),
        ..Limits::default()
    }
}

fn as_tenant(mut conn: ConnectionContext, tenant: &str) -> ConnectionContext {
    conn.tenant = tenant.to_string();
    conn
}

/// After an attack: the same runtime still runs a well-behaved call.
async fn still_serving(rt: &Runtime) {
    let noop = guest(rt, "noop");
    let conn = connection(&noop, "http://unused.invalid", false);
    let outcome = noop.run_action(&conn, "attack", &json!({"x": 1})).await;
    assert_eq!(
        outcome.result.expect("noop after an attack"),
        json!({"echo": {"x": 1}})
    );
}

#[test]
fn one_users_flood_of_slow_calls_waits_for_its_share_and_others_are_served() {
    tokio().block_on(async {
        let rt = Arc::new(runtime(Limits {
            instances: 4,
            instances_per_user: 2,
            ..limits()
        }));
        let slow = guest(&rt, "sleep_often");
        // Mallory: twenty calls that each hold an instance for a while.
        let mut flood = Vec::new();
        for _ in 0..20 {
            let (rt, slow) = (rt.clone(), slow.clone());
            flood.push(tokio::spawn(async move {
                let _rt = rt;
                let conn = as_tenant(connection(&slow, "http://unused.invalid", false), "mallory");
                slow.run_action(&conn, "attack", &json!({"times": 10, "ms": 20}))
                    .await
                    .result
            }));
        }
        // Alice, meanwhile, calls another connector: admitted, never blamed on a crash.
        let noop = guest(&rt, "noop");
        for _ in 0..10 {
            let conn = as_tenant(connection(&noop, "http://unused.invalid", false), "alice");
            let outcome = noop.run_action(&conn, "attack", &json!({})).await;
            assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        }
        // Every one of Mallory's calls waited its turn and completed: none failed.
        for call in flood {
            let result = call.await.expect("no panic");
            assert_eq!(result.expect("a flood call waits, then runs")["slept"], 200);
        }
    });
}

#[test]
fn a_full_pool_answers_busy_not_a_crash() {
    tokio().block_on(async {
        let rt = Arc::new(runtime(Limits {
            instances: 1,
            admission_wait: Duration::from_millis(50),
            ..limits()
        }));
        let slow = guest(&rt, "sleep_often");
        let holder = tokio::spawn({
            let (rt, slow) = (rt.clone(), slow.clone());
            async move {
                let _rt = rt;
                let conn = connection(&slow, "http://unused.invalid", false);
                slow.run_action(&conn, "attack", &json!({"times": 1, "ms": 50_000}))
                    .await
            }
        });
        let noop = guest(&rt, "noop");
        // Once the slow call holds the only instance, another call ends as busy.
        let mut busy = None;
        for _ in 0..400 {
            let conn = as_tenant(connection(&noop, "http://unused.invalid", false), "alice");
            match noop.run_action(&conn, "attack", &json!({})).await.result {
                Err(e @ CallError::Busy(_)) => {
                    busy = Some(e);
                    break;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(25)).await,
                Err(other) => panic!("only busy or success, never {other:?}"),
            }
        }
        let busy = busy.expect("a call ends as busy while the pool is full");
        assert_eq!(busy.code(), "busy");
        assert!(busy.to_string().contains("busy"), "{busy}");
        holder.abort();
        let _ = holder.await;
        still_serving(&rt).await;
    });
}

#[test]
fn memory_the_host_holds_for_a_guest_is_bounded_and_released() {
    tokio().block_on(async {
        let rt = runtime(Limits {
            host_memory_bytes: 8 << 20,
            ..limits()
        });
        let g = guest(&rt, "hoard_host_memory");
        let conn = connection(&g, "http://unused.invalid", false);
        // Thousands of header maps kept alive: the resource table is full at its share.
        let outcome = g
            .run_action(&conn, "attack", &json!({"how": "headers"}))
            .await;
        assert!(
            matches!(outcome.result, Err(CallError::HostMemory(8))),
            "{:?}",
            outcome.result
        );
        assert_eq!(outcome.result.unwrap_err().code(), "memory_exceeded");
        // One header map past its size.
        let outcome = g
            .run_action(&conn, "attack", &json!({"how": "big_header"}))
            .await;
        assert!(
            matches!(&outcome.result, Err(CallError::Limit(m)) if m.contains("header map")),
            "{:?}",
            outcome.result
        );
        // Refused requests with huge URLs: the call log keeps a bounded number, cut short.
        let outcome = g
            .run_action(&conn, "attack", &json!({"how": "refusals"}))
            .await;
        let err = outcome.result.expect_err("past the requests per call");
        assert!(
            matches!(&err, CallError::Limit(m) if m.contains("requests_per_call"))
                || matches!(err, CallError::HostMemory(_)),
            "{err:?}"
        );
        assert!(
            outcome.log.refusals.len() <= 1000,
            "{}",
            outcome.log.refusals.len()
        );
        assert!(outcome.log.refusals.iter().all(|r| r.len() < 2100));
        // An answer of five million tiny values (the guest needs room to build it): refused
        // by its size before it is parsed …
        let big_guest = Limits {
            memory_bytes: 512 << 20,
            cpu_time: Duration::from_secs(30),
            ..limits()
        };
        let sized = runtime(big_guest.clone());
        let g = guest(&sized, "hoard_host_memory");
        let outcome = g
            .run_action(&conn, "attack", &json!({"how": "result"}))
            .await;
        assert!(
            matches!(&outcome.result, Err(CallError::Limit(m)) if m.contains("result_bytes")),
            "{:?}",
            outcome.result
        );
        // … and, where answers that large are allowed, by what parsing it would hold.
        let roomy = runtime(Limits {
            result_bytes: 256 << 20,
            host_memory_bytes: 64 << 20,
            ..big_guest
        });
        let g = guest(&roomy, "hoard_host_memory");
        let outcome = g
            .run_action(&conn, "attack", &json!({"how": "result"}))
            .await;
        assert!(
            matches!(outcome.result, Err(CallError::HostMemory(64))),
            "{:?}",
            outcome.result
        );
        still_serving(&rt).await;
        still_serving(&roomy).await;
    });
}

fn limit_named<T>(result: &Result<T, CallError>, setting: &str) -> bool {
    matches!(result, Err(CallError::Limit(m)) if m.contains(setting))
}

#[test]
fn what_a_call_hands_back_is_capped_with_the_limit_named() {
    tokio().block_on(async {
        let up = Upstream::start(|_| text(200, "ok")).await;
        // Thousands of requests take real CPU: the default budget, not the tests' short one.
        let rt = runtime(Limits {
            cpu_time: Limits::default().cpu_time,
            ..limits()
        });
        let g = guest(&rt, "oversized_answers");
        let conn = connection(&g, &up.url(), true);
        let poll = g.poll(&conn, "fat_cursor", &json!({}), None).await;
        assert!(
            limit_named(&poll.result, "cursor_bytes"),
            "{:?}",
            poll.result.map(|_| ())
        );
        let hook = g.webhook(&conn, "split", vec![], b"{}".to_vec()).await;
        assert!(
            limit_named(&hook.result, "items_per_call"),
            "{:?}",
            hook.result.map(|_| ())
        );
        let flood = g.run_action(&conn, "attack", &json!({"count": 3000})).await;
        assert!(
            limit_named(&flood.result, "requests_per_call"),
            "{:?}",
            flood.result
        );
        assert_eq!(
            up.received().len(),
            1000,
            "no request past the cap leaves the host"
        );
        let huge = guest(&rt, "huge_describe");
        let described = huge.describe().await;
        assert!(
            limit_named(&described.result, "describe_bytes"),
            "{:?}",
            described.result.map(|_| ())
        );
        still_serving(&rt).await;
    });
}

#[test]
fn sleeping_is_not_charged_as_cpu_time() {
    tokio().block_on(async {
        let rt = runtime(limits());
        let g = guest(&rt, "sleep_often");
        let conn = connection(&g, "http://unused.invalid", false);
        // 500 waits of 2 ms each: at least a second asleep against a 0.5 s CPU budget.
        let outcome = g
            .run_action(&conn, "attack", &json!({"times": 500, "ms": 2}))
            .await;
        assert_eq!(outcome.result.expect("waiting is not CPU")["slept"], 1000);
        assert!(outcome.duration >= Duration::from_secs(1));
        // A loop is still stopped by the same budget.
        let spin = guest(&rt, "loop_forever");
        let outcome = spin.run_action(&conn, "attack", &json!({})).await;
        assert!(
            matches!(outcome.result, Err(CallError::CpuTime(_))),
            "{:?}",
            outcome.result
        );
    });
}

#[test]
fn a_mapped_name_reaches_only_its_mapped_port_in_any_spelling() {
    tokio().block_on(async {
        let mapped = Upstream::start(|_| text(200, "mapped")).await;
        let other = Upstream::start(|_| text(200, "other")).await;
        let mut overrides = ResolveOverrides::new();
        overrides.insert("site.test".into(), vec![mapped.addr]);
        let rt = Runtime::new(RuntimeConfig {
            limits: limits(),
            resolve_overrides: overrides,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let g = guest(&rt, "escape_private_ip");
        // A member's connection whose site is `site`, fetching that site.
        let fetch = |site: String| {
            let g = g.clone();
            async move {
                let input = json!({"url": format!("{site}/")});
                g.run_action(&connection(&g, &site, false), "attack", &input)
                    .await
            }
        };
        // The mapped name on another port: refused.
        let outcome = fetch(format!("http://site.test:{}", other.addr.port())).await;
        assert!(outcome.result.is_err());
        assert!(
            outcome
                .log
                .refusals
                .iter()
                .any(|r| r.contains("another port of that address")),
            "{:?}",
            outcome.log.refusals
        );
        assert!(
            other.received().is_empty(),
            "the other port is never reached"
        );
        // The mapped port, spelled in capitals and with a trailing dot, goes to the mapping.
        for host in ["Site.TEST", "site.test."] {
            let outcome = fetch(format!("http://{host}:{}", mapped.addr.port())).await;
            assert_eq!(outcome.result.expect(host)["body"], "mapped");
        }
        assert_eq!(mapped.received().len(), 2);
    });
}

/// The password of the test connections, and what a hostile guest makes of it.
const PASSWORD: &str = "s3cret-from-vault";

fn secret_forms() -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        PASSWORD.to_string(),
        b64.encode(PASSWORD),
        b64.encode(format!("heph-user:{PASSWORD}")),
        hex::encode(PASSWORD),
        PASSWORD.chars().rev().collect(),
    ]
}

#[test]
fn a_reflected_secret_is_redacted_in_every_form_from_everything_a_call_hands_back() {
    tokio().block_on(async {
        let up = Upstream::start(|req| {
            let echo = json!({"authorization": req.header("authorization"), "url": req.uri});
            (200, vec![], bytes::Bytes::from(echo.to_string()))
        })
        .await;
        let rt = runtime(limits());
        let g = guest(&rt, "decode_secrets");
        let conn = connection(&g, &up.url(), true);
        let url = format!("{}/echo", up.url());
        let outcome = g.run_action(&conn, "attack", &json!({"url": url})).await;
        let answer = outcome.result.as_ref().expect("the attack completes");
        assert_eq!(
            answer["decoded"], true,
            "the guest did decode the password: {answer}"
        );
        let everything = format!(
            "{answer} {:?} {}",
            outcome.log,
            serde_json::to_string(&outcome.log).unwrap()
        );
        for form in secret_forms() {
            assert!(
                !everything.contains(&form),
                "`{form}` left the call: {everything}"
            );
        }
        assert!(
            answer["keyed"].as_object().unwrap().contains_key("***"),
            "{answer}"
        );
        // And in an error.
        let outcome = g
            .run_action(&conn, "attack", &json!({"url": url, "fail": true}))
            .await;
        let err = outcome
            .result
            .expect_err("the guest fails on purpose")
            .to_string();
        assert!(err.contains("***") && !err.contains(PASSWORD), "{err}");
    });
}

#[test]
fn only_declared_signing_keys_can_key_an_hmac() {
    tokio().block_on(async {
        let rt = runtime(limits());
        let g = guest(&rt, "hmac_oracle");
        let values = json!({"site_url": "http://unused.invalid", "username": "u", "password": PASSWORD, "hook_secret": "hook-secret-123"});
        let conn = ConnectionContext::from_values(g.manifest(), values.as_object().unwrap(), false)
            .expect("connection");
        let outcome = g.run_action(&conn, "attack", &json!({})).await;
        let answer = outcome.result.expect("the probe completes");
        assert_eq!(answer["by_password"], false, "the password is no signing key");
        assert_eq!(answer["verify_with_password"], false);
        assert_eq!(answer["by_signing_key"].as_str().map(str::len), Some(64), "{answer}");
        assert!(
            outcome.log.lines.iter().any(|l| l.message.contains("not a signing key")),
            "{:?}",
            outcome.log.lines
        );
    });
}

#[test]
fn a_flood_of_output_is_cut_and_marked_not_killed() {
    tokio().block_on(async {
        let rt = runtime(limits());
        let g = guest(&rt, "print_flood");
        let conn = connection(&g, "http://unused.invalid", false);
        let outcome = g.run_action(&conn, "attack", &json!({})).await;
        assert_eq!(
            outcome.result.expect("printing is not fatal")["printed"],
            1 << 20
        );
        assert!(
            outcome.log.output.len() < (64 << 10) + 200,
            "{}",
            outcome.log.output.len()
        );
        assert!(
            outcome
                .log
                .output
                .contains("more bytes of output were dropped"),
            "{}",
            &outcome.log.output[outcome.log.output.len() - 200..]
        );
        assert!(outcome.log.dropped.output_bytes > 900_000);
    });
}

/// A manifest's signing key must be a secret field.
#[test]
fn a_signing_key_must_be_secret() {
    let (_, manifest, _) = GUESTS.iter().find(|(n, ..)| *n == "hmac_oracle").unwrap();
    let broken = manifest.replace("secret = true\nsign = true", "sign = true");
    let err = Manifest::parse(&broken).expect_err("sign without secret");
    assert!(err.to_string().contains("must be `secret = true`"), "{err}");
}
