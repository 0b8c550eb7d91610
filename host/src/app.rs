//! The service layer: one [`App`] holds the store, the vault, the runtime and the loaded
//! connectors, and its methods are what the API handlers and the command line call. Handlers
//! stay thin: they authenticate, parse and map [`AppError`] onto HTTP; the rules live here.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::catalog::Catalog;
use crate::runtime::{Connector, Runtime, RuntimeConfig};
use crate::store::{Store, StoreError, User};
use crate::vault::{KeySource, Vault, VaultError};

/// How an [`App`] is set up.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Where the SQLite file, the key file and compiled connectors live.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; `None`: `heph.db` in the data directory.
    pub database_url: Option<String>,
    /// What an SQLite commit waits for (`--sqlite-synchronous`).
    pub durability: crate::store::Durability,
    /// Where keys come from; `None`: `HEPH_MASTER_KEY`, else `master.key` in the data directory.
    pub key_source: Option<KeySource>,
    /// The URL users reach this server at (OAuth redirects come back to it).
    pub public_url: String,
    /// Connector directories to load besides the built-in connectors.
    pub connector_dirs: Vec<PathBuf>,
    /// The runtime's settings.
    pub runtime: RuntimeConfig,
    /// How long before its expiry an OAuth access token is refreshed.
    pub refresh_margin: Duration,
    /// The engine's workers and leases.
    pub engine: crate::engine::EngineConfig,
    /// The registry admins browse and install from when they name none (`HEPH_REGISTRY`).
    pub registry: Option<String>,
    /// Whether registries named in requests may be on loopback or private networks
    /// (`--registry-allow-private`); the configured `registry` always may.
    pub registry_allow_private: bool,
}

impl AppConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: PathBuf) -> AppConfig {
        AppConfig {
            data_dir,
            database_url: None,
            durability: Default::default(),
            key_source: None,
            public_url: "http://127.0.0.1:8080".into(),
            connector_dirs: Vec::new(),
            runtime: RuntimeConfig::default(),
            refresh_margin: Duration::from_secs(60),
            engine: Default::default(),
            registry: None,
            registry_allow_private: false,
        }
    }
}

/// A service error: a stable code, an HTTP status, and a message safe to show (no secrets).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// The HTTP status it maps to.
    pub status: u16,
    /// What happened and what to do.
    pub message: String,
    /// Structured details (field errors, the connector's error code).
    pub details: Option<serde_json::Value>,
}

impl AppError {
    /// Builds one.
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> AppError {
        AppError {
            code,
            status,
            message: message.into(),
            details: None,
        }
    }

    /// 400 invalid_input.
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new("invalid_input", 400, message)
    }

    /// 404 not_found.
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new("not_found", 404, message)
    }

    /// 403 forbidden.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new("forbidden", 403, message)
    }

    /// 409 conflict.
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new("conflict", 409, message)
    }

    /// 500 internal (the message is logged; the caller sees a generic one).
    pub fn internal(message: impl Into<String>) -> AppError {
        AppError::new("internal", 500, message)
    }

    /// Adds details.
    pub fn with_details(mut self, details: serde_json::Value) -> AppError {
        self.details = Some(details);
        self
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::not_found(format!("{what} not found")),
            StoreError::Conflict(message) => AppError::conflict(message),
            StoreError::TooLarge(message) => AppError::new("record_too_large", 413, message),
            other => AppError::internal(other.to_string()),
        }
    }
}

impl From<VaultError> for AppError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Store(e) => e.into(),
            other => AppError::new("vault_error", 500, other.to_string()),
        }
    }
}

/// Everything the server and the command line work with.
pub struct App {
    /// The store.
    pub store: Store,
    /// The vault.
    pub vault: Arc<Vault>,
    /// The runtime.
    pub runtime: Arc<Runtime>,
    /// The loaded connectors.
    pub catalog: Catalog,
    /// Settings.
    pub config: AppConfig,
    /// One lock per connection, so that only one OAuth refresh runs at a time for it.
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Each connection's outbound rate limit.
    pub(crate) rate_limiters: crate::connections::rate_limit::RateLimiters,
    /// The engine's shared state (run signal, connector descriptions).
    pub(crate) engine: crate::engine::EngineState,
    /// The connectors loaded from `--connector-dir` (the store's installs do not replace them).
    pub(crate) directories: Mutex<HashSet<String>>,
    /// One install, upgrade, rollback or removal at a time in this process (across processes
    /// the store's compare-and-set keeps them apart).
    pub(crate) install_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("store", &self.store).finish()
    }
}

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The vault (a missing or wrong key).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The runtime or a connector.
    #[error("{0}")]
    Runtime(String),
}

impl App {
    /// Opens the store and the vault, starts the runtime, installs the built-in connectors on
    /// first start, loads any directories and then every installed connector.
    pub async fn open(mut config: AppConfig) -> Result<Arc<App>, StartError> {
        let store = match &config.database_url {
            Some(url) => Store::open_with(url, config.durability).await?,
            None => Store::open_in_with(&config.data_dir, config.durability).await?,
        };
        let source = config.key_source.clone().unwrap_or_else(|| {
            KeySource::from_env_or(crate::vault::default_key_file(&config.data_dir))
        });
        let vault = Vault::open(source, &store).await?;
        if config.runtime.cache_dir.is_none() {
            config.runtime.cache_dir = Some(config.data_dir.join("compiled"));
        }
        let runtime =
            Runtime::new(config.runtime.clone()).map_err(|e| StartError::Runtime(e.to_string()))?;
        let app = Arc::new(App {
            store,
            vault: Arc::new(vault),
            runtime: Arc::new(runtime),
            catalog: Catalog::default(),
            config,
            refresh_locks: Mutex::new(HashMap::new()),
            rate_limiters: Default::default(),
            engine: Default::default(),
            directories: Mutex::new(HashSet::new()),
            install_lock: tokio::sync::Mutex::new(()),
        });
        app.install_builtins()
            .await
            .map_err(|e| StartError::Runtime(e.to_string()))?;
        for dir in &app.config.connector_dirs {
            app.load_directory(dir)
                .await
                .map_err(|e| StartError::Runtime(e.to_string()))?;
        }
        app.reload_connectors()
            .await
            .map_err(|e| StartError::Runtime(e.to_string()))?;
        Ok(app)
    }

    /// A loaded connector by id, or a clear 404 listing what is installed.
    pub fn connector(&self, id: &str) -> Result<Arc<Connector>, AppError> {
        self.catalog.get(id).ok_or_else(|| {
            AppError::not_found(format!(
                "no connector `{id}` is installed (installed: {})",
                self.catalog.ids().join(", ")
            ))
        })
    }

    /// The refresh lock of a connection.
    pub(crate) fn refresh_lock(&self, connection_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.refresh_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks
            .entry(connection_id.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone()
    }

    /// Requires an admin.
    pub fn require_admin(user: &User) -> Result<(), AppError> {
        if user.role == crate::store::Role::Admin {
            Ok(())
        } else {
            Err(AppError::forbidden("only an admin may do this"))
        }
    }
}
