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
    /// `active`, `pending` (a first install awaiting approval) or `removed`.
    pub status: String,
    /// The digest `rollback` goes back to.
    pub previous_digest: Option<String>,
    /// A version awaiting the admin's approval, and why it needs it.
    pub pending_digest: Option<String>,
    /// What the pending version asks for beyond the active one.
    pub pending_reason: Option<String>,
}

/// One package this host accepted (any version, active or not).
#[derive(Debug, Clone, Serialize)]
pub struct PackageRow {
    /// Its digest (for a built-in connector, its component's).
    pub digest: String,
    /// The connector's id.
    pub connector_id: String,
    /// Its version.
    pub version: String,
    /// The manifest text.
    #[serde(skip)]
    pub manifest: String,
    /// The `describe()` snapshot.
    #[serde(skip)]
    pub describe: String,
    /// The component; `None` for a built-in one (the binary holds it).
    #[serde(skip)]
    pub component: Option<Vec<u8>>,
    /// `builtin`, `registry URL`, `file PATH`.
    pub source: String,
    /// Who published it.
    pub publisher: String,
    /// The key that signed it (empty for a built-in connector, trusted by digest).
    pub publisher_key: String,
    /// Unix ms.
    pub created_at: i64,
}

/// What becomes a connector's active version.
#[derive(Debug, Clone)]
pub struct Activation<'a> {
    /// The connector.
    pub id: &'a str,
    /// The new version's digest, version, manifest text and source.
    pub digest: &'a str,
    /// Its version.
    pub version: &'a str,
    /// Its manifest text.
    pub manifest: &'a str,
    /// Where it came from.
    pub source: &'a str,
    /// What `rollback` will go back to afterwards.
    pub previous: Option<&'a str>,
    /// The admin approved private networks for it.
    pub allow_private_network: bool,
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
        status: row.try_get("status")?,
        previous_digest: row.try_get("previous_digest")?,
        pending_digest: row.try_get("pending_digest")?,
        pending_reason: row.try_get("pending_reason")?,
    })
}

const COLUMNS: &str =
    "id, version, digest, manifest, source, allow_private_network, installed_at, \
                       status, previous_digest, pending_digest, pending_reason";

fn package_from_row(row: &sqlx::any::AnyRow) -> Result<PackageRow, StoreError> {
    Ok(PackageRow {
        digest: row.try_get("digest")?,
        connector_id: row.try_get("connector_id")?,
        version: row.try_get("version")?,
        manifest: row.try_get("manifest")?,
        describe: row.try_get("describe")?,
        component: row.try_get("component")?,
        source: row.try_get("source")?,
        publisher: row.try_get("publisher")?,
        publisher_key: row.try_get("publisher_key")?,
        created_at: row.try_get("created_at")?,
    })
}

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

impl Store {
    /// Keeps a package (once per digest; a second write of the same digest changes nothing).
    pub async fn add_package(&self, p: &PackageRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connector_packages (digest, connector_id, version, manifest, describe, \
             component, source, publisher, publisher_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&p.digest)
        .bind(&p.connector_id)
        .bind(&p.version)
        .bind(&p.manifest)
        .bind(&p.describe)
        .bind(p.component.clone())
        .bind(&p.source)
        .bind(&p.publisher)
        .bind(&p.publisher_key)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A package by digest, with its component.
    pub async fn package(&self, digest: &str) -> Result<PackageRow, StoreError> {
        let row = sqlx::query("SELECT * FROM connector_packages WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("package {digest}")))?;
        package_from_row(&row)
    }

    /// Every package kept for a connector, newest first (without components).
    pub async fn packages_of(&self, id: &str) -> Result<Vec<PackageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT digest, connector_id, version, manifest, describe, NULL AS component, source, \
             publisher, publisher_key, created_at FROM connector_packages WHERE connector_id = $1 \
             ORDER BY created_at DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(package_from_row).collect()
    }

    /// Makes a version active, if the connector is still as the caller saw it: `expected` is
    /// the active digest it read (`None`: not installed, or not active). False when another
    /// install got there first; nothing is changed then.
    pub async fn activate(
        &self,
        a: &Activation<'_>,
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        // Either the active digest is still the one the caller read, or nothing is active.
        let condition = match expected {
            Some(_) => "digest = $9 AND status = 'active'",
            None => "status <> 'active'",
        };
        let sql = format!(
            "UPDATE connectors SET digest = $1, version = $2, manifest = $3, source = $4, \
             previous_digest = $5, status = 'active', pending_digest = NULL, \
             pending_reason = NULL, allow_private_network = $6, updated_at = $7 \
             WHERE id = $8 AND {condition}"
        );
        let mut update = sqlx::query(&sql)
            .bind(a.digest)
            .bind(a.version)
            .bind(a.manifest)
            .bind(a.source)
            .bind(a.previous)
            .bind(a.allow_private_network as i64)
            .bind(now)
            .bind(a.id);
        if let Some(current) = expected {
            update = update.bind(current);
        }
        let updated = update.execute(&self.pool).await?;
        if updated.rows_affected() > 0 || expected.is_some() {
            return Ok(updated.rows_affected() > 0);
        }
        let done = sqlx::query(
            "INSERT INTO connectors (id, version, digest, manifest, source, \
             allow_private_network, installed_at, updated_at, status, previous_digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 'active', $8) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(a.id)
        .bind(a.version)
        .bind(a.digest)
        .bind(a.manifest)
        .bind(a.source)
        .bind(a.allow_private_network as i64)
        .bind(now)
        .bind(a.previous)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a version awaiting approval: beside the active one (an upgrade), or as a first
    /// install that is not active yet.
    pub async fn set_pending(
        &self,
        id: &str,
        digest: &str,
        version: &str,
        manifest: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE connectors SET pending_digest = $1, pending_reason = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(digest)
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO connectors (id, version, digest, manifest, source, installed_at, \
                 updated_at, status, pending_digest, pending_reason) \
                 VALUES ($1, $2, $3, $4, 'pending', $5, $5, 'pending', $3, $6) \
                 ON CONFLICT (id) DO UPDATE SET pending_digest = $3, pending_reason = $6",
            )
            .bind(id)
            .bind(version)
            .bind(digest)
            .bind(manifest)
            .bind(now)
            .bind(reason)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Marks a connector removed (its connections and OAuth app stay, for a reinstall).
    pub async fn mark_removed(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE connectors SET status = 'removed', pending_digest = NULL, \
             pending_reason = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Trusts a publisher's key (replacing the key trusted before for that name).
    pub async fn trust_publisher(&self, name: &str, public_key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO trusted_publishers (name, public_key, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET public_key = $2, added_at = $3",
        )
        .bind(name)
        .bind(public_key)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stops trusting a publisher.
    pub async fn untrust_publisher(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM trusted_publishers WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("trusted publisher `{name}`")));
        }
        Ok(())
    }

    /// The trusted publishers and their keys.
    pub async fn trusted_publishers(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, public_key FROM trusted_publishers ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("public_key")?)))
            .collect()
    }
}
