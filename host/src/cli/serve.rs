//! `heph serve`: the API server.

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::{app_config, Global};
use crate::app::App;

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "HEPH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Worker tasks running scenarios in this process (0: none; use `heph worker`).
    #[arg(long, env = "HEPH_WORKERS", default_value_t = 2)]
    workers: usize,
    /// API calls each token, browser session or (without one) client address may make per
    /// minute; bursts of a sixth of it are allowed. Over it: 429 with `Retry-After`.
    #[arg(long, env = "HEPH_API_RATE_LIMIT", default_value_t = 1200)]
    api_rate_limit: u32,
    /// Over how many seconds the sign-in allowances refill (10 attempts per address and 20
    /// per account name).
    #[arg(long, env = "HEPH_SIGN_IN_WINDOW", default_value_t = 60)]
    sign_in_window: u64,
    /// Client connections open at once (kept below the open-file limit). Over it a new
    /// connection is closed at once.
    #[arg(long, env = "HEPH_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Client connections open at once from one address (behind a proxy, raise it: every
    /// client then has the proxy's address).
    #[arg(long, env = "HEPH_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    max_connections_per_address: usize,
    /// Seconds a connection has to send a request's headers, and a kept-alive connection to
    /// start its next request; then it is closed.
    #[arg(long, env = "HEPH_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a request's body has to arrive, whole (408 past it).
    #[arg(long, env = "HEPH_BODY_TIMEOUT", default_value_t = 30)]
    body_timeout: u64,
    /// The registry admins browse and install connectors from in the dashboard (and through
    /// the API when a request names none).
    #[arg(long, env = "HEPH_REGISTRY")]
    registry: Option<String>,
    /// Let admins name registries on loopback or private networks in their requests (the
    /// `--registry` one always may be there; a cloud metadata address never).
    #[arg(long, env = "HEPH_REGISTRY_ALLOW_PRIVATE")]
    registry_allow_private: bool,
}

/// Logs go to stderr; `HEPH_LOG` filters them (default `info`).
pub(super) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEPH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub(super) async fn run(args: ServeArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    init_logging();
    let mut config = app_config(global)?;
    config.engine.workers = args.workers;
    config.registry = args.registry.clone();
    config.registry_allow_private = args.registry_allow_private;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr()?;
    if global.public_url.is_none() {
        config.public_url = format!("http://{address}");
    }
    let store_name = match &config.database_url {
        Some(url) => crate::store::redact_url(url),
        None => config.data_dir.join("heph.db").display().to_string(),
    };
    let app = App::open(config).await?;
    let users = app.store.users().await?.len();
    tracing::info!(
        address = %format!("http://{address}"),
        public_url = %app.config.public_url,
        store = %store_name,
        keys = %app.vault.source(),
        connectors = app.catalog.ids().len(),
        ready_ms = started.elapsed().as_millis() as u64,
        "heph is listening"
    );
    if users == 0 {
        tracing::warn!("there are no users yet: create the first admin with `heph user create NAME --admin --password`, which prints its API token; then sign in at {}/", app.config.public_url);
    }
    let engine = if args.workers > 0 {
        crate::engine::start(&app).await
    } else {
        Vec::new()
    };
    let reload = tokio::spawn(reload_connectors(app.clone()));
    let api = crate::api::ApiConfig {
        rate: crate::api::limits::Rate {
            per_minute: f64::from(args.api_rate_limit.max(1)),
            burst: (args.api_rate_limit / 6).max(1),
        },
        sign_in_window: std::time::Duration::from_secs(args.sign_in_window.max(1)),
        body_timeout: std::time::Duration::from_secs(args.body_timeout.max(1)),
        connections: crate::api::server::ConnectionLimits {
            total: args.max_connections,
            per_address: args.max_connections_per_address,
            header_timeout: std::time::Duration::from_secs(args.header_timeout.max(1)),
        },
    };
    crate::api::serve(app.clone(), api, listener, shutdown_signal()).await?;
    reload.abort();
    for task in engine {
        task.abort();
    }
    app.store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing the requests in flight");
}

/// Picks up installs, upgrades, rollbacks and removals made by another process (the command
/// line, another server on the same store) within a couple of seconds.
pub(super) async fn reload_connectors(app: std::sync::Arc<App>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = app.reload_connectors().await {
            tracing::warn!("cannot reload the installed connectors: {e}");
        }
    }
}
