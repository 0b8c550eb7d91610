//! Heph's runtime benchmarks: `cargo bench -p heph-tests` (figures in BENCHMARKS.md).
//!
//! 1. a fresh-instance call of a trivial action;
//! 2. an outbound GET on loopback through the policy, against the same GET made natively with
//!    a keep-alive client;
//! 3. compiling each connector against loading it from the on-disk cache;
//! 4. a full poll of the test WordPress as a whole `heph connector poll --all` process against
//!    a sequential curl loop over the same pages, with the process's peak memory
//!    (measured by tests/benches/peak_rss.py).
//!
//! Pass a word to run only the benchmarks whose name contains it (`cargo bench -- outbound`).

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use heph::catalog::FIRST_PARTY;
use heph::manifest::Manifest;
use heph::runtime::{ConnectionContext, Limits, Runtime, RuntimeConfig};
use heph_tests::upstream::{text, Upstream};
use heph_tests::wordpress::wordpress;
use heph_tests::{connection, guest, runtime, tokio, GUESTS};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

struct Stats {
    median: Duration,
    p90: Duration,
    min: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Stats {
        median: at(0.5),
        p90: at(0.9),
        min: samples[0],
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    println!(
        "heph benchmarks — {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        if cfg!(debug_assertions) {
            "DEBUG build"
        } else {
            "release build"
        }
    );
    if wanted("instance_call") {
        instance_call();
    }
    if wanted("outbound") {
        outbound();
    }
    if wanted("compile_vs_cache") {
        compile_vs_cache();
    }
    if wanted("wordpress_poll") {
        wordpress_poll();
    }
    if wanted("vault") {
        vault();
    }
    if wanted("serve_ready") {
        serve_ready();
    }
}

/// Sealing and opening one secret (AES-256-GCM with its associated data): what every stored
/// secret costs on write and on each call that uses it.
fn vault() {
    let vault = heph::vault::Vault::with_keyring(
        heph::vault::Keyring::new(vec![heph::vault::MasterKey::generate()]).unwrap(),
    );
    let secret = "abcd efgh ijkl mnop qrst uvwx";
    let mut seal = Vec::new();
    let mut open = Vec::new();
    for _ in 0..20_000 {
        let t = Instant::now();
        let sealed = vault
            .seal(
                "connection/con_x",
                "application_password",
                secret.as_bytes(),
            )
            .unwrap();
        seal.push(t.elapsed());
        let t = Instant::now();
        let plain = vault
            .open_value("connection/con_x", "application_password", &sealed)
            .unwrap();
        open.push(t.elapsed());
        assert_eq!(plain, secret.as_bytes());
    }
    let (seal, open) = (stats(seal), stats(open));
    println!(
        "vault: seal {} median (p90 {}), open {} median (p90 {}), 20,000 samples",
        us(seal.median),
        us(seal.p90),
        us(open.median),
        us(open.p90)
    );
}

