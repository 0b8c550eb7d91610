//! What the store says is installed becomes what the catalog has loaded: at start (the
//! built-in connectors are installed on first start, trusted by digest) and every few seconds
//! in a server, so that an install made by another process (`heph connector install`, another
//! server) reaches this one.

use std::path::Path;

use crate::app::{App, AppError};
use crate::catalog::{self, Builtin, CatalogError};
use crate::manifest::Manifest;
use crate::store::{Activation, InstalledConnector, PackageRow};

/// `source` of a connector loaded from a directory at start (not kept as a package).
pub(crate) const DIRECTORY: &str = "directory";
/// `source` of a built-in connector.
pub(crate) const BUILTIN: &str = "builtin";

impl App {
    /// Installs the built-in connectors on first start, and moves a built-in install to this
    /// binary's version when the binary changed. An admin's own install of the same id (from a
    /// registry), or its removal, is left as it is.
    pub(crate) async fn install_builtins(&self) -> Result<(), AppError> {
        for builtin in catalog::builtins() {
            let manifest = Manifest::parse(builtin.manifest)
                .map_err(|e| AppError::internal(format!("built-in connector: {e}")))?;
            let digest = builtin.digest();
            let current = self.store.connector(&manifest.id).await.ok();
            let expected = match &current {
                None => None,
                Some(row) if row.source == BUILTIN && row.status == "active" => {
                    if row.digest == digest {
                        continue;
                    }
                    Some(row.digest.as_str())
                }
                Some(_) => continue,
            };
            self.record_builtin(&builtin, &manifest, &digest).await?;
            let activated = self
                .store
                .activate(
                    &Activation {
                        id: &manifest.id,
                        digest: &digest,
                        version: &manifest.version,
                        manifest: builtin.manifest,
                        source: BUILTIN,
                        previous: expected,
                        allow_private_network: current
                            .as_ref()
                            .is_some_and(|c| c.allow_private_network),
                    },
                    expected,
                )
                .await?;
            if activated {
                tracing::info!(connector = %manifest.id, version = %manifest.version, "built-in connector installed");
            }
        }
        Ok(())
    }

    /// Keeps a built-in connector's package row (without its component: the binary has it).
    async fn record_builtin(
        &self,
        builtin: &Builtin,
        manifest: &Manifest,
        digest: &str,
    ) -> Result<(), AppError> {
        let (connector, _) = catalog::load(
            &self.runtime,
            &manifest.id,
            builtin.manifest,
            builtin.component,
        )
        .map_err(|e| AppError::internal(e.to_string()))?;
        let describe =
            connector.describe().await.result.map_err(|e| {
                AppError::internal(format!("{}: describe() failed: {e}", manifest.id))
            })?;
        self.store
            .add_package(&PackageRow {
                digest: digest.to_string(),
                connector_id: manifest.id.clone(),
                version: manifest.version.clone(),
                manifest: builtin.manifest.to_string(),
                describe: describe.to_string(),
                component: None,
                source: BUILTIN.into(),
                publisher: manifest.publisher.clone(),
                publisher_key: String::new(),
                created_at: 0,
            })
            .await?;
        Ok(())
    }

    /// Loads a connector directory given at start (`--connector-dir`): it replaces an install
    /// of the same id for this process, and is recorded so that connections can name it.
    pub(crate) async fn load_directory(&self, dir: &Path) -> Result<(), CatalogError> {
        let (manifest_text, wasm) = catalog::read_dir(dir)?;
        let name = dir.display().to_string();
        let (connector, _) = catalog::load(&self.runtime, &name, &manifest_text, &wasm)?;
        let manifest = connector.manifest().clone();
        let digest = format!("sha256:{}", connector.digest());
        self.store
            .install_connector(
                &manifest.id,
                &manifest.version,
                &digest,
                &manifest_text,
                DIRECTORY,
            )
            .await
            .map_err(|e| CatalogError::new(&name, e.to_string()))?;
        self.catalog.swap(connector, &digest);
        self.directories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(manifest.id);
        Ok(())
    }

    /// Brings the catalog in line with the store: loads what was installed or upgraded since,
    /// unloads what was removed. A connector that cannot be loaded is logged and left as it
    /// was (the others still load). Returns how many changed.
    pub async fn reload_connectors(&self) -> Result<usize, AppError> {
        let rows = self.store.connectors().await?;
        let mut changed = 0;
        for row in rows {
            if self.is_directory(&row.id) {
                continue;
            }
            if row.status != "active" {
                if self.catalog.remove(&row.id).is_some() {
                    tracing::info!(connector = %row.id, "connector unloaded ({})", row.status);
                    changed += 1;
                }
                continue;
            }
            if self.catalog.installed_digest(&row.id).as_deref() == Some(row.digest.as_str()) {
                continue;
            }
            match self.load_installed(&row).await {
                Ok(()) => {
                    tracing::info!(connector = %row.id, version = %row.version, "connector loaded");
                    changed += 1;
                }
                Err(e) => {
                    tracing::error!(connector = %row.id, version = %row.version, "cannot load the installed connector: {e}")
                }
            }
        }
        Ok(changed)
    }

    /// Whether a connector was loaded from a directory at start.
    fn is_directory(&self, id: &str) -> bool {
        self.directories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    /// Loads the active version of an installed connector and swaps it in.
    async fn load_installed(&self, row: &InstalledConnector) -> Result<(), AppError> {
        let package = self.store.package(&row.digest).await?;
        let connector = self.load_package(&package)?;
        self.catalog.swap(connector, &row.digest);
        Ok(())
    }

    /// Compiles (or takes from the cache) a package this host kept.
    pub(crate) fn load_package(
        &self,
        package: &PackageRow,
    ) -> Result<crate::runtime::Connector, AppError> {
        let component: &[u8] = match &package.component {
            Some(bytes) => bytes,
            None => catalog::builtin_component(&package.digest).ok_or_else(|| {
                AppError::internal(format!(
                    "{} {} was built into another heph binary; install it again",
                    package.connector_id, package.version
                ))
            })?,
        };
        let (connector, _) = catalog::load(
            &self.runtime,
            &package.connector_id,
            &package.manifest,
            component,
        )
        .map_err(|e| AppError::internal(e.to_string()))?;
        Ok(connector)
    }
}
