//! The registry server (`heph registry serve`): publishers register a key and get a publish
//! token; they publish signed packages (immutable once published) and yank them; anyone lists,
//! searches and downloads. Errors are `{"error": {"code", "message"}}` with a 4xx status, and a
//! refused publish leaves nothing behind.
//!
//! | call | what |
//! |---|---|
//! | `POST /v1/publishers` `{name, public_key}` | register; answers the publish token once |
//! | `GET /v1/publishers/{name}` | a publisher's public key |
//! | `POST /v1/packages` (bearer token, the package as body) | publish |
//! | `GET /v1/connectors?q=` | list and search |
//! | `GET /v1/connectors/{name}` | one connector with all its versions |
//! | `GET /v1/connectors/{name}/{version}` | one version (`latest`: the newest not yanked) |
//! | `GET /v1/connectors/{name}/{version}/package` | download |
//! | `POST /v1/connectors/{name}/{version}/yank` `{yanked}` (bearer token) | yank or restore |
//! | `GET /v1/blobs/{digest}` | download by digest |

pub mod blobs;
pub mod db;

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::capabilities::ManifestSummary;
use crate::keys::PublicKey;
use crate::package::Package;
pub use blobs::Blobs;
pub use db::{Db, VersionRow};

/// How the registry is set up.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Where `registry.db` and the blobs live.
    pub data_dir: PathBuf,
    /// The largest package accepted, in bytes.
    pub max_package_bytes: usize,
    /// The public key that may register reserved publisher names (`heph`, `official`…): the
    /// registry operator's. Without one, no one may.
    pub official_key: Option<String>,
}

impl RegistryConfig {
    /// Defaults for a data directory: packages up to 32 MiB.
    pub fn new(data_dir: PathBuf) -> RegistryConfig {
        RegistryConfig {
            data_dir,
            max_package_bytes: 32 << 20,
            official_key: None,
        }
    }
}

/// A running registry's state.
#[derive(Debug)]
pub struct Registry {
    db: Db,
    blobs: Blobs,
    max_package_bytes: usize,
    official_key: Option<String>,
}

impl Registry {
    /// Opens the index and the blob directory.
    pub async fn open(config: &RegistryConfig) -> anyhow::Result<Arc<Registry>> {
        std::fs::create_dir_all(&config.data_dir)?;
        Ok(Arc::new(Registry {
            db: Db::open(&config.data_dir).await?,
            blobs: Blobs::local(&config.data_dir.join("blobs"))?,
            max_package_bytes: config.max_package_bytes,
            official_key: config.official_key.clone(),
        }))
    }
}

/// The registry's routes.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/v1/publishers", post(register))
        .route("/v1/publishers/{name}", get(publisher))
        .route("/v1/packages", post(publish))
        .route("/v1/connectors", get(list))
        .route("/v1/connectors/{name}", get(connector))
        .route("/v1/connectors/{name}/{version}", get(version))
        .route("/v1/connectors/{name}/{version}/package", get(download))
        .route("/v1/connectors/{name}/{version}/yank", post(yank))
        .route("/v1/blobs/{digest}", get(blob))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        // Publishing reads the body itself, with the registry's own limit and message.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(registry)
}

/// Serves the registry on `listener` until the process ends.
pub async fn serve(
    registry: Arc<Registry>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry)).await
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_package", message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "registry");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the registry's log",
        )
    }
}

impl From<db::DbError> for ApiError {
    fn from(e: db::DbError) -> Self {
        match e {
            db::DbError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Deserialize)]
struct Registration {
    name: String,
    public_key: String,
}

async fn register(
    State(registry): State<Arc<Registry>>,
    body: Result<Json<Registration>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Json(r) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("{e}: send {{\"name\", \"public_key\"}}"),
        )
    })?;
    let name_ok = crate::is_name(&r.name) && r.name.len() <= 64;
    if !name_ok {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!(
                "publisher name `{}`: use 1 to 64 lower-case letters, digits, `-` or `_`",
                r.name
            ),
        ));
    }
    if is_reserved(&r.name) && registry.official_key.as_deref() != Some(r.public_key.trim()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "reserved_name",
            format!(
                "the publisher name `{}` is reserved: it would pass for heph's own or the registry's; choose your organisation's name (only the registry operator's key, --official-key, may take it)",
                r.name
            ),
        ));
    }
    let key: PublicKey = r.public_key.parse().map_err(|e: crate::keys::KeyError| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", e.to_string())
    })?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(ApiError::internal)?;
    let token = format!("hephpub_{}", hex::encode(secret));
    registry
        .db
        .add_publisher(&r.name, &key.to_string(), &token_hash(&token))
        .await?;
    tracing::info!(publisher = %r.name, key = %key.id(), "publisher registered");
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"name": r.name, "public_key": key.to_string(), "key_id": key.id(), "token": token}),
        ),
    ))
}

