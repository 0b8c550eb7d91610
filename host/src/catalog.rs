//! The loaded connectors: the active version of each installed connector, ready to call. An
//! install, upgrade or rollback swaps one entry at once: calls that already hold the old
//! version finish on it, the next ones get the new one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::manifest::Manifest;
use crate::runtime::{Connector, Origin, Runtime};

include!(concat!(env!("OUT_DIR"), "/first_party.rs"));

/// A built-in connector: its manifest text and component, shipped inside the binary.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// `heph.toml`.
    pub manifest: &'static str,
    /// The component.
    pub component: &'static [u8],
}

/// The connectors built into this binary.
pub fn builtins() -> impl Iterator<Item = Builtin> {
    FIRST_PARTY.iter().map(|(manifest, component)| Builtin {
        manifest,
        component,
    })
}

impl Builtin {
    /// Its id, from its manifest.
    pub fn id(&self) -> Option<String> {
        Manifest::parse(self.manifest).ok().map(|m| m.id)
    }

    /// What the store records as its installed digest: `sha256:` and its component's hash. A
    /// built-in connector is trusted by this digest: the binary is what the admin installed.
    pub fn digest(&self) -> String {
        format!("sha256:{}", crate::runtime::cache::digest(self.component))
    }
}

/// The built-in connector with this id.
pub fn builtin(id: &str) -> Option<Builtin> {
    builtins().find(|b| b.id().as_deref() == Some(id))
}

/// The ids of the built-in connectors, sorted.
pub fn builtin_ids() -> Vec<String> {
    let mut ids: Vec<String> = builtins().filter_map(|b| b.id()).collect();
    ids.sort();
    ids
}

/// The built-in component with this installed digest, if this binary has it.
pub fn builtin_component(digest: &str) -> Option<&'static [u8]> {
    builtins()
        .find(|b| b.digest() == digest)
        .map(|b| b.component)
}

/// One loaded connector and the installed digest it was loaded from.
#[derive(Clone)]
struct Loaded {
    connector: Arc<Connector>,
    installed_digest: String,
}

/// The connectors this host can call, by id.
#[derive(Default)]
pub struct Catalog {
    loaded: RwLock<BTreeMap<String, Loaded>>,
}

/// Why a connector could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct CatalogError {
    source_name: String,
    message: String,
}

impl CatalogError {
    /// An error about `source_name`.
    pub fn new(source_name: impl Into<String>, message: impl Into<String>) -> CatalogError {
        CatalogError {
            source_name: source_name.into(),
            message: message.into(),
        }
    }
}

/// Compiles (or takes from the cache) and links a connector from its manifest text and
/// component.
pub fn load(
    runtime: &Runtime,
    source_name: &str,
    manifest: &str,
    wasm: &[u8],
) -> Result<(Connector, Origin), CatalogError> {
    let manifest =
        Manifest::parse(manifest).map_err(|e| CatalogError::new(source_name, e.to_string()))?;
    runtime
        .load(manifest, wasm)
        .map_err(|e| CatalogError::new(source_name, e.to_string()))
}

/// Reads the connector in `dir` (`heph.toml` and one `.wasm`): its manifest text and component.
pub fn read_dir(dir: &Path) -> Result<(String, Vec<u8>), CatalogError> {
    let name = dir.display().to_string();
    let fail = |message: String| CatalogError::new(name.clone(), message);
    let manifest = std::fs::read_to_string(dir.join("heph.toml"))
        .map_err(|e| fail(format!("heph.toml: {e}")))?;
    let wasm_path = std::fs::read_dir(dir)
        .map_err(|e| fail(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .ok_or_else(|| fail("no .wasm component in this directory".into()))?;
    let wasm =
        std::fs::read(&wasm_path).map_err(|e| fail(format!("{}: {e}", wasm_path.display())))?;
    Ok((manifest, wasm))
}

impl Catalog {
    /// Makes `connector` the one called for its id; `installed_digest` is the store's digest of
    /// what it was loaded from. Returns the connector it replaced.
    pub fn swap(&self, connector: Connector, installed_digest: &str) -> Option<Arc<Connector>> {
        let id = connector.manifest().id.clone();
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        loaded
            .insert(
                id,
                Loaded {
                    connector: Arc::new(connector),
                    installed_digest: installed_digest.to_string(),
                },
            )
            .map(|old| old.connector)
    }

    /// Unloads a connector.
    pub fn remove(&self, id: &str) -> Option<Arc<Connector>> {
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        loaded.remove(id).map(|old| old.connector)
    }

    /// A connector by id.
    pub fn get(&self, id: &str) -> Option<Arc<Connector>> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        loaded.get(id).map(|l| l.connector.clone())
    }

    /// The installed digest a connector was loaded from.
    pub fn installed_digest(&self, id: &str) -> Option<String> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        loaded.get(id).map(|l| l.installed_digest.clone())
    }

    /// All loaded connectors, by id.
    pub fn list(&self) -> Vec<Arc<Connector>> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        loaded.values().map(|l| l.connector.clone()).collect()
    }

    /// The ids of the loaded connectors.
    pub fn ids(&self) -> Vec<String> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        loaded.keys().cloned().collect()
    }
}
