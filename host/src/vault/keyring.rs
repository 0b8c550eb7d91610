//! Master keys: where they come from (`HEPH_MASTER_KEY` or the key file), how they are parsed
//! and written. A key is 32 random bytes, written as base64; its id is derived from it, so a
//! wrong key can never pass for the right one.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{random_bytes, VaultError};

/// One AES-256 key.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    bytes: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> MasterKey {
        MasterKey::from_bytes(random_bytes::<32>())
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let digest = Sha256::new()
            .chain_update(b"heph vault key id\0")
            .chain_update(bytes)
            .finalize();
        MasterKey {
            id: format!("k{}", &hex::encode(digest)[..12]),
            bytes,
        }
    }

    /// A key from its base64 text.
    pub fn parse(text: &str) -> Result<MasterKey, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| {
                "a master key must be base64 (`heph vault keygen` prints one)".to_string()
            })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "a master key must be 32 bytes, this one is {} (`heph vault keygen` prints one)",
                b.len()
            )
        })?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// Its id, stored with every value it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its base64 text.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

/// What identifies a version of the key file (to notice changes cheaply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    modified_ns: i128,
    len: u64,
    inode: u64,
}

/// The keys: the first seals new values, every one opens the values it sealed.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<MasterKey>,
    stamp: Option<Stamp>,
}

impl Keyring {
    /// A keyring of these keys, the first active.
    pub fn new(keys: Vec<MasterKey>) -> Result<Keyring, VaultError> {
        if keys.is_empty() {
            return Err(VaultError::Key("a keyring needs at least one key".into()));
        }
        Ok(Keyring { keys, stamp: None })
    }

    /// The key new values are sealed with.
    pub fn active(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// A key by id.
    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The keys, active first.
    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    pub(super) fn stamp(&self) -> Option<Stamp> {
        self.stamp
    }

    /// This keyring, plus the keys of `older` it lacks (kept for opening only).
    pub(super) fn merged_with(mut self, older: &Keyring) -> Keyring {
        for key in &older.keys {
            if self.get(&key.id).is_none() {
                self.keys.push(key.clone());
            }
        }
        self
    }

    fn parse(text: &str, origin: &str) -> Result<Keyring, VaultError> {
        let keys = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| MasterKey::parse(l).map_err(|e| VaultError::Key(format!("{origin}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(VaultError::Key(format!("{origin} holds no key")));
        }
        Keyring::new(keys)
    }
}

/// Where the keyring comes from.
#[derive(Clone)]
pub enum KeySource {
    /// `HEPH_MASTER_KEY`: one base64 key, or several separated by commas (the first active).
    Env(String),
    /// A key file: one base64 key per line, the first active; `#` starts a comment.
    File(PathBuf),
    /// A keyring given in code.
    Fixed,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env(_) => write!(f, "HEPH_MASTER_KEY"),
            KeySource::File(path) => write!(f, "{}", path.display()),
            KeySource::Fixed => write!(f, "a fixed keyring"),
        }
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySource({self})")
    }
}

impl KeySource {
    /// `HEPH_MASTER_KEY` when set, else the key file.
    pub fn from_env_or(file: PathBuf) -> KeySource {
        match std::env::var("HEPH_MASTER_KEY") {
            Ok(value) if !value.trim().is_empty() => KeySource::Env(value),
            _ => KeySource::File(file),
        }
    }

    /// The keyring, or `None` when the key file does not exist yet.
    pub fn load(&self) -> Result<Option<Keyring>, VaultError> {
        match self {
            KeySource::Env(text) => Keyring::parse(text, "HEPH_MASTER_KEY").map(Some),
            KeySource::File(path) => {
                let meta = match std::fs::metadata(path) {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(VaultError::Key(format!("{}: {e}", path.display()))),
                };
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(VaultError::Key(format!(
                        "the key file {} can be read by other users (mode {mode:o}); run `chmod 600 {}`",
                        path.display(),
                        path.display()
                    )));
                }
                let text = std::fs::read_to_string(path)
                    .map_err(|e| VaultError::Key(format!("{}: {e}", path.display())))?;
                let mut keyring = Keyring::parse(&text, &path.display().to_string())?;
                keyring.stamp = Some(stamp(&meta));
                Ok(Some(keyring))
            }
            KeySource::Fixed => Err(VaultError::Key("a fixed keyring cannot be loaded".into())),
        }
    }

