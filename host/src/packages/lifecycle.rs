//! Installing, approving, upgrading, rolling back and removing connectors.
//!
//! An install verifies before it changes anything (`verify`). Only then is the new version
//! activated, by a compare-and-set on the store (two admins installing at once: one wins, the
//! other sees it done) and a swap in the catalog: calls already running finish on the old
//! version, the next ones get the new one. A first install always needs the admin's approval;
//! an upgrade needs it again only when it asks for more (`review`).

use heph_registry::capabilities::ManifestSummary;

use super::review::{active, InstallOutcome, Review};
use crate::app::{App, AppError};
use crate::runtime::Connector;
use crate::store::{Activation, InstalledConnector, PackageRow, User};

impl App {
    /// Verifies a package and installs it: at once when `approve` is given or no approval is
    /// needed, otherwise it waits for [`App::approve_connector`] while the active version (if
    /// any) keeps running.
    pub async fn install_package(
        &self,
        admin: &User,
        bytes: &[u8],
        expected_digest: Option<&str>,
        source: &str,
        approve: bool,
    ) -> Result<InstallOutcome, AppError> {
        App::require_admin(admin)?;
        let _one_at_a_time = self.install_lock.lock().await;
        let verified = self.verify_package(bytes, expected_digest).await?;
        let id = verified.summary.id.clone();
        let current = self.store.connector(&id).await.ok();
        let package = &verified.package;
        let review = Review::new(
            &verified.summary,
            &package.digest,
            &package.signature.key,
            current.as_ref(),
        );
        if active(current.as_ref()).is_some_and(|row| row.digest == package.digest) {
            return Ok(InstallOutcome::AlreadyActive { review });
        }
        let row = PackageRow {
            digest: package.digest.clone(),
            connector_id: id.clone(),
            version: verified.summary.version.clone(),
            manifest: package.contents.manifest.clone(),
            describe: verified.describe.to_string(),
            component: Some(package.contents.component.clone()),
            source: source.to_string(),
            publisher: verified.summary.publisher.clone(),
            publisher_key: package.signature.key.clone(),
            created_at: 0,
        };
        self.store.add_package(&row).await?;
        if !review.needs_approval.is_empty() && !approve {
            let reason = review.needs_approval.join("; ");
            self.store
                .set_pending(&id, &row.digest, &row.version, &row.manifest, &reason)
                .await?;
            tracing::info!(connector = %id, version = %review.version, "install awaits approval: {reason}");
            return Ok(InstallOutcome::AwaitingApproval { review });
        }
        let approved = !review.needs_approval.is_empty();
        self.activate_version(&row, verified.connector, current.as_ref(), approved)
            .await?;
        tracing::info!(connector = %id, version = %review.version, digest = %review.digest, "connector installed");
        Ok(InstallOutcome::Installed { review })
    }

    /// Approves the version waiting for approval, and activates it.
    pub async fn approve_connector(&self, admin: &User, id: &str) -> Result<Review, AppError> {
        App::require_admin(admin)?;
        let _one_at_a_time = self.install_lock.lock().await;
        let row = self.store.connector(id).await?;
        let digest = row.pending_digest.as_deref().ok_or_else(|| {
            AppError::conflict(format!("`{id}` has no version waiting for approval"))
        })?;
        let package = self.store.package(digest).await?;
        let summary = ManifestSummary::parse(&package.manifest)
            .map_err(|e| AppError::internal(format!("kept package {digest}: {e}")))?;
        let review = Review::new(&summary, digest, &package.publisher_key, Some(&row));
        let connector = self.load_package(&package)?;
        self.activate_version(&package, connector, Some(&row), true)
            .await?;
        tracing::info!(connector = %id, version = %package.version, "pending version approved");
        Ok(review)
    }

    /// Goes back to the version that was active before the last install or upgrade.
    pub async fn rollback_connector(
        &self,
        admin: &User,
        id: &str,
    ) -> Result<InstalledConnector, AppError> {
        App::require_admin(admin)?;
        let _one_at_a_time = self.install_lock.lock().await;
        let row = self.store.connector(id).await?;
        let previous = row.previous_digest.clone().ok_or_else(|| {
            AppError::conflict(format!("`{id}` has no earlier version to roll back to"))
        })?;
        if row.status != "active" {
            return Err(AppError::conflict(format!(
                "`{id}` is {}; install it again instead",
                row.status
            )));
        }
        let package = self.store.package(&previous).await?;
        let connector = self.load_package(&package)?;
        self.activate_version(&package, connector, Some(&row), false)
            .await?;
        tracing::info!(connector = %id, from = %row.version, to = %package.version, "connector rolled back");
        Ok(self.store.connector(id).await?)
    }

    /// Removes a connector. While enabled scenarios use it, it refuses (naming them) unless
    /// `disable_scenarios`, which disables them first.
    pub async fn remove_connector(
        &self,
        admin: &User,
        id: &str,
        disable_scenarios: bool,
    ) -> Result<Vec<String>, AppError> {
        App::require_admin(admin)?;
        let _one_at_a_time = self.install_lock.lock().await;
        let row = self.store.connector(id).await?;
        if row.status == "removed" {
            return Err(AppError::not_found(format!("`{id}` is not installed")));
        }
        let users: Vec<_> = self
            .store
            .scenarios_using_connector(id)
            .await?
            .into_iter()
            .filter(|s| s.enabled)
            .collect();
        if !users.is_empty() && !disable_scenarios {
            let names: Vec<String> = users
                .iter()
                .map(|s| format!("{} ({})", s.name, s.id))
                .collect();
            return Err(AppError::conflict(format!(
                "enabled scenarios use `{id}`: {}; disable them first, or remove with --disable-scenarios",
                names.join(", ")
            ))
            .with_details(serde_json::json!({ "scenarios": users.iter().map(|s| &s.id).collect::<Vec<_>>() })));
        }
        let mut disabled = Vec::new();
        for scenario in users {
            self.store
                .set_scenario_enabled(&scenario.user_id, &scenario.id, false)
                .await?;
            disabled.push(scenario.id);
        }
        self.store.mark_removed(id).await?;
        self.catalog.remove(id);
        tracing::info!(connector = %id, disabled = disabled.len(), "connector removed");
        Ok(disabled)
    }

    /// Makes a kept package, already compiled into `connector`, the active version: recorded
    /// by compare-and-set against the row the caller read, then swapped in.
    async fn activate_version(
        &self,
        package: &PackageRow,
        connector: Connector,
        current: Option<&InstalledConnector>,
        approved: bool,
    ) -> Result<(), AppError> {
        let (id, digest) = (package.connector_id.as_str(), package.digest.as_str());
        let active = active(current);
        let allow_private_network = if approved {
            connector.manifest().capabilities.private_network
        } else {
            active.is_some_and(|r| r.allow_private_network)
        };
        let expected = active.map(|r| r.digest.as_str());
        let done = self
            .store
            .activate(
                &Activation {
                    id,
                    digest,
                    version: &package.version,
                    manifest: &package.manifest,
                    source: &package.source,
                    previous: expected,
                    allow_private_network,
                },
                expected,
            )
            .await?;
        if !done {
            let now = self.store.connector(id).await?;
            if now.status == "active" && now.digest == digest {
                // Another admin installed this very version at the same moment.
                return Ok(());
            }
            return Err(AppError::conflict(format!(
                "`{id}` changed while this install ran (now {} {}); look at it and try again",
                now.version, now.status
            )));
        }
        self.catalog.swap(connector, digest);
        Ok(())
    }
}
