//! The local bench of a connector project: `bench.json` lists calls and what each must
//! answer, and `heph connector test` runs them against a connection file, as the engine will.
//!
//! ```json
//! { "cases": [
//!     { "name": "reads an item", "action": "get_item", "input": {"id": "1"},
//!       "expect": {"id": "1"} },
//!     { "name": "lists new items", "trigger": "new_item", "config": {},
//!       "expect_items": 2, "expect_first": {"id": "2"} },
//!     { "name": "an unknown item", "action": "get_item", "input": {"id": "x"},
//!       "expect_error": "not_found" }
//! ] }
//! ```
//!
//! `expect` (and `expect_first`, the first polled item) is a subset: every field it names must
//! be in the answer with that value; others may be there too.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use serde::Deserialize;
use serde_json::Value;

use super::connector::print_log;
use crate::runtime::{ConnectionContext, Connector};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bench {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    trigger: Option<String>,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    expect_items: Option<usize>,
    #[serde(default)]
    expect_first: Option<Value>,
    #[serde(default)]
    expect_error: Option<String>,
}

/// Whether `actual` has every field of `expected` with its value.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|found| contains(found, v))),
        (a, e) => a == e,
    }
}

/// Runs the connection test, then every case; prints one line each and a summary.
pub(super) async fn run(
    connector: &Connector,
    conn: &ConnectionContext,
    path: &Path,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the bench {}", path.display()))?;
    let bench: Bench = serde_json::from_str(&text)
        .with_context(|| format!("the bench {} is not valid", path.display()))?;
    let (mut passed, mut failed) = (0, 0);
    let tested = connector.test_connection(conn).await;
    print_log(&tested, verbose);
    match tested.result {
        Ok(who) => {
            passed += 1;
            println!("ok      connection test: {who}");
        }
        Err(e) => {
            failed += 1;
            println!("FAILED  connection test: [{}] {e}", e.code());
        }
    }
    for case in &bench.cases {
        match run_case(connector, conn, case, verbose).await {
            Ok(()) => {
                passed += 1;
                println!("ok      {}", case.name);
            }
            Err(why) => {
                failed += 1;
                println!("FAILED  {}: {why:#}", case.name);
            }
        }
    }
    println!("bench: {passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_case(
    connector: &Connector,
    conn: &ConnectionContext,
    case: &Case,
    verbose: bool,
) -> anyhow::Result<()> {
    let empty = Value::Object(Default::default());
    let (answer, first) = match (&case.action, &case.trigger) {
        (Some(action), None) => {
            let outcome = connector
                .run_action(conn, action, case.input.as_ref().unwrap_or(&empty))
                .await;
            print_log(&outcome, verbose);
            (outcome.result.map(Some), None)
        }
        (None, Some(trigger)) => {
            let outcome = connector
                .poll(conn, trigger, case.config.as_ref().unwrap_or(&empty), None)
                .await;
            print_log(&outcome, verbose);
            match outcome.result {
                Ok(page) => {
                    if let Some(n) = case.expect_items {
                        if page.items.len() != n {
                            bail!("expected {n} items, the trigger gave {}", page.items.len());
                        }
                    }
                    let first = page.items.first().map(|item| item.data.clone());
                    (Ok(None), Some(first))
                }
                Err(e) => (Err(e), None),
            }
        }
        _ => bail!("a case names either an `action` or a `trigger`"),
    };
    match (answer, &case.expect_error) {
        (Err(e), Some(code)) if e.code() == code => return Ok(()),
        (Err(e), _) => bail!("[{}] {e}", e.code()),
        (Ok(_), Some(code)) => bail!("expected the error `{code}`, the call succeeded"),
        (Ok(Some(value)), None) => {
            if let Some(expected) = &case.expect {
                if !contains(&value, expected) {
                    bail!("expected {expected}, got {value}");
                }
            }
        }
        (Ok(None), None) => {}
    }
    if let (Some(expected), Some(first)) = (&case.expect_first, first) {
        let first = first.unwrap_or(Value::Null);
        if !contains(&first, expected) {
            bail!("expected the first item to have {expected}, got {first}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::contains;
    use serde_json::json;

    #[test]
    fn expect_is_a_subset() {
        let answer = json!({"id": "1", "name": "A", "column": {"text": "x", "extra": 1}});
        assert!(contains(&answer, &json!({"id": "1"})));
        assert!(contains(&answer, &json!({"column": {"text": "x"}})));
        assert!(!contains(&answer, &json!({"id": "2"})));
        assert!(!contains(&answer, &json!({"missing": null})));
    }
}
