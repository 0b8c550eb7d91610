//! What the admin is shown before approving a connector version, and why it needs approval: a
//! first install always does; an upgrade only when it asks for more than the active version.

use heph_registry::capabilities::ManifestSummary;
use heph_registry::Capabilities;
use serde::Serialize;

use crate::store::InstalledConnector;

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

/// What a manifest asks for (nothing, if it cannot be read: it was checked when kept).
pub(super) fn capabilities_of(manifest: &str) -> Capabilities {
    ManifestSummary::parse(manifest)
        .map(|m| m.capabilities())
        .unwrap_or(Capabilities {
            hosts: Vec::new(),
            auth: "none".into(),
            private_network: false,
        })
}

/// The active row of an install, if a version is active.
pub(super) fn active(current: Option<&InstalledConnector>) -> Option<&InstalledConnector> {
    current.filter(|r| r.status == "active")
}

impl Review {
    /// The review of a version described by `summary`, signed by `key`, against what is
    /// installed now.
    pub(super) fn new(
        summary: &ManifestSummary,
        digest: &str,
        key: &str,
        current: Option<&InstalledConnector>,
    ) -> Review {
        let capabilities = summary.capabilities();
        let active = active(current);
        Review {
            id: summary.id.clone(),
            name: summary.name.clone(),
            version: summary.version.clone(),
            publisher: summary.publisher.clone(),
            key: key.to_string(),
            digest: digest.to_string(),
            description: summary.description.clone(),
            needs_approval: needs_approval(&capabilities, active),
            capabilities,
            active_version: active.map(|r| r.version.clone()),
        }
    }
}

/// Why installing a version with `capabilities` needs the admin's approval.
fn needs_approval(capabilities: &Capabilities, active: Option<&InstalledConnector>) -> Vec<String> {
    if let Some(row) = active {
        return capabilities.added_since(&capabilities_of(&row.manifest));
    }
    let hosts = if capabilities.hosts.is_empty() {
        "no host".to_string()
    } else {
        capabilities.hosts.join(", ")
    };
    let mut reasons = vec![format!(
        "first install: it may reach {hosts} with {} auth",
        capabilities.auth
    )];
    if capabilities.private_network {
        reasons.push("private networks (loopback, LAN)".into());
    }
    reasons
}
