//! The outbound policy, as pure functions: which URLs a connector may call and which addresses
//! a name may resolve to. No I/O here, so every rule is covered by a table of unit tests.
//!
//! A manifest lists hosts as `https://api.notion.com`, `api.notion.com` (https, port 443),
//! `http://localhost:8080`, `*.googleapis.com` (any subdomain, https), or a template such as
//! `{site_url}` that is filled from the connection's fields when the call is made (`{field?}`
//! when the field is optional: no host while the connection lacks it). A request
//! passes when its scheme, host and port all match one entry. Its resolved addresses must then
//! be public, unless the install allows private networks.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// `http` or `https`.
    pub scheme: String,
    /// A lower-case host name or IP literal; a leading `*.` allows any subdomain.
    pub host: String,
    /// The port; the scheme's default when the entry names none.
    pub port: u16,
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = default_port(&self.scheme);
        if Some(self.port) == default {
            write!(f, "{}://{}", self.scheme, self.host)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// A manifest entry that cannot be used, with the syntax it should have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed host `{entry}`: {reason}. Write `https://host[:port]`, `host`, `*.domain` or a connection field as `{{field}}`")]
pub struct EntryError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Resolves the manifest's entries against the connection's fields.
pub fn resolve_allowlist(
    entries: &[String],
    connection: &Value,
) -> Result<Vec<AllowedHost>, EntryError> {
    let mut allowed = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Some(host) = resolve_entry(entry, connection)? {
            allowed.push(host);
        }
    }
    Ok(allowed)
}

/// One entry; `None` for an optional template (`{field?}`) whose field the connection lacks.
fn resolve_entry(entry: &str, connection: &Value) -> Result<Option<AllowedHost>, EntryError> {
    let error = |reason: String| EntryError {
        entry: entry.to_string(),
        reason,
    };
    let trimmed = entry.trim();
    if let Some(field) = trimmed.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        let (field, optional) = match field.strip_suffix('?') {
            Some(field) => (field, true),
            None => (field, false),
        };
        let value = connection
            .get(field)
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty());
        let value = match value {
            Some(value) => value,
            None if optional => return Ok(None),
            None => {
                return Err(error(format!(
                    "the connection has no `{field}` field to fill it"
                )))
            }
        };
        if value.contains('*') {
            return Err(error(format!(
                "the connection's `{field}` may not contain `*`"
            )));
        }
        if !value.contains("://") {
            return Err(error(format!(
                "the connection's `{field}` (`{value}`) must be a URL starting with http:// or https://"
            )));
        }
        return parse_host(value).map(Some).map_err(error);
    }
    if trimmed.contains('{') || trimmed.contains('}') {
        return Err(error(
            "a template must be a whole entry, such as `{site_url}` (or `{field?}` for an optional field)".into(),
        ));
    }
    parse_host(trimmed).map(Some).map_err(error)
}

/// Parses `scheme://host[:port][/path]` or `host[:port]` (https); the path is ignored.
fn parse_host(text: &str) -> Result<AllowedHost, String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("https".to_string(), text),
    };
    let default = default_port(&scheme)
        .ok_or_else(|| format!("the scheme `{scheme}` is not http or https"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("user information is not allowed".into());
    }
    let (host, port) = split_authority(authority)?;
    if host.is_empty() {
        return Err("there is no host".into());
    }
    let wildcard = host.strip_prefix("*.");
    let name = wildcard.unwrap_or(&host);
    if name.contains('*') || (wildcard.is_some() && !name.contains('.')) {
        return Err("a wildcard must be `*.` followed by a domain with a dot".into());
    }
    Ok(AllowedHost {
        scheme,
        host,
        port: port.unwrap_or(default),
    })
}

/// Splits `host[:port]` (with `[v6]` literals) into a lower-case host and an optional port.
pub fn split_authority(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("an IPv6 literal lacks its `]`")?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("`{p}` is not a port"))?,
        ),
        None => None,
    };
    Ok((host.trim_end_matches('.').to_ascii_lowercase(), port))
}

