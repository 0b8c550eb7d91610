//! What a connector version asks for, read from its manifest: the registry lists it and the
//! host shows it to the admin before approving an install or an upgrade.

use serde::{Deserialize, Serialize};

/// The manifest fields the registry reads (the host parses the whole manifest itself).
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestSummary {
    /// The connector's id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Who publishes it.
    pub publisher: String,
    /// The contract version.
    #[serde(default)]
    pub contract: String,
    /// One line on what it does.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    auth: AuthSummary,
    #[serde(default)]
    capabilities: CapabilitySection,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct AuthSummary {
    #[serde(default = "none")]
    kind: String,
}

fn none() -> String {
    "none".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
struct CapabilitySection {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    private_network: bool,
}

/// What a version may do once installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The hosts it may reach (`{field}` stands for a connection field).
    pub hosts: Vec<String>,
    /// How the host authenticates its requests: `none`, `basic`, `bearer`, `api_key`, `oauth2`.
    pub auth: String,
    /// Whether it asks to reach private networks (loopback, LAN).
    pub private_network: bool,
}

impl ManifestSummary {
    /// Reads the summary from `heph.toml` text.
    pub fn parse(text: &str) -> Result<ManifestSummary, String> {
        let summary: ManifestSummary =
            toml::from_str(text).map_err(|e| format!("heph.toml: {e}"))?;
        semver::Version::parse(&summary.version).map_err(|e| {
            format!(
                "heph.toml: version `{}` is not a semantic version: {e}",
                summary.version
            )
        })?;
        if !is_name(&summary.id) {
            return Err(format!(
                "heph.toml: id `{}` must be lower-case letters, digits, `-` or `_`",
                summary.id
            ));
        }
        Ok(summary)
    }

    /// What it asks for.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            hosts: self.capabilities.hosts.clone(),
            auth: self.auth.kind.clone(),
            private_network: self.capabilities.private_network,
        }
    }
}

impl Capabilities {
    /// What `self` asks for beyond `before`: new hosts, another auth kind, private networks.
    /// Empty when an upgrade needs no new approval.
    pub fn added_since(&self, before: &Capabilities) -> Vec<String> {
        let mut added: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| !before.hosts.contains(h))
            .map(|h| format!("new host {h}"))
            .collect();
        if self.auth != before.auth {
            added.push(format!(
                "auth changes from {} to {}",
                before.auth, self.auth
            ));
        }
        if self.private_network && !before.private_network {
            added.push("private networks (loopback, LAN)".into());
        }
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_names_what_it_adds() {
        let before = Capabilities {
            hosts: vec!["https://api.monday.com".into()],
            auth: "api_key".into(),
            private_network: false,
        };
        assert!(before.added_since(&before).is_empty());
        let mut after = before.clone();
        after.hosts.push("https://files.monday.com".into());
        after.auth = "oauth2".into();
        after.private_network = true;
        assert_eq!(
            after.added_since(&before),
            [
                "new host https://files.monday.com",
                "auth changes from api_key to oauth2",
                "private networks (loopback, LAN)"
            ]
        );
        let mut fewer = before.clone();
        fewer.hosts.clear();
        assert!(
            fewer.added_since(&before).is_empty(),
            "asking for less needs no approval"
        );
    }
}

/// Whether `name` is a connector id or publisher name: lower-case letters, digits, `-` or `_`
/// (one or more). Manifests, packages, registries and hosts all hold names to this.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}
