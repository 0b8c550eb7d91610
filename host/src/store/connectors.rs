//! Installed connectors: which version of each, from where, and what the admin allowed it.

use serde::Serialize;
use sqlx::Row;

use super::{now_ms, Store, StoreError};

/// One installed connector.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledConnector {
    /// Its id (`wordpress`).
    pub id: String,
    /// Installed version.
    pub version: String,
    /// sha256 of the component.
    pub digest: String,
    /// The manifest text.
    #[serde(skip)]
    pub manifest: String,
    /// `builtin`, `directory` (and `registry` later).
    pub source: String,
    /// Whether the admin let it reach private networks.
    pub allow_private_network: bool,
    /// Unix ms.
    pub installed_at: i64,
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<InstalledConnector, StoreError> {
    Ok(InstalledConnector {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        manifest: row.try_get("manifest")?,
        source: row.try_get("source")?,
        allow_private_network: row.try_get::<i64, _>("allow_private_network")? != 0,
        installed_at: row.try_get("installed_at")?,
    })
}

const COLUMNS: &str = "id, version, digest, manifest, source, allow_private_network, installed_at";

impl Store {
    /// Records a connector as installed, or updates its version; the admin's private-network
    /// decision is kept across updates.
    pub async fn install_connector(
        &self,
        id: &str,
        version: &str,
        digest: &str,
        manifest: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO connectors (id, version, digest, manifest, source, installed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (id) DO UPDATE SET version = $2, digest = $3, manifest = $4, \
             source = $5, updated_at = $6",
        )
        .bind(id)
        .bind(version)
        .bind(digest)
        .bind(manifest)
        .bind(source)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every installed connector.
    pub async fn connectors(&self) -> Result<Vec<InstalledConnector>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM connectors ORDER BY id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// One installed connector.
    pub async fn connector(&self, id: &str) -> Result<InstalledConnector, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM connectors WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connector `{id}`")))?;
        from_row(&row)
    }

    /// The admin's decision on private networks for one install.
    pub async fn set_allow_private_network(&self, id: &str, allow: bool) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE connectors SET allow_private_network = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(allow as i64)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("connector `{id}`")));
        }
        Ok(())
    }
}
