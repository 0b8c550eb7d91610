//! The package: one file per connector version, a plain tar archive holding, in this order,
//!
//! | entry            | what                                                          |
//! |------------------|---------------------------------------------------------------|
//! | `heph.toml`      | the manifest                                                  |
//! | `connector.wasm` | the component                                                 |
//! | `describe.json`  | what `describe()` answered at packing: actions, triggers, schemas |
//! | `README.md`      | the partner's documentation                                   |
//! | `signature.json` | the publisher, its public key and its ed25519 signature       |
//!
//! The package is identified by its **digest**: the sha256 of a canonical listing of the first
//! four entries (`heph-package/1`, then one `NAME SHA256` line per entry). The archive's own
//! bytes (headers, padding) are not part of it, so that the digest names the contents, and the
//! signature covers exactly the publisher's name and the digest. Reading is strict: any other entry, a repeated or
//! missing one, a link, or an entry past its size limit is refused.

use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::keys::{PublicKey, SecretKey};

/// The content entries, in their order in the archive and in the digest.
pub const CONTENT_ENTRIES: [&str; 4] =
    ["heph.toml", "connector.wasm", "describe.json", "README.md"];
const SIGNATURE_ENTRY: &str = "signature.json";
const DIGEST_HEADER: &str = "heph-package/1\n";
const SIGNING_CONTEXT: &[u8] = b"heph-package-signature/1\n";

/// The largest component a package may hold.
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;
/// The largest text entry (manifest, describe snapshot, README, signature).
pub const MAX_TEXT_BYTES: u64 = 4 << 20;

/// What goes into a package before it is signed.
#[derive(Debug, Clone)]
pub struct Contents {
    /// `heph.toml`.
    pub manifest: String,
    /// The component.
    pub component: Vec<u8>,
    /// The `describe()` snapshot, a JSON object.
    pub describe: serde_json::Value,
    /// The README.
    pub readme: String,
}

/// `signature.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The publisher's name, as registered.
    pub publisher: String,
    /// Its public key (`ed25519:BASE64`).
    pub key: String,
    /// The ed25519 signature of the digest (base64).
    pub signature: String,
}

/// A package read from its bytes. Its signature is not checked yet: see [`Package::verify`].
#[derive(Debug, Clone)]
pub struct Package {
    /// The contents.
    pub contents: Contents,
    /// The signature entry.
    pub signature: Signature,
    /// `sha256:HEX` of the contents.
    pub digest: String,
}

/// Why a package cannot be read, built or trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackageError {
    /// Not a package (truncated, not a tar archive, wrong entries).
    #[error("not a valid heph package: {0}")]
    Malformed(String),
    /// The signature does not verify for these contents with this key.
    #[error("the signature does not verify: the package was changed after it was signed, or signed by another key than {key}")]
    BadSignature {
        /// The key it was checked against.
        key: String,
    },
    /// The digest is not the one expected.
    #[error("digest mismatch: expected {expected}, the package is {actual}")]
    DigestMismatch {
        /// What the registry (or the admin) said.
        expected: String,
        /// What the bytes are.
        actual: String,
    },
}

fn malformed(message: impl Into<String>) -> PackageError {
    PackageError::Malformed(message.into())
}

impl Contents {
    /// The digest of these contents: `sha256:HEX`.
    pub fn digest(&self) -> String {
        let describe = describe_bytes(&self.describe);
        digest_of([
            self.manifest.as_bytes(),
            &self.component,
            &describe,
            self.readme.as_bytes(),
        ])
    }

    /// Signs these contents and writes the package archive.
    pub fn sign(self, publisher: &str, key: &SecretKey) -> Vec<u8> {
        let digest = self.digest();
        let signature = Signature {
            publisher: publisher.to_string(),
            key: key.public().to_string(),
            signature: key.sign(&signing_message(publisher, &digest)),
        };
        let describe = describe_bytes(&self.describe);
        let signature_json = serde_json::to_vec_pretty(&signature).unwrap_or_default();
        let entries: [(&str, &[u8]); 5] = [
            (CONTENT_ENTRIES[0], self.manifest.as_bytes()),
            (CONTENT_ENTRIES[1], &self.component),
            (CONTENT_ENTRIES[2], &describe),
            (CONTENT_ENTRIES[3], self.readme.as_bytes()),
            (SIGNATURE_ENTRY, &signature_json),
        ];
        write_archive(entries)
    }
}

