//! `heph connector …`: the test bench. It runs one call of a connector (installed, or a
//! partner's project) against a connection file, exactly as the engine will. The install
//! lifecycle is in `packages`, the partner's workflow in `partner`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{open_app, Global};
use std::borrow::Cow;
use std::sync::Arc;

use crate::catalog;
use crate::runtime::{CallOutcome, ConnectionContext, Connector, Runtime};

#[derive(Debug, Subcommand)]
pub(super) enum ConnectorCommand {
    /// List the installed connectors.
    List,
    /// Show a connector's (or a project's) manifest, connection fields, actions and triggers with their schemas.
    Describe {
        /// The connector's id, such as `wordpress`.
        id: String,
    },
    /// Check a connection: prints who the credentials belong to. In a connector project
    /// (`heph connector test .`), runs its bench (`bench.json`): each action and trigger in it
    /// against the connection, with what each must answer.
    Test {
        /// The connector's id, or a project directory.
        #[arg(default_value = ".")]
        id: String,
        #[command(flatten)]
        connection: ConnectionArg,
        /// The bench file (default: bench.json in the project directory, if there is one).
        #[arg(long)]
        bench: Option<PathBuf>,
    },
    /// Run one action and print its JSON result on stdout (errors on stderr, exit code 1).
    Call {
        /// The connector's id.
        id: String,
        /// The action's name (see `describe`).
        action: String,
        #[command(flatten)]
        connection: ConnectionArg,
        /// The action's input, a JSON object (`@FILE` reads it from a file).
        #[arg(long, default_value = "{}")]
        input: String,
    },
    /// Poll a trigger: prints items as JSON lines; the last line on stderr is the next cursor.
    Poll {
        /// The connector's id.
        id: String,
        /// The trigger's name (see `describe`).
        trigger: String,
        #[command(flatten)]
        connection: ConnectionArg,
        /// Start from this cursor (as printed by an earlier poll).
        #[arg(long)]
        cursor: Option<String>,
        /// The trigger's configuration, a JSON object.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Follow pages until the trigger has nothing more ready (at most --max-pages).
        #[arg(long)]
        all: bool,
        /// With --all: stop after this many pages, printing the cursor to go on from (a
        /// trigger that always says it has more would otherwise never stop).
        #[arg(long, default_value_t = 1000)]
        max_pages: usize,
    },
    #[command(flatten)]
    Lifecycle(super::packages::LifecycleCommand),
    #[command(flatten)]
    Partner(super::partner::PartnerCommand),
    /// Let an installed connector reach private networks (loopback, LAN), or refuse it again.
    AllowPrivate {
        /// The connector's id.
        id: String,
        /// Refuse private networks again.
        #[arg(long)]
        deny: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct ConnectionArg {
    /// A JSON file with the connection's fields and secrets, plus
    /// `"allow_private_network": true|false` (default false).
    #[arg(long = "connection", value_name = "FILE")]
    file: PathBuf,
    /// Print the call log (connector log lines and outbound requests) on stderr.
    #[arg(long, short)]
    verbose: bool,
}

/// Runs `heph connector …`.
pub(super) async fn run(command: ConnectorCommand, global: &Global) -> anyhow::Result<ExitCode> {
    match command {
        ConnectorCommand::Lifecycle(command) => super::packages::run(command, global).await,
        ConnectorCommand::Partner(command) => super::partner::run(command, global).await,
        ConnectorCommand::AllowPrivate { id, deny } => {
            let app = open_app(global).await?;
            app.connector(&id)?;
            app.store.set_allow_private_network(&id, !deny).await?;
            eprintln!(
                "{id}: private networks {}",
                if deny { "refused" } else { "allowed" }
            );
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::List => {
            let app = open_app(global).await?;
            let mut out = std::io::stdout().lock();
            for row in app.store.connectors().await? {
                let pending = row
                    .pending_digest
                    .as_ref()
                    .map(|_| {
                        format!(
                            " (a version awaits approval: {})",
                            row.pending_reason.clone().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                let publisher = crate::manifest::Manifest::parse(&row.manifest)
                    .map(|m| m.publisher)
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<20} {:<10} {:<12} {:<8} {}{pending}",
                    row.id, row.version, publisher, row.status, row.source
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Describe { id } => {
            let connector = find(global, &id).await?;
            let outcome = connector.describe().await;
            let description = outcome
                .result
                .map_err(|e| anyhow!("describe() failed: {e}"))?;
            let m = connector.manifest();
            let doc = json!({
                "id": m.id, "name": m.name, "version": m.version, "publisher": m.publisher,
                "description": m.description, "digest": connector.digest(),
                "auth": m.auth.kind(), "hosts": m.capabilities.hosts,
                "connection": m.connection_schema(),
                "actions": description.get("actions"), "triggers": description.get("triggers"),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Test {
            id,
            connection,
            bench,
        } => {
            let connector = find(global, &id).await?;
            let conn = read_connection(&connector, &connection)?;
            let bench = match bench {
                Some(path) => Some(path),
                None => Some(std::path::Path::new(&id).join("bench.json")).filter(|p| p.is_file()),
            };
            match bench {
                None => {
                    let outcome = connector.test_connection(&conn).await;
                    Ok(print_json_outcome(outcome, connection.verbose))
                }
                Some(path) => super::bench::run(&connector, &conn, &path, connection.verbose).await,
            }
        }
        ConnectorCommand::Call {
            id,
            action,
            connection,
            input,
        } => {
            let connector = find(global, &id).await?;
            let conn = read_connection(&connector, &connection)?;
            let input = parse_json_arg("--input", &input)?;
            let outcome = connector.run_action(&conn, &action, &input).await;
            Ok(print_json_outcome(outcome, connection.verbose))
        }
        ConnectorCommand::Poll {
            id,
            trigger,
            connection,
            cursor,
            config,
            all,
            max_pages,
        } => {
            let connector = find(global, &id).await?;
            let conn = read_connection(&connector, &connection)?;
            let config = parse_json_arg("--config", &config)?;
            poll(
                &connector,
                &conn,
                &trigger,
                &config,
                cursor,
                all,
                max_pages,
                connection.verbose,
            )
            .await
        }
    }
}

/// A connector found by [`find`], with what must live as long as its calls: the runtime it
/// was loaded on (its epoch ticker enforces the CPU limit), or the app it came from.
struct Found {
    connector: Arc<Connector>,
    _runtime: Option<Runtime>,
    _app: Option<Arc<crate::app::App>>,
}

impl std::ops::Deref for Found {
    type Target = Connector;
    fn deref(&self) -> &Connector {
        &self.connector
    }
}

/// A connector to try out: a project directory (its built component), a `--connector-dir`, a
/// built-in connector, or else one installed in the store.
async fn find(global: &Global, id: &str) -> anyhow::Result<Found> {
    let project = std::path::Path::new(id);
    let local: Option<(String, Cow<'static, [u8]>)> = if project.join("heph.toml").is_file() {
        let (manifest, wasm) = super::partner::built_component(project)?;
        Some((manifest, wasm.into()))
    } else {
        let mut found = None;
        for dir in &global.connector_dirs {
            let (manifest, wasm) = catalog::read_dir(dir)?;
            if crate::manifest::Manifest::parse(&manifest).is_ok_and(|m| m.id == id) {
                found = Some((manifest, wasm.into()));
                break;
            }
        }
        found.or_else(|| catalog::builtin(id).map(|b| (b.manifest.to_string(), b.component.into())))
    };
    let config = super::app_config(global)?;
    if let Some((manifest, wasm)) = local {
        // The same runtime settings as the server's, `--resolve` and `--extra-ca-cert` included.
        let runtime = Runtime::new(config.runtime)?;
        let (connector, _) = catalog::load(&runtime, id, &manifest, &wasm)?;
        return Ok(Found {
            connector: Arc::new(connector),
            _runtime: Some(runtime),
            _app: None,
        });
    }
    if config.database_url.is_none() && !config.data_dir.join("heph.db").exists() {
        // No store yet: only the built-in connectors exist; do not create one to say so.
        bail!(
            "no connector `{id}` is installed (installed: {})",
            catalog::builtin_ids().join(", ")
        );
    }
    let app = open_app(global).await?;
    Ok(Found {
        connector: app.connector(id)?,
        _runtime: None,
        _app: Some(app),
    })
}

async fn poll(
    connector: &Connector,
    conn: &ConnectionContext,
    trigger: &str,
    config: &Value,
    mut cursor: Option<String>,
    all: bool,
    max_pages: usize,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut total = 0usize;
    let mut pages = 0usize;
    loop {
        pages += 1;
        let outcome = connector
            .poll(conn, trigger, config, cursor.as_deref())
            .await;
        print_log(&outcome, verbose);
        let page = match outcome.result {
            Ok(page) => page,
            Err(e) => {
                out.flush()?;
                eprintln!("error [{}]: {e}", e.code());
                if let Some(c) = &cursor {
                    eprintln!("cursor: {c}");
                }
                return Ok(ExitCode::FAILURE);
            }
        };
        total += page.items.len();
        for item in &page.items {
            serde_json::to_writer(&mut out, item)?;
            out.write_all(b"\n")?;
        }
        if page.cursor.is_some() {
            cursor = page.cursor;
        }
        let capped = all && page.has_more && pages >= max_pages;
        if !(all && page.has_more) || capped {
            out.flush()?;
            if verbose {
                eprintln!("{total} items");
            }
            if capped {
                eprintln!(
                    "stopped after {pages} pages (--max-pages) although the trigger says it has more; go on with --cursor"
                );
            }
            eprintln!("cursor: {}", cursor.unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
    }
}

pub(super) fn print_json_outcome(outcome: CallOutcome<Value>, verbose: bool) -> ExitCode {
    print_log(&outcome, verbose);
    match outcome.result {
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}

/// The call log on stderr: always the refusals (they explain a failure), the rest with -v.
pub(super) fn print_log<T>(outcome: &CallOutcome<T>, verbose: bool) {
    for refusal in &outcome.log.refusals {
        eprintln!("policy: {refusal}");
    }
    if !verbose {
        return;
    }
    for r in &outcome.log.requests {
        let status = r
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "---".into());
        eprintln!(
            "http: {} {} → {status} {} B {:.1} ms{}",
            r.method,
            r.url,
            r.bytes,
            r.duration.as_secs_f64() * 1000.0,
            r.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    for l in &outcome.log.lines {
        eprintln!("log {}: {}", l.level, l.message);
    }
    if !outcome.log.output.is_empty() {
        eprintln!("output: {}", outcome.log.output.trim_end());
    }
    eprintln!("call: {:.1} ms", outcome.duration.as_secs_f64() * 1000.0);
}

pub(super) fn parse_json_arg(flag: &str, text: &str) -> anyhow::Result<Value> {
    let text = match text.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("{flag}: cannot read {path}"))?
        }
        None => text.to_string(),
    };
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{flag} is not valid JSON"))?;
    if !value.is_object() {
        bail!("{flag} must be a JSON object");
    }
    Ok(value)
}

fn read_connection(
    connector: &Connector,
    arg: &ConnectionArg,
) -> anyhow::Result<ConnectionContext> {
    let path = &arg.file;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the connection file {}", path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("the connection file {} is not valid JSON", path.display()))?;
    let Value::Object(mut fields) = value else {
        bail!(
            "the connection file {} must hold a JSON object",
            path.display()
        );
    };
    let allow_private = match fields.remove("allow_private_network") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => bail!("`allow_private_network` must be true or false"),
    };
    Ok(ConnectionContext::from_values(
        connector.manifest(),
        &fields,
        allow_private,
    )?)
}
