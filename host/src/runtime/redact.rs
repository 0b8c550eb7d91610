//! Removes a connection's secrets from what a call produced. A connector never sees a secret,
//! but an upstream can reflect one (an echo of the request, an error quoting the API key), and
//! a connector can pass it on in any shape. Every call's answer, error, cursor, items and log
//! pass through here inside the runtime, before the CLI prints them, the API answers them, the
//! engine stores them or a log line quotes them: one place, whoever called.
//!
//! Each secret is searched in the forms it takes on the way out: as it is; base64 (standard
//! and URL-safe, with and without padding) of it and of a Basic credential's `user:password`;
//! percent-encoded in upper and lower case (and with `+` for spaces); JSON-escaped; hex; and
//! reversed. Object keys are redacted as well as values.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::call_log::Entries;
use super::connector::{CallError, Item};
use super::credentials::Credential;

/// Shorter values are not redacted: they would mangle ordinary text, and no real secret is so short.
const SHORTEST: usize = 6;

/// What replaces a secret.
pub const MASK: &str = "***";

/// The forms of a connection's secrets, longest first. Built once per connection (its forms
/// cost a few microseconds to derive), extended per call only by a credential it does not
/// cover yet (an OAuth token refreshed during the call).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    forms: Vec<String>,
    covered: Vec<Credential>,
    values: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values and credentials.
    pub fn new<'a>(
        values: impl IntoIterator<Item = &'a str>,
        credentials: &[Credential],
    ) -> Redactor {
        let values: Vec<String> = values.into_iter().map(str::to_string).collect();
        let mut secrets = values.clone();
        let mut forms = Vec::new();
        for credential in credentials {
            secrets.extend(credential.secrets().into_iter().map(str::to_string));
            if let Credential::Basic { username, password } = credential {
                forms.extend(base64_forms(&format!("{username}:{password}")));
            }
        }
        for secret in secrets.iter().filter(|s| s.len() >= SHORTEST) {
            forms.extend(forms_of(secret));
        }
        forms.retain(|f| f.len() >= SHORTEST);
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Redactor {
            forms,
            covered: credentials.to_vec(),
            values,
        }
    }

    /// This redactor, or one that also covers `used` where it does not yet.
    pub fn covering(self: &Arc<Self>, used: &[Credential]) -> Arc<Redactor> {
        let missing: Vec<Credential> = used
            .iter()
            .filter(|c| **c != Credential::None && !self.covered.contains(c))
            .cloned()
            .collect();
        if missing.is_empty() {
            return self.clone();
        }
        let mut credentials = self.covered.clone();
        credentials.extend(missing);
        Arc::new(Redactor::new(
            self.values.iter().map(String::as_str),
            &credentials,
        ))
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Redacts a text in place.
    pub fn text(&self, text: &mut String) {
        for form in &self.forms {
            if text.contains(form.as_str()) {
                *text = text.replace(form.as_str(), MASK);
            }
        }
    }

    /// Redacts every string of a JSON value, object keys included.
    pub fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                let needs_new_keys = map.keys().any(|k| self.finds(k));
                if needs_new_keys {
                    let old = std::mem::take(map);
                    let mut renamed = Map::with_capacity(old.len());
                    for (mut key, v) in old {
                        self.text(&mut key);
                        renamed.insert(key, v);
                    }
                    *map = renamed;
                }
                map.values_mut().for_each(|v| self.value(v));
            }
            _ => {}
        }
    }

    fn finds(&self, text: &str) -> bool {
        self.forms.iter().any(|f| text.contains(f.as_str()))
    }

    /// Redacts an error's message.
    pub fn error(&self, error: &mut CallError) {
        if let Some(message) = error.message_mut() {
            self.text(message);
        }
    }

    /// Redacts items (their ids and data).
    pub fn items(&self, items: &mut [Item]) {
        for item in items {
            self.text(&mut item.id);
            self.value(&mut item.data);
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

/// Every form of one secret that is searched for.
fn forms_of(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    forms.extend(base64_forms(secret));
    forms.push(percent(secret, true, false));
    forms.push(percent(secret, false, false));
    forms.push(percent(secret, true, true));
    forms.push(percent(secret, false, true));
    if let Ok(quoted) = serde_json::to_string(secret) {
        let inner = &quoted[1..quoted.len() - 1];
        forms.push(inner.replace('/', "\\/"));
        forms.push(inner.to_string());
    }
    forms.push(
        secret
            .encode_utf16()
            .map(|u| format!("\\u{u:04x}"))
            .collect(),
    );
    forms.push(
        secret
            .encode_utf16()
            .map(|u| format!("\\u{u:04X}"))
            .collect(),
    );
    forms.push(hex::encode(secret));
    forms.push(hex::encode_upper(secret));
    forms.push(secret.chars().rev().collect());
    forms
}

fn base64_forms(text: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .map(|engine| engine.encode(text))
        .collect()
}

/// Percent-encodes every byte but unreserved ones; `plus`: a space as `+` (forms).
fn percent(text: &str, upper: bool, plus: bool) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else if plus && b == b' ' {
                "+".to_string()
            } else if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redactor() -> Redactor {
        let credential = Credential::Basic {
            username: "ann".into(),
            password: "pass word/123".into(),
        };
        Redactor::new(["api-key-987654", "abc"], &[credential])
    }

    #[test]
    fn every_outgoing_form_of_a_secret_is_masked() {
        let r = redactor();
        let password = "pass word/123";
        let forms = [
            password.to_string(),
            base64::engine::general_purpose::STANDARD.encode("ann:pass word/123"),
            base64::engine::general_purpose::STANDARD.encode(password),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(password),
            "pass%20word%2F123".to_string(),
            "pass%20word%2f123".to_string(),
            "pass+word%2F123".to_string(),
            "pass word\\/123".to_string(),
            "\\u0070\\u0061\\u0073\\u0073\\u0020\\u0077\\u006f\\u0072\\u0064\\u002f\\u0031\\u0032\\u0033".to_string(),
            hex::encode(password),
            hex::encode_upper(password),
            password.chars().rev().collect(),
        ];
        for form in forms {
            let mut text = format!("before {form} after");
            r.text(&mut text);
            assert_eq!(text, "before *** after", "{form}");
        }
    }

    #[test]
    fn values_and_keys_are_redacted_and_short_values_are_left() {
        let r = redactor();
        let mut v = json!({"echo": {"authorization": "Basic YW5uOnBhc3Mgd29yZC8xMjM=", "list": ["x api-key-987654 y"]}, "api-key-987654": 1, "short": "abc"});
        r.value(&mut v);
        assert_eq!(
            v,
            json!({"echo": {"authorization": "Basic ***", "list": ["x *** y"]}, "***": 1, "short": "abc"})
        );
        let mut e = CallError::Permanent("upstream said: bad key api-key-987654".into());
        r.error(&mut e);
        assert_eq!(e.to_string(), "upstream said: bad key ***");
    }

    #[test]
    fn a_redactor_is_extended_only_by_credentials_it_does_not_cover() {
        let basic = Credential::Basic {
            username: "ann".into(),
            password: "pass word/123".into(),
        };
        let base = Arc::new(Redactor::new(["api-key-987654"], &[basic.clone()]));
        assert!(Arc::ptr_eq(
            &base,
            &base.covering(&[basic, Credential::None])
        ));
        let refreshed = base.covering(&[Credential::Bearer("fresh-token-777".into())]);
        let mut text = "fresh-token-777 api-key-987654".to_string();
        refreshed.text(&mut text);
        assert_eq!(text, "*** ***");
    }

    #[test]
    fn a_json_escaped_secret_is_found_in_text() {
        let r = Redactor::new(["tok\"en/ü-123"], &[]);
        let escaped = serde_json::to_string("tok\"en/ü-123").unwrap();
        let mut text = format!("log: {escaped}");
        r.text(&mut text);
        assert_eq!(text, "log: \"***\"");
    }
}
