//! The registry client: what `heph connector install` and `heph connector publish` use.

use std::time::Duration;

use serde_json::Value;

/// Why a registry call failed: the registry's own message when it sent one.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry could not be reached.
    #[error("cannot reach the registry at {url}: {message}")]
    Unreachable {
        /// Its URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The registry answered with an error.
    #[error("the registry refused ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its `error.code`.
        code: String,
        /// Its `error.message`.
        message: String,
    },
}

/// A registry at a base URL.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
}

/// A downloaded package and the digest the registry gave for it.
#[derive(Debug, Clone)]
pub struct Download {
    /// The package bytes.
    pub bytes: Vec<u8>,
    /// The digest the registry lists for this version (the bytes are checked against it).
    pub digest: String,
}

/// An error with its causes (reqwest's own message is only "error sending request").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = inner.source();
    }
    message
}

impl RegistryClient {
    /// A client for the registry at `base` (such as `https://registry.heph.dev`).
    pub fn new(base: &str) -> RegistryClient {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("heph/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        RegistryClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// A client for the registry at `base` through an HTTP client of the caller's (one that
    /// enforces an address policy, say).
    pub fn with_client(base: &str, http: reqwest::Client) -> RegistryClient {
        RegistryClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            message: with_causes(&e),
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        Err(ClientError::Refused {
            status,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_string(),
        })
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let response = self.send(request).await?;
        response.json().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            message: format!("the answer is not JSON: {e}"),
        })
    }

    /// Registers a publisher; the answer holds the publish token (shown once).
    pub async fn register(&self, name: &str, public_key: &str) -> Result<Value, ClientError> {
        let body = serde_json::json!({"name": name, "public_key": public_key});
        self.json(
            self.http
                .post(format!("{}/v1/publishers", self.base))
                .json(&body),
        )
        .await
    }

    /// A publisher's registered key.
    pub async fn publisher(&self, name: &str) -> Result<Value, ClientError> {
        self.json(self.http.get(format!("{}/v1/publishers/{name}", self.base)))
            .await
    }

    /// Publishes a package.
    pub async fn publish(&self, token: &str, package: Vec<u8>) -> Result<Value, ClientError> {
        self.json(
            self.http
                .post(format!("{}/v1/packages", self.base))
                .bearer_auth(token)
                .header("content-type", "application/vnd.heph.package")
                .body(package),
        )
        .await
    }

    /// Yanks a version (or restores it).
    pub async fn yank(
        &self,
        token: &str,
        name: &str,
        version: &str,
        yanked: bool,
    ) -> Result<Value, ClientError> {
        self.json(
            self.http
                .post(format!("{}/v1/connectors/{name}/{version}/yank", self.base))
                .bearer_auth(token)
                .json(&serde_json::json!({"yanked": yanked})),
        )
        .await
    }

    /// Lists connectors matching `query` (all with an empty query).
    pub async fn search(&self, query: &str) -> Result<Value, ClientError> {
        self.json(
            self.http
                .get(format!("{}/v1/connectors", self.base))
                .query(&[("q", query)]),
        )
        .await
    }

    /// One connector with all its versions, newest first.
    pub async fn connector(&self, name: &str) -> Result<Value, ClientError> {
        self.json(self.http.get(format!("{}/v1/connectors/{name}", self.base)))
            .await
    }

    /// One version's listing (`latest` for the newest not yanked).
    pub async fn version(&self, name: &str, version: &str) -> Result<Value, ClientError> {
        self.json(
            self.http
                .get(format!("{}/v1/connectors/{name}/{version}", self.base)),
        )
        .await
    }

    /// Downloads a version's package with the digest the registry lists for it.
    pub async fn download(&self, name: &str, version: &str) -> Result<Download, ClientError> {
        let listing = self.version(name, version).await?;
        let digest = listing["digest"].as_str().unwrap_or_default().to_string();
        let response = self
            .send(self.http.get(format!("{}/v1/blobs/{digest}", self.base)))
            .await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.base.clone(),
                message: format!("the download broke off: {e}"),
            })?;
        Ok(Download {
            bytes: bytes.to_vec(),
            digest,
        })
    }
}
