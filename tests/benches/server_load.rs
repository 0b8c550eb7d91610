//! The server under hostile users: `cargo bench -p heph-tests --bench server_load` (release
//! `heph`; figures in BENCHMARKS.md). Loopback only, and bounded: it runs for `--seconds`
//! (default 30) and every attacker stops with it.
//!
//! While
//! - an anonymous client holds thousands of connections from 24 loopback addresses (each
//!   sends its headers a byte a second, is closed by the header timeout and reconnects),
//! - anonymous clients on 10 more addresses flood `POST /api/session` with wrong passwords,
//! - two members ask for previews of templates that double a string in a loop, and
//! - two members save 500-node scenarios and submit 20,000-node ones,
//!
//! an ordinary member calls `GET /health` every 40 ms and `GET /api/me` every 100 ms from
//! 127.0.0.1. It reports their latency (p50, p99, max), the attackers' outcomes, and the
//! server's peak RSS (`VmHWM`). Targets: p99 ≤ 100 ms on 2 cores, peak RSS ≤ 512 MiB.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heph_tests::heph_server::{Api, HephServer, ServerOptions};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(30u64);
    // `--only slow|sign-in|templates|scenarios`: one attacker, to see what each costs.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(load(Duration::from_secs(seconds), only));
}

/// Outcomes the attackers saw, by kind and status.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, usize>>);

impl Tally {
    fn add(&self, what: &str) {
        *self.0.lock().unwrap().entry(what.to_string()).or_default() += 1;
    }
}

