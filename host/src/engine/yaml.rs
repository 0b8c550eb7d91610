//! YAML read into JSON values. serde_yaml_ng hands an integer beyond 64 bits to `visit_i128`,
//! which `serde_json::Value` refuses ("number out of range"); JSON text with the same number
//! reads as a float. This reads YAML the way JSON reads, so that a definition means the same
//! in both.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses YAML text into a JSON value.
pub fn from_str(text: &str) -> Result<Value, serde_yaml_ng::Error> {
    serde_yaml_ng::from_str::<AsJson>(text).map(|v| v.0)
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

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
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
        while let Some((key, AsJson(value))) = map.next_entry::<MapKey, AsJson>()? {
            fields.insert(key.0, value);
        }
        Ok(Value::Object(fields))
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
    use serde_json::json;

    #[test]
    fn yaml_reads_as_json_does() -> Result<(), Box<dyn std::error::Error>> {
        let text = "a: -529449292760270055145472\nb: [1, 2.5, true, null, x]\n1: {c: ~}\n";
        let same_as_json: serde_json::Value = serde_json::from_str(
            r#"{"a": -529449292760270055145472, "b": [1, 2.5, true, null, "x"], "1": {"c": null}}"#,
        )?;
        assert_eq!(super::from_str(text)?, same_as_json);
        assert!(same_as_json["a"].is_f64());
        assert_eq!(super::from_str("n: 7")?, json!({"n": 7}));
        assert!(super::from_str("[a: b").is_err());
        Ok(())
    }
}