/// Why a request is refused, worded for the call log and the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The destination matches no allowed host.
    #[error("{url}: `{target}` is not among this connector's allowed hosts ({allowed}). The manifest names the hosts a connector may call; only a version that asks for this host, approved by an admin, can reach it")]
    HostNotAllowed {
        /// The request URL.
        url: String,
        /// `scheme://host:port`.
        target: String,
        /// The allowed hosts, comma-separated.
        allowed: String,
    },
    /// The destination resolves to (or is) an address outside the public internet.
    #[error("{host} resolves to {ip}, a {kind} address. Private networks are refused unless the admin allows them for this install (allow_private_network)")]
    AddressNotAllowed {
        /// The host name asked for.
        host: String,
        /// The address it resolved to.
        ip: IpAddr,
        /// What kind of address it is.
        kind: &'static str,
    },
    /// A name the operator mapped to fixed addresses (`--resolve NAME=ADDR:PORT`), asked for on
    /// another port: the mapping names a service, not every port of its address.
    #[error("{host} is mapped by the operator (--resolve) to {mapped}; a URL naming port {port} would reach another port of that address, so it is refused (name no port, or the mapped one)")]
    PortNotMapped {
        /// The host name asked for.
        host: String,
        /// The port asked for.
        port: u16,
        /// The mapped addresses, comma-separated.
        mapped: String,
    },
    /// A cloud metadata address, refused even where private networks are allowed.
    #[error("{host} resolves to {ip}, a cloud metadata address, which no connector may reach")]
    Metadata {
        /// The host name asked for.
        host: String,
        /// The address.
        ip: IpAddr,
    },
}

/// Checks a request's destination against the allowed hosts.
pub fn check_destination(
    allowed: &[AllowedHost],
    url: &str,
    scheme: &str,
    host: &str,
    port: u16,
) -> Result<(), Refusal> {
    let host = normalize_host(host);
    let host = host.as_str();
    let matches = allowed.iter().any(|a| {
        a.scheme == scheme
            && a.port == port
            && match a.host.strip_prefix("*.") {
                Some(domain) => {
                    host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}"))
                }
                None => a.host.trim_start_matches('[').trim_end_matches(']') == host,
            }
    });
    if matches {
        return Ok(());
    }
    Err(Refusal::HostNotAllowed {
        url: url.to_string(),
        target: format!("{scheme}://{host}:{port}"),
        allowed: if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}

/// A host name as it is compared everywhere (allowlist, `--resolve` mappings, credential
/// hosts): lower case, without a trailing dot or IPv6 brackets.
pub fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Checks one resolved address.
pub fn check_address(host: &str, ip: IpAddr, allow_private: bool) -> Result<(), Refusal> {
    let ip = canonical(ip);
    if is_metadata(ip) {
        return Err(Refusal::Metadata {
            host: host.to_string(),
            ip,
        });
    }
    match classify(ip) {
        Some(kind) if !allow_private => Err(Refusal::AddressNotAllowed {
            host: host.to_string(),
            ip,
            kind,
        }),
        _ => Ok(()),
    }
}

/// IPv4 addresses written as IPv6 (`::ffff:a.b.c.d`, `::a.b.c.d`, NAT64 `64:ff9b::/96`) are
/// judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            let embedded =
                Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
                return IpAddr::V4(embedded);
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return IpAddr::V4(embedded);
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

fn is_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(100, 100, 100, 200)
        }
        IpAddr::V6(v6) => v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    }
}

