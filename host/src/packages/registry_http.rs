//! The HTTP client for registries, under the address policy connectors have: a registry URL
//! an admin names in a request is fetched only if every address it resolves to (and every
//! redirect's) is public. Loopback and private networks need the operator's word — the
//! registry the server was started with (`--registry`), or `--registry-allow-private` for
//! any — and a cloud metadata address is refused always. The check is made on the addresses
//! the connection will use (a resolver of heph's own), so a name that resolves to a public
//! address for the check and a private one for the fetch cannot slip through.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use heph_registry::RegistryClient;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::app::{App, AppError};
use crate::runtime::policy::{check_address, Refusal};

impl App {
    /// A client for the registry at `url` (as [`App::registry_url`] returned it).
    pub fn registry_client(&self, url: &str) -> Result<RegistryClient, AppError> {
        let configured = self
            .config
            .registry
            .as_deref()
            .map(|r| r.trim_end_matches('/'));
        let allow_private = self.config.registry_allow_private || configured == Some(url);
        if let Some(refusal) = literal_refusal(url, allow_private) {
            return Err(refused(url, &refusal));
        }
        let client = guarded_client(allow_private)
            .map_err(|e| AppError::internal(format!("cannot build the registry client: {e}")))?;
        Ok(RegistryClient::with_client(url, client))
    }
}

fn refused(url: &str, refusal: &str) -> AppError {
    AppError::forbidden(format!(
        "{url}: {refusal}. A registry on a private network needs the server's operator: start heph serve with --registry URL or --registry-allow-private"
    ))
    .with_code("address_not_allowed")
}

/// A reqwest client whose names resolve through the policy, whose redirects are checked hop
/// by hop, and which never goes through a proxy (where the policy could not see the address).
fn guarded_client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PolicyResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if let Some(refusal) = literal_refusal(attempt.url().as_str(), allow_private) {
                attempt.error(refusal)
            } else {
                attempt.follow()
            }
        }))
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .user_agent(concat!("heph/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The refusal of a URL whose host is an address literal (the resolver never sees those).
fn literal_refusal(url: &str, allow_private: bool) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let ip = match parsed.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    check_address(&ip.to_string(), ip, allow_private)
        .err()
        .map(|r| describe(&r))
}

/// What every refusal of the policy starts with (so that one surfacing as a failed request
/// is still told apart from an unreachable registry).
pub const REFUSED: &str = "refused by the address policy";

fn describe(refusal: &Refusal) -> String {
    let why = match refusal {
        Refusal::Metadata { host, ip } => {
            format!("{host} is {ip}, a cloud metadata address, which heph never fetches")
        }
        Refusal::AddressNotAllowed { host, ip, kind } => {
            format!("{host} is {ip}, a {kind} address")
        }
        other => other.to_string(),
    };
    format!("{REFUSED}: {why}")
}

/// A registry call's failure as this host's error: a policy refusal is 403
/// `address_not_allowed`, not a registry that could not be reached.
pub fn policy_refusal(url: &str, message: &str) -> Option<AppError> {
    let at = message.find(REFUSED)?;
    Some(refused(url, &message[at..]))
}

/// Resolves names with the system resolver and refuses the name if any of its addresses is
/// one the policy refuses.
struct PolicyResolver {
    allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &found {
                check_address(&host, address.ip(), allow_private)
                    .map_err(|r| Box::<dyn std::error::Error + Send + Sync>::from(describe(&r)))?;
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_literals_are_judged_before_any_connection() {
        let refused = |url: &str, allow| literal_refusal(url, allow);
        assert!(refused("http://127.0.0.1:9/", false)
            .unwrap()
            .contains("loopback"));
        assert!(refused("http://[::1]/", false)
            .unwrap()
            .contains("loopback"));
        assert!(refused("http://10.1.2.3/", false)
            .unwrap()
            .contains("private"));
        assert!(
            refused("http://127.0.0.1:9/", true).is_none(),
            "the operator allowed it"
        );
        for metadata in [
            "http://169.254.169.254/latest",
            "http://[::ffff:169.254.169.254]/",
        ] {
            let why = refused(metadata, true).unwrap();
            assert!(why.contains("metadata"), "{metadata}: {why}");
        }
        assert!(
            refused("https://registry.example.com/", false).is_none(),
            "names go to the resolver"
        );
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_are_refused() {
        let resolver = PolicyResolver {
            allow_private: false,
        };
        let error = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is loopback");
        assert!(error.to_string().contains("loopback"), "{error}");
        let allowed = PolicyResolver {
            allow_private: true,
        };
        assert!(allowed.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