/// `heph serve` from the spawn to its first answer on /health: the first start in an
/// empty data directory (creates the store and the key, compiles the built-in connectors) and
/// the starts after it (compiled connectors from the cache).
fn serve_ready() {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(|d| d.join("heph")))
        .filter(|b| b.exists());
    let Some(bin) = bin else {
        println!("serve_ready: skipped: the heph binary is not built in this profile (run scripts/bench)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("heph-bench-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let start = || {
        let port = heph_tests::oauth_server::free_port();
        let started = Instant::now();
        let mut child = Command::new(&bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("HEPH_DATA_DIR", &dir)
            .env_remove("HEPH_MASTER_KEY")
            .env_remove("HEPH_DATABASE_URL")
            .env_remove("HEPH_CONNECTOR_DIR")
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("heph serve");
        let ready = loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let _ =
                    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    break started.elapsed();
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let _ = child.kill();
        let _ = child.wait();
        ready
    };
    let first = start();
    let warm: Vec<Duration> = (0..15).map(|_| start()).collect();
    let warm = stats(warm);
    println!(
        "serve_ready: first start {} (store, key, compiling the built-in connectors); later starts {} median (p90 {}), 15 samples",
        ms(first),
        ms(warm.median),
        ms(warm.p90)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh instance per call: store, WASI context, instantiate from `InstancePre` (pooling
/// allocator), call a trivial action, parse its JSON.
fn instance_call() {
    let rt = tokio();
    rt.block_on(async {
        let runtime = runtime(Limits::default());
        let noop = guest(&runtime, "noop");
        let conn = ConnectionContext::none();
        let input = json!({"n": 1});
        for _ in 0..500 {
            black_box(noop.run_action(&conn, "attack", &input).await.result.expect("noop"));
        }
        let mut samples = Vec::with_capacity(5000);
        for _ in 0..5000 {
            let started = Instant::now();
            black_box(noop.run_action(&conn, "attack", &input).await.result.expect("noop"));
            samples.push(started.elapsed());
        }
        let s = stats(samples);
        println!("instance_call: fresh instance + trivial action: median {}, p90 {}, min {} (5000 calls; target ≤ 30 µs median)", us(s.median), us(s.p90), us(s.min));
    });
}

/// 1000 sequential GETs of a small answer on loopback, inside one call, against the same 1000
/// GETs from a native keep-alive client. Each side is run 7 times; medians are compared.
fn outbound() {
    outbound_on("multi-thread runtime", tokio());
    outbound_on(
        "current-thread runtime",
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio"),
    );
}

fn outbound_on(flavor: &str, rt: tokio::runtime::Runtime) {
    rt.block_on(async {
        let up = Upstream::start(|_| text(200, "hello from upstream")).await;
        let url = format!("{}/ok", up.url());
        let runtime = runtime(Limits::default());
        let fetch = guest(&runtime, "fetch_many");
        let conn = connection(&fetch, &up.url(), true);
        let native: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        const N: u32 = 1000;
        let (mut through, mut direct) = (Vec::new(), Vec::new());
        for round in 0..8 {
            let started = Instant::now();
            let out = fetch.run_action(&conn, "fetch", &json!({"url": url, "count": N})).await;
            out.result.expect("fetch through the policy");
            let t = started.elapsed() / N;
            let started = Instant::now();
            for _ in 0..N {
                let response = native.get(url.parse().unwrap()).await.expect("native GET");
                black_box(response.into_body().collect().await.expect("body").to_bytes());
            }
            let d = started.elapsed() / N;
            if round > 0 {
                through.push(t);
                direct.push(d);
            }
        }
        let (t, d) = (stats(through), stats(direct));
        println!(
            "outbound ({flavor}): GET on loopback, per request: through the policy {} (p90 {}), native keep-alive {} (p90 {}): {:.2}× (target ≤ 1.3×)",
            us(t.median), us(t.p90), us(d.median), us(d.p90), t.median.as_secs_f64() / d.median.as_secs_f64()
        );
    });
}

/// Compiling each connector (no cache) against loading its compiled artifact from disk.
fn compile_vs_cache() {
    let _rt = tokio().enter();
    let dir = std::env::temp_dir().join(format!("heph-bench-cache-{}", std::process::id()));
    let mut connectors: Vec<(String, &str, &[u8])> = FIRST_PARTY
        .iter()
        .map(|(m, w)| (Manifest::parse(m).unwrap().id, *m, *w))
        .collect();
    let (_, m, w) = GUESTS.iter().find(|(n, ..)| *n == "noop").unwrap();
    connectors.push(("noop (test)".into(), m, w));
    for (name, manifest, wasm) in connectors {
        let uncached = Runtime::new(RuntimeConfig::default()).unwrap();
        let compile = stats(
            (0..3)
                .map(|_| {
                    let started = Instant::now();
                    black_box(
                        uncached
                            .load(Manifest::parse(manifest).unwrap(), wasm)
                            .unwrap(),
                    );
                    started.elapsed()
                })
                .collect(),
        );
        let cached = Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.clone()),
            ..RuntimeConfig::default()
        })
        .unwrap();
        cached
            .load(Manifest::parse(manifest).unwrap(), wasm)
            .unwrap();
        let load = stats(
            (0..50)
                .map(|_| {
                    let started = Instant::now();
                    let (c, origin) = cached
                        .load(Manifest::parse(manifest).unwrap(), wasm)
                        .unwrap();
                    assert_eq!(origin, heph::runtime::Origin::Cached);
                    black_box(c);
                    started.elapsed()
                })
                .collect(),
        );
        println!("compile_vs_cache: {name} ({} KiB): compile {} , cached load {} (median; {:.0}× faster)", wasm.len() / 1024, ms(compile.median), us(load.median), compile.median.as_secs_f64() / load.median.as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The whole `heph connector poll wordpress posts --all` process against a sequential curl loop
/// over the same pages (per_page=100, context=edit, status=any); peak RSS of the heph process.
fn wordpress_poll() {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(|d| d.join("heph")))
        .filter(|b| b.exists());
    let Some(bin) = bin else {
        println!("wordpress_poll: skipped: the heph binary is not built in this profile (run scripts/bench)");
        return;
    };
    let wp = wordpress();
    let dir = std::env::temp_dir().join(format!("heph-bench-wp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conn_file = dir.join("wp.json");
    let mut values = wp.values(false, &wp.application_password);
    values.insert("allow_private_network".into(), json!(true));
    std::fs::write(&conn_file, serde_json::Value::Object(values).to_string()).unwrap();
    let peak_rss = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peak_rss.py");
    // Timed as it is; measured for memory through peak_rss.py (whose start-up is not heph's).
    let heph = |through_rss_wrapper: bool| {
        let mut c = if through_rss_wrapper {
            let mut c = Command::new("python3");
            c.arg(&peak_rss).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        c.args([
            "connector",
            "poll",
            "wordpress",
            "posts",
            "--all",
            "--connection",
        ])
        .arg(&conn_file)
        .env("HEPH_DATA_DIR", &dir);
        c
    };
    let pages = wp.posts.max(1).div_ceil(100) + 2; // a few more than seeded, for posts the tests added
    let (_, headers, _) = tokio().block_on(wp.rest(
        "GET",
        "/wp/v2/posts?context=edit&status=any&per_page=100",
        None,
    ));
    let pages: usize = headers
        .iter()
        .find(|(n, _)| n == "x-wp-totalpages")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(pages);
    let curl_loop = format!(
        "for p in $(seq 1 {pages}); do curl -s -f -u '{}:{}' '{}/wp-json/wp/v2/posts?context=edit&status=any&per_page=100&page='$p -o /dev/null || exit 1; done",
        wp.username, wp.application_password, wp.site_url
    );
    let curl = || {
        let mut c = Command::new("bash");
        c.stderr(std::process::Stdio::null());
        c.args(["-c", &curl_loop]);
        c
    };
    run_measured(&mut heph(false)); // warms the compiled-component cache
    let (mut h, mut c, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        let (t, _, out) = run_measured(&mut heph(false));
        assert!(out > 300, "the poll printed {out} items");
        h.push(t);
        c.push(run_measured(&mut curl()).0);
    }
    for _ in 0..3 {
        rss.push(run_measured(&mut heph(true)).1);
    }
    let (h, c) = (stats(h), stats(c));
    let peak = rss.iter().max().copied().unwrap_or(0);
    println!(
        "wordpress_poll: {} posts in {pages} pages: heph poll --all {} (min {}), curl loop {} (min {}): {:.2}× ; heph peak RSS {:.1} MB (targets: ≤ 1× curl, ≤ 40 MB)",
        wp.posts, ms(h.median), ms(h.min), ms(c.median), ms(c.min), h.median.as_secs_f64() / c.median.as_secs_f64(), peak as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a process to its end; returns its wall time, the peak RSS (KiB) that peak_rss.py
/// reported on its stderr (0 when not run through it) and its stdout lines.
fn run_measured(cmd: &mut Command) -> (Duration, i64, usize) {
    let started = Instant::now();
    let output = cmd.output().expect("spawn");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("peak_rss_kib="))
        .next_back()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (
        elapsed,
        peak,
        String::from_utf8_lossy(&output.stdout).lines().count(),
    )
}
