//! The host's HTTP client for connectors: pooled keep-alive connections, TLS with the web PKI
//! roots, and a resolver that checks every address a name resolves to. The connection is made
//! to the addresses that were checked, so a name cannot resolve once to a public address for
//! the check and again to a private one for the connection (DNS rebinding).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::WasiBody;

use super::policy::{self, Refusal};

/// Names mapped to fixed addresses and ports, like curl's `--resolve`/`--connect-to`: only the
/// operator's configuration sets them (`heph --resolve NAME=ADDR:PORT`), for tests against
/// local fakes and for hosts without DNS. Names are kept normalized (lower case, no trailing
/// dot). The name is still checked against the allowed hosts, only the mapped port may be
/// asked for, TLS still verifies the certificate for the name, and metadata addresses are
/// still refused; a mapped address may be private, since the operator named it.
pub type ResolveOverrides = HashMap<String, Vec<SocketAddr>>;

/// Why the client's TLS setup failed.
#[derive(Debug, thiserror::Error)]
#[error("an extra root certificate cannot be used: {0}")]
pub struct TlsSetupError(String);

type Connector = HttpsConnector<HttpConnector<CheckedResolver>>;

/// The two pools: one for installs limited to the public internet, one for installs an admin
/// allowed onto private networks. Keeping them apart means a connection opened for one is never
/// reused for the other.
pub struct OutboundClient {
    public: Client<Connector, WasiBody>,
    private: Client<Connector, WasiBody>,
    overrides: Arc<ResolveOverrides>,
}

impl OutboundClient {
    /// Builds both pools. `extra_roots` (DER) are trusted besides the web PKI roots.
    pub fn new(
        connect_timeout: Duration,
        overrides: ResolveOverrides,
        extra_roots: &[Vec<u8>],
    ) -> Result<OutboundClient, TlsSetupError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in extra_roots {
            roots
                .add(rustls_pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| TlsSetupError(e.to_string()))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let overrides = Arc::new(overrides);
        let build = |allow_private| {
            let mut http = HttpConnector::new_with_resolver(CheckedResolver {
                allow_private,
                overrides: overrides.clone(),
            });
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(connect_timeout));
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            Client::builder(TokioExecutor::new())
                // Below the 5 s keep-alive of Node's and Apache's servers: a connection the
                // server is about to close is not reused (that request would fail with a reset).
                .pool_idle_timeout(Duration::from_secs(4))
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .pool_max_idle_per_host(32)
                .build(https)
        };
        Ok(OutboundClient {
            public: build(false),
            private: build(true),
            overrides,
        })
    }

    /// Checks a request to a name the operator mapped (`--resolve NAME=ADDR:PORT`): the
    /// mapping sends the name, on its URL's default port, to that address and port. A URL that
    /// names another port would reach that port of the mapped address instead, so it is
    /// refused; naming the mapped port itself is the same destination and passes.
    pub fn check_mapped(&self, host: &str, explicit_port: Option<u16>) -> Result<(), Refusal> {
        let host = policy::normalize_host(host);
        match (self.overrides.get(&host), explicit_port) {
            (Some(addrs), Some(port)) if !addrs.iter().any(|a| a.port() == port) => {
                Err(Refusal::PortNotMapped {
                    host,
                    port,
                    mapped: addrs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
            _ => Ok(()),
        }
    }

    /// The pool for an install.
    pub fn pool(&self, allow_private: bool) -> &Client<Connector, WasiBody> {
        if allow_private {
            &self.private
        } else {
            &self.public
        }
    }
}

/// Resolves a name and refuses it when any of its addresses is not allowed.
#[derive(Clone)]
pub struct CheckedResolver {
    allow_private: bool,
    overrides: Arc<ResolveOverrides>,
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            // Compared as the allowlist compares it: `API.Example.org.` is `api.example.org`.
            let host = policy::normalize_host(name.as_str());
            let overridden = this.overrides.get(&host);
            let addrs: Vec<SocketAddr> = match overridden {
                Some(addrs) => addrs.clone(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let allow_private = this.allow_private || overridden.is_some();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            for addr in &addrs {
                policy::check_address(&host, addr.ip(), allow_private)
                    .map_err(|r| Box::new(r) as BoxError)?;
            }
            Ok(addrs.into_iter())
        })
    }
}

/// The policy refusal somewhere in an error's chain, if that is why it failed.
pub fn refusal_in(error: &(dyn StdError + 'static)) -> Option<Refusal> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<Refusal>() {
            return Some(r.clone());
        }
        current = e.source();
    }
    None
}

/// Checks a literal IP host (the resolver is not consulted for those).
pub fn check_literal(host: &str, allow_private: bool) -> Result<(), Refusal> {
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => policy::check_address(host, ip, allow_private),
        Err(_) => Ok(()),
    }
}