/// Names no one may register: they would pass for heph's first-party connectors or for the
/// registry itself.
fn is_reserved(name: &str) -> bool {
    const RESERVED: &[&str] = &["heph", "official", "admin", "registry", "root", "system"];
    let squashed: String = name.chars().filter(|c| *c != '-' && *c != '_').collect();
    RESERVED.contains(&squashed.as_str())
        || squashed.starts_with("heph")
}

async fn publisher(
    State(registry): State<Arc<Registry>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let key = registry
        .db
        .publisher_key(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no publisher `{name}`")))?;
    let id = key.parse::<PublicKey>().map(|k| k.id()).unwrap_or_default();
    Ok(Json(json!({"name": name, "public_key": key, "key_id": id})))
}

/// The publisher a bearer token belongs to.
async fn authenticate(registry: &Registry, headers: &HeaderMap) -> ApiResult<(String, PublicKey)> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send the publish token as `Authorization: Bearer TOKEN`"))?;
    let (name, key) = registry
        .db
        .publisher_by_token(&token_hash(token.trim()))
        .await?
        .ok_or_else(|| unauthorized("this publish token is not valid"))?;
    let key = key.parse().map_err(ApiError::internal)?;
    Ok((name, key))
}

async fn publish(
    State(registry): State<Arc<Registry>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (publisher, key) = authenticate(&registry, &headers).await?;
    let limit = registry.max_package_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "package_too_large",
            format!("the package is larger than this registry's limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit")
        {
            too_large()
        } else {
            ApiError::bad(format!("the upload did not arrive whole: {e}"))
        }
    })?;
    let package = Package::read(&bytes).map_err(|e| ApiError::bad(e.to_string()))?;
    let manifest = ManifestSummary::parse(&package.contents.manifest).map_err(ApiError::bad)?;
    let forbidden = |m: String| ApiError::new(StatusCode::FORBIDDEN, "forbidden", m);
    if manifest.publisher != publisher || package.signature.publisher != publisher {
        return Err(forbidden(format!(
            "this token publishes as `{publisher}`, but the package says publisher `{}` (manifest) and `{}` (signature)",
            manifest.publisher, package.signature.publisher
        )));
    }
    package.verify(&key).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_signature",
            format!(
                "{e}; the key registered for `{publisher}` is {} ({})",
                key,
                key.id()
            ),
        )
    })?;
    if let Some(owner) = registry.db.owner(&manifest.id).await? {
        if owner != publisher {
            return Err(forbidden(format!(
                "the connector name `{}` belongs to the publisher `{owner}`",
                manifest.id
            )));
        }
    }
    let names = |kind: &str| -> Vec<String> {
        package.contents.describe[kind]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|a| a["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let row = VersionRow {
        name: manifest.id.clone(),
        version: manifest.version.clone(),
        digest: package.digest.clone(),
        size: bytes.len() as i64,
        title: manifest.name.clone(),
        description: manifest.description.clone(),
        contract: manifest.contract.clone(),
        capabilities: manifest.capabilities(),
        actions: names("actions"),
        triggers: names("triggers"),
        yanked: false,
        published_at: db::now_ms(),
        publisher: publisher.clone(),
    };
    // The blob first, then the row that names it; if the row is refused, the blob goes unless
    // another version already names the same contents.
    registry
        .blobs
        .put(&package.digest, bytes)
        .await
        .map_err(ApiError::internal)?;
    if let Err(e) = registry.db.add_version(&row).await {
        if !registry
            .db
            .digest_in_use(&package.digest)
            .await
            .unwrap_or(true)
        {
            let _ = registry.blobs.delete(&package.digest).await;
        }
        return Err(e.into());
    }
    tracing::info!(connector = %row.name, version = %row.version, digest = %row.digest, %publisher, "published");
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": row.name, "version": row.version, "digest": row.digest})),
    ))
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

