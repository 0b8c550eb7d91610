//! The `heph` command line: `serve` runs the server and `worker` more workers; `run`, `runs`,
//! `scenario`, `store`, `connector`, `connection`, `user`, `token`, `oauth-app` and `vault`
//! work from the machine it runs on (on the store directly, through the same service layer as
//! the API).

mod accounts;
mod bench;
mod connection;
mod connector;
mod packages;
mod partner;
mod registry;
mod scenario;
mod serve;
mod vault;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};

use crate::app::{App, AppConfig};
use crate::runtime::{Limits, RuntimeConfig};
use crate::store::User;

/// Heph runs integration connectors as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "heph", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Where heph keeps its data (the SQLite store, the key file, compiled connectors).
    #[arg(long, env = "HEPH_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The database: `postgres://USER:PASSWORD@HOST/DB`, or `sqlite://PATH`
    /// (default: heph.db in the data directory).
    #[arg(long, env = "HEPH_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// What an SQLite commit waits for: `full` (the default) fsyncs each commit, so accepted
    /// webhook deliveries and committed items survive an OS crash or power cut; `normal`
    /// survives only a crash of heph itself, and commits faster.
    #[arg(long, env = "HEPH_SQLITE_SYNCHRONOUS", global = true, value_enum, default_value_t)]
    sqlite_synchronous: crate::store::Durability,
    /// The URL people reach this server at; OAuth providers redirect to <URL>/oauth/callback.
    #[arg(long, env = "HEPH_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Also load the connector in this directory (a heph.toml and a .wasm); repeatable.
    #[arg(
        long = "connector-dir",
        env = "HEPH_CONNECTOR_DIR",
        global = true,
        value_delimiter = ','
    )]
    connector_dirs: Vec<PathBuf>,
    /// Wall-clock limit of one call, in seconds.
    #[arg(long, default_value_t = 120, global = true)]
    timeout: u64,
    /// Memory limit of one connector instance, in MiB.
    #[arg(long, default_value_t = 64, global = true)]
    memory_mb: usize,
    /// Another per-call limit, as NAME=VALUE (repeatable; `--call-limit help` lists them with
    /// their defaults), such as `result_bytes=4194304` or `instances_per_user=32`.
    #[arg(
        long = "call-limit",
        env = "HEPH_CALL_LIMITS",
        global = true,
        value_delimiter = ','
    )]
    call_limits: Vec<String>,
    /// Pages a poll run reads in one turn before it goes back in the queue.
    #[arg(
        long,
        env = "HEPH_POLL_PAGES_PER_TURN",
        default_value_t = 50,
        global = true
    )]
    poll_pages_per_turn: usize,
    /// Refresh an OAuth access token this many seconds before it expires.
    #[arg(
        long,
        env = "HEPH_OAUTH_REFRESH_MARGIN",
        default_value_t = 60,
        global = true
    )]
    oauth_refresh_margin: u64,
    /// How long a worker's claim on a run lasts without renewal, in seconds: a crashed
    /// worker's runs are taken over after this (at once when it was on this machine).
    #[arg(long, env = "HEPH_RUN_LEASE", default_value_t = 30, global = true)]
    run_lease: u64,
    /// Send connectors' requests for NAME to ADDR:PORT instead of what DNS says, like curl's
    /// --connect-to (repeatable; TLS still checks the certificate for NAME). For testing
    /// against local fakes of an API and for hosts without DNS; nothing else can set it.
    #[arg(
        long = "resolve",
        env = "HEPH_RESOLVE",
        value_name = "NAME=ADDR:PORT",
        global = true,
        value_delimiter = ','
    )]
    resolve: Vec<String>,
    /// Also trust the root certificates in this PEM file for connectors' HTTPS requests.
    #[arg(long, env = "HEPH_EXTRA_CA_CERT", value_name = "PEM", global = true)]
    extra_ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: the API and the OAuth callback.
    Serve(serve::ServeArgs),
    /// Inspect, call, install, upgrade, roll back and remove connectors; write your own.
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// The publishers whose signed connectors this host may install.
    #[command(subcommand)]
    Publisher(packages::PublisherCommand),
    /// Make a publisher's signing key (ed25519): the secret in a file, the public key printed.
    Keygen {
        /// Where to write the secret key (never overwritten).
        #[arg(long, default_value = "publisher.key")]
        out: PathBuf,
    },
    /// Run a connector registry, or register a publisher with one.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Manage a user's connections (accounts at connectors' services).
    #[command(subcommand)]
    Connection(connection::ConnectionCommand),
    /// Manage users.
    #[command(subcommand)]
    User(accounts::UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(accounts::TokenCommand),
    /// Register a connector's OAuth app (client id and secret).
    #[command(subcommand, name = "oauth-app")]
    OAuthApp(connection::OAuthAppCommand),
    /// Manage the master keys that encrypt stored secrets.
    #[command(subcommand)]
    Vault(vault::VaultCommand),
    /// Run a scenario now (a file or a stored one), with live progress and a summary.
    Run(scenario::RunArgs),
    /// List runs, show one with its step logs, cancel one.
    #[command(subcommand)]
    Runs(scenario::RunsCommand),
    /// Manage scenarios: check, apply, enable, disable, delete.
    #[command(subcommand)]
    Scenario(scenario::ScenarioCommand),
    /// Read the data store.
    #[command(subcommand)]
    Store(scenario::StoreCommand),
    /// Run workers (and the scheduler) without the API: scale out on one PostgreSQL database.
    Worker(scenario::WorkerArgs),
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve::run(args, &global).await,
        Command::Connector(command) => connector::run(command, &global).await,
        Command::Publisher(command) => packages::publisher(command, &global).await,
        Command::Keygen { out } => partner::keygen(&out),
        Command::Registry(command) => registry::run(command).await,
        Command::Connection(command) => connection::run(command, &global).await,
        Command::User(command) => accounts::run_user(command, &global).await,
        Command::Token(command) => accounts::run_token(command, &global).await,
        Command::OAuthApp(command) => connection::run_oauth_app(command, &global).await,
        Command::Vault(command) => vault::run(command, &global).await,
        Command::Run(args) => scenario::run(args, &global).await,
        Command::Runs(command) => scenario::runs(command, &global).await,
        Command::Scenario(command) => scenario::scenario(command, &global).await,
        Command::Store(command) => scenario::store(command, &global).await,
        Command::Worker(args) => scenario::worker(args, &global).await,
    }
}

