//! Consent: before a user connects an account, or data of theirs leaves for an external
//! platform through a connector, they are shown what the connector reaches and how it signs in,
//! and say yes. The consent names exactly that (the hosts, the auth kind, the OAuth scopes); an
//! upgrade that changes any of it asks again.

use serde::Serialize;

use crate::app::{App, AppError};
use crate::store::{ConsentRow, User};

/// What a user is asked to agree to for a connector.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentRequest {
    /// The connector's id.
    pub connector: String,
    /// Its display name.
    pub name: String,
    /// Who published it.
    pub publisher: String,
    /// The hosts the connector may send the user's data to and read it from.
    pub hosts: Vec<String>,
    /// How it signs in: `none`, `basic`, `bearer`, `api_key` or `oauth2`.
    pub auth: String,
    /// The OAuth scopes it asks the provider for (empty for other kinds).
    pub oauth_scopes: Vec<String>,
    /// Whether it may reach private networks.
    pub private_network: bool,
    /// The consent already given, when it still covers all of this.
    pub granted: Option<ConsentRow>,
}

impl ConsentRequest {
    /// The canonical text of what was agreed to, as stored with the consent.
    fn scope(&self) -> String {
        format!(
            "auth={}; hosts={}; oauth_scopes={}; private_network={}",
            self.auth,
            self.hosts.join(","),
            self.oauth_scopes.join(","),
            self.private_network
        )
    }
}

impl App {
    /// What `user` would agree to for `connector_id`, and whether they already have.
    pub async fn consent_request(
        &self,
        user: &User,
        connector_id: &str,
    ) -> Result<ConsentRequest, AppError> {
        let mut request = self.consent_shown(connector_id)?;
        let scope = request.scope();
        request.granted = self
            .store
            .consent(&user.id, connector_id)
            .await?
            .filter(|c| c.scope == scope);
        Ok(request)
    }

    /// Records that `user` agreed to what [`App::consent_request`] shows.
    pub async fn grant_consent(
        &self,
        user: &User,
        connector_id: &str,
    ) -> Result<ConsentRequest, AppError> {
        let mut request = self.consent_shown(connector_id)?;
        let granted = self
            .store
            .grant_consent(&user.id, connector_id, &request.scope())
            .await?;
        request.granted = Some(granted);
        tracing::info!(user = %user.name, connector = %connector_id, "consent given");
        Ok(request)
    }

    /// What the installed connector reaches, as the user is shown it.
    fn consent_shown(&self, connector_id: &str) -> Result<ConsentRequest, AppError> {
        let connector = self.connector(connector_id)?;
        let manifest = connector.manifest();
        let oauth_scopes = match &manifest.auth {
            crate::manifest::Auth::OAuth2(o) => o.scopes.clone(),
            _ => Vec::new(),
        };
        Ok(ConsentRequest {
            connector: manifest.id.clone(),
            name: manifest.name.clone(),
            publisher: manifest.publisher.clone(),
            hosts: manifest.capabilities.hosts.clone(),
            auth: manifest.auth.kind().to_string(),
            oauth_scopes,
            private_network: manifest.capabilities.private_network,
            granted: None,
        })
    }

    /// Refuses unless `user` has agreed to connect `connector_id` as it is now; `given` is a
    /// consent sent with the request itself (the dashboard's consent screen), recorded first.
    pub async fn require_consent(
        &self,
        user: &User,
        connector_id: &str,
        given: bool,
    ) -> Result<(), AppError> {
        let request = if given {
            self.grant_consent(user, connector_id).await?
        } else {
            self.consent_request(user, connector_id).await?
        };
        if request.granted.is_some() {
            return Ok(());
        }
        let hosts = request.hosts.join(", ");
        Err(AppError::new(
            "consent_required",
            403,
            format!(
                "connecting an account of `{connector_id}` sends data to {hosts}: show the user what it reaches and send `\"consent\": true` once they agree (or POST /api/connectors/{connector_id}/consent)"
            ),
        )
        .with_details(serde_json::json!(request)))
    }
}
