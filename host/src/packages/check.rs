//! The checks a component passes before it is packed or installed: it is a component this host
//! links, it imports nothing beyond the `plugin` world (and the WASI interfaces language
//! runtimes import anyway, which the host links with nothing granted), it exports the contract
//! its manifest names, and it agrees with its manifest (id, version, contract, actions and
//! triggers).

use serde_json::Value;

use crate::manifest::Manifest;
use crate::runtime::{Connector, Runtime};

/// What a connector may import, by interface name without its version. `wasi:filesystem`,
/// `wasi:sockets` and `wasi:cli` are there because Python and JavaScript components (and
/// Rust's standard library) import them whether they use them or not: the host links them
/// with no preopened directory, no socket address allowed and no variable.
const ALLOWED_IMPORTS: &[&str] = &[
    "heph:connector/types",
    "heph:connector/log",
    "heph:connector/signature",
    "wasi:http/outgoing-handler",
    "wasi:http/types",
    "wasi:io/*",
    "wasi:clocks/*",
    "wasi:random/*",
    "wasi:cli/*",
    "wasi:filesystem/*",
    "wasi:sockets/*",
];

/// A component that passed: its parsed manifest, its `describe()` (without `build`), and the
/// connector compiled and linked, ready to activate.
pub struct Checked {
    /// The manifest.
    pub manifest: Manifest,
    /// What `describe()` answered.
    pub describe: Value,
    /// The loaded connector.
    pub connector: Connector,
    /// What passed but deserves the partner's attention (printed by build and pack).
    pub warnings: Vec<String>,
}

/// What a partner should hear about a component that passed.
fn warnings(manifest: &Manifest, describe: &Value) -> Vec<String> {
    let mut warnings = Vec::new();
    let has_webhooks = describe["triggers"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["kind"] == "webhook"));
    if has_webhooks && manifest.signing_fields().next().is_none() {
        warnings.push(
            "the connector has webhook triggers but declares no signing key: mark the secret field that signs deliveries `sign = true`, or sign-hmac-sha256 and verify-hmac-sha256 will answer none and false".to_string(),
        );
    }
    warnings
}

/// Why a component cannot be packed or installed: every problem found, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct CheckError {
    /// The problems.
    pub problems: Vec<String>,
}

fn allowed(import: &str) -> bool {
    let name = import.split('@').next().unwrap_or(import);
    ALLOWED_IMPORTS
        .iter()
        .any(|rule| match rule.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *rule,
        })
}

/// Checks a manifest and a component together.
pub async fn check(
    runtime: &Runtime,
    manifest_text: &str,
    component: &[u8],
) -> Result<Checked, CheckError> {
    let one = |p: String| CheckError { problems: vec![p] };
    let manifest = Manifest::parse(manifest_text).map_err(|e| one(e.to_string()))?;
    let interfaces = runtime
        .interfaces(component)
        .map_err(|e| one(e.to_string()))?;
    let mut problems = Vec::new();
    for import in interfaces.imports.iter().filter(|i| !allowed(i)) {
        problems.push(format!(
            "the component imports `{import}`, which no connector may import (allowed: the plugin world — wasi:http/outgoing-handler, heph:connector/log and /signature — and the WASI interfaces language runtimes link)"
        ));
    }
    let contract = format!("heph:connector/connector@{}", manifest.contract);
    if !interfaces.exports.contains(&contract) {
        problems.push(format!(
            "the manifest says contract {}, but the component exports {}",
            manifest.contract,
            match interfaces.exports.as_slice() {
                [] => "nothing".to_string(),
                list => list.join(", "),
            }
        ));
    }
    if !problems.is_empty() {
        return Err(CheckError { problems });
    }
    let (connector, _) = runtime
        .load(manifest.clone(), component)
        .map_err(|e| one(e.to_string()))?;
    let mut describe = connector
        .describe_with_build()
        .await
        .result
        .map_err(|e| one(format!("describe() failed: {e}")))?;
    let build = describe
        .as_object_mut()
        .and_then(|fields| fields.remove("build"));
    if let Some(built) = build
        .as_ref()
        .and_then(|b| b["manifest"].as_str())
        .and_then(|text| Manifest::parse(text).ok())
    {
        for (what, packed, built) in [
            ("id", &manifest.id, &built.id),
            ("version", &manifest.version, &built.version),
            ("contract", &manifest.contract, &built.contract),
        ] {
            if packed != built {
                problems.push(format!(
                    "the manifest says {what} `{packed}`, but the component was built with {what} `{built}`: rebuild it (`heph connector build`)"
                ));
            }
        }
    }
    for (kind, named) in [
        ("actions", &manifest.actions),
        ("triggers", &manifest.triggers),
    ] {
        let Some(named) = named else { continue };
        let described: Vec<&str> = describe[kind]
            .as_array()
            .map(|list| list.iter().filter_map(|a| a["name"].as_str()).collect())
            .unwrap_or_default();
        for name in named.iter().filter(|n| !described.contains(&n.as_str())) {
            problems.push(format!(
                "the manifest names the {} `{name}`, which the component does not describe",
                &kind[..kind.len() - 1]
            ));
        }
        for name in described.iter().filter(|d| !named.iter().any(|n| n == *d)) {
            problems.push(format!(
                "the component describes the {} `{name}`, which the manifest's `{kind}` list does not name",
                &kind[..kind.len() - 1]
            ));
        }
    }
    if problems.is_empty() {
        Ok(Checked {
            warnings: warnings(&manifest, &describe),
            manifest,
            describe,
            connector,
        })
    } else {
        Err(CheckError { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn only_the_plugin_world_and_runtime_wasi_may_be_imported() {
        for ok in [
            "wasi:http/outgoing-handler@0.2.12",
            "wasi:http/types@0.2.0",
            "heph:connector/log@0.1.0",
            "wasi:filesystem/preopens@0.2.0",
            "wasi:sockets/tcp@0.2.3",
            "wasi:cli/environment@0.2.0",
            "wasi:io/streams@0.2.0",
        ] {
            assert!(allowed(ok), "{ok}");
        }
        for refused in [
            "wasi:http/incoming-handler@0.2.0",
            "wasi:keyvalue/store@0.2.0",
            "heph:connector/connector@0.1.0",
            "evil:raw/socket",
            "wasi:httpx/types",
        ] {
            assert!(!allowed(refused), "{refused}");
        }
    }
}
