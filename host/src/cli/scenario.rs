//! `heph run`, `heph runs …`, `heph scenario …`, `heph store …` and `heph worker`: scenarios
//! from the machine the store is on, through the same service layer as the API.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::{acting_user, open_app, print_json, Global};
use crate::app::{App, AppError};
use crate::engine::{self, Progress, RunEnd};
use crate::store::User;

#[derive(Debug, Args)]
pub(super) struct UserArg {
    /// Act as this user (default: the only user there is).
    #[arg(long)]
    user: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// A scenario file (YAML or JSON; saved as the user's scenario of that name), or the id or
    /// name of a stored scenario.
    scenario: String,
    /// The item of a manual run, as JSON (`@FILE` reads a file).
    #[arg(long)]
    input: Option<String>,
    /// Queue the run for the server's workers and return at once.
    #[arg(long)]
    queue: bool,
    #[command(flatten)]
    user: UserArg,
}

#[derive(Debug, Subcommand)]
pub(super) enum RunsCommand {
    /// The latest runs.
    List {
        /// Only this scenario's (id or name).
        #[arg(long)]
        scenario: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        user: UserArg,
    },
    /// One run with its events, items and step logs.
    Show {
        /// The run's id.
        id: String,
        /// Items after this position.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// How many items.
        #[arg(long, default_value_t = 20)]
        items: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        user: UserArg,
    },
    /// Stop a run (a running one stops after its current items; its progress is kept).
    Cancel {
        /// The run's id.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ScenarioCommand {
    /// The user's scenarios.
    List {
        #[command(flatten)]
        user: UserArg,
    },
    /// One scenario (with its webhook URL, cursor and next run).
    Show {
        /// Id or name.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Check a scenario file without saving it: prints every problem.
    Check {
        /// The file.
        file: std::path::PathBuf,
        #[command(flatten)]
        user: UserArg,
    },
    /// Save a scenario file (a new version if the user has one of that name).
    Apply {
        /// The file.
        file: std::path::PathBuf,
        /// Enable it too.
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        user: UserArg,
    },
    /// Let its trigger fire (a poll trigger polls at once).
    Enable {
        /// Id or name.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Stop its trigger (runs already going finish).
    Disable {
        /// Id or name.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Delete it with its runs.
    Delete {
        /// Id or name.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum StoreCommand {
    /// The records of a collection, in key order.
    List {
        /// The collection.
        collection: String,
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Start after this key.
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        user: UserArg,
    },
    /// The collections and their sizes.
    Collections {
        #[command(flatten)]
        user: UserArg,
    },
    /// One record.
    Get {
        /// The collection.
        collection: String,
        /// The key.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
}

#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// Worker tasks in this process.
    #[arg(long, env = "HEPH_WORKERS", default_value_t = 2)]
    workers: usize,
}

fn read_arg(text: &str) -> anyhow::Result<String> {
    match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}")),
        None => Ok(text.to_string()),
    }
}

/// Prints a service error with its problems, one per line.
fn explain(error: AppError) -> anyhow::Error {
    let mut message = error.message.clone();
    if let Some(problems) = error
        .details
        .as_ref()
        .and_then(|d| d.get("problems"))
        .and_then(Value::as_array)
    {
        message = format!("the scenario has {} problem(s):", problems.len());
        for p in problems {
            let node = p.get("node").and_then(Value::as_str);
            let field = p.get("field").and_then(Value::as_str).unwrap_or("");
            let text = p.get("message").and_then(Value::as_str).unwrap_or("");
            let at = match (node, field.is_empty()) {
                (Some(n), false) => format!("node `{n}`, {field}"),
                (Some(n), true) => format!("node `{n}`"),
                (None, false) => field.to_string(),
                (None, true) => "scenario".into(),
            };
            message.push_str(&format!("\n  - {at}: {text}"));
        }
    }
    anyhow::anyhow!(message)
}

fn read_definition(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    crate::strict::yaml(&text)
        .map_err(|e| anyhow::anyhow!("{}: not valid YAML or JSON: {e}", path.display()))
}

/// `heph run`.
pub(super) async fn run(args: RunArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    let user = acting_user(&app, args.user.user.as_deref()).await?;
    let path = Path::new(&args.scenario);
    let scenario_id = if path.is_file() {
        let definition = read_definition(path)?;
        let view = app
            .apply_scenario(&user, definition)
            .await
            .map_err(explain)?;
        eprintln!(
            "scenario `{}` ({}, version {})",
            view.name, view.id, view.version
        );
        view.id
    } else {
        app.get_scenario(&user, &args.scenario)
            .await
            .map_err(explain)?
            .id
    };
    let input = args
        .input
        .as_deref()
        .map(read_arg)
        .transpose()?
        .map(|t| serde_json::from_str::<Value>(&t).context("--input is not JSON"))
        .transpose()?;
    let started = app
        .start_run(&user, &scenario_id, input)
        .await
        .map_err(explain)?;
    let run_id = started.run.id.clone();
    if args.queue {
        print_json(&started);
        return Ok(ExitCode::SUCCESS);
    }
    if !started.new {
        eprintln!("a run of this scenario is already going: following {run_id}");
    }
    follow(&app, &user, &run_id).await
}

/// Runs (or follows) a run in this process with a live progress line.
async fn follow(app: &Arc<App>, user: &User, run_id: &str) -> anyhow::Result<ExitCode> {
    let worker = engine::worker_name(1000);
    let lease = app.config.engine.lease.as_millis() as i64;
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(if tty { 200 } else { 2000 })).await;
                let line = progress_line(&progress, started.elapsed());
                if tty {
                    eprint!("\r\x1b[2K{line}");
                } else if last.elapsed() >= Duration::from_secs(2) {
                    eprintln!("{line}");
                    last = Instant::now();
                }
                let _ = std::io::stderr().flush();
            }
        })
    };
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nstopping after the items in flight (Ctrl-C again to quit at once)…");
                stop.store(true, Ordering::Relaxed);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }
    engine::hold_liveness(app).await;
    engine::expire_dead_claims(app).await;
    let end = match app.store.claim_run(run_id, &worker, lease).await? {
        Some(mut run) => loop {
            let end = engine::run::execute(
                app,
                run,
                &worker,
                Some(progress.clone()),
                Some(stop.clone()),
            )
            .await;
            // A poll run hands its worker back after each turn of pages, and a run whose items
            // wait in a delay parks; in the foreground it is the only run, so it simply takes
            // its next turn (when its first wait is due).
            match end {
                RunEnd::Yielded => {}
                RunEnd::Parked(due_at) => {
                    let wait = (due_at - crate::store::now_ms()).max(0) as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    if stop.load(Ordering::Relaxed) {
                        break RunEnd::Finished("cancelled", None);
                    }
                }
                end => break end,
            }
            match app.store.claim_run(run_id, &worker, lease).await? {
                Some(next) => run = next,
                None => break RunEnd::LeaseLost,
            }
        },
        None => {
            // Another process holds it: watch it.
            loop {
                let run = app.store.run(&user.id, run_id).await?;
                progress.items.store(
                    run.items_done + run.items_failed + run.items_skipped,
                    Ordering::Relaxed,
                );
                progress.failed.store(run.items_failed, Ordering::Relaxed);
                progress.skipped.store(run.items_skipped, Ordering::Relaxed);
                progress.pages.store(run.pages, Ordering::Relaxed);
                if !matches!(run.status.as_str(), "queued" | "running") {
                    break RunEnd::Finished("succeeded", None);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    ticker.abort();
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    let run = app.store.run(&user.id, run_id).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let items = run.items_done + run.items_failed + run.items_skipped;
    eprintln!(
        "run {} {}: {} items in {:.1} s ({:.0}/s) — {} done, {} skipped or filtered, {} failed{}; {} page(s)",
        run.id,
        run.status,
        items,
        elapsed,
        items as f64 / elapsed.max(0.001),
        run.items_done,
        run.items_skipped,
        run.items_failed,
        if run.items_retried > 0 { format!(", {} retried after a resume", run.items_retried) } else { String::new() },
        run.pages,
    );
    if let Some(error) = &run.error {
        eprintln!("  {error}");
    }
    eprintln!("  details: heph runs show {}", run.id);
    if let RunEnd::LeaseLost = end {
        eprintln!("  (this process lost the run's lease: another worker took the run over)");
    }
    Ok(if run.status == "succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn progress_line(p: &Progress, elapsed: Duration) -> String {
    let items = p.items.load(Ordering::Relaxed);
    format!(
        "{} items ({:.0}/s), {} failed, {} skipped, {} page(s), {:.0} s",
        items,
        items as f64 / elapsed.as_secs_f64().max(0.001),
        p.failed.load(Ordering::Relaxed),
        p.skipped.load(Ordering::Relaxed),
        p.pages.load(Ordering::Relaxed),
        elapsed.as_secs_f64()
    )
}

/// `heph runs …`.
pub(super) async fn runs(command: RunsCommand, global: &Global) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    match command {
        RunsCommand::List {
            scenario,
            limit,
            user,
        } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            let runs = app
                .list_runs(&user, scenario.as_deref(), limit, None)
                .await
                .map_err(explain)?;
            if runs.is_empty() {
                println!("no runs yet");
            }
            for run in runs {
                println!(
                    "{}  {:<9}  {:<8}  {:>6} done {:>4} failed {:>5} skipped  {}",
                    run.id,
                    run.status,
                    run.trigger_kind,
                    run.items_done,
                    run.items_failed,
                    run.items_skipped,
                    run.error.as_deref().unwrap_or("")
                );
            }
        }
        RunsCommand::Show {
            id,
            after,
            items,
            json,
            user,
        } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            let detail = app
                .get_run(&user, &id, after, items)
                .await
                .map_err(explain)?;
            if json {
                print_json(&detail);
                return Ok(ExitCode::SUCCESS);
            }
            let run = &detail.run;
            println!(
                "run {} of {} (version {}): {}",
                run.id, run.scenario_id, run.scenario_version, run.status
            );
            println!(
                "  items: {} done, {} failed, {} skipped or filtered, {} retried after a resume; {} page(s); attempts {}",
                run.items_done, run.items_failed, run.items_skipped, run.items_retried, run.pages, run.attempts
            );
            if let Some(error) = &run.error {
                println!("  error: {error}");
            }
            for event in &detail.events {
                println!("  [{}] {}", event.level, event.message);
            }
            for item in &detail.items {
                println!(
                    "item #{} `{}`: {}{}",
                    item.item.seq,
                    item.item.item_id,
                    item.item.status,
                    item.item
                        .error
                        .as_ref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                );
                for step in &item.steps {
                    println!(
                        "  {}. {} {} ({} attempt{}, {:.1} ms){}",
                        step.step,
                        step.node_id,
                        step.status,
                        step.attempts,
                        if step.attempts == 1 { "" } else { "s" },
                        step.duration_us as f64 / 1000.0,
                        step.error
                            .as_ref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    );
                    for line in step
                        .logs
                        .as_ref()
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        println!(
                            "       [{}] {}",
                            line["level"].as_str().unwrap_or(""),
                            line["message"].as_str().unwrap_or("")
                        );
                    }
                    for request in step
                        .requests
                        .as_ref()
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        println!(
                            "       → {} {} {}",
                            request["method"].as_str().unwrap_or(""),
                            request["url"].as_str().unwrap_or(""),
                            request["status"].as_u64().map_or_else(
                                || request["error"].as_str().unwrap_or("").to_string(),
                                |s| s.to_string()
                            )
                        );
                    }
                }
            }
        }
        RunsCommand::Cancel { id, user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            print_json(&app.cancel_run(&user, &id).await.map_err(explain)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `heph scenario …`.
pub(super) async fn scenario(
    command: ScenarioCommand,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    match command {
        ScenarioCommand::List { user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            for s in app.list_scenarios(&user).await.map_err(explain)? {
                println!(
                    "{}  {:<8} {:<8} v{}  {}{}",
                    s.id,
                    s.trigger,
                    if s.enabled { "enabled" } else { "disabled" },
                    s.version,
                    s.name,
                    s.paused
                        .as_ref()
                        .map(|p| format!("  (paused: {})", p["reason"].as_str().unwrap_or("")))
                        .unwrap_or_default()
                );
            }
        }
        ScenarioCommand::Show { id, user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            print_json(&app.get_scenario(&user, &id).await.map_err(explain)?);
        }
        ScenarioCommand::Check { file, user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            let plan = app
                .compile_scenario(&user.id, read_definition(&file)?)
                .await
                .map_err(explain)?;
            println!(
                "{}: ok ({} trigger, {} node(s))",
                file.display(),
                plan.scenario.trigger.kind(),
                plan.nodes.len()
            );
        }
        ScenarioCommand::Apply { file, enable, user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            let mut view = app
                .apply_scenario(&user, read_definition(&file)?)
                .await
                .map_err(explain)?;
            if enable {
                view = app
                    .set_scenario_enabled(&user, &view.id, true)
                    .await
                    .map_err(explain)?;
            }
            print_json(&view);
        }
        ScenarioCommand::Enable { id, user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            print_json(
                &app.set_scenario_enabled(&user, &id, true)
                    .await
                    .map_err(explain)?,
            );
        }
        ScenarioCommand::Disable { id, user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            print_json(
                &app.set_scenario_enabled(&user, &id, false)
                    .await
                    .map_err(explain)?,
            );
        }
        ScenarioCommand::Delete { id, user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            app.delete_scenario(&user, &id).await.map_err(explain)?;
            println!("deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `heph store …`.
pub(super) async fn store(command: StoreCommand, global: &Global) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    match command {
        StoreCommand::List {
            collection,
            limit,
            after,
            user,
        } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            print_json(
                &app.list_records(&user, &collection, after.as_deref(), limit)
                    .await
                    .map_err(explain)?,
            );
        }
        StoreCommand::Collections { user } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            for c in app.list_collections(&user).await.map_err(explain)? {
                println!("{:<24} {:>8} records", c.name, c.records);
            }
        }
        StoreCommand::Get {
            collection,
            id,
            user,
        } => {
            let user = acting_user(&app, user.user.as_deref()).await?;
            print_json(
                &app.get_record(&user, &collection, &id)
                    .await
                    .map_err(explain)?,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `heph worker`: claims and runs runs, and fires due triggers, until stopped.
pub(super) async fn worker(args: WorkerArgs, global: &Global) -> anyhow::Result<ExitCode> {
    super::serve::init_logging();
    let mut config = super::app_config(global)?;
    config.engine.workers = args.workers.max(1);
    let app = App::open(config).await?;
    if app.store.backend() == crate::store::Backend::Sqlite {
        tracing::info!("working on the SQLite store; several processes scale out on PostgreSQL (--database-url)");
    }
    let tasks = engine::start(&app).await;
    let reload = tokio::spawn(super::serve::reload_connectors(app.clone()));
    tracing::info!(workers = args.workers, "heph worker is running");
    super::serve::shutdown_signal().await;
    reload.abort();
    for task in tasks {
        task.abort();
    }
    app.store.close().await;
    Ok(ExitCode::SUCCESS)
}
