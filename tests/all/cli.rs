//! The `heph` binary against the real WordPress, run as a partner runs it on their test bench.
//! (Help, listing and bad invocations are tested in host/tests/cli.rs, which also makes
//! `cargo test --workspace` build the binary.)

use std::path::PathBuf;
use std::process::Command;

use heph_tests::wordpress::wordpress;
use heph_tests::{json_of, output};
use serde_json::{json, Value};

/// The `heph` binary with this module's data directory.
fn heph() -> Command {
    let mut cmd = Command::new(heph_tests::heph_binary());
    cmd.env("HEPH_DATA_DIR", data_dir())
        .env_remove("HEPH_CONNECTOR_DIR");
    cmd
}

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("heph-cli-tests-{}", std::process::id()))
}

fn connection_file(name: &str, value: Value) -> PathBuf {
    let dir = data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path
}

fn wp_connection(allow_private: bool) -> PathBuf {
    let wp = wordpress();
    let mut values = wp.values(false, &wp.application_password);
    values.insert("allow_private_network".into(), json!(allow_private));
    connection_file(&format!("wp-{allow_private}.json"), Value::Object(values))
}

#[test]
fn call_prints_the_result_or_the_error() {
    let conn = wp_connection(true);
    let (code, out, err) = output(
        heph()
            .args([
                "connector",
                "call",
                "wordpress",
                "get_user",
                "--input",
                r#"{"id": 1}"#,
                "--connection",
            ])
            .arg(&conn),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_of(&out)["username"], "admin");

    let (code, out, err) = output(
        heph()
            .args([
                "connector",
                "call",
                "wordpress",
                "get_post",
                "--input",
                r#"{"id": 99999999}"#,
                "-v",
                "--connection",
            ])
            .arg(&conn),
    );
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("error [not_found]"), "{err}");
    assert!(err.contains("http: GET"), "-v prints the requests: {err}");

    // Without the admin's approval for private networks, the loopback site is refused.
    let (code, _, err) = output(
        heph()
            .args(["connector", "test", "wordpress", "--connection"])
            .arg(wp_connection(false)),
    );
    assert_eq!(code, 1);
    assert!(err.contains("policy: refused GET"), "{err}");
    assert!(err.contains("allow_private_network"), "{err}");
}

#[test]
fn poll_all_prints_every_item_and_the_next_cursor() {
    let conn = wp_connection(true);
    let (code, out, err) = output(
        heph()
            .args([
                "connector",
                "poll",
                "wordpress",
                "users",
                "--all",
                "--connection",
            ])
            .arg(&conn),
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out.lines().map(json_of).collect();
    assert!(lines.len() > 300, "{}", lines.len());
    assert!(lines
        .iter()
        .all(|l| l["id"].is_string() && l["data"]["username"].is_string()));
    let cursor = err
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("cursor: "))
        .expect("the last stderr line is the cursor")
        .to_string();

    let (code, out, err) = output(
        heph()
            .args([
                "connector",
                "poll",
                "wordpress",
                "users",
                "--cursor",
                &cursor,
                "--connection",
            ])
            .arg(&conn),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "", "nothing new since the cursor");
    assert!(
        err.trim_end().ends_with(&cursor),
        "the cursor is printed again: {err}"
    );
}
