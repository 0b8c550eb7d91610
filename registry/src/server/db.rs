//! The registry's index: publishers, connector names and versions, in SQLite through sqlx.
//! The packages themselves are blobs ([`super::blobs`]); a row names its blob by digest.

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use crate::Capabilities;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// One published version, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRow {
    /// The connector's name (its manifest id).
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// `sha256:HEX` of the package contents.
    pub digest: String,
    /// The package's size in bytes.
    pub size: i64,
    /// Display name.
    pub title: String,
    /// One line on what it does.
    pub description: String,
    /// The contract version it was built against.
    pub contract: String,
    /// What it asks for.
    pub capabilities: Capabilities,
    /// Its actions' names.
    pub actions: Vec<String>,
    /// Its triggers' names.
    pub triggers: Vec<String>,
    /// Withdrawn by its publisher: still downloadable by exact version, never picked as latest.
    pub yanked: bool,
    /// Unix ms.
    pub published_at: i64,
    /// Who published it.
    pub publisher: String,
}

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique row exists already.
    #[error("{0}")]
    Conflict(String),
}

/// The index.
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Opens (creating) `registry.db` in `dir` and migrates it.
    pub async fn open(dir: &Path) -> Result<Db, DbError> {
        let url = format!("sqlite://{}", dir.join("registry.db").display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Db { pool })
    }

    /// Registers a publisher; a taken name is a conflict.
    pub async fn add_publisher(
        &self,
        name: &str,
        public_key: &str,
        token_sha256: &str,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO publishers (name, public_key, token_sha256, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(name)
        .bind(public_key)
        .bind(token_sha256)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!("the publisher name `{name}` is taken"))
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    /// A publisher's public key.
    pub async fn publisher_key(&self, name: &str) -> Result<Option<String>, DbError> {
        Ok(
            sqlx::query_scalar("SELECT public_key FROM publishers WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The publisher a token belongs to, with its key.
    pub async fn publisher_by_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<(String, String)>, DbError> {
        let row = sqlx::query("SELECT name, public_key FROM publishers WHERE token_sha256 = ?")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some((row.try_get("name")?, row.try_get("public_key")?)),
            None => None,
        })
    }

    /// Who owns a connector name, if anyone.
    pub async fn owner(&self, name: &str) -> Result<Option<String>, DbError> {
        Ok(
            sqlx::query_scalar("SELECT publisher FROM connectors WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Records a new version (claiming the name on its first publish). A version that exists
    /// is a conflict: published versions are immutable.
    pub async fn add_version(&self, v: &VersionRow) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO connectors (name, publisher, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&v.name)
        .bind(&v.publisher)
        .bind(v.published_at)
        .execute(&mut *tx)
        .await?;
        let owner: String = sqlx::query_scalar("SELECT publisher FROM connectors WHERE name = ?")
            .bind(&v.name)
            .fetch_one(&mut *tx)
            .await?;
        if owner != v.publisher {
            return Err(DbError::Conflict(format!(
                "the connector name `{}` belongs to the publisher `{owner}`",
                v.name
            )));
        }
        let json = |value: &dyn erased::Json| value.to_json();
        sqlx::query(
            "INSERT INTO versions (name, version, digest, size, title, description, contract, \
             capabilities, actions, triggers, published_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&v.name)
        .bind(&v.version)
        .bind(&v.digest)
        .bind(v.size)
        .bind(&v.title)
        .bind(&v.description)
        .bind(&v.contract)
        .bind(json(&v.capabilities))
        .bind(json(&v.actions))
        .bind(json(&v.triggers))
        .bind(v.published_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                DbError::Conflict(format!(
                    "{}@{} is already published; a published version never changes: bump the version in heph.toml",
                    v.name, v.version
                ))
            } else {
                e.into()
            }
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether any version's package is the blob `digest`.
    pub async fn digest_in_use(&self, digest: &str) -> Result<bool, DbError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM versions WHERE digest = ?")
            .bind(digest)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Marks a version yanked (or not). False when there is no such version.
    pub async fn set_yanked(
        &self,
        name: &str,
        version: &str,
        yanked: bool,
    ) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE versions SET yanked = ? WHERE name = ? AND version = ?")
            .bind(yanked as i64)
            .bind(name)
            .bind(version)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every version of every connector (or of one), newest first per connector.
    pub async fn versions(&self, name: Option<&str>) -> Result<Vec<VersionRow>, DbError> {
        let rows = sqlx::query(
            "SELECT v.*, c.publisher FROM versions v JOIN connectors c ON c.name = v.name \
             WHERE ? IS NULL OR v.name = ? ORDER BY v.name",
        )
        .bind(name)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        let mut versions = rows
            .iter()
            .map(|row| -> Result<VersionRow, DbError> {
                let parse = |column: &str| -> Result<serde_json::Value, DbError> {
                    let text: String = row.try_get(column)?;
                    Ok(serde_json::from_str(&text).unwrap_or_default())
                };
                Ok(VersionRow {
                    name: row.try_get("name")?,
                    version: row.try_get("version")?,
                    digest: row.try_get("digest")?,
                    size: row.try_get("size")?,
                    title: row.try_get("title")?,
                    description: row.try_get("description")?,
                    contract: row.try_get("contract")?,
                    capabilities: serde_json::from_value(parse("capabilities")?).unwrap_or(
                        Capabilities {
                            hosts: Vec::new(),
                            auth: "none".into(),
                            private_network: false,
                        },
                    ),
                    actions: serde_json::from_value(parse("actions")?).unwrap_or_default(),
                    triggers: serde_json::from_value(parse("triggers")?).unwrap_or_default(),
                    yanked: row.try_get::<i64, _>("yanked")? != 0,
                    published_at: row.try_get("published_at")?,
                    publisher: row.try_get("publisher")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        versions.sort_by(|a, b| {
            a.name.cmp(&b.name).then_with(|| {
                let parse = |v: &str| semver::Version::parse(v).ok();
                parse(&b.version).cmp(&parse(&a.version))
            })
        });
        Ok(versions)
    }
}

/// Serialising the JSON columns without a generic closure.
mod erased {
    pub trait Json {
        fn to_json(&self) -> String;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