async fn load(length: Duration, only: Option<String>) {
    let runs = |what: &str| only.as_deref().is_none_or(|o| o == what);
    // The server logs as an operator's does (one line per request, `info`).
    let server = HephServer::start(ServerOptions {
        env: vec![("HEPH_LOG".into(), "info".into())],
        ..Default::default()
    });
    let admin = server.api(&server.admin_token);
    let idle_rss = server.peak_rss();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let held = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();

    // Slow connections: 24 addresses × 120.
    let address = server.url.trim_start_matches("http://").to_string();
    for source in (2..26).filter(|_| runs("slow")) {
        for _ in 0..120 {
            let (stop, held, tally, address) =
                (stop.clone(), held.clone(), tally.clone(), address.clone());
            attackers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let socket = TcpSocket::new_v4().unwrap();
                    if socket.bind(format!("127.0.0.{source}:0").parse().unwrap()).is_err() {
                        return;
                    }
                    let Ok(mut stream) = socket.connect(address.parse().unwrap()).await else {
                        tally.add("slow connection: refused at connect");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    held.fetch_add(1, Ordering::Relaxed);
                    let mut sent = 0;
                    for byte in b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                        if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).await.is_err() {
                            break;
                        }
                        sent += 1;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    held.fetch_sub(1, Ordering::Relaxed);
                    tally.add(if sent < 40 { "slow connection: closed by the server" } else { "slow connection: finished its headers" });
                }
            }));
        }
    }

    // Sign-in floods: 10 addresses.
    for source in (30..40).filter(|_| runs("sign-in")) {
        let (stop, tally, url) = (stop.clone(), tally.clone(), server.url.clone());
        attackers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .local_address(format!("127.0.0.{source}").parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let answer = client
                    .post(format!("{url}/api/session"))
                    .json(&json!({"name": format!("guess{}", n % 50), "password": "not the password"}))
                    .send()
                    .await;
                match answer {
                    Ok(a) => tally.add(&format!("sign-in: {}", a.status().as_u16())),
                    Err(_) => tally.add("sign-in: no answer"),
                }
            }
        }));
    }

    // Hostile members.
    let members = [
        member(&admin, "tmpl1").await,
        member(&admin, "tmpl2").await,
        member(&admin, "huge1").await,
        member(&admin, "huge2").await,
    ];
    let doubling = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
    for api in members[..2].iter().cloned().filter(|_| runs("templates")) {
        let (stop, tally) = (stop.clone(), tally.clone());
        attackers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let status = api
                    .try_post("/api/mappings/preview", json!({"mapping": {"text": doubling}}))
                    .await;
                tally.add(&format!("hostile template preview: {status}"));
            }
        }));
    }
    for (m, api) in members[2..].iter().cloned().enumerate().filter(|_| runs("scenarios")) {
        let (stop, tally) = (stop.clone(), tally.clone());
        attackers.push(tokio::spawn(async move {
            // Built once and replayed with a new name, as an attacker would: the bench's own
            // CPU is the server's too, and the figures are about the server's.
            let bodies = [500, 20_000].map(|size| chain("NAME", size).to_string());
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let (size, body) = if n % 2 == 0 { (20_000, &bodies[1]) } else { (500, &bodies[0]) };
                let body = body.replacen("NAME", &format!("big{m}-{n}"), 1);
                let status = api.try_post_text("/api/scenarios", body).await;
                tally.add(&format!("{size}-node scenario: {status}"));
            }
        }));
    }

    // The ordinary member.
    let carol = member(&admin, "carol").await;
    tokio::time::sleep(Duration::from_secs(3)).await; // the attack builds up
    // The member is another client: its own thread and runtime, so that its calls never wait
    // in the attackers' task queue (they still share the two cores).
    let url = server.url.clone();
    let measuring_stop = stop.clone();
    let (health, me) = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let started = Instant::now();
            let health_client = reqwest::Client::new();
            tokio::join!(
                measure(&measuring_stop, started, length, Duration::from_millis(40), || {
                    let request = health_client.get(format!("{url}/health"));
                    async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
                }),
                measure(&measuring_stop, started, length, Duration::from_millis(100), || {
                    let carol = carol.clone();
                    async move { carol.try_get("/api/me").await }
                }),
            )
        })
    })
    .join()
    .expect("the measuring thread");
    let held_at_end = held.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.abort();
    }
    let peak = server.peak_rss();
    println!("server_load: {} s of attack on 2 workers, release heph", length.as_secs());
    report("GET /health (every 40 ms)", health);
    report("GET /api/me (every 100 ms)", me);
    println!(
        "  server peak RSS {} MiB (idle {} MiB); attacker connections open at the end: {held_at_end}",
        peak / (1024 * 1024),
        idle_rss / (1024 * 1024)
    );
    for (what, count) in tally.0.lock().unwrap().iter() {
        println!("  {what}: {count}");
    }
}

async fn member(admin: &Api, name: &str) -> Api {
    let (status, body) = admin
        .post("/api/users", json!({"name": name, "password": "a long password"}))
        .await;
    assert_eq!(status, 201, "{body}");
    admin.with_token(body["token"]["token"].as_str().unwrap())
}

fn chain(name: &str, n: usize) -> Value {
    let nodes: Vec<Value> = (0..n)
        .map(|i| {
            let read = if i == 0 { "{{ trigger.x }}".to_string() } else { format!("{{{{ n{}.v }}}}", i - 1) };
            json!({"id": format!("n{i}"), "type": "transform", "output": {"v": read}})
        })
        .collect();
    json!({"name": name, "trigger": {"type": "manual"}, "nodes": nodes})
}

/// Calls `call` every `every` until `length` is over; the latencies and the failed calls.
async fn measure<F, Fut>(
    stop: &AtomicBool,
    started: Instant,
    length: Duration,
    every: Duration,
    call: F,
) -> (Vec<Duration>, usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let mut samples = Vec::new();
    let mut failed = 0;
    let mut tick = tokio::time::interval(every);
    while started.elapsed() < length && !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let at = Instant::now();
        let status = call().await;
        samples.push(at.elapsed());
        if status != 200 {
            failed += 1;
        }
    }
    (samples, failed)
}

fn report(what: &str, (mut samples, failed): (Vec<Duration>, usize)) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "  {what}: {} calls, {failed} failed; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
}
