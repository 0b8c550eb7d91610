//! The filters and functions mappings have beyond minijinja's built-ins (`int`, `float`,
//! `bool`, `string`, `lower`, `upper`, `trim`, `replace`, `default`, `join`, `split`, `first`,
//! `last`, `length`, `map`, `select`, `tojson` …):
//!
//! | filter | does |
//! |---|---|
//! | `date(format="%Y-%m-%dT%H:%M:%S%:z", tz="UTC")` | a date (RFC 3339, `YYYY-MM-DD[ HH:MM:SS]`, Unix seconds) formatted in a zone |
//! | `parse_date(format, tz="UTC")` | a date in a custom format read in a zone, as RFC 3339 UTC |
//! | `timestamp` | a date as Unix seconds |
//! | `fromjson` | JSON text as a value |
//! | `strip_tags` | HTML to plain text |
//! | `slug` | `Hello, World!` → `hello-world` |
//! | `truncate(length, end="…")` | at most `length` characters |
//! | `pick(k1, k2, …)` | an object with those keys only |
//!
//! Functions: `now(tz="UTC")` gives the current time as RFC 3339.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use minijinja::value::{Kwargs, Rest, Value as JinjaValue, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

const RFC3339: &str = "%Y-%m-%dT%H:%M:%S%:z";

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Adds heph's filters and functions.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("date", date);
    env.add_filter("parse_date", parse_date);
    env.add_filter("timestamp", timestamp);
    env.add_filter("fromjson", fromjson);
    env.add_filter("strip_tags", strip_tags);
    env.add_filter("slug", slug);
    env.add_filter("truncate", truncate);
    env.add_filter("pick", pick);
    env.add_function("now", now);
}

fn zone(name: Option<&str>) -> Result<Tz, Error> {
    match name {
        None | Some("") | Some("UTC") | Some("utc") => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            invalid(format!(
                "unknown time zone `{name}` (use an IANA name such as Europe/Berlin)"
            ))
        }),
    }
}

/// Reads a date: Unix seconds, RFC 3339, or a date/time without offset (read in `tz`).
pub fn read_date(value: &JinjaValue, tz: Tz) -> Result<DateTime<Utc>, Error> {
    match value.kind() {
        ValueKind::Number => {
            let seconds =
                f64::try_from(value.clone()).map_err(|_| invalid("the date is not a number"))?;
            Utc.timestamp_millis_opt((seconds * 1000.0) as i64)
                .single()
                .ok_or_else(|| invalid(format!("{seconds} is out of range for a date")))
        }
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default().trim();
            if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
                return Ok(dt.with_timezone(&Utc));
            }
            let naive = [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            });
            match naive {
                Some(naive) => in_zone(naive, tz),
                None => Err(invalid(format!(
                    "`{text}` is not a date (give RFC 3339, YYYY-MM-DD[ HH:MM:SS] or Unix seconds; `parse_date` reads other formats)"
                ))),
            }
        }
        _ if value.is_undefined() || value.is_none() => {
            Err(invalid("there is no date to read (the value is missing)"))
        }
        _ => Err(invalid(format!("a {} is not a date", value.kind()))),
    }
}

fn in_zone(naive: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, Error> {
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|dt| dt.with_timezone(&Utc))
        .ok_or_else(|| invalid(format!("{naive} does not exist in {tz}")))
}

fn date(value: JinjaValue, format: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let tz_name: Option<String> = kwargs.get("tz")?;
    let from: Option<String> = kwargs.get("from_tz")?;
    kwargs.assert_all_used()?;
    let tz = zone(tz_name.as_deref())?;
    let at = read_date(&value, zone(from.as_deref())?)?;
    let format = format.unwrap_or_else(|| RFC3339.into());
    let mut out = String::new();
    std::fmt::write(
        &mut out,
        format_args!("{}", at.with_timezone(&tz).format(&format)),
    )
    .map_err(|_| invalid(format!("`{format}` is not a valid date format")))?;
    Ok(out)
}

fn parse_date(value: String, format: String, kwargs: Kwargs) -> Result<String, Error> {
    let tz_name: Option<String> = kwargs.get("tz")?;
    kwargs.assert_all_used()?;
    let tz = zone(tz_name.as_deref())?;
    let at = match DateTime::parse_from_str(value.trim(), &format) {
        Ok(dt) => dt.with_timezone(&Utc),
        Err(_) => {
            let naive = NaiveDateTime::parse_from_str(value.trim(), &format)
                .or_else(|_| {
                    NaiveDate::parse_from_str(value.trim(), &format)
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                })
                .map_err(|e| invalid(format!("`{value}` does not match `{format}`: {e}")))?;
            in_zone(naive, tz)?
        }
    };
    Ok(at.format(RFC3339).to_string())
}

fn timestamp(value: JinjaValue) -> Result<i64, Error> {
    Ok(read_date(&value, Tz::UTC)?.timestamp())
}

fn fromjson(value: String) -> Result<JinjaValue, Error> {
    let parsed: serde_json::Value =
        serde_json::from_str(&value).map_err(|e| invalid(format!("not JSON: {e}")))?;
    Ok(JinjaValue::from_serialize(parsed))
}

