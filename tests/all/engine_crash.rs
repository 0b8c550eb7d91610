//! Durability: an import killed with SIGKILL in the middle resumes where its last commit
//! left it and ends with every record exactly once, with `heph run` on SQLite and with two
//! `heph worker` processes on PostgreSQL, one of them killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use heph_tests::records::{self, records_dir, RecordsUpstream};
use heph_tests::{heph_binary, json_of, postgres, tokio};
use serde_json::Value;

const TOTAL: usize = 3000;

/// A data directory (and maybe a database) with an admin, the records connector and a
/// connection to the upstream, driven by the `heph` command line.
struct Setup {
    dir: PathBuf,
    connectors: PathBuf,
    database: Option<String>,
    scenario: PathBuf,
}

impl Setup {
    fn new(upstream: &RecordsUpstream, database: Option<String>) -> Setup {
        let dir = std::env::temp_dir().join(format!(
            "heph-crash-{}",
            hex::encode(heph::vault::random_bytes::<6>())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let scenario = dir.join("import.yaml");
        std::fs::write(
            &scenario,
            "name: import\ntrigger: {type: poll, connector: records, trigger: records, config: {limit: 100}}\n\
             nodes:\n\
             \x20 - {id: shape, type: transform, output: {title: \"{{ trigger.title }}\", n: \"{{ trigger.count }}\", tags: \"{{ trigger.tags }}\"}}\n\
             \x20 - {id: real, type: filter, condition: \"trigger.count > 0\"}\n\
             \x20 - {id: save, type: store, op: upsert, collection: things, key: \"{{ trigger_id }}\", record: \"{{ shape }}\"}\n",
        )
        .unwrap();
        let setup = Setup {
            dir,
            connectors: records_dir(None),
            database,
            scenario,
        };
        setup.ok(&["user", "create", "admin", "--admin"]);
        setup.ok(&["connector", "allow-private", "records"]);
        setup.ok(&[
            "connection",
            "create",
            "records",
            "--field",
            &format!("base_url={}", upstream.url),
            "--field",
            &format!("token={}", records::TOKEN),
        ]);
        setup
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(heph_binary());
        command
            .env("HEPH_DATA_DIR", &self.dir)
            .env("HEPH_CONNECTOR_DIR", &self.connectors)
            .env("HEPH_RUN_LEASE", "3")
            .env_remove("HEPH_MASTER_KEY")
            .env_remove("HEPH_DATABASE_URL")
            .args(args);
        if let Some(db) = &self.database {
            command.env("HEPH_DATABASE_URL", db);
        }
        command
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

    fn spawn(&self, args: &[&str], log: &str) -> Child {
        self.spawn_with(args, log, &[])
    }

    fn spawn_with(&self, args: &[&str], log: &str, env: &[(&str, &str)]) -> Child {
        let log = std::fs::File::create(self.dir.join(log)).unwrap();
        self.command(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("heph")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    fn stored(&self) -> u64 {
        json_of(&self.ok(&["store", "list", "things", "--limit", "1"]))["total"]
            .as_u64()
            .unwrap()
    }

    fn last_run(&self) -> Value {
        let list = self.ok(&["runs", "list", "--limit", "1"]);
        let id = list.split_whitespace().next().expect("a run").to_string();
        json_of(&self.ok(&["runs", "show", &id, "--json", "--items", "3"]))
    }

    fn scenario(&self) -> &Path {
        &self.scenario
    }
}

fn kill(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_complete(setup: &Setup) -> Value {
    assert_eq!(setup.stored(), TOTAL as u64, "every record, once");
    let sample = json_of(&setup.ok(&["store", "get", "things", "r001234"]));
    assert_eq!(sample["data"]["n"], 1234);
    assert_eq!(sample["data"]["title"], "Record 1234 — Zoë's “notes”");
    let run = setup.last_run();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], 2, "taken over once: {run}");
    assert_eq!(
        run["items_done"], TOTAL as u64,
        "each item counted once: {run}"
    );
    assert_eq!(
        run["items_retried"], 0,
        "without an action, nothing done again could be seen twice: {run}"
    );
    let events: Vec<&str> = run["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e.contains("resumed (attempt 2)")),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.contains("already done and kept") && e.contains("calls no action")),
        "{events:#?}"
    );
    run
}

/// `heph run` of the import on SQLite, once it has read `pages` pages of the upstream.
fn import_under_way(pages: usize) -> (RecordsUpstream, Setup, Child) {
    let upstream = RecordsUpstream::start(TOTAL);
    upstream.set_page_delay(Duration::from_millis(30));
    let setup = Setup::new(&upstream, None);
    let scenario = setup.scenario().display().to_string();
    let running = setup.spawn(&["run", &scenario], "first.log");
    wait_for("pages to be read", || upstream.pages_served() >= pages);
    (upstream, setup, running)
}

#[test]
fn a_run_killed_mid_import_resumes_and_stores_every_record_once() {
    let (_upstream, setup, mut first) = import_under_way(8);
    let scenario = setup.scenario().display().to_string();
    kill(&mut first);
    let partial = setup.stored();
    assert!(
        partial > 0 && partial < TOTAL as u64,
        "killed in the middle: {partial} stored"
    );
    assert_eq!(
        setup.last_run()["status"],
        "running",
        "the killed run is left running"
    );

    // Running it again finds the killed run and takes it over at once (its process is gone).
    let out = setup.command(&["run", &scenario]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("already going"), "{said}");
    check_complete(&setup);
}

#[test]
fn two_workers_on_postgres_share_runs_and_one_takes_over_when_the_other_is_killed() {
    let database = tokio().block_on(postgres::fresh_database());
    let upstream = RecordsUpstream::start(TOTAL);
    upstream.set_page_delay(Duration::from_millis(30));
    let setup = Setup::new(&upstream, Some(database));
    setup.ok(&["scenario", "apply", &setup.scenario().display().to_string()]);
    // As if on two machines (the process table cannot tell that the other is gone), with a
    // lease far longer than the test: the survivor takes the run over because the killed
    // worker's database session, and the liveness lock it held, ended.
    let worker = |i: usize| {
        let host = format!("machine-{i}");
        setup.spawn_with(&["worker"], &format!("worker-{i}.log"), &[("HEPH_HOST_NAME", &host), ("HEPH_RUN_LEASE", "600")])
    };
    let mut workers = [worker(0), worker(1)];
    wait_for("both workers", || {
        (0..2).all(|i| {
            setup
                .log(&format!("worker-{i}.log"))
                .contains("heph worker is running")
        })
    });
    let queued = json_of(&setup.ok(&["run", "import", "--queue"]));
    let run_id = queued["run"]["id"].as_str().unwrap().to_string();
    wait_for("pages to be read", || upstream.pages_served() >= 8);
    let holder = (0..2)
        .find(|i| setup.log(&format!("worker-{i}.log")).contains(&run_id))
        .expect("one worker claimed the run");
    kill(&mut workers[holder]);
    let survivor = 1 - holder;
    wait_for("the survivor to finish the run", || {
        matches!(
            setup.last_run()["status"].as_str(),
            Some("succeeded" | "failed")
        )
    });
    check_complete(&setup);
    let survived = setup.log(&format!("worker-{survivor}.log"));
    assert!(survived.contains(&run_id), "the other worker finished it");
    assert!(
        survived.contains("the worker of this run is gone; taking it over"),
        "{survived}"
    );

    // Many small runs at once are shared between the workers (SKIP LOCKED: none twice).
    workers[holder] = setup.spawn(&["worker"], "worker-again.log");
    let manual = setup.dir.join("manual.yaml");
    std::fs::write(&manual, "name: manual\ntrigger: {type: manual}\nnodes:\n  - {id: save, type: store, op: upsert, collection: manual, key: \"{{ trigger_id }}\", record: \"{{ trigger }}\"}\n").unwrap();
    setup.ok(&["scenario", "apply", &manual.display().to_string()]);
    for n in 0..40 {
        setup.ok(&[
            "run",
            "manual",
            "--queue",
            "--input",
            &format!("{{\"id\": \"m{n}\", \"data\": {{\"n\": {n}}}}}"),
        ]);
    }
    wait_for("the manual runs", || {
        json_of(&setup.ok(&["store", "list", "manual", "--limit", "1"]))["total"] == 40
    });
    let list = setup.ok(&["runs", "list", "--scenario", "manual", "--limit", "100"]);
    assert_eq!(
        list.lines().filter(|l| l.contains("succeeded")).count(),
        40,
        "{list}"
    );
    for worker in &mut workers {
        kill(worker);
    }
}

/// Sends of each record id, from the upstream's log.
fn sends_by_id(upstream: &RecordsUpstream) -> std::collections::BTreeMap<String, usize> {
    let mut by_id = std::collections::BTreeMap::new();
    for (_, body) in upstream.sends() {
        *by_id
            .entry(body["id"].as_str().unwrap_or_default().to_string())
            .or_insert(0) += 1;
    }
    by_id
}

#[test]
fn kills_mid_run_repeat_the_actions_of_the_items_in_flight_only() {
    const RECORDS: usize = 1200;
    const CONCURRENCY: usize = 4;
    const KILLS: usize = 5;
    let upstream = RecordsUpstream::start(RECORDS);
    // Each send takes a little while, so that every kill lands with sends in flight.
    upstream.script(vec![
        records::Scripted {
            status: 200,
            retry_after: None,
            delay: Duration::from_millis(3),
        };
        2 * RECORDS
    ]);
    let setup = Setup::new(&upstream, None);
    let scenario = setup.dir.join("send.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: send\nsettings: {{concurrency: {CONCURRENCY}}}\n\
             trigger: {{type: poll, connector: records, trigger: records, config: {{limit: 400}}}}\n\
             nodes:\n\
             \x20 - {{id: send, type: action, connector: records, action: send, input: {{id: \"{{{{ trigger_id }}}}\"}}}}\n"
        ),
    )
    .unwrap();
    let scenario = scenario.display().to_string();
    for kill_at in 1..=KILLS {
        let mut running = setup.spawn(&["run", &scenario], &format!("run-{kill_at}.log"));
        let target = kill_at * RECORDS / (KILLS + 1);
        wait_for("sends", || sends_by_id(&upstream).len() >= target);
        kill(&mut running);
    }
    let out = setup.command(&["run", &scenario]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");

    let by_id = sends_by_id(&upstream);
    let missing: Vec<String> = (1..=RECORDS)
        .map(|i| format!("r{i:06}"))
        .filter(|id| !by_id.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "not sent: {missing:?}\n{said}\n{}\n{}",
        setup.ok(&["runs", "list"]),
        setup.last_run()
    );
    let repeated: usize = by_id.values().map(|n| n - 1).sum();
    let twice: Vec<&String> = by_id.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id).collect();
    assert!(
        repeated <= KILLS * CONCURRENCY,
        "{repeated} sends repeated over {KILLS} kills, more than the items in flight ({CONCURRENCY} each): {twice:?}"
    );
    let run = setup.last_run();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], KILLS as u64 + 1, "{run}");
    assert_eq!(run["items_done"], RECORDS as u64, "each item counted once: {run}");
    // The history says what may have been repeated, and what it says holds.
    let retried = run["items_retried"].as_u64().unwrap() as usize;
    assert!(
        repeated <= retried && retried <= KILLS * CONCURRENCY,
        "{repeated} repeated, {retried} said to be: {run}"
    );
    let said = run["events"].to_string();
    assert!(said.contains("were in flight and may have called their actions"), "{said}");
}

#[test]
fn a_worker_that_loses_its_lease_says_so_and_writes_nothing_more() {
    let (_upstream, setup, mut first) = import_under_way(4);
    // Another worker claims the run, as one does when a lease ran out (here the claim is
    // written straight into the store, so that the test does not wait for a lease to end).
    let thief = "thief-worker";
    tokio().block_on(async {
        let url = format!("sqlite://{}", setup.dir.join("heph.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let stolen = sqlx::query(
            "UPDATE runs SET claimed_by = $1, lease_until = 9999999999999 WHERE status = 'running'",
        )
        .bind(thief)
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(stolen.rows_affected(), 1);
        pool.close().await;
    });
    let status = first.wait().unwrap();
    let log = setup.log("first.log");
    assert!(log.contains("lost the run's lease"), "{status}: {log}");
    let run = setup.last_run();
    assert_eq!(run["status"], "running", "the run is the other worker's: {run}");
    assert_eq!(run["claimed_by"], thief, "{run}");
    let said = run["events"].to_string();
    assert!(said.contains("lost this run's lease"), "{said}");
    assert!(!setup.log("first.log").contains("run finished"), "{log}");
}
