//! The `heph` binary's help, listing, description and its errors for bad invocations. (The
//! calls against a real WordPress are in tests/all/cli.rs.)

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("heph-cli-smoke-{}", std::process::id()))
}

fn heph(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_heph"))
        .args(args)
        .env("HEPH_DATA_DIR", data_dir())
        .env_remove("HEPH_CONNECTOR_DIR")
        .output()
        .expect("run heph");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn file(name: &str, text: &str) -> String {
    let dir = data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn help_list_and_describe() {
    let (code, out, _) = heph(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("connector"), "{out}");
    let (code, out, _) = heph(&["connector", "--help"]);
    assert_eq!(code, 0);
    for sub in ["list", "describe", "call", "poll", "test"] {
        assert!(out.contains(sub), "{sub} in {out}");
    }
    let (code, out, _) = heph(&["connector", "poll", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("--cursor") && out.contains("--all") && out.contains("allow_private_network"),
        "{out}"
    );

    let (code, out, _) = heph(&["connector", "list"]);
    assert_eq!(code, 0);
    let ids: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        ids,
        ["google-calendar", "linkedin", "notion", "wordpress"],
        "{out}"
    );

    let (code, out, err) = heph(&["connector", "describe", "wordpress"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("describe prints JSON");
    assert_eq!(doc["auth"], "basic");
    assert_eq!(doc["hosts"], json!(["{site_url}"]));
    assert_eq!(
        doc["connection"]["properties"]["application_password"]["writeOnly"],
        true
    );
    assert_eq!(
        doc["connection"]["required"],
        json!(["site_url", "username", "application_password"])
    );
    let names = |key: &str| -> Vec<String> {
        doc[key]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["name"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(
        names("actions"),
        [
            "create_post",
            "update_post",
            "get_post",
            "delete_post",
            "get_user",
            "list_users"
        ]
    );
    assert_eq!(
        names("triggers"),
        ["posts", "users", "post_event", "user_event"]
    );
    for a in doc["actions"].as_array().unwrap() {
        assert_eq!(a["input"]["type"], "object", "{a}");
        assert!(a["output"].is_object(), "{a}");
    }
}

#[test]
fn bad_invocations_get_clear_errors() {
    let (code, _, err) = heph(&["connector", "describe", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "no connector `nope` is installed (installed: google-calendar, linkedin, notion, wordpress)"
        ),
        "{err}"
    );

    let incomplete = file("incomplete.json", r#"{"site_url": "http://x"}"#);
    let (code, _, err) = heph(&[
        "connector",
        "call",
        "wordpress",
        "get_user",
        "--connection",
        &incomplete,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("lacks `username`"), "{err}");

    let broken = file("broken.json", "{oops");
    let (code, _, err) = heph(&["connector", "test", "wordpress", "--connection", &broken]);
    assert_eq!(code, 2);
    assert!(err.contains("is not valid JSON"), "{err}");

    let (code, _, err) = heph(&[
        "connector",
        "test",
        "wordpress",
        "--connection",
        "/nonexistent/conn.json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the connection file"), "{err}");

    let ok = file(
        "ok.json",
        r#"{"site_url": "http://127.0.0.1:9", "username": "u", "application_password": "p", "allow_private_network": "yes"}"#,
    );
    let (code, _, err) = heph(&[
        "connector",
        "call",
        "wordpress",
        "get_user",
        "--connection",
        &ok,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`allow_private_network` must be true or false"),
        "{err}"
    );

    let ok = file(
        "ok2.json",
        r#"{"site_url": "http://127.0.0.1:9", "username": "u", "application_password": "p"}"#,
    );
    let (code, _, err) = heph(&[
        "connector",
        "call",
        "wordpress",
        "get_user",
        "--input",
        "{1",
        "--connection",
        &ok,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--input is not valid JSON"), "{err}");
    let (code, _, err) = heph(&[
        "connector",
        "call",
        "wordpress",
        "get_user",
        "--input",
        "[1]",
        "--connection",
        &ok,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("must be a JSON object"), "{err}");

    // A site on this machine is refused without the admin's approval, and the refusal says why.
    let (code, _, err) = heph(&["connector", "test", "wordpress", "--connection", &ok]);
    assert_eq!(code, 1);
    assert!(
        err.contains("policy: refused GET http://127.0.0.1:9/wp-json/wp/v2/users/me"),
        "{err}"
    );
    assert!(
        err.contains("loopback") && err.contains("allow_private_network"),
        "{err}"
    );
    assert!(!err.contains("\"p\""), "no secret in the output: {err}");
}