/// The archive of `entries`, with fixed metadata: the same entries always make the same bytes.
fn write_archive(entries: [(&str, &[u8]); 5]) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        // Writing into a Vec cannot fail; the names are short constants.
        let _ = archive.append_data(&mut header, name, bytes);
    }
    archive.into_inner().unwrap_or_default()
}

/// The describe snapshot as stored: pretty JSON, so that the digest does not depend on how a
/// reader re-serialises it (the stored bytes are what is hashed).
fn describe_bytes(describe: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(describe).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn digest_of(entries: [&[u8]; 4]) -> String {
    let mut listing = String::from(DIGEST_HEADER);
    for (name, bytes) in CONTENT_ENTRIES.iter().zip(entries) {
        listing.push_str(&format!("{name} {}\n", hex::encode(Sha256::digest(bytes))));
    }
    format!("sha256:{}", hex::encode(Sha256::digest(listing.as_bytes())))
}

/// What is signed: the publisher's name and the digest, so that neither can be swapped.
fn signing_message(publisher: &str, digest: &str) -> Vec<u8> {
    [
        SIGNING_CONTEXT,
        publisher.as_bytes(),
        b"\n",
        digest.as_bytes(),
    ]
    .concat()
}

impl Package {
    /// Reads a package from its bytes: the archive, its five entries and the digest. Nothing is
    /// trusted yet.
    pub fn read(bytes: &[u8]) -> Result<Package, PackageError> {
        let mut archive = tar::Archive::new(bytes);
        let entries = archive
            .entries()
            .map_err(|e| malformed(format!("not a tar archive: {e}")))?;
        let expected: Vec<&str> = CONTENT_ENTRIES
            .iter()
            .copied()
            .chain([SIGNATURE_ENTRY])
            .collect();
        let mut found: Vec<Vec<u8>> = Vec::new();
        for entry in entries {
            let mut entry = entry.map_err(|e| malformed(format!("truncated or corrupt: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| malformed(format!("an entry has an unreadable name: {e}")))?
                .to_string_lossy()
                .into_owned();
            let Some(&want) = expected.get(found.len()) else {
                return Err(malformed(format!(
                    "unexpected entry `{path}` after {SIGNATURE_ENTRY}"
                )));
            };
            if path != want {
                return Err(malformed(format!(
                    "entry {} is `{path}`, expected `{want}`",
                    found.len() + 1
                )));
            }
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(malformed(format!("`{path}` is not a regular file")));
            }
            let limit = if want == "connector.wasm" {
                MAX_COMPONENT_BYTES
            } else {
                MAX_TEXT_BYTES
            };
            let size = entry.size();
            if size > limit {
                return Err(malformed(format!(
                    "`{path}` is {size} bytes; the limit is {limit}"
                )));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| malformed(format!("`{path}` is truncated: {e}")))?;
            if data.len() as u64 != size {
                return Err(malformed(format!("`{path}` is truncated")));
            }
            found.push(data);
        }
        if found.len() != expected.len() {
            return Err(malformed(format!(
                "truncated: {} of {} entries ({} missing)",
                found.len(),
                expected.len(),
                expected[found.len()..].join(", ")
            )));
        }
        let text = |i: usize| {
            String::from_utf8(found[i].clone())
                .map_err(|_| malformed(format!("`{}` is not UTF-8", expected[i])))
        };
        let manifest = text(0)?;
        let readme = text(3)?;
        let describe: serde_json::Value = serde_json::from_slice(&found[2])
            .map_err(|e| malformed(format!("describe.json is not JSON: {e}")))?;
        if !describe.is_object() {
            return Err(malformed("describe.json must be a JSON object"));
        }
        let signature: Signature = serde_json::from_slice(&found[4])
            .map_err(|e| malformed(format!("signature.json: {e}")))?;
        // Only the canonical archive of these entries is accepted: a changed header, padding
        // or trailing byte is refused too, so that every flipped byte is caught.
        let canonical = write_archive([
            (expected[0], &found[0]),
            (expected[1], &found[1]),
            (expected[2], &found[2]),
            (expected[3], &found[3]),
            (expected[4], &found[4]),
        ]);
        if canonical != bytes {
            return Err(malformed(
                "the archive is not in canonical form (changed after packing?)",
            ));
        }
        let digest = digest_of([&found[0], &found[1], &found[2], &found[3]]);
        Ok(Package {
            contents: Contents {
                manifest,
                component: std::mem::take(&mut found[1]),
                describe,
                readme,
            },
            signature,
            digest,
        })
    }

    /// Checks that the signature is `key`'s over this package's digest.
    pub fn verify(&self, key: &PublicKey) -> Result<(), PackageError> {
        let bad = || PackageError::BadSignature {
            key: key.to_string(),
        };
        if self.signature.key != key.to_string() {
            return Err(bad());
        }
        key.verify(
            &signing_message(&self.signature.publisher, &self.digest),
            &self.signature.signature,
        )
        .map_err(|_| bad())
    }

    /// Checks that the digest is `expected` (`sha256:HEX`).
    pub fn expect_digest(&self, expected: &str) -> Result<(), PackageError> {
        if self.digest == expected {
            Ok(())
        } else {
            Err(PackageError::DigestMismatch {
                expected: expected.to_string(),
                actual: self.digest.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents() -> Contents {
        Contents {
            manifest: "id = \"demo\"\nversion = \"1.0.0\"\n".into(),
            component: b"\0asm fake component bytes".to_vec(),
            describe: serde_json::json!({"actions": [{"name": "ping"}], "triggers": []}),
            readme: "# Demo\n".into(),
        }
    }

    #[test]
    fn a_signed_package_reads_back_and_verifies() {
        let key = SecretKey::generate().unwrap();
        let bytes = contents().sign("acme", &key);
        assert_eq!(
            bytes,
            contents().sign("acme", &key),
            "packing is deterministic"
        );
        let package = Package::read(&bytes).unwrap();
        assert_eq!(package.digest, contents().digest());
        assert_eq!(package.signature.publisher, "acme");
        assert_eq!(package.contents.readme, "# Demo\n");
        package.verify(&key.public()).unwrap();
        package.expect_digest(&contents().digest()).unwrap();
    }

    #[test]
    fn another_key_does_not_verify() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let package = Package::read(&contents().sign("acme", &key)).unwrap();
        assert!(matches!(
            package.verify(&other.public()),
            Err(PackageError::BadSignature { .. })
        ));
    }

    #[test]
    fn a_flipped_byte_changes_the_digest_or_breaks_the_archive() {
        let key = SecretKey::generate().unwrap();
        let bytes = contents().sign("acme", &key);
        let original = contents().digest();
        let good = Package::read(&bytes).unwrap();
        // Flip one byte every 61: headers, contents, padding and signature; every flip is caught.
        for i in (0..bytes.len()).step_by(61) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            match Package::read(&bad) {
                Err(PackageError::Malformed(_)) => {}
                Ok(p) => {
                    // A flip in the contents changes the digest; one in the signature entry
                    // (publisher, key, signature) breaks the signature. Either way it fails.
                    assert!(
                        p.digest != original || p.signature != good.signature,
                        "byte {i}"
                    );
                    assert!(p.verify(&key.public()).is_err(), "byte {i}");
                }
                Err(e) => panic!("byte {i}: {e}"),
            }
        }
    }

    #[test]
    fn a_signature_moved_onto_other_contents_does_not_verify() {
        let key = SecretKey::generate().unwrap();
        let good = Package::read(&contents().sign("acme", &key)).unwrap();
        let mut other = contents();
        other.readme = "# Demo, changed\n".into();
        let mut moved =
            Package::read(&other.sign("acme", &SecretKey::generate().unwrap())).unwrap();
        moved.signature = good.signature.clone();
        assert!(matches!(
            moved.verify(&key.public()),
            Err(PackageError::BadSignature { .. })
        ));
    }

    #[test]
    fn truncated_packages_are_refused() {
        let key = SecretKey::generate().unwrap();
        let bytes = contents().sign("acme", &key);
        for cut in [0, 10, 511, 512, 1024, bytes.len() / 2, bytes.len() - 1024] {
            assert!(
                matches!(
                    Package::read(&bytes[..cut]),
                    Err(PackageError::Malformed(_))
                ),
                "cut at {cut}"
            );
        }
    }
}
