//! The credential vault: every secret heph stores is sealed here with AES-256-GCM before it
//! reaches the store, and opened here when a call needs it.
//!
//! - A fresh random 96-bit nonce per value.
//! - The owning row and field are the associated data: a ciphertext copied to another row or
//!   field does not open, and neither does one with a flipped byte.
//! - Each value records the id of the key that sealed it (`k` + 12 hex digits of a hash of the
//!   key), so keys can rotate: new values use the first key of the keyring, older ones open
//!   with whichever key sealed them, and `heph vault rotate` moves them all to the newest key.
//!
//! The keyring comes from `HEPH_MASTER_KEY` or from the key file in the data directory,
//! created (mode 0600) on first start. Starting with a store whose values were sealed by keys
//! the keyring lacks is refused with a message naming the missing key ids.

mod keyring;
mod rotate;

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::store::{Sealed, Store, StoreError};
pub use keyring::{KeySource, Keyring, MasterKey};
pub use rotate::RotationReport;

/// Why the vault refused.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The store holds sealed values but no key was given.
    #[error("the store holds {count} encrypted values but no master key was found: set HEPH_MASTER_KEY or restore the key file {path}")]
    NoKey {
        /// Where the key file was looked for.
        path: String,
        /// How many values are sealed.
        count: i64,
    },
    /// Values in the store were sealed by keys the keyring lacks.
    #[error("the store holds values encrypted with key{} {} that {} not in the keyring ({}); this is the wrong master key, or an old key was retired too early", if .missing.len() > 1 { "s" } else { "" }, .missing.join(", "), if .missing.len() > 1 { "are" } else { "is" }, .origin)]
    WrongKey {
        /// The key ids missing.
        missing: Vec<String>,
        /// Where the keyring came from.
        origin: String,
    },
    /// A value does not open.
    #[error("the secret {field} of {owner} cannot be decrypted: it was altered, or copied from another row")]
    Tampered {
        /// The owning row.
        owner: String,
        /// The field.
        field: String,
    },
    /// A value was sealed with a key the keyring lacks.
    #[error("the secret {field} of {owner} was encrypted with key {key_id}, which is not in the keyring")]
    UnknownKey {
        /// The owning row.
        owner: String,
        /// The field.
        field: String,
        /// The key id.
        key_id: String,
    },
    /// The key material or key file is unusable.
    #[error("{0}")]
    Key(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The vault. Share it behind an `Arc`.
pub struct Vault {
    keyring: RwLock<Keyring>,
    source: KeySource,
    /// When the key file was last checked for changes (another process may have rotated).
    checked: RwLock<Instant>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.source)
    }
}

/// How often a server re-reads the key file to notice a rotation by another process.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

impl Vault {
    /// Opens the vault for a store: loads the keyring (creating the key file when the store is
    /// new), and checks that it holds every key the store's values were sealed with.
    pub async fn open(source: KeySource, store: &Store) -> Result<Vault, VaultError> {
        let usage = store.secret_key_usage().await?;
        let keyring = match source.load()? {
            Some(keyring) => keyring,
            None => {
                let count: i64 = usage.iter().map(|(_, n)| n).sum();
                if count > 0 {
                    return Err(VaultError::NoKey {
                        path: source.to_string(),
                        count,
                    });
                }
                source.create()?
            }
        };
        let missing: Vec<String> = usage
            .iter()
            .filter(|(id, _)| keyring.get(id).is_none())
            .map(|(id, _)| id.clone())
            .collect();
        if !missing.is_empty() {
            return Err(VaultError::WrongKey {
                missing,
                origin: source.to_string(),
            });
        }
        Ok(Vault {
            keyring: RwLock::new(keyring),
            source,
            checked: RwLock::new(Instant::now()),
        })
    }

    /// A vault over a fixed keyring (tests, tools).
    pub fn with_keyring(keyring: Keyring) -> Vault {
        Vault {
            keyring: RwLock::new(keyring),
            source: KeySource::Fixed,
            checked: RwLock::new(Instant::now()),
        }
    }

    /// Where the keys come from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The id of the key new values are sealed with.
    pub fn active_key_id(&self) -> String {
        self.maybe_reload();
        self.read_keyring().active().id().to_string()
    }

    /// Seals `plaintext` as the value of `field` of `owner`.
    pub fn seal(&self, owner: &str, field: &str, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        self.maybe_reload();
        let keyring = self.read_keyring();
        let key = keyring.active();
        let nonce = random_bytes::<12>();
        let ciphertext = Aes256Gcm::new(key.bytes().into())
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad(owner, field).as_bytes(),
                },
            )
            .map_err(|_| VaultError::Key("AES-GCM refused to encrypt".into()))?;
        Ok(Sealed {
            key_id: key.id().to_string(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Seals a string.
    pub fn seal_str(
        &self,
        owner: &str,
        field: &str,
        plaintext: &str,
    ) -> Result<(String, Sealed), VaultError> {
        Ok((
            field.to_string(),
            self.seal(owner, field, plaintext.as_bytes())?,
        ))
    }

    /// Opens a value sealed as `field` of `owner`.
    pub fn open_value(
        &self,
        owner: &str,
        field: &str,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, VaultError> {
        if self.read_keyring().get(&sealed.key_id).is_none() {
            // Another process may have rotated to a key this one has not read yet.
            self.reload();
        }
        let keyring = self.read_keyring();
        let key = keyring
            .get(&sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey {
                owner: owner.into(),
                field: field.into(),
                key_id: sealed.key_id.clone(),
            })?;
        let tampered = || VaultError::Tampered {
            owner: owner.into(),
            field: field.into(),
        };
        if sealed.nonce.len() != 12 {
            return Err(tampered());
        }
        Aes256Gcm::new(key.bytes().into())
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad(owner, field).as_bytes(),
                },
            )
            .map_err(|_| tampered())
    }

    /// Opens a string value.
    pub fn open_string(
        &self,
        owner: &str,
        field: &str,
        sealed: &Sealed,
    ) -> Result<String, VaultError> {
        String::from_utf8(self.open_value(owner, field, sealed)?).map_err(|_| {
            VaultError::Tampered {
                owner: owner.into(),
                field: field.into(),
            }
        })
    }

    fn read_keyring(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        // A poisoned lock means a panic elsewhere mid-write; the keyring itself is replaced
        // whole, so it is still consistent.
        self.keyring.read().unwrap_or_else(|e| e.into_inner())
    }

    fn maybe_reload(&self) {
        let due = self
            .checked
            .read()
            .map(|t| t.elapsed() >= RELOAD_EVERY)
            .unwrap_or(true);
        if due {
            self.reload();
        }
    }

    /// Re-reads the key file if it changed (a no-op for keys from the environment).
    pub fn reload(&self) {
        if let Ok(mut checked) = self.checked.write() {
            *checked = Instant::now();
        }
        let current = self.read_keyring().stamp();
        if let Ok(Some(fresh)) = self.source.load_if_changed(current) {
            if let Ok(mut keyring) = self.keyring.write() {
                // Never drop a key this process knows: values it sealed a moment ago may use it.
                *keyring = fresh.merged_with(&keyring);
            }
        }
    }
}

/// The associated data binding a value to its place.
fn aad(owner: &str, field: &str) -> String {
    format!("heph-vault/1\0{owner}\0{field}")
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The default key file in a data directory.
pub fn default_key_file(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("master.key")
}
