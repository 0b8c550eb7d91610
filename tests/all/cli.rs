//! The `heph` binary, run as a partner runs it on their test bench.

use std::path::PathBuf;
use std::process::{Command, Output};

use heph_tests::json_of;
use heph_tests::wordpress::wordpress;
use serde_json::{json, Value};

/// The `heph` binary that `cargo test --workspace` built beside this test binary.
fn heph() -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let bin = dir.join("heph");
    assert!(bin.exists(), "{} is missing: run the tests with `cargo test --workspace`", bin.display());
    let mut cmd = Command::new(bin);
    cmd.env("HEPH_DATA_DIR", data_dir()).env_remove("HEPH_CONNECTOR_DIR");
    cmd
}

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("heph-cli-tests-{}", std::process::id()))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().expect("run heph");
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
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
fn help_list_and_describe() {
    let (code, out, _) = run(heph().arg("--help"));
    assert_eq!(code, 0);
    assert!(out.contains("connector"), "{out}");
    let (code, out, _) = run(heph().args(["connector", "--help"]));
    assert_eq!(code, 0);
    for sub in ["list", "describe", "call", "poll", "test"] {
        assert!(out.contains(sub), "{sub} in {out}");
    }
    let (code, out, _) = run(heph().args(["connector", "list"]));
    assert_eq!(code, 0);
    assert!(out.starts_with("wordpress"), "{out}");

    let (code, out, err) = run(heph().args(["connector", "describe", "wordpress"]));
    assert_eq!(code, 0, "{err}");
    let doc = json_of(&out);
    assert_eq!(doc["auth"], "basic");
    assert_eq!(doc["hosts"], json!(["{site_url}"]));
    assert_eq!(doc["connection"]["properties"]["application_password"]["writeOnly"], true);
    let actions: Vec<&str> = doc["actions"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(actions, ["create_post", "update_post", "get_post", "delete_post", "get_user", "list_users"]);
    let triggers: Vec<&str> = doc["triggers"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(triggers, ["posts", "users", "post_event", "user_event"]);
    for a in doc["actions"].as_array().unwrap() {
        assert_eq!(a["input"]["type"], "object", "{a}");
    }
}

#[test]
fn bad_invocations_get_clear_errors() {
    let (code, _, err) = run(heph().args(["connector", "describe", "nope"]));
    assert_eq!(code, 2);
    assert!(err.contains("no connector `nope` is installed (installed: wordpress)"), "{err}");

    let conn = connection_file("bad.json", json!({"site_url": "http://x"}));
    let (code, _, err) = run(heph().args(["connector", "call", "wordpress", "get_user", "--connection"]).arg(&conn));
    assert_eq!(code, 2);
    assert!(err.contains("lacks `username`"), "{err}");

    let not_json = connection_file("not-json.json", json!(null));
    std::fs::write(&not_json, "{oops").unwrap();
    let (code, _, err) = run(heph().args(["connector", "test", "wordpress", "--connection"]).arg(&not_json));
    assert_eq!(code, 2);
    assert!(err.contains("is not valid JSON"), "{err}");

    let (code, _, err) = run(heph().args(["connector", "call", "wordpress", "get_user", "--input", "{1"]).arg("--connection").arg(wp_connection(true)));
    assert_eq!(code, 2);
    assert!(err.contains("--input is not valid JSON"), "{err}");
}

#[test]
fn call_prints_the_result_or_the_error() {
    let conn = wp_connection(true);
    let (code, out, err) = run(heph().args(["connector", "call", "wordpress", "get_user", "--input", r#"{"id": 1}"#, "--connection"]).arg(&conn));
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_of(&out)["username"], "admin");

    let (code, out, err) = run(heph().args(["connector", "call", "wordpress", "get_post", "--input", r#"{"id": 99999999}"#, "-v", "--connection"]).arg(&conn));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("error [not_found]"), "{err}");
    assert!(err.contains("http: GET"), "-v prints the requests: {err}");

    // Without the admin's approval for private networks, the loopback site is refused.
    let (code, _, err) = run(heph().args(["connector", "test", "wordpress", "--connection"]).arg(wp_connection(false)));
    assert_eq!(code, 1);
    assert!(err.contains("policy: refused GET"), "{err}");
    assert!(err.contains("allow_private_network"), "{err}");
}

#[test]
fn poll_all_prints_every_item_and_the_next_cursor() {
    let conn = wp_connection(true);
    let (code, out, err) = run(heph().args(["connector", "poll", "wordpress", "users", "--all", "--connection"]).arg(&conn));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out.lines().map(json_of).collect();
    assert!(lines.len() > 300, "{}", lines.len());
    assert!(lines.iter().all(|l| l["id"].is_string() && l["data"]["username"].is_string()));
    let cursor = err.lines().last().and_then(|l| l.strip_prefix("cursor: ")).expect("the last stderr line is the cursor").to_string();

    let (code, out, err) = run(heph().args(["connector", "poll", "wordpress", "users", "--cursor", &cursor, "--connection"]).arg(&conn));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "", "nothing new since the cursor");
    assert!(err.trim_end().ends_with(&cursor), "the cursor is printed again: {err}");
}
