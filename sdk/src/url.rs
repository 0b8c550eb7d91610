//! A small absolute-URL type: enough to build requests and resolve redirects, without pulling a
//! full URL parser into every connector.

use crate::Error;

/// An absolute `http` or `https` URL split into the parts wasi:http wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
    /// The path and query, always starting with `/`.
    pub path_and_query: String,
}

impl Url {
    /// Parses an absolute http(s) URL; the fragment is dropped.
    pub fn parse(text: &str) -> Result<Url, Error> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| Error::InvalidInput(format!("`{text}` is not an absolute URL")))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(Error::InvalidInput(format!(
                "`{text}`: only http and https URLs are supported"
            )));
        }
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() || authority.contains('@') {
            return Err(Error::InvalidInput(format!(
                "`{text}` has no host, or has user information"
            )));
        }
        let path_and_query = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Url {
            scheme,
            authority: authority.to_ascii_lowercase(),
            path_and_query,
        })
    }

    /// Resolves a `Location` header against this URL: absolute, scheme-relative,
    /// absolute-path or relative-path references.
    pub fn join(&self, reference: &str) -> Result<Url, Error> {
        if reference.contains("://") {
            return Url::parse(reference);
        }
        if let Some(rest) = reference.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme));
        }
        let path = if reference.starts_with('/') {
            reference.to_string()
        } else {
            let base = self.path_and_query.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map(|i| i + 1).unwrap_or(0)];
            format!("{dir}{reference}")
        };
        Ok(Url {
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            path_and_query: path,
        })
    }

    /// Appends `key=value` to the query, percent-encoding both.
    pub fn append_query(&mut self, key: &str, value: &str) {
        let sep = if self.path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        self.path_and_query
            .push_str(&format!("{sep}{}={}", encode(key), encode(value)));
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme, self.authority, self.path_and_query
        )
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins() {
        let u = Url::parse("HTTPS://Example.org:8443/a/b?x=1#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.authority, "example.org:8443");
        assert_eq!(u.path_and_query, "/a/b?x=1");
        assert_eq!(u.join("c").unwrap().path_and_query, "/a/c");
        assert_eq!(u.join("/z").unwrap().path_and_query, "/z");
        assert_eq!(u.join("//other/p").unwrap().authority, "other");
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://user@x/").is_err());
        let mut q = Url::parse("http://h").unwrap();
        q.append_query("a b", "é&");
        assert_eq!(q.path_and_query, "/?a%20b=%C3%A9%26");
    }
}
