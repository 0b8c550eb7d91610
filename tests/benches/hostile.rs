//! The runtime under hostile load: `cargo bench -p heph-tests --bench hostile` (figures in
//! BENCHMARKS.md).
//!
//! 1. `bystander`: another user's trivial call while one user floods the runtime with slow
//!    calls (hundreds in flight, each holding an instance), against the same call on an idle
//!    runtime. Target: median within 2× of idle, no failures.
//! 2. `host_memory`: the process's peak RSS while one user floods the runtime with the
//!    host-memory attacks of `tests/guests` (header maps kept alive, refused requests with long
//!    URLs, answers of millions of tiny values, huge cursors, deliveries split into 400,000
//!    items, floods of output), and its RSS after, against the bound the limits state.
//!
//! Pass a word to run only the benchmarks whose name contains it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heph::runtime::{CallError, ConnectionContext, Limits, Runtime};
use heph_tests::upstream::{text, Upstream};
use heph_tests::{connection, guest, runtime, tokio};
use serde_json::json;

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if wanted("bystander") {
        bystander();
    }
    if wanted("host_memory") {
        host_memory();
    }
}

fn as_tenant(mut conn: ConnectionContext, tenant: &str) -> ConnectionContext {
    conn.tenant = tenant.to_string();
    conn
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() * 99 / 100]
}

/// Alice's call latency, idle and while Mallory keeps `FLOOD` slow calls in flight.
fn bystander() {
    const FLOOD: usize = 400;
    const SAMPLES: usize = 2000;
    tokio().block_on(async {
        let rt = Arc::new(runtime(Limits::default()));
        let noop = guest(&rt, "noop");
        let slow = guest(&rt, "sleep_often");
        let alice = as_tenant(connection(&noop, "http://unused.invalid", false), "alice");
        let call = |noop: Arc<heph::runtime::Connector>, alice: ConnectionContext| async move {
            let started = Instant::now();
            let ok = noop.run_action(&alice, "attack", &json!({})).await.result.is_ok();
            (started.elapsed(), ok)
        };
        for _ in 0..200 {
            call(noop.clone(), alice.clone()).await;
        }
        let mut idle = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            idle.push(call(noop.clone(), alice.clone()).await.0);
        }

        let stop = Arc::new(AtomicBool::new(false));
        let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            let (slow, stop, done, failed) = (slow.clone(), stop.clone(), done.clone(), failed.clone());
            flood.push(tokio::spawn(async move {
                let mallory = as_tenant(connection(&slow, "http://unused.invalid", false), "mallory");
                while !stop.load(Ordering::Relaxed) {
                    match slow.run_action(&mallory, "attack", &json!({"times": 1, "ms": 200})).await.result {
                        Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut loaded = Vec::with_capacity(SAMPLES);
        let mut alice_failed = 0;
        for _ in 0..SAMPLES {
            let (took, ok) = call(noop.clone(), alice.clone()).await;
            loaded.push(took);
            alice_failed += usize::from(!ok);
        }
        stop.store(true, Ordering::Relaxed);
        for task in flood {
            let _ = task.await;
        }
        let (idle_median, loaded_median) = (median(idle.clone()), median(loaded.clone()));
        println!(
            "bystander: another user's call: idle median {:.1} µs (p99 {:.1} µs); during a flood of {FLOOD} slow calls by one user median {:.1} µs (p99 {:.1} µs), {:.2}× idle; bystander failures {alice_failed}; flood calls completed {}, failed {} (target: median ≤ 2× idle, no failures)",
            idle_median.as_secs_f64() * 1e6,
            p99(idle).as_secs_f64() * 1e6,
            loaded_median.as_secs_f64() * 1e6,
            p99(loaded).as_secs_f64() * 1e6,
            loaded_median.as_secs_f64() / idle_median.as_secs_f64(),
            done.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
        );
    });
}

/// The process's resident memory now and at its peak, in MiB (Linux).
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Peak RSS while one user floods the runtime with host-memory attacks.
fn host_memory() {
    const CONCURRENT: usize = 32;
    const ROUNDS: usize = 6;
    tokio().block_on(async {
        let up = Upstream::start(|_| text(200, "ok")).await;
        let limits = Limits::default();
        let rt: Arc<Runtime> = Arc::new(runtime(limits.clone()));
        let (before, _) = rss_mib();
        let attacks: Vec<(&str, &str, serde_json::Value)> = vec![
            ("hoard_host_memory", "headers", json!({"how": "headers"})),
            ("hoard_host_memory", "refusals", json!({"how": "refusals"})),
            // 1.4 million tiny values: built within the guest's 64 MiB, 3 MB of text, far more
            // than the host budget once parsed.
            ("hoard_host_memory", "result", json!({"how": "result", "values": 1_400_000})),
            ("oversized_answers", "requests", json!({"count": 3000})),
            ("oversized_answers", "cursor", json!(null)),
            ("oversized_answers", "webhook", json!(null)),
            ("print_flood", "output", json!({})),
        ];
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        let started = Instant::now();
        let mut after_first = 0.0;
        for round in 0..ROUNDS {
            if round == ROUNDS / 2 {
                after_first = rss_mib().0;
            }
            for (name, what, input) in &attacks {
                let g = guest(&rt, name);
                let mut tasks = Vec::new();
                for _ in 0..CONCURRENT {
                    let (g, input, url) = (g.clone(), input.clone(), up.url());
                    let what = what.to_string();
                    tasks.push(tokio::spawn(async move {
                        let conn = as_tenant(connection(&g, &url, true), "mallory");
                        let code = |r: Result<(), CallError>| r.err().map_or("ok", |e| e.code());
                        match what.as_str() {
                            "cursor" => code(g.poll(&conn, "fat_cursor", &json!({}), None).await.result.map(|_| ())),
                            "webhook" => code(g.webhook(&conn, "split", vec![], b"{}".to_vec()).await.result.map(|_| ())),
                            _ => code(g.run_action(&conn, "attack", &input).await.result.map(|_| ())),
                        }
                    }));
                }
                for task in tasks {
                    let code = task.await.unwrap_or("panic");
                    *counts.entry(format!("{what}: {code}")).or_default() += 1;
                }
            }
        }
        let (after, peak) = rss_mib();
        let per_call = (limits.memory_bytes + limits.host_memory_bytes) >> 20;
        println!(
            "host_memory: {} hostile calls ({CONCURRENT} at once, one user) in {:.1} s; RSS before {before:.0} MiB, peak {peak:.0} MiB, after half the rounds {after_first:.0} MiB, after all {after:.0} MiB; stated bound {CONCURRENT} × ({} MiB guest + {} MiB host) = {} MiB; outcomes {counts:?}",
            ROUNDS * attacks.len() * CONCURRENT,
            started.elapsed().as_secs_f64(),
            limits.memory_bytes >> 20,
            limits.host_memory_bytes >> 20,
            CONCURRENT * per_call,
        );
    });
}
