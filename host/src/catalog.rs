//! The installed connectors. The first-party ones are built into the binary; more can be
//! loaded from directories, each holding a `heph.toml` and one `.wasm` component (the registry
//! and the store will take this over).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::manifest::Manifest;
use crate::runtime::{Connector, Origin, Runtime};

include!(concat!(env!("OUT_DIR"), "/first_party.rs"));

/// The connectors this host can call, by id.
#[derive(Default)]
pub struct Catalog {
    connectors: BTreeMap<String, Arc<Connector>>,
    /// Where each came from (`builtin`, `directory`) and its manifest text.
    origins: BTreeMap<String, (&'static str, String)>,
}

/// Why a connector could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct CatalogError {
    source_name: String,
    message: String,
}

impl Catalog {
    /// Loads the first-party connectors.
    pub fn first_party(runtime: &Runtime) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (manifest, wasm) in FIRST_PARTY {
            catalog.add(runtime, "built-in connector", "builtin", manifest, wasm)?;
        }
        Ok(catalog)
    }

    /// Adds one connector from its manifest text and component bytes; `kind` says where it
    /// came from (`builtin`, `directory`).
    fn add(
        &mut self,
        runtime: &Runtime,
        source_name: &str,
        kind: &'static str,
        manifest: &str,
        wasm: &[u8],
    ) -> Result<Origin, CatalogError> {
        let fail = |message: String| CatalogError {
            source_name: source_name.to_string(),
            message,
        };
        let text = manifest.to_string();
        let manifest = Manifest::parse(manifest).map_err(|e| fail(e.to_string()))?;
        let (connector, origin) = runtime
            .load(manifest, wasm)
            .map_err(|e| fail(e.to_string()))?;
        let id = connector.manifest().id.clone();
        self.origins.insert(id.clone(), (kind, text));
        self.connectors.insert(id, Arc::new(connector));
        Ok(origin)
    }

    /// Adds the connector in `dir` (`heph.toml` and one `.wasm`).
    pub fn add_dir(&mut self, runtime: &Runtime, dir: &Path) -> Result<Origin, CatalogError> {
        let name = dir.display().to_string();
        let fail = |message: String| CatalogError {
            source_name: name.clone(),
            message,
        };
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
        self.add(runtime, &name, "directory", &manifest, &wasm)
    }

    /// Where a connector came from: `builtin` or `directory`.
    pub fn source_of(&self, id: &str) -> &'static str {
        self.origins.get(id).map_or("directory", |o| o.0)
    }

    /// A connector's manifest text.
    pub fn manifest_text(&self, id: &str) -> Option<&str> {
        self.origins.get(id).map(|o| o.1.as_str())
    }

    /// A connector by id.
    pub fn get(&self, id: &str) -> Option<&Arc<Connector>> {
        self.connectors.get(id)
    }

    /// All connectors, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Connector>> {
        self.connectors.values()
    }
}
