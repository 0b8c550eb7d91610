//! Package blobs, content-addressed: a package lives at `sha256/HEX`, named by its digest.
//! Through `object_store`, so that a bucket can take the place of the local directory.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as BlobPath;
use object_store::{ObjectStore, PutPayload};

/// The blob store.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

fn path_of(digest: &str) -> Option<BlobPath> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then(|| BlobPath::from(format!("sha256/{hex}")))
}

impl Blobs {
    /// Blobs in a local directory (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Blobs, object_store::Error> {
        std::fs::create_dir_all(dir).map_err(|e| object_store::Error::Generic {
            store: "local",
            source: Box::new(e),
        })?;
        Ok(Blobs {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
        })
    }

    /// Blobs in any object store.
    pub fn new(store: Arc<dyn ObjectStore>) -> Blobs {
        Blobs { store }
    }

    /// Stores a package under its digest. Writing the same digest twice writes the same bytes.
    pub async fn put(&self, digest: &str, bytes: bytes::Bytes) -> Result<(), object_store::Error> {
        let path = path_of(digest).ok_or_else(|| invalid(digest))?;
        // LocalFileSystem writes to a temporary file and renames it into place: a reader never
        // sees half a package.
        self.store.put(&path, PutPayload::from_bytes(bytes)).await?;
        Ok(())
    }

    /// A package by digest, or `None`.
    pub async fn get(&self, digest: &str) -> Result<Option<bytes::Bytes>, object_store::Error> {
        let Some(path) = path_of(digest) else {
            return Ok(None);
        };
        match self.store.get(&path).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes a blob (after a failed publish); a missing one is not an error.
    pub async fn delete(&self, digest: &str) -> Result<(), object_store::Error> {
        let Some(path) = path_of(digest) else {
            return Ok(());
        };
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn invalid(digest: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "blobs",
        source: format!("`{digest}` is not a sha256 digest").into(),
    }
}