/// What kind of non-public address `ip` is, or `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if a == 100 && (64..128).contains(&b) {
                Some("carrier-grade NAT")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if v4.is_unspecified() || a == 0 {
                Some("unspecified")
            } else if v4.is_broadcast() || a >= 240 {
                Some("reserved")
            } else if a == 192 && b == 0 && v4.octets()[2] == 0 {
                Some("IETF protocol")
            } else if v4.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
                Some("documentation or benchmarking")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("documentation")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allow(entries: &[&str], conn: Value) -> Vec<AllowedHost> {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        resolve_allowlist(&entries, &conn).unwrap()
    }

    #[test]
    fn entries_parse_into_scheme_host_port() {
        let cases = [
            ("api.notion.com", "https", "api.notion.com", 443),
            ("https://API.Notion.com/v1", "https", "api.notion.com", 443),
            ("http://localhost:8080", "http", "localhost", 8080),
            ("*.googleapis.com", "https", "*.googleapis.com", 443),
            ("http://[::1]:9000", "http", "::1", 9000),
        ];
        for (entry, scheme, host, port) in cases {
            let a = &allow(&[entry], json!({}))[0];
            assert_eq!(
                (a.scheme.as_str(), a.host.as_str(), a.port),
                (scheme, host, port),
                "{entry}"
            );
        }
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (entry, needle) in [
            ("ftp://x.org", "not http or https"),
            ("https://user@x.org", "user information"),
            ("*", "wildcard"),
            ("a.*.org", "wildcard"),
            ("https://x.org:99999", "not a port"),
            ("https://{site_url}/x", "whole entry"),
            ("{missing}", "no `missing` field"),
        ] {
            let err = resolve_allowlist(&[entry.to_string()], &json!({})).unwrap_err();
            assert!(err.to_string().contains(needle), "{entry}: {err}");
            assert!(err.to_string().contains("Write `https://host"), "{err}");
        }
    }

    #[test]
    fn optional_templates_add_nothing_while_the_field_is_missing() {
        let entries = [
            "api.linkedin.com".to_string(),
            "{media_source?}".to_string(),
        ];
        let without = resolve_allowlist(&entries, &json!({})).unwrap();
        assert_eq!(without.len(), 1);
        let with = resolve_allowlist(
            &entries,
            &json!({"media_source": "https://portal.example.org"}),
        )
        .unwrap();
        assert_eq!(with[1].host, "portal.example.org");
        let err = resolve_allowlist(&["{media_source}".to_string()], &json!({})).unwrap_err();
        assert!(err.to_string().contains("no `media_source` field"), "{err}");
    }

    #[test]
    fn templates_fill_from_the_connection() {
        let a = allow(
            &["{site_url}"],
            json!({"site_url": "http://127.0.0.1:8081/blog/"}),
        );
        assert_eq!(
            a[0],
            AllowedHost {
                scheme: "http".into(),
                host: "127.0.0.1".into(),
                port: 8081
            }
        );
        for bad in [
            json!({"site_url": "*.evil.org"}),
            json!({"site_url": "blog.example.org"}),
            json!({"site_url": ""}),
        ] {
            assert!(
                resolve_allowlist(&["{site_url}".into()], &bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn destinations_match_scheme_host_and_port() {
        let a = allow(
            &[
                "https://api.notion.com",
                "*.googleapis.com",
                "http://127.0.0.1:8081",
            ],
            json!({}),
        );
        let ok = [
            ("https", "api.notion.com", 443),
            ("https", "API.NOTION.COM.", 443),
            ("https", "www.googleapis.com", 443),
            ("http", "127.0.0.1", 8081),
        ];
        for (s, h, p) in ok {
            assert!(check_destination(&a, "u", s, h, p).is_ok(), "{s}://{h}:{p}");
        }
        let refused = [
            ("http", "api.notion.com", 443),
            ("https", "api.notion.com", 8443),
            ("https", "notion.com", 443),
            ("https", "evilapi.notion.com", 443),
            ("https", "googleapis.com", 443),
            ("https", "api.notion.com.evil.org", 443),
            ("http", "127.0.0.1", 8082),
        ];
        for (s, h, p) in refused {
            let err = check_destination(&a, "u", s, h, p).unwrap_err();
            assert!(err.to_string().contains("allowed hosts"), "{err}");
        }
    }

    #[test]
    fn non_public_addresses_are_refused_unless_allowed() {
        let refused = [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("fd12::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("255.255.255.255", "reserved"),
        ];
        for (ip, kind) in refused {
            let ip: IpAddr = ip.parse().unwrap();
            match check_address("h", ip, false) {
                Err(Refusal::AddressNotAllowed { kind: k, .. }) => assert_eq!(k, kind, "{ip}"),
                other => panic!("{ip}: {other:?}"),
            }
            assert!(
                check_address("h", ip, true).is_ok(),
                "{ip} with private allowed"
            );
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "1.1.1.1"] {
            assert!(
                check_address("h", ip.parse().unwrap(), false).is_ok(),
                "{ip}"
            );
        }
    }

    #[test]
    fn metadata_addresses_are_refused_always() {
        for ip in ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"] {
            let err = check_address("h", ip.parse().unwrap(), true).unwrap_err();
            assert!(matches!(err, Refusal::Metadata { .. }), "{ip}");
        }
    }
}