    /// The key file's keyring if it changed since `stamp`.
    pub(super) fn load_if_changed(
        &self,
        last: Option<Stamp>,
    ) -> Result<Option<Keyring>, VaultError> {
        let KeySource::File(path) = self else {
            return Ok(None);
        };
        match std::fs::metadata(path) {
            Ok(meta) if Some(stamp(&meta)) != last => self.load(),
            _ => Ok(None),
        }
    }

    /// Creates the key file with one new key.
    pub(super) fn create(&self) -> Result<Keyring, VaultError> {
        let KeySource::File(path) = self else {
            return Err(VaultError::Key(format!("{self} holds no key")));
        };
        let keyring = Keyring::new(vec![MasterKey::generate()])?;
        write_key_file(path, &keyring)?;
        self.load()?
            .ok_or_else(|| VaultError::Key(format!("{} vanished", path.display())))
    }
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        modified_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        len: meta.len(),
        inode: meta.ino(),
    }
}

/// Writes a key file atomically (a new file, mode 0600, renamed over the old one).
pub fn write_key_file(path: &Path, keyring: &Keyring) -> Result<(), VaultError> {
    let fail = |e: std::io::Error| VaultError::Key(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        crate::files::create_private_dir(dir).map_err(fail)?;
    }
    let mut text = String::from(
        "# heph's master keys. The first encrypts new secrets; the others only decrypt older ones\n\
         # until `heph vault rotate` has moved them and `heph vault retire` removes them.\n\
         # Keep this file secret and backed up: without it the stored secrets are lost.\n",
    );
    for key in keyring.keys() {
        text.push_str(&key.to_base64());
        text.push('\n');
    }
    let tmp = path.with_extension("key.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_their_ids_follow_the_key() {
        let key = MasterKey::generate();
        let again = MasterKey::parse(&key.to_base64()).unwrap();
        assert_eq!(again.id(), key.id());
        assert!(key.id().starts_with('k') && key.id().len() == 13);
        assert_ne!(MasterKey::generate().id(), key.id());
        assert!(MasterKey::parse("not base64!")
            .unwrap_err()
            .contains("base64"));
        assert!(MasterKey::parse("c2hvcnQ=")
            .unwrap_err()
            .contains("32 bytes"));
    }

    #[test]
    fn a_keyring_lists_keys_active_first_and_skips_comments() {
        let (a, b) = (MasterKey::generate(), MasterKey::generate());
        let text = format!("# comment\n{}\n\n{}\n", a.to_base64(), b.to_base64());
        let ring = Keyring::parse(&text, "test").unwrap();
        assert_eq!(ring.active().id(), a.id());
        assert!(ring.get(b.id()).is_some());
        let env = Keyring::parse(
            &format!("{},{}", b.to_base64(), a.to_base64()),
            "HEPH_MASTER_KEY",
        )
        .unwrap();
        assert_eq!(env.active().id(), b.id());
        assert!(Keyring::parse("# nothing\n", "f").is_err());
    }

    #[test]
    fn the_key_file_is_private_and_replaced_whole() {
        let dir =
            std::env::temp_dir().join(format!("heph-keyring-{}", hex::encode(random_bytes::<6>())));
        let path = dir.join("master.key");
        let source = KeySource::File(path.clone());
        assert!(source.load().unwrap().is_none());
        let ring = source.create().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            source.load().unwrap().unwrap().active().id(),
            ring.active().id()
        );
        assert!(format!("{:?} {source}", ring.active()).contains(ring.active().id()));
        assert!(
            !format!("{:?}", ring).contains(&ring.active().to_base64()),
            "Debug never prints a key"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