/// Versions grouped per connector, newest first, with the newest not yanked as `latest`.
fn group(versions: Vec<VersionRow>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut current: Vec<VersionRow> = Vec::new();
    let flush = |current: &mut Vec<VersionRow>, out: &mut Vec<Value>| {
        if current.is_empty() {
            return;
        }
        let latest = current.iter().find(|v| !v.yanked).unwrap_or(&current[0]);
        out.push(json!({
            "name": latest.name, "title": latest.title, "description": latest.description,
            "publisher": latest.publisher,
            "latest": current.iter().find(|v| !v.yanked).map(|v| v.version.clone()),
            "capabilities": latest.capabilities, "actions": latest.actions, "triggers": latest.triggers,
            "versions": current,
        }));
        current.clear();
    };
    for v in versions {
        if current.first().is_some_and(|c| c.name != v.name) {
            flush(&mut current, &mut out);
        }
        current.push(v);
    }
    flush(&mut current, &mut out);
    out
}

async fn list(
    State(registry): State<Arc<Registry>>,
    Query(search): Query<Search>,
) -> ApiResult<Json<Value>> {
    let q = search.q.to_lowercase();
    let connectors: Vec<Value> = group(registry.db.versions(None).await?)
        .into_iter()
        .filter(|c| {
            q.is_empty()
                || ["name", "title", "description", "publisher"]
                    .iter()
                    .any(|k| c[k].as_str().unwrap_or("").to_lowercase().contains(&q))
        })
        .collect();
    Ok(Json(json!({"connectors": connectors})))
}

async fn connector(
    State(registry): State<Arc<Registry>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    group(registry.db.versions(Some(&name)).await?)
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no connector `{name}` in this registry")))
}

async fn find_version(registry: &Registry, name: &str, version: &str) -> ApiResult<VersionRow> {
    let versions = registry.db.versions(Some(name)).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no connector `{name}` in this registry"
        )));
    }
    let found = if version == "latest" {
        versions.iter().find(|v| !v.yanked)
    } else {
        versions.iter().find(|v| v.version == version)
    };
    found.cloned().ok_or_else(|| {
        let known: Vec<_> = versions.iter().map(|v| v.version.as_str()).collect();
        ApiError::not_found(format!(
            "`{name}` has no version `{version}` (published: {})",
            known.join(", ")
        ))
    })
}

async fn version(
    State(registry): State<Arc<Registry>>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<VersionRow>> {
    find_version(&registry, &name, &version).await.map(Json)
}

fn package_response(digest: &str, bytes: bytes::Bytes) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.heph.package".to_string(),
            ),
            (
                header::HeaderName::from_static("x-heph-digest"),
                digest.to_string(),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn download(
    State(registry): State<Arc<Registry>>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let v = find_version(&registry, &name, &version).await?;
    let bytes = registry
        .blobs
        .get(&v.digest)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::internal(format!("the blob of {name}@{} is missing", v.version))
        })?;
    Ok(package_response(&v.digest, bytes))
}

async fn blob(
    State(registry): State<Arc<Registry>>,
    Path(digest): Path<String>,
) -> ApiResult<Response> {
    let bytes = registry
        .blobs
        .get(&digest)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no package with digest `{digest}`")))?;
    Ok(package_response(&digest, bytes))
}

#[derive(Deserialize)]
struct Yank {
    #[serde(default = "yes")]
    yanked: bool,
}

fn yes() -> bool {
    true
}

async fn yank(
    State(registry): State<Arc<Registry>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Option<Json<Yank>>,
) -> ApiResult<Json<Value>> {
    let (publisher, _) = authenticate(&registry, &headers).await?;
    match registry.db.owner(&name).await? {
        None => {
            return Err(ApiError::not_found(format!(
                "no connector `{name}` in this registry"
            )))
        }
        Some(owner) if owner != publisher => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("`{name}` belongs to `{owner}`"),
            ))
        }
        Some(_) => {}
    }
    let yanked = body.map(|Json(y)| y.yanked).unwrap_or(true);
    if !registry.db.set_yanked(&name, &version, yanked).await? {
        return Err(ApiError::not_found(format!(
            "`{name}` has no version `{version}`"
        )));
    }
    tracing::info!(connector = %name, %version, yanked, "yank");
    Ok(Json(
        json!({"name": name, "version": version, "yanked": yanked}),
    ))
}
