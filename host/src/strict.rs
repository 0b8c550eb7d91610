//! JSON and YAML text read strictly, and the same way: what a client sends means one thing or
//! is refused with the reason.
//!
//! - A key twice in one object is refused, naming the key (serde's maps keep the last one
//!   silently, so `{"retries": 1, "retries": 9}` would mean whatever was written last).
//! - A number JSON cannot hold is refused in both: JSON's `1e400` ("out of range") as YAML's
//!   `1e400`, `.inf` and `.nan` (which serde_yaml_ng hands over as a string or a float that
//!   `serde_json::Value` turns into `null`).
//! - An integer beyond 64 bits reads as its nearest float in both (serde_yaml_ng hands it to
//!   `visit_i128`, which `serde_json::Value` refuses).
//! - An API body must be an object: serde reads a struct from an array too (`[]` would be a
//!   valid, empty request).

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses YAML (or JSON, which is YAML) text into a JSON value.
pub fn yaml(text: &str) -> Result<Value, String> {
    serde_yaml_ng::from_str::<AsJson>(text)
        .map(|v| v.0)
        .map_err(|e| e.to_string().replace('\n', " "))
}

/// Parses JSON text into a value.
pub fn json(bytes: &[u8]) -> Result<Value, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = AsJson::deserialize(&mut deserializer).map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value.0)
}

/// Why a body was refused.
#[derive(Debug, PartialEq)]
pub enum BodyError {
    /// Not JSON, or JSON this reader refuses (a key twice, not an object).
    Syntax(String),
    /// JSON of the wrong shape (a missing field, a value of the wrong type).
    Shape(String),
}

/// Parses a request body: one JSON object, read into `T`.
pub fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let value = json(bytes).map_err(BodyError::Syntax)?;
    if !value.is_object() {
        return Err(BodyError::Syntax(format!(
            "the body must be a JSON object, not {}",
            kind(&value)
        )));
    }
    // The error names where in the body it is (`connector: invalid type …`).
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        BodyError::Shape(if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        })
    })
}

/// A value's JSON type, as a message names it.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct AsJson(Value);

impl<'de> Deserialize<'de> for AsJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor).map(AsJson)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(big(v as f64))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(big(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| {
            E::custom(format!(
                "{v} is not a number JSON can hold (.inf and .nan are refused)"
            ))
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        overflowing_number(v)?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        overflowing_number(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(AsJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(MapKey(key)) = map.next_key::<MapKey>()? {
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key `{}` appears twice in one object",
                    key.chars().take(64).collect::<String>()
                )));
            }
            let AsJson(value) = map.next_value()?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

/// Refuses text that YAML reads as a number too large for a float (`1e400`: serde_yaml_ng
/// gives it up as a string), as JSON refuses the same text. A JSON string never looks like
/// this to the reader's eye, so only YAML's plain scalars and deliberately quoted digits
/// are affected; the message says what to do with the latter.
fn overflowing_number<E: de::Error>(text: &str) -> Result<(), E> {
    let digits = text.trim_start_matches(['+', '-']);
    let numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    match text.parse::<f64>() {
        Ok(f) if numeric && f.is_infinite() => Err(E::custom(format!(
            "{} is a number too large for JSON",
            text.chars().take(32).collect::<String>()
        ))),
        _ => Ok(()),
    }
}

/// A JSON number from an integer too wide for 64 bits: its nearest float, as JSON text reads.
fn big(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// A mapping's key: JSON keys are strings, so a YAML key `1` or `true` becomes `"1"`, `"true"`.
struct MapKey(String);

impl<'de> Deserialize<'de> for MapKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match AsJson::deserialize(deserializer)?.0 {
            Value::String(s) => Ok(MapKey(s)),
            Value::Null => Ok(MapKey("null".into())),
            Value::Bool(b) => Ok(MapKey(b.to_string())),
            Value::Number(n) => Ok(MapKey(n.to_string())),
            other => Err(de::Error::custom(format!(
                "a mapping key must be a string, not {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_reads_as_json_does() -> Result<(), Box<dyn std::error::Error>> {
        let text = "a: -529449292760270055145472\nb: [1, 2.5, true, null, x]\n1: {c: ~}\n";
        let same_as_json: serde_json::Value = serde_json::from_str(
            r#"{"a": -529449292760270055145472, "b": [1, 2.5, true, null, "x"], "1": {"c": null}}"#,
        )?;
        assert_eq!(yaml(text)?, same_as_json);
        assert!(same_as_json["a"].is_f64());
        assert_eq!(yaml("n: 7")?, json!({"n": 7}));
        assert!(yaml("[a: b").is_err());
        Ok(())
    }

    #[test]
    fn a_key_twice_is_refused_by_name_in_both() {
        let e = json(br#"{"a": {"retries": 1, "retries": 9}}"#).unwrap_err();
        assert!(e.contains("`retries` appears twice"), "{e}");
        let e = yaml("a:\n  retries: 1\n  retries: 9\n").unwrap_err();
        assert!(e.contains("retries"), "{e}");
        assert!(
            json(br#"{"a": 1, "b": {"a": 2}}"#).is_ok(),
            "the same key in another object"
        );
    }

    #[test]
    fn numbers_json_cannot_hold_are_refused_in_both() {
        for text in ["n: 1e400", "n: -2E+999", "n: .inf", "n: -.inf", "n: .nan"] {
            let e = yaml(text).unwrap_err();
            assert!(e.contains("number"), "{text}: {e}");
        }
        assert!(json(br#"{"n": 1e400}"#).is_err());
        assert_eq!(yaml("n: 1e300").unwrap(), json!({"n": 1e300}));
        assert_eq!(yaml("n: '1.5'").unwrap(), json!({"n": "1.5"}));
        assert_eq!(
            yaml("n: inf").unwrap(),
            json!({"n": "inf"}),
            "a word, not a number"
        );
    }

    #[test]
    fn a_body_must_be_one_object() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Body {
            #[serde(default)]
            input: Option<Value>,
        }
        assert_eq!(json_object::<Body>(b"{}"), Ok(Body { input: None }));
        for (text, says) in [
            ("[]", "not an array"),
            ("7", "not a number"),
            ("null", "not null"),
            (r#"{"input": 1} x"#, "trailing"),
        ] {
            match json_object::<Body>(text.as_bytes()) {
                Err(BodyError::Syntax(e)) => assert!(e.contains(says), "{text}: {e}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            json_object::<Body>(br#"{"input": 1, "extra": 2}"#),
            Ok(_)
        ));
        #[derive(serde::Deserialize, Debug)]
        struct Named {
            #[allow(dead_code)]
            connector: String,
        }
        assert_eq!(
            json_object::<Named>(br#"{"connector": 7}"#).unwrap_err(),
            BodyError::Shape("connector: invalid type: integer `7`, expected a string".into())
        );
    }
}
