//! Key rotation while servers keep serving. `rotate` puts a new key first in the key file,
//! waits until every process has had time to notice (they re-read the file at least once a
//! second before sealing), then re-encrypts every value still under an older key. Each value
//! is replaced only if it is unchanged since it was read, so a value a server writes meanwhile
//! is never overwritten with a stale one. `retire` then drops the keys no value uses.

use serde::Serialize;

use super::keyring::{write_key_file, KeySource, Keyring, MasterKey};
use super::{Vault, VaultError, RELOAD_EVERY};
use crate::store::Store;

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// The key now sealing new values.
    pub active_key: String,
    /// Whether this rotation created that key.
    pub new_key: bool,
    /// Values re-encrypted.
    pub reencrypted: u64,
    /// Keys no value uses any more (candidates for `retire`).
    pub unused_keys: Vec<String>,
}

const BATCH: i64 = 256;

impl Vault {
    /// Re-encrypts every value under the newest key; with `new_key` and a key file, first adds
    /// a new key. Keys from `HEPH_MASTER_KEY` cannot be added here: put the new key first in
    /// the variable, restart, then rotate without `new_key`.
    pub async fn rotate(&self, store: &Store, new_key: bool) -> Result<RotationReport, VaultError> {
        if new_key {
            let KeySource::File(path) = self.source() else {
                return Err(VaultError::Key(format!(
                    "the keys come from {}: generate one with `heph vault keygen`, put it first in HEPH_MASTER_KEY (keep the old keys after it), restart heph, then run `heph vault rotate --no-new-key`",
                    self.source()
                )));
            };
            let current = self
                .source()
                .load()?
                .ok_or_else(|| VaultError::Key(format!("{} does not exist", path.display())))?;
            let mut keys = vec![MasterKey::generate()];
            keys.extend(current.keys().iter().cloned());
            write_key_file(path, &Keyring::new(keys)?)?;
            self.reload();
            // Servers re-read the key file at least every RELOAD_EVERY before sealing; after
            // twice that, none seals with the old key any more, so the sweep below is final.
            tokio::time::sleep(RELOAD_EVERY * 2).await;
        }
        let active = self.active_key_id();
        let mut reencrypted = 0u64;
        loop {
            let batch = store.secrets_not_under(&active, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            let mut progress = false;
            for row in batch {
                let plaintext = self.open_value(&row.owner, &row.field, &row.sealed)?;
                let fresh = self.seal(&row.owner, &row.field, &plaintext)?;
                if fresh.key_id != active {
                    // Another rotation made a newer key meanwhile; let it finish the job.
                    return Err(VaultError::Key(
                        "another rotation changed the active key; run rotate again".into(),
                    ));
                }
                if store
                    .replace_secret(&row.owner, &row.field, &row.sealed, &fresh)
                    .await?
                {
                    reencrypted += 1;
                    progress = true;
                }
            }
            if !progress {
                // Every row changed under us; yield and read them again.
                tokio::task::yield_now().await;
            }
        }
        Ok(RotationReport {
            active_key: active,
            new_key,
            reencrypted,
            unused_keys: self.unused_keys(store).await?,
        })
    }

    /// The keys of the keyring no stored value uses, the active one excepted.
    pub async fn unused_keys(&self, store: &Store) -> Result<Vec<String>, VaultError> {
        let usage = store.secret_key_usage().await?;
        let keyring = self.read_keyring();
        Ok(keyring
            .keys()
            .iter()
            .skip(1)
            .filter(|k| !usage.iter().any(|(id, n)| id == k.id() && *n > 0))
            .map(|k| k.id().to_string())
            .collect())
    }

    /// Removes unused keys from the key file; returns their ids.
    pub async fn retire(&self, store: &Store) -> Result<Vec<String>, VaultError> {
        let KeySource::File(path) = self.source() else {
            return Err(VaultError::Key(format!(
                "the keys come from {}: remove the retired keys from the variable yourself (unused: {})",
                self.source(),
                self.unused_keys(store).await?.join(", ")
            )));
        };
        self.reload();
        let unused = self.unused_keys(store).await?;
        let kept: Vec<MasterKey> = self
            .read_keyring()
            .keys()
            .iter()
            .filter(|k| !unused.iter().any(|u| u == k.id()))
            .cloned()
            .collect();
        write_key_file(path, &Keyring::new(kept)?)?;
        // Forget them here too (merging on reload would otherwise keep them in memory).
        if let Ok(Some(fresh)) = self.source().load() {
            if let Ok(mut keyring) = self.keyring.write() {
                *keyring = fresh;
            }
        }
        Ok(unused)
    }
}