fn strip_tags(value: String) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_tag = false;
    for c in value.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&#8217;", "’")
        .replace("&#8216;", "‘")
        .replace("&#8220;", "“")
        .replace("&#8221;", "”")
        .replace("&#8211;", "–")
        .replace("&#039;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn slug(value: String) -> String {
    let mut out = String::new();
    for c in value.to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn truncate(value: String, length: usize, end: Option<String>) -> String {
    if value.chars().count() <= length {
        return value;
    }
    let end = end.unwrap_or_else(|| "…".into());
    let keep = length.saturating_sub(end.chars().count());
    value.chars().take(keep).collect::<String>() + &end
}

fn pick(value: JinjaValue, keys: Rest<String>) -> Result<JinjaValue, Error> {
    let mut out = std::collections::BTreeMap::new();
    for key in keys.iter() {
        if let Ok(v) = value.get_attr(key) {
            if !v.is_undefined() {
                out.insert(key.clone(), v);
            }
        }
    }
    Ok(JinjaValue::from_serialize(out))
}

fn now(kwargs: Kwargs) -> Result<String, Error> {
    let tz_name: Option<String> = kwargs.get("tz")?;
    kwargs.assert_all_used()?;
    let tz = zone(tz_name.as_deref())?;
    Ok(Utc::now().with_timezone(&tz).format(RFC3339).to_string())
}

#[cfg(test)]
mod tests {
    use super::super::template::Templates;
    use serde_json::{json, Value};

    fn eval(template: &str, context: Value) -> Result<Value, String> {
        let mut t = Templates::new();
        let mapping = t.compile_str(template)?;
        t.eval(&mapping, &minijinja::value::Value::from_serialize(&context))
    }

    #[test]
    fn type_conversions() {
        let ctx = json!({"s": "42", "f": "2.5", "n": 3, "b": "true"});
        assert_eq!(eval("{{ s | int }}", ctx.clone()).unwrap(), json!(42));
        assert_eq!(eval("{{ f | float }}", ctx.clone()).unwrap(), json!(2.5));
        assert_eq!(eval("{{ n | string }}", ctx.clone()).unwrap(), json!("3"));
        assert_eq!(eval("{{ n > 2 }}", ctx.clone()).unwrap(), json!(true));
        assert_eq!(
            eval("{{ missing | default('x') }}", ctx).unwrap(),
            json!("x")
        );
    }

    #[test]
    fn dates_in_zones() {
        let ctx = json!({"gmt": "2024-03-31T00:30:00", "ts": 1700000000, "rfc": "2024-01-05T10:00:00+02:00"});
        assert_eq!(
            eval(
                "{{ gmt | date('%Y-%m-%d %H:%M %Z', tz='Europe/Berlin') }}",
                ctx.clone()
            )
            .unwrap(),
            json!("2024-03-31 01:30 CET")
        );
        // The same wall clock an hour later is past the DST switch.
        assert_eq!(
            eval(
                "{{ '2024-03-31T01:30:00' | date('%H:%M %Z', tz='Europe/Berlin') }}",
                ctx.clone()
            )
            .unwrap(),
            json!("03:30 CEST")
        );
        assert_eq!(
            eval("{{ ts | date('%Y-%m-%d') }}", ctx.clone()).unwrap(),
            json!("2023-11-14")
        );
        assert_eq!(
            eval("{{ rfc | timestamp }}", ctx.clone()).unwrap(),
            json!(1704441600)
        );
        assert_eq!(
            eval(
                "{{ '05.01.2024 10:00' | parse_date('%d.%m.%Y %H:%M', tz='America/New_York') }}",
                ctx.clone()
            )
            .unwrap(),
            json!("2024-01-05T15:00:00+00:00")
        );
        let error = eval("{{ 'soon' | date }}", ctx.clone()).unwrap_err();
        assert!(error.contains("is not a date"), "{error}");
        let error = eval("{{ gmt | date(tz='Mars/Olympus') }}", ctx).unwrap_err();
        assert!(error.contains("unknown time zone"), "{error}");
    }

    #[test]
    fn string_helpers() {
        let ctx = json!({"html": "<p>Caf&eacute; &amp; <b>tea</b></p>\n<p>next</p>", "t": "Hello, World!"});
        assert_eq!(
            eval("{{ html | strip_tags }}", ctx.clone()).unwrap(),
            json!("Caf&eacute; & tea next")
        );
        assert_eq!(
            eval("{{ t | slug }}", ctx.clone()).unwrap(),
            json!("hello-world")
        );
        assert_eq!(
            eval("{{ t | truncate(8) }}", ctx.clone()).unwrap(),
            json!("Hello, …")
        );
        assert_eq!(
            eval(
                "{{ {'a': 1, 'b': 2, 'c': 3} | pick('a', 'c') }}",
                ctx.clone()
            )
            .unwrap(),
            json!({"a": 1, "c": 3})
        );
        assert_eq!(
            eval("{{ '{\"x\": [1]}' | fromjson }}", ctx).unwrap(),
            json!({"x": [1]})
        );
    }
}