/// The app's configuration from the global flags.
fn app_config(global: &Global) -> anyhow::Result<AppConfig> {
    let data_dir = data_dir(global.data_dir.clone())?;
    let mut config = AppConfig::new(data_dir.clone());
    config.database_url = global.database_url.clone();
    config.durability = global.sqlite_synchronous;
    if let Some(url) = &global.public_url {
        config.public_url = url.trim_end_matches('/').to_string();
    }
    config.connector_dirs = global.connector_dirs.clone();
    config.refresh_margin = Duration::from_secs(global.oauth_refresh_margin);
    config.engine.lease = Duration::from_secs(global.run_lease.max(3));
    config.engine.pages_per_turn = global.poll_pages_per_turn.max(1);
    let mut limits = Limits {
        wall_time: Duration::from_secs(global.timeout.max(1)),
        memory_bytes: global.memory_mb.max(1) << 20,
        ..Limits::default()
    };
    for entry in global.call_limits.iter().filter(|e| !e.trim().is_empty()) {
        let (name, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        if name.trim() == "help" {
            bail!(
                "--call-limit NAME=VALUE, where NAME is one of:\n{}",
                Limits::help()
            );
        }
        limits
            .set(name.trim(), value.trim())
            .map_err(|e| anyhow::anyhow!("--call-limit `{entry}`: {e}"))?;
    }
    config.runtime = RuntimeConfig {
        limits,
        cache_dir: Some(data_dir.join("compiled")),
        resolve_overrides: resolve_overrides(&global.resolve)?,
        extra_root_certs: match &global.extra_ca_cert {
            Some(path) => root_certs(path)?,
            None => Vec::new(),
        },
    };
    Ok(config)
}

/// Parses `--resolve NAME=ADDR:PORT` entries.
fn resolve_overrides(entries: &[String]) -> anyhow::Result<crate::runtime::ResolveOverrides> {
    let mut overrides = crate::runtime::ResolveOverrides::new();
    for entry in entries.iter().filter(|e| !e.trim().is_empty()) {
        let Some((name, addr)) = entry.split_once('=') else {
            bail!(
                "--resolve `{entry}`: write NAME=ADDR:PORT, such as api.notion.com=127.0.0.1:8443"
            );
        };
        let addr: std::net::SocketAddr = addr.trim().parse().map_err(|_| {
            anyhow::anyhow!("--resolve `{entry}`: `{addr}` is not ADDR:PORT (such as 127.0.0.1:8443 or [::1]:8443)")
        })?;
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            bail!("--resolve `{entry}`: the name is empty");
        }
        tracing::warn!(%name, %addr, "outbound requests for this name go to a fixed address (--resolve)");
        overrides.entry(name).or_default().push(addr);
    }
    Ok(overrides)
}

/// The certificates of a PEM file, as DER.
fn root_certs(path: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("--extra-ca-cert {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "--extra-ca-cert {}: no certificate in the file",
            path.display()
        );
    }
    Ok(certs.into_iter().map(|c| c.to_vec()).collect())
}

/// Opens the store, the vault and the connectors.
async fn open_app(global: &Global) -> anyhow::Result<Arc<App>> {
    Ok(App::open(app_config(global)?).await?)
}

/// The user a command acts for: `--user NAME`, or the only user there is.
async fn acting_user(app: &App, name: Option<&str>) -> anyhow::Result<User> {
    if let Some(name) = name {
        return Ok(app.store.user_by_name(name).await?);
    }
    let mut users = app.store.users().await?;
    match (users.pop(), users.is_empty()) {
        (Some(user), true) => Ok(user),
        (None, _) => bail!("there is no user yet: create one with `heph user create NAME --admin`"),
        (Some(_), false) => bail!("there are several users: say which with --user NAME"),
    }
}

/// The admin a command acts as: `--user NAME` (who must be an admin), or the first admin.
async fn acting_admin(app: &App, name: Option<&str>) -> anyhow::Result<User> {
    if let Some(name) = name {
        let user = app.store.user_by_name(name).await?;
        App::require_admin(&user)?;
        return Ok(user);
    }
    match app
        .store
        .users()
        .await?
        .into_iter()
        .find(|u| u.role == crate::store::Role::Admin)
    {
        Some(admin) => Ok(admin),
        None => bail!("there is no admin yet: create one with `heph user create NAME --admin`"),
    }
}

fn data_dir(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("heph"));
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/heph")),
        None => bail!("no data directory: set --data-dir or HEPH_DATA_DIR"),
    }
}

/// Prints a value as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("(cannot print: {e})"))
    );
}
