//! Installing, approving, upgrading, rolling back and removing connectors.
//!
//! An install verifies before it changes anything: the package's digest, its signature against
//! the admin's trusted key for its publisher, then the component itself (imports, exports,
//! manifest agreement), which also compiles it. Only then is the new version activated, by a
//! compare-and-set on the store (two admins installing at once: one wins, the other sees it
//! done) and a swap in the catalog: calls already running finish on the old version, the next
//! ones get the new one. A first install always needs the admin's approval; an upgrade needs it
//! again only when it asks for more (new hosts, another auth kind, private networks).

use heph_registry::capabilities::ManifestSummary;
use heph_registry::{Capabilities, Package, PackageError, PublicKey};
use serde::Serialize;
use serde_json::Value;

use super::check;
use crate::app::{App, AppError};
use crate::store::{Activation, InstalledConnector, PackageRow, User};

/// What the admin is asked to approve: who the connector is and what it may do.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// The connector's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The version being installed.
    pub version: String,
    /// Who published (and signed) it.
    pub publisher: String,
    /// The key that signed it.
    pub key: String,
    /// The package's digest.
    pub digest: String,
    /// One line on what it does.
    pub description: String,
    /// What it may do once installed.
    pub capabilities: Capabilities,
    /// The active version, on an upgrade.
    pub active_version: Option<String>,
    /// Why the admin's approval is needed (empty: an upgrade that asks for nothing more).
    pub needs_approval: Vec<String>,
}

/// How an install ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum InstallOutcome {
    /// The version is active now.
    Installed {
        /// What was installed.
        review: Review,
    },
    /// This very package was already the active version (perhaps installed by another admin
    /// at the same moment): nothing changed.
    AlreadyActive {
        /// What is installed.
        review: Review,
    },
    /// Verified and kept, but waiting for the admin's approval; the active version (if any)
    /// keeps running.
    AwaitingApproval {
        /// What needs approving.
        review: Review,
    },
}

impl InstallOutcome {
    /// The review, whatever the outcome.
    pub fn review(&self) -> &Review {
        match self {
            InstallOutcome::Installed { review }
            | InstallOutcome::AlreadyActive { review }
            | InstallOutcome::AwaitingApproval { review } => review,
        }
    }
}

/// A package that passed every check.
struct Verified {
    package: Package,
    summary: ManifestSummary,
    describe: Value,
}

fn package_error(e: PackageError) -> AppError {
    match e {
        PackageError::Malformed(_) => AppError::new("invalid_package", 400, e.to_string()),
        PackageError::DigestMismatch { .. } => AppError::new("digest_mismatch", 400, e.to_string()),
        PackageError::BadSignature { .. } => AppError::new("bad_signature", 403, e.to_string()),
    }
}

fn capabilities_of(manifest: &str) -> Capabilities {
    ManifestSummary::parse(manifest)
        .map(|m| m.capabilities())
        .unwrap_or(Capabilities {
            hosts: Vec::new(),
            auth: "none".into(),
            private_network: false,
        })
}

