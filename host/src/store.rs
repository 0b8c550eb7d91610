//! The store: every table heph keeps, on SQLite (one file in the data directory, the default)
//! or PostgreSQL (`--database-url postgres://…`). This is the only module that writes SQL.
//!
//! Both databases are reached through sqlx's `Any` driver with `$1` placeholders, which both
//! understand, and values of portable types only: text, 64-bit integers (times are Unix
//! milliseconds, flags 0/1) and bytes. Each database has its own migrations folder
//! (`host/migrations/sqlite`, `host/migrations/postgres`), kept in step.
//!
//! Secrets arrive here already sealed by the vault: the store never sees a plaintext secret.

mod accounts;
mod connections;
mod connectors;
mod oauth;
mod records;
mod runs;
mod scenarios;
mod secrets;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

pub use accounts::{ConsentRow, IdempotencyClaim, SessionRow};
pub use connections::{ConnectionRow, ConnectionUpdate, NewConnection, Status};
pub use connectors::{Activation, InstalledConnector, PackageRow};
pub use oauth::{app_owner as oauth_app_owner, pending_owner, OAuthApp, PendingAuthorization};
pub use records::{check_record_size, Collection, Record, MAX_RECORD_BYTES};
pub use runs::{
    Batch, CommitError, CursorMove, ItemRecord, ItemsSoFar, Liveness, NewRun, RecordWrite, RunEvent, RunRow,
    StepRecord, WaitWrite,
};
pub use scenarios::{ScenarioRow, TriggerState};
pub use secrets::{Sealed, SealedRow};
pub use users::{ApiTokenRow, Role, TokenHolder, User};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrating the schema failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL is not one heph can use.
    #[error("{0}")]
    Url(String),
    /// A row that should exist does not.
    #[error("{0} not found")]
    NotFound(String),
    /// A row conflicts with an existing one (a name taken).
    #[error("{0}")]
    Conflict(String),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A value over its size limit (a record); the message names the limit.
    #[error("{0}")]
    TooLarge(String),
}

/// The store. Cheap to clone (a pool).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// The file of an SQLite URL (`sqlite://PATH?…`); `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:" && !url.contains("mode=memory")).then_some(path)
}

/// What an SQLite commit waits for before it returns (`PRAGMA synchronous`). PostgreSQL
/// commits are durable by its own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// Every commit is on disk (the write-ahead log fsynced) before it returns: an accepted
    /// webhook delivery or a committed item survives a power cut or an OS crash. The default.
    #[default]
    Full,
    /// Commits survive the process being killed, but an OS crash or power cut can undo the
    /// last ones (no fsync per commit). For throughput where the upstream can resend.
    Normal,
}

impl Store {
    /// Opens the store at `url` (`sqlite://PATH` or `postgres://…`), creating an SQLite file
    /// if it does not exist, and brings the schema up to date; SQLite commits are
    /// [`Durability::Full`].
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, Durability::Full).await
    }

    /// [`Store::open`] with SQLite commits as durable as `durability` says.
    pub async fn open_with(url: &str, durability: Durability) -> Result<Store, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(format!(
                "`{}` is not a database URL heph can use: give sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            )));
        };
        if backend == Backend::Sqlite {
            // Created private before SQLite opens it: its WAL and shared memory take its mode.
            if let Some(path) = sqlite_path(url) {
                crate::files::narrow_sqlite(Path::new(path)).map_err(|e| {
                    StoreError::Url(format!("cannot create {path} as a private file: {e}"))
                })?;
            }
        }
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Url(format!("{}: {e}", redact_url(&url))))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // FULL fsyncs the write-ahead log at each commit, so what heph has
                        // acknowledged survives an OS crash; NORMAL only a process crash.
                        let pragma = match durability {
                            Durability::Full => "PRAGMA synchronous = FULL",
                            Durability::Normal => "PRAGMA synchronous = NORMAL",
                        };
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers go on while one writer commits; the mode is kept in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        Ok(Store { pool, backend })
    }

    /// The SQLite store in a data directory (`heph.db`).
    pub async fn open_in(dir: &Path) -> Result<Store, StoreError> {
        Store::open_in_with(dir, Durability::Full).await
    }

    /// [`Store::open_in`] with SQLite commits as durable as `durability` says.
    pub async fn open_in_with(dir: &Path, durability: Durability) -> Result<Store, StoreError> {
        // The data directory is private to its owner (it holds the key file).
        crate::files::private_dir(dir)
            .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", dir.display())))?;
        let url = format!("sqlite://{}", dir.join("heph.db").display());
        Store::open_with(&url, durability).await
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs a statement as it is. For tests and maintenance tools only: the rest of heph uses
    /// the typed methods.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new random id with a prefix that says what it names (`con_…`, `usr_…`).
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        hex::encode(crate::vault::random_bytes::<10>())
    )
}

/// A database URL with its password hidden, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Whether an error is a unique-constraint violation (on either database).
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn synchronous(store: &Store) -> i64 {
        use sqlx::Row;
        let row = sqlx::query("PRAGMA synchronous")
            .fetch_one(&store.pool)
            .await
            .expect("pragma");
        row.try_get(0).expect("a number")
    }

    #[tokio::test]
    async fn sqlite_commits_are_fsynced_unless_the_operator_says_normal() {
        let dir = std::env::temp_dir().join(format!("heph-sync-{}", new_id("t")));
        let full = Store::open_in(&dir.join("full")).await.expect("store");
        // Each connection of the pool: 2 is FULL, 1 NORMAL.
        assert_eq!(synchronous(&full).await, 2);
        let normal = Store::open_in_with(&dir.join("normal"), Durability::Normal)
            .await
            .expect("store");
        assert_eq!(synchronous(&normal).await, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
