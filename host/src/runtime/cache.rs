//! Compiled components on disk. Compiling a connector takes tens of milliseconds to seconds;
//! loading the compiled artifact by mmap takes about a hundred microseconds. Artifacts are
//! keyed by the component's sha256 and the engine's compatibility hash (wasmtime version and
//! settings), so a new wasmtime or a changed setting compiles afresh instead of loading
//! something incompatible.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The sha256 of a component, in hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where compiled artifacts live.
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now (and stored, if there is a cache directory).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

impl ComponentCache {
    /// A cache in `dir`, or none (always compile).
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> ComponentCache {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{digest}-{}.cwasm", self.engine_key)))
    }

    /// Loads the compiled component for `bytes`, compiling and storing it when it is not cached.
    /// A corrupt or unreadable artifact is compiled again, never trusted.
    pub fn load(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<(Component, Origin)> {
        let digest = digest(bytes);
        if let Some(path) = self.path(&digest) {
            if path.exists() {
                // SAFETY: the file was written by `Component::serialize` of this engine
                // configuration (the name carries its compatibility hash) into a directory
                // only this host writes; wasmtime still checks its header before using it.
                match unsafe { Component::deserialize_file(engine, &path) } {
                    Ok(component) => return Ok((component, Origin::Cached)),
                    Err(_) => {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(path) = self.path(&digest) {
            // A cache that cannot be written only costs the next start a compile.
            let _ = store(&path, &component.serialize()?);
        }
        Ok((component, Origin::Compiled))
    }
}

fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        crate::files::private_dir(dir)?;
    }
    // Unique per process and per write: two installs compiling the same component at once
    // never write into the same temporary file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    crate::files::write_private(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