impl App {
    /// Reads a package and checks everything about it, changing nothing: the digest (when the
    /// caller knows which one it asked for), the signature against the trusted key of its
    /// publisher, then the component (which compiles it, so that activation is a swap).
    async fn verify_package(
        &self,
        bytes: &[u8],
        expected_digest: Option<&str>,
    ) -> Result<Verified, AppError> {
        let package = Package::read(bytes).map_err(package_error)?;
        if let Some(expected) = expected_digest {
            package.expect_digest(expected).map_err(package_error)?;
        }
        let publisher = &package.signature.publisher;
        let trusted = self.store.trusted_publishers().await?;
        let Some((_, trusted_key)) = trusted.iter().find(|(name, _)| name == publisher) else {
            return Err(AppError::new(
                "untrusted_publisher",
                403,
                format!(
                    "the package is signed by publisher `{publisher}` (key {}), whom this host does not trust; if that key is theirs, run `heph publisher trust {publisher} {}`",
                    package.signature.key, package.signature.key
                ),
            ));
        };
        if *trusted_key != package.signature.key {
            return Err(AppError::new(
                "untrusted_key",
                403,
                format!(
                    "the package says it is signed by `{publisher}` with key {}, but the key trusted for `{publisher}` is {trusted_key}: nothing was installed",
                    package.signature.key
                ),
            ));
        }
        let key: PublicKey = trusted_key
            .parse()
            .map_err(|e| AppError::internal(format!("trusted key of `{publisher}`: {e}")))?;
        package.verify(&key).map_err(package_error)?;
        let summary = ManifestSummary::parse(&package.contents.manifest)
            .map_err(|e| AppError::new("invalid_package", 400, e))?;
        if summary.publisher != *publisher {
            return Err(AppError::new(
                "bad_signature",
                403,
                format!(
                    "the manifest names publisher `{}`, but the package is signed by `{publisher}`",
                    summary.publisher
                ),
            ));
        }
        let checked = check::check(
            &self.runtime,
            &package.contents.manifest,
            &package.contents.component,
        )
        .await
        .map_err(|e| {
            AppError::new(
                "package_refused",
                422,
                format!("the package cannot be installed:\n{e}"),
            )
            .with_details(serde_json::json!({ "problems": e.problems }))
        })?;
        Ok(Verified {
            package,
            summary,
            describe: checked.describe,
        })
    }

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
        let review = review_of(&verified, current.as_ref());
        let contents = &verified.package.contents;
        self.store
            .add_package(&PackageRow {
                digest: verified.package.digest.clone(),
                connector_id: id.clone(),
                version: verified.summary.version.clone(),
                manifest: contents.manifest.clone(),
                describe: verified.describe.to_string(),
                component: Some(contents.component.clone()),
                source: source.to_string(),
                publisher: verified.summary.publisher.clone(),
                created_at: 0,
            })
            .await?;
        if let Some(row) = current.as_ref().filter(|r| r.status == "active") {
            if row.digest == verified.package.digest {
                return Ok(InstallOutcome::AlreadyActive { review });
            }
        }
        if !review.needs_approval.is_empty() && !approve {
            self.store
                .set_pending(
                    &id,
                    &verified.package.digest,
                    &verified.summary.version,
                    &contents.manifest,
                    &review.needs_approval.join("; "),
                )
                .await?;
            tracing::info!(connector = %id, version = %review.version, "install awaits approval: {}", review.needs_approval.join("; "));
            return Ok(InstallOutcome::AwaitingApproval { review });
        }
        let approved = !review.needs_approval.is_empty();
        self.activate_version(
            &id,
            &verified.package.digest,
            current.as_ref(),
            approved,
            source,
        )
        .await?;
        tracing::info!(connector = %id, version = %review.version, digest = %review.digest, "connector installed");
        Ok(InstallOutcome::Installed { review })
    }

    /// Approves the version waiting for approval, and activates it.
    pub async fn approve_connector(&self, admin: &User, id: &str) -> Result<Review, AppError> {
        App::require_admin(admin)?;
        let _one_at_a_time = self.install_lock.lock().await;
        let row = self.store.connector(id).await?;
        let digest = row.pending_digest.clone().ok_or_else(|| {
            AppError::conflict(format!("`{id}` has no version waiting for approval"))
        })?;
        let package = self.store.package(&digest).await?;
        let active = (row.status == "active").then_some(&row);
        let source = package.source.clone();
        self.activate_version(id, &digest, active, true, &source)
            .await?;
        Ok(Review {
            id: id.to_string(),
            name: ManifestSummary::parse(&package.manifest)
                .map(|m| m.name)
                .unwrap_or_default(),
            version: package.version,
            publisher: package.publisher,
            key: String::new(),
            digest,
            description: String::new(),
            capabilities: capabilities_of(&package.manifest),
            active_version: active.map(|a| a.version.clone()),
            needs_approval: row.pending_reason.into_iter().collect(),
        })
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
        self.activate_version(id, &previous, Some(&row), false, &package.source)
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

    /// Makes a kept package the active version: compiled first (a failure changes nothing),
    /// then recorded by compare-and-set against what the caller read, then swapped in.
    async fn activate_version(
        &self,
        id: &str,
        digest: &str,
        active: Option<&InstalledConnector>,
        approved: bool,
        source: &str,
    ) -> Result<(), AppError> {
        let package = self.store.package(digest).await?;
        let connector = self.load_package(digest).await?;
        let active = active.filter(|r| r.status == "active");
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
                    source,
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

fn review_of(verified: &Verified, current: Option<&InstalledConnector>) -> Review {
    let capabilities = verified.summary.capabilities();
    let active = current.filter(|r| r.status == "active");
    let needs_approval = match active {
        Some(row) => capabilities.added_since(&capabilities_of(&row.manifest)),
        None => {
            let mut reasons = vec![format!(
                "first install: it may reach {} with {} auth",
                if capabilities.hosts.is_empty() {
                    "no host".to_string()
                } else {
                    capabilities.hosts.join(", ")
                },
                capabilities.auth
            )];
            if capabilities.private_network {
                reasons.push("private networks (loopback, LAN)".into());
            }
            reasons
        }
    };
    Review {
        id: verified.summary.id.clone(),
        name: verified.summary.name.clone(),
        version: verified.summary.version.clone(),
        publisher: verified.summary.publisher.clone(),
        key: verified.package.signature.key.clone(),
        digest: verified.package.digest.clone(),
        description: verified.summary.description.clone(),
        capabilities,
        active_version: active.map(|r| r.version.clone()),
        needs_approval,
    }
}

impl App {
    /// Downloads `name@version` (`latest`: the newest version not yanked) from a registry and
    /// installs it, checking the bytes against the digest the registry lists.
    pub async fn install_from_registry(
        &self,
        admin: &User,
        registry: &str,
        name: &str,
        version: &str,
        approve: bool,
    ) -> Result<InstallOutcome, AppError> {
        App::require_admin(admin)?;
        let client = heph_registry::RegistryClient::new(registry);
        let download = client.download(name, version).await.map_err(|e| match e {
            heph_registry::client::ClientError::Refused {
                status: 404,
                message,
                ..
            } => AppError::not_found(format!("{registry}: {message}")),
            other => AppError::new("registry_error", 502, other.to_string()),
        })?;
        let source = format!("registry {}", client.url());
        self.install_package(
            admin,
            &download.bytes,
            Some(&download.digest),
            &source,
            approve,
        )
        .await
    }
}

impl App {
    /// Trusts a publisher's key (`ed25519:BASE64`, as `heph keygen` prints it).
    pub async fn trust_publisher(
        &self,
        admin: &User,
        name: &str,
        public_key: &str,
    ) -> Result<(), AppError> {
        App::require_admin(admin)?;
        let key: PublicKey = public_key.trim().parse().map_err(|e| {
            AppError::invalid(format!("`{public_key}` is not a publisher key: {e}"))
        })?;
        if name.is_empty() || name.len() > 64 {
            return Err(AppError::invalid("a publisher name has 1 to 64 characters"));
        }
        self.store.trust_publisher(name, &key.to_string()).await?;
        tracing::info!(admin = %admin.name, publisher = %name, key = %key, "publisher trusted");
        Ok(())
    }
}
