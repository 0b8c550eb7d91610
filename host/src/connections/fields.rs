//! Checks a connection's fields against the connector's manifest, and sorts them into the
//! non-secret part (stored as JSON, given to the connector) and the secrets (sealed).

use serde_json::{json, Map, Value};

use crate::app::AppError;
use crate::manifest::Manifest;

/// What a create or an edit changes.
#[derive(Default)]
pub struct FieldChanges {
    /// The non-secret fields after the change (whole).
    pub public: Map<String, Value>,
    /// Secrets to write (field, plaintext).
    pub put_secrets: Vec<(String, String)>,
    /// Secret fields to clear.
    pub remove_secrets: Vec<String>,
}

impl std::fmt::Debug for FieldChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.put_secrets.iter().map(|(n, _)| n.as_str()).collect();
        write!(
            f,
            "FieldChanges(public {:?}, secrets {names:?} = ***)",
            self.public
        )
    }
}

/// Validates `input` (field → string, or null to clear) over the current state: `public` and
/// the names of the secrets already set. Every problem is reported at once, by field; a
/// message never repeats a secret's value.
pub fn validate(
    manifest: &Manifest,
    input: &Map<String, Value>,
    public: &Map<String, Value>,
    secrets_set: &[String],
) -> Result<FieldChanges, AppError> {
    let mut problems = Vec::new();
    let mut changes = FieldChanges {
        public: public.clone(),
        ..FieldChanges::default()
    };
    let mut secrets_after: Vec<String> = secrets_set.to_vec();
    for (name, value) in input {
        let Some(field) = manifest.connection.fields.iter().find(|f| &f.name == name) else {
            let known: Vec<&str> = manifest
                .connection
                .fields
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            problems.push(json!({"field": name, "message": format!("`{name}` is not a field of {} connections (fields: {})", manifest.id, known.join(", "))}));
            continue;
        };
        let text = match value {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(s.clone()),
            _ => {
                problems.push(json!({"field": name, "message": "must be a string"}));
                continue;
            }
        };
        let Some(text) = text else {
            if field.secret {
                changes.remove_secrets.push(name.clone());
                secrets_after.retain(|s| s != name);
            } else {
                changes.public.remove(name);
            }
            continue;
        };
        if let Some(problem) = format_problem(field.format.as_deref(), &text) {
            // Never echo a secret back, not even in an error.
            let shown = if field.secret {
                String::new()
            } else {
                format!(" (`{text}`)")
            };
            problems.push(json!({"field": name, "message": format!("{problem}{shown}")}));
            continue;
        }
        if field.secret {
            changes.put_secrets.push((name.clone(), text));
            if !secrets_after.contains(name) {
                secrets_after.push(name.clone());
            }
        } else {
            changes.public.insert(name.clone(), Value::String(text));
        }
    }
    for field in manifest
        .connection
        .fields
        .iter()
        .filter(|f| f.required && f.default.is_none())
    {
        let present = if field.secret {
            secrets_after.contains(&field.name)
        } else {
            changes.public.contains_key(&field.name)
        };
        if !present && !problems.iter().any(|p| p["field"] == json!(field.name)) {
            let title = if field.title.is_empty() {
                &field.name
            } else {
                &field.title
            };
            problems.push(json!({"field": field.name, "message": format!("{title} is required")}));
        }
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        let summary: Vec<String> = problems
            .iter()
            .map(|p| {
                format!(
                    "{}: {}",
                    p["field"].as_str().unwrap_or(""),
                    p["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        Err(AppError::invalid(format!(
            "the connection's fields are not valid: {}",
            summary.join("; ")
        ))
        .with_details(json!({ "fields": problems })))
    }
}

fn format_problem(format: Option<&str>, text: &str) -> Option<&'static str> {
    match format {
        Some("uri") => match url::Url::parse(text) {
            Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => None,
            _ => Some("must be an http:// or https:// URL"),
        },
        Some("email") => {
            if text.contains('@') && !text.contains(char::is_whitespace) {
                None
            } else {
                Some("must be an email address")
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(include_str!("../../../plugins/wordpress/heph.toml")).unwrap()
    }

    #[test]
    fn fields_are_sorted_and_checked_all_at_once() {
        let m = manifest();
        let input = json!({"site_url": "https://wp.example", "username": "ann", "application_password": "s3cret pass"});
        let c = validate(&m, input.as_object().unwrap(), &Map::new(), &[]).unwrap();
        assert_eq!(
            Value::Object(c.public),
            json!({"site_url": "https://wp.example", "username": "ann"})
        );
        assert_eq!(
            c.put_secrets,
            vec![(
                "application_password".to_string(),
                "s3cret pass".to_string()
            )]
        );

        let bad = json!({"site_url": "not a url", "colour": "red", "username": 3});
        let e = validate(&m, bad.as_object().unwrap(), &Map::new(), &[]).unwrap_err();
        let fields: Vec<&str> = e.details.as_ref().unwrap()["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["site_url", "colour", "username", "application_password"],
            "{e}"
        );
    }

    #[test]
    fn an_edit_keeps_secrets_already_set_and_can_clear_them() {
        let m = manifest();
        let public = json!({"site_url": "https://wp.example", "username": "ann"});
        let set = vec![
            "application_password".to_string(),
            "webhook_secret".to_string(),
        ];
        let c = validate(
            &m,
            json!({"username": "bob"}).as_object().unwrap(),
            public.as_object().unwrap(),
            &set,
        )
        .unwrap();
        assert!(c.put_secrets.is_empty());
        assert_eq!(c.public["username"], "bob");
        let c = validate(
            &m,
            json!({"webhook_secret": null}).as_object().unwrap(),
            public.as_object().unwrap(),
            &set,
        )
        .unwrap();
        assert_eq!(c.remove_secrets, ["webhook_secret"]);
        let e = validate(
            &m,
            json!({"application_password": ""}).as_object().unwrap(),
            public.as_object().unwrap(),
            &set,
        )
        .unwrap_err();
        assert!(e.message.contains("required"), "{e}");
    }

    #[test]
    fn a_bad_secret_is_not_echoed() {
        let mut m = manifest();
        m.connection
            .fields
            .iter_mut()
            .find(|f| f.name == "application_password")
            .unwrap()
            .format = Some("email".into());
        let input = json!({"site_url": "https://wp.example", "username": "ann", "application_password": "hunter two"});
        let e = validate(&m, input.as_object().unwrap(), &Map::new(), &[]).unwrap_err();
        assert!(!format!("{e} {:?}", e.details).contains("hunter"), "{e}");
    }
}
