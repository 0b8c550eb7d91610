//! Removes a connection's secrets from what a call produced. A connector never sees a secret,
//! but an upstream can reflect one (an echo of the request's headers, an error that quotes
//! the API key), and the connector may pass that on in its answer, its error or its log. What
//! leaves a call — API answers, stored statuses, logs — goes through here first.

use base64::Engine as _;
use serde_json::Value;

use crate::runtime::call_log::Entries;
use crate::runtime::{CallError, Credential};

/// Shorter values are not redacted: they would mangle ordinary text, and no real secret is so short.
const SHORTEST: usize = 6;

/// The secrets of one call, longest first.
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values and the credential the call used (whose encoded
    /// forms, such as a Basic header's base64, are secrets too).
    pub fn new<'a>(
        values: impl IntoIterator<Item = &'a str>,
        credential: Option<&Credential>,
    ) -> Redactor {
        let mut secrets: Vec<String> = values.into_iter().map(str::to_string).collect();
        if let Some(credential) = credential {
            secrets.extend(credential.secrets().into_iter().map(str::to_string));
            if let Credential::Basic { username, password } = credential {
                secrets.push(
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}")),
                );
            }
        }
        secrets.retain(|s| s.len() >= SHORTEST);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Redacts a text in place.
    pub fn text(&self, text: &mut String) {
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), "***");
            }
        }
    }

    /// Redacts every string of a JSON value.
    pub fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.value(v)),
            _ => {}
        }
    }

    /// Redacts an error's message.
    pub fn error(&self, error: &mut CallError) {
        match error {
            CallError::InvalidInput(m)
            | CallError::Unauthorized(m)
            | CallError::NotFound(m)
            | CallError::Transient(m)
            | CallError::Permanent(m)
            | CallError::Trap(m)
            | CallError::Host(m) => self.text(m),
            CallError::RateLimited(_)
            | CallError::CpuTime(_)
            | CallError::WallTime(_)
            | CallError::Memory(_) => {}
        }
    }

    /// Redacts a call log.
    pub fn entries(&self, entries: &mut Entries) {
        entries
            .lines
            .iter_mut()
            .for_each(|l| self.text(&mut l.message));
        entries.refusals.iter_mut().for_each(|r| self.text(r));
        self.text(&mut entries.output);
        for r in &mut entries.requests {
            self.text(&mut r.url);
            if let Some(e) = &mut r.error {
                self.text(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_their_encodings_are_replaced_everywhere() {
        let credential = Credential::Basic {
            username: "ann".into(),
            password: "pass word 123".into(),
        };
        let r = Redactor::new(["api-key-987654", "abc"], Some(&credential));
        let mut v = serde_json::json!({"echo": {"authorization": "Basic YW5uOnBhc3Mgd29yZCAxMjM=", "list": ["x api-key-987654 y"]}, "n": 1, "short": "abc"});
        r.value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"echo": {"authorization": "Basic ***", "list": ["x *** y"]}, "n": 1, "short": "abc"})
        );
        let mut e = CallError::Permanent("upstream said: bad key api-key-987654".into());
        r.error(&mut e);
        assert_eq!(e.to_string(), "upstream said: bad key ***");
    }
}
