//! Whether a package may be installed, decided before anything changes: its digest, its
//! signature against the admin's trusted key for its publisher, then the component itself
//! (which compiles it, so that activation is a swap). And the trusted publishers themselves.

use heph_registry::capabilities::ManifestSummary;
use heph_registry::{Package, PackageError, PublicKey};

use super::check;
use crate::app::{App, AppError};
use crate::runtime::Connector;
use crate::store::User;

/// A package that passed every check, with its connector compiled.
pub(super) struct Verified {
    pub package: Package,
    pub summary: ManifestSummary,
    pub describe: serde_json::Value,
    pub connector: Connector,
}

fn package_error(e: PackageError) -> AppError {
    match e {
        PackageError::Malformed(_) => AppError::new("invalid_package", 400, e.to_string()),
        PackageError::DigestMismatch { .. } => AppError::new("digest_mismatch", 400, e.to_string()),
        PackageError::BadSignature { .. } => AppError::new("bad_signature", 403, e.to_string()),
    }
}

impl App {
    /// Reads a package and checks everything about it, changing nothing: the digest (when the
    /// caller knows which one it asked for), the signature against the trusted key of its
    /// publisher, then the component.
    pub(super) async fn verify_package(
        &self,
        bytes: &[u8],
        expected_digest: Option<&str>,
    ) -> Result<Verified, AppError> {
        let package = Package::read(bytes).map_err(package_error)?;
        if let Some(expected) = expected_digest {
            package.expect_digest(expected).map_err(package_error)?;
        }
        let publisher = &package.signature.publisher;
        let trusted = self.store.trusted_publishers().await?;
        let Some((_, trusted_key)) = trusted.iter().find(|(name, _)| name == publisher) else {
            return Err(AppError::new(
                "untrusted_publisher",
                403,
                format!(
                    "the package is signed by publisher `{publisher}` (key {}), whom this host does not trust; if that key is theirs, run `heph publisher trust {publisher} {}`",
                    package.signature.key, package.signature.key
                ),
            ));
        };
        if *trusted_key != package.signature.key {
            return Err(AppError::new(
                "untrusted_key",
                403,
                format!(
                    "the package says it is signed by `{publisher}` with key {}, but the key trusted for `{publisher}` is {trusted_key}: nothing was installed",
                    package.signature.key
                ),
            ));
        }
        let key: PublicKey = trusted_key
            .parse()
            .map_err(|e| AppError::internal(format!("trusted key of `{publisher}`: {e}")))?;
        package.verify(&key).map_err(package_error)?;
        let summary = ManifestSummary::parse(&package.contents.manifest)
            .map_err(|e| AppError::new("invalid_package", 400, e))?;
        if summary.publisher != *publisher {
            return Err(AppError::new(
                "bad_signature",
                403,
                format!(
                    "the manifest names publisher `{}`, but the package is signed by `{publisher}`",
                    summary.publisher
                ),
            ));
        }
        let checked = check::check(
            &self.runtime,
            &package.contents.manifest,
            &package.contents.component,
        )
        .await
        .map_err(|e| {
            AppError::new(
                "package_refused",
                422,
                format!("the package cannot be installed:\n{e}"),
            )
            .with_details(serde_json::json!({ "problems": e.problems }))
        })?;
        Ok(Verified {
            package,
            summary,
            describe: checked.describe,
            connector: checked.connector,
        })
    }

    /// Trusts a publisher's key (`ed25519:BASE64`, as `heph keygen` prints it).
    pub async fn trust_publisher(
        &self,
        admin: &User,
        name: &str,
        public_key: &str,
    ) -> Result<(), AppError> {
        App::require_admin(admin)?;
        let key: PublicKey = public_key.parse().map_err(|e| {
            AppError::invalid(format!("`{public_key}` is not a publisher key: {e}"))
        })?;
        if key.to_string() != public_key {
            return Err(AppError::invalid(format!(
                "`{public_key}` is not a publisher key: write ed25519:BASE64 as `heph keygen` prints it, without spaces"
            )));
        }
        let length = name.chars().count();
        if length == 0 || length > 64 {
            return Err(AppError::invalid("a publisher name has 1 to 64 characters"));
        }
        self.store.trust_publisher(name, &key.to_string()).await?;
        tracing::info!(admin = %admin.name, publisher = %name, key = %key, "publisher trusted");
        Ok(())
    }
}
