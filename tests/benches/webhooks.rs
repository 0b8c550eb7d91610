//! Sustained webhook executions: `cargo bench -p heph-tests --bench webhooks` (release `heph`;
//! figures in BENCHMARKS.md). Loopback only.
//!
//! A scenario `webhook → transform → filter → data store upsert` (no connector: the JSON body
//! is the item). For each SQLite durability (`full`, the default, and `normal`):
//!
//! 1. `heph serve` with no workers accepts `--queued` deliveries (default 20,000) from 8
//!    concurrent senders: the acceptance latency (until the 202, the run stored) and rate;
//! 2. the same server restarted with its default 2 workers drains the queue while a paced
//!    sender adds a delivery every 10 ms: executions per second end to end (from the restart
//!    until the last record is stored) and the acceptance latency under that load.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heph_tests::heph_server::{Api, HephServer, ServerOptions};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let queued: usize = arg("--queued").and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let durabilities = match arg("--synchronous") {
        Some(one) => vec![one],
        None => vec!["full".to_string(), "normal".to_string()],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for durability in durabilities {
        runtime.block_on(bench(queued, &durability));
    }
}

async fn bench(queued: usize, durability: &str) {
    let mut server = HephServer::start(ServerOptions {
        env: vec![
            ("HEPH_LOG".into(), "warn".into()),
            ("HEPH_WORKERS".into(), "0".into()),
            ("HEPH_SQLITE_SYNCHRONOUS".into(), durability.into()),
        ],
        ..Default::default()
    });
    let api = server.api(&server.admin_token);
    let (status, scenario) = api
        .post(
            "/api/scenarios",
            json!({
                "name": "hooks",
                "trigger": {"type": "webhook"},
                "nodes": [
                    {"id": "shape", "type": "transform", "output": {"title": "{{ trigger.title | upper }}", "n": "{{ trigger.n }}"}},
                    {"id": "real", "type": "filter", "condition": "trigger.n >= 0"},
                    {"id": "save", "type": "store", "op": "upsert", "collection": "hooks", "key": "{{ trigger.id }}", "record": "{{ shape }}"}
                ]
            }),
        )
        .await;
    assert_eq!(status, 201, "{scenario}");
    let id = scenario["id"].as_str().expect("id").to_string();
    let (status, enabled) = api.post(&format!("/api/scenarios/{id}/enable"), json!({})).await;
    assert!(status == 200, "{enabled}");
    let url = enabled["webhook_url"]
        .as_str()
        .or(scenario["webhook_url"].as_str())
        .expect("a webhook URL")
        .to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(16)
        .build()
        .expect("client");

    // 1. The queue fills: 8 senders, no workers.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= queued {
                    return latencies;
                }
                latencies.push(deliver(&client, &url, n).await);
            }
        }));
    }
    let mut accepted = Vec::new();
    for sender in senders {
        accepted.extend(sender.await.expect("sender"));
    }
    let filling = started.elapsed();
    println!("webhooks, SQLite synchronous = {durability}:");
    report(
        &format!("  accepting {queued} deliveries, 8 senders, no workers"),
        accepted,
        filling,
    );

    // 2. The server, restarted with its default 2 workers, drains them while deliveries keep
    // coming (one process: what `heph serve` runs).
    server.restart_with(&[("HEPH_WORKERS", "2")]);
    let started = Instant::now();
    let draining = Arc::new(AtomicBool::new(true));
    let paced = {
        let (client, url, draining) = (client.clone(), url.clone(), draining.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = queued;
            while draining.load(Ordering::Relaxed) {
                latencies.push(deliver(&client, &url, n).await);
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            latencies
        })
    };
    // Done when every delivery sent so far is stored (the paced sender stops first).
    let mut stored = 0;
    while stored < queued {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stored = total(&api).await;
    }
    draining.store(false, Ordering::Relaxed);
    let under_load = paced.await.expect("paced sender");
    let sent = queued + under_load.len();
    while stored < sent {
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored = total(&api).await;
    }
    let drained = started.elapsed();
    println!(
        "  executions end to end: {sent} in {:.2} s = {:.0}/s (`heph serve`, 2 workers)",
        drained.as_secs_f64(),
        sent as f64 / drained.as_secs_f64()
    );
    report(
        "  accepting a delivery every 10 ms while the queue drains",
        under_load,
        drained,
    );
    server.stop();
}

async fn deliver(client: &reqwest::Client, url: &str, n: usize) -> Duration {
    let body = json!({"id": format!("h{n:07}"), "title": format!("delivery {n}"), "n": n});
    let sent = Instant::now();
    let answer = client.post(url).json(&body).send().await.expect("delivery");
    let status = answer.status().as_u16();
    let _ = answer.bytes().await;
    assert_eq!(status, 202, "delivery {n}");
    sent.elapsed()
}

/// Records stored so far.
async fn total(api: &Api) -> usize {
    let (status, page) = api.get("/api/store/hooks?limit=1").await;
    assert_eq!(status, 200, "{page}");
    page["total"].as_u64().unwrap_or(0) as usize
}

fn report(what: &str, mut samples: Vec<Duration>, over: Duration) {
    samples.sort();
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{what}: {} in {:.2} s ({:.0}/s); p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        over.as_secs_f64(),
        samples.len() as f64 / over.as_secs_f64(),
        at(0.5),
        at(0.99),
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
}
