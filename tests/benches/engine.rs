//! The engine's benchmark: `cargo bench -p heph-tests --bench engine` (figures in
//! BENCHMARKS.md).
//!
//! An import of N records from a fast local upstream (`records` connector, pages of 100)
//! through a three-node scenario (transform → filter → data store upsert), as a whole
//! `heph run FILE` process on SQLite, against the bare HTTP fetch of the same pages (a
//! keep-alive client reading them one after another). Reported: total times, the host's
//! overhead per item, the run's own time (from the store), and the process's peak RSS at
//! 1,000 and 10,000 records (measured by tests/benches/peak_rss.py).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use heph_tests::records::{self, records_dir, RecordsUpstream};
use heph_tests::{json_of, tokio};
use serde_json::Value;

fn heph_bin() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(|d| d.join("heph")))
        .filter(|b| b.exists())
}

struct Bench {
    bin: PathBuf,
    dir: PathBuf,
    connectors: PathBuf,
}

impl Bench {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("HEPH_DATA_DIR", &self.dir)
            .env("HEPH_CONNECTOR_DIR", &self.connectors)
            .env_remove("HEPH_DATABASE_URL")
            .env_remove("HEPH_MASTER_KEY")
            .args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("heph");
        assert!(
            out.status.success(),
            "heph {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A scenario file with its own name and collection (so that each import starts afresh)
    /// and the first `nodes` of transform → filter → store upsert.
    fn scenario(&self, n: usize, nodes: usize) -> PathBuf {
        let path = self.dir.join(format!("import-{n}.yaml"));
        let all = [
            "  - {id: shape, type: transform, output: {title: \"{{ trigger.title }}\", n: \"{{ trigger.count }}\", tags: \"{{ trigger.tags }}\"}}\n".to_string(),
            "  - {id: real, type: filter, condition: \"trigger.count > 0\"}\n".to_string(),
            format!("  - {{id: save, type: store, op: upsert, collection: import-{n}, key: \"{{{{ trigger_id }}}}\", record: \"{{{{ shape }}}}\"}}\n"),
        ];
        let body: String = if nodes == 0 {
            " []\n".into()
        } else {
            format!("\n{}", all[..nodes].concat())
        };
        std::fs::write(
            &path,
            format!("name: import-{n}\ntrigger: {{type: poll, connector: records, trigger: records, config: {{limit: 100}}}}\nnodes:{body}"),
        )
        .unwrap();
        path
    }
}

/// Sequential keep-alive GETs of every page; returns the time and the record count.
fn bare_fetch(url: &str) -> (Duration, usize) {
    tokio().block_on(async {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let (mut after, mut count) = (String::new(), 0);
        loop {
            let page: Value = client
                .get(format!("{url}/records?after={after}&limit=100"))
                .bearer_auth(records::TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            count += page["records"].as_array().map_or(0, Vec::len);
            match page["next"].as_str() {
                Some(next) => after = next.to_string(),
                None => return (started.elapsed(), count),
            }
        }
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let Some(bin) = heph_bin() else {
        println!("engine_import: skipped: the heph binary is not built in this profile (run scripts/bench)");
        return;
    };
    let upstream = RecordsUpstream::start(10_000);
    let dir = std::env::temp_dir().join(format!("heph-bench-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bench = Bench {
        bin,
        dir: dir.clone(),
        connectors: records_dir(None),
    };
    bench.ok(&["user", "create", "bench", "--admin"]);
    bench.ok(&["connector", "allow-private", "records"]);
    bench.ok(&[
        "connection",
        "create",
        "records",
        "--field",
        &format!("base_url={}", upstream.url),
        "--field",
        &format!("token={}", records::TOKEN),
    ]);
    let peak_rss = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peak_rss.py");
    let mut next = 0;
    let mut import = |total: usize, nodes: usize, through_rss: bool| -> (Duration, Duration, i64) {
        upstream.set_total(total);
        next += 1;
        let file = bench.scenario(next, nodes);
        let mut command = if through_rss {
            let mut c = Command::new("python3");
            c.arg(&peak_rss).arg(&bench.bin);
            c
        } else {
            Command::new(&bench.bin)
        };
        command
            .env("HEPH_DATA_DIR", &bench.dir)
            .env("HEPH_CONNECTOR_DIR", &bench.connectors)
            .env_remove("HEPH_DATABASE_URL")
            .args(["run", &file.display().to_string()]);
        let started = Instant::now();
        let out = command.output().expect("heph run");
        let wall = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "heph run: {stderr}");
        let rss = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("peak_rss_kib="))
            .next_back()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let runs = bench.ok(&["runs", "list", "--limit", "1"]);
        let id = runs.split_whitespace().next().unwrap().to_string();
        let run = json_of(&bench.ok(&["runs", "show", &id, "--json", "--items", "1"]));
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["items_done"], total as u64, "{run}");
        let own = Duration::from_millis(
            (run["finished_at"].as_i64().unwrap() - run["started_at"].as_i64().unwrap()) as u64,
        );
        (wall, own, rss)
    };
    import(1000, 3, false); // compiles the connector into the cache
    println!(
        "heph engine benchmark — {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    upstream.set_total(10_000);
    let mut fetch = Vec::new();
    for _ in 0..5 {
        let (t, n) = bare_fetch(&upstream.url);
        assert_eq!(n, 10_000);
        fetch.push(t);
    }
    let (mut walls, mut owns) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (wall, own, _) = import(10_000, 3, false);
        walls.push(wall);
        owns.push(own);
    }
    let (fetch, wall, own) = (median(fetch), median(walls), median(owns));
    let overhead = wall.saturating_sub(fetch);
    println!(
        "engine_import: 10,000 records, 100 pages, 3 nodes: heph run {} (the run itself {}), bare fetch of the pages {}; host overhead {:.1} µs per item ({:.0}% of the run)",
        ms(wall), ms(own), ms(fetch),
        overhead.as_secs_f64() * 1e6 / 10_000.0,
        100.0 * overhead.as_secs_f64() / wall.as_secs_f64()
    );
    for nodes in [0, 1, 2] {
        let own = median((0..3).map(|_| import(10_000, nodes, false).1).collect());
        println!("engine_breakdown: the same import with only the first {nodes} node(s): the run itself {}", ms(own));
    }
    let small = (0..3).map(|_| import(1000, 3, true).2).max().unwrap_or(0);
    let large = (0..3).map(|_| import(10_000, 3, true).2).max().unwrap_or(0);
    println!(
        "engine_memory: peak RSS of heph run: {:.1} MB at 1,000 records, {:.1} MB at 10,000 ({:+.1} MB)",
        small as f64 / 1024.0, large as f64 / 1024.0, (large - small) as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
