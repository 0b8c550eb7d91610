//! The registry as admins see it from this host: search and one connector's versions, each
//! marked with what is installed here, and installing a version by name. The registry is the
//! one a request names, else the server's (`heph serve --registry`, `HEPH_REGISTRY`).

use heph_registry::client::ClientError;
use serde_json::Value;

use super::InstallOutcome;
use crate::app::{App, AppError};
use crate::store::User;

impl App {
    /// The registry to talk to: the one named, else the server's; a clear error without one.
    pub fn registry_url(&self, named: Option<&str>) -> Result<String, AppError> {
        let url = named
            .filter(|u| !u.is_empty())
            .or(self.config.registry.as_deref())
            .ok_or_else(|| {
                AppError::invalid(
                    "no registry: name one (`registry`), or start heph serve with --registry URL (HEPH_REGISTRY)",
                )
                .with_code("registry_missing")
            })?;
        // The prefix is checked as written: the URL parser would also take ` HTTP://…`.
        let valid = (url.starts_with("http://") || url.starts_with("https://"))
            && url::Url::parse(url).is_ok_and(|u| u.host().is_some());
        if !valid {
            return Err(AppError::invalid(format!(
                "`registry` must be the registry's http(s) URL, such as https://registry.example.com (got `{url}`)"
            )));
        }
        Ok(url.trim_end_matches('/').to_string())
    }

    /// The registry's connectors matching `query` (name, title, description or publisher),
    /// each with `installed`: the version active here, if any (admins).
    pub async fn registry_search(
        &self,
        admin: &User,
        registry: Option<&str>,
        query: &str,
    ) -> Result<(String, Vec<Value>), AppError> {
        App::require_admin(admin)?;
        let url = self.registry_url(registry)?;
        let found = self
            .registry_client(&url)?
            .search(query)
            .await
            .map_err(|e| registry_failure(&url, e))?;
        let mut connectors = match found.get("connectors") {
            Some(Value::Array(list)) => list.clone(),
            _ => Vec::new(),
        };
        for connector in &mut connectors {
            self.mark_installed(connector).await;
        }
        Ok((url, connectors))
    }

    /// One connector of the registry with all its versions and what is installed here (admins).
    pub async fn registry_connector(
        &self,
        admin: &User,
        registry: Option<&str>,
        name: &str,
    ) -> Result<Value, AppError> {
        App::require_admin(admin)?;
        let url = self.registry_url(registry)?;
        let mut connector = self
            .registry_client(&url)?
            .connector(name)
            .await
            .map_err(|e| registry_failure(&url, e))?;
        self.mark_installed(&mut connector).await;
        Ok(connector)
    }

    async fn mark_installed(&self, connector: &mut Value) {
        let Some(name) = connector.get("name").and_then(Value::as_str) else {
            return;
        };
        // A removed connector keeps its record (for a rollback), but is not installed.
        let installed = self
            .store
            .connector(name)
            .await
            .ok()
            .filter(|c| c.status != "removed");
        if let Value::Object(map) = connector {
            map.insert(
                "installed".into(),
                serde_json::json!(installed.map(|c| serde_json::json!({
                    "version": c.version, "status": c.status, "source": c.source,
                    "digest": c.digest,
                }))),
            );
        }
    }

    /// Downloads `name@version` (`latest`: the newest version not yanked) from a registry and
    /// installs it, checking the bytes against the digest the registry lists.
    pub async fn install_from_registry(
        &self,
        admin: &User,
        registry: Option<&str>,
        name: &str,
        version: &str,
        approve: bool,
    ) -> Result<InstallOutcome, AppError> {
        App::require_admin(admin)?;
        let registry = self.registry_url(registry)?;
        if !heph_registry::is_name(name) {
            return Err(AppError::invalid(format!(
                "`name` must name a connector in the registry: lower-case letters, digits, `-` or `_` (got `{name}`)"
            )));
        }
        let client = self.registry_client(&registry)?;
        let download = client
            .download(name, version)
            .await
            .map_err(|e| registry_failure(&registry, e))?;
        let source = format!("registry {}", client.url());
        self.install_package(
            admin,
            &download.bytes,
            Some(&download.digest),
            &source,
            approve,
        )
        .await
    }
}

/// A registry's refusal as this host's error: its 404 stays a 404, anything else is a 502.
fn registry_failure(registry: &str, error: ClientError) -> AppError {
    if let ClientError::Unreachable { message, .. } = &error {
        if let Some(refusal) = super::registry_http::policy_refusal(registry, message) {
            return refusal;
        }
    }
    match error {
        ClientError::Refused {
            status: 404,
            message,
            ..
        } => AppError::not_found(format!("{registry}: {message}")),
        other => AppError::new("registry_error", 502, other.to_string()),
    }
}
