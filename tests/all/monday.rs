//! The partner's monday.com connector in `examples/monday`, built with `heph connector build`
//! as its author would and tried on the bench (`heph connector call|poll|test`) against the
//! monday.com fake: the token header, the GraphQL bodies, paging, errors.

use std::path::PathBuf;
use std::process::Command;

use heph_tests::providers::Providers;
use heph_tests::{heph_binary, json_of, output};
use serde_json::json;

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.monday-partner-token";

struct Bench {
    providers: Providers,
    data: PathBuf,
    example: PathBuf,
}

impl Bench {
    fn heph(&self, args: &[&str]) -> (i32, String, String) {
        output(
            Command::new(heph_binary())
                .env("HEPH_DATA_DIR", &self.data)
                .env_remove("HEPH_CONNECTOR_DIR")
                .envs(self.providers.env())
                .args(args),
        )
    }

    /// An item as the fake's board holds it.
    fn item(&self, id: &str) -> serde_json::Value {
        let world = self.providers.world.lock().unwrap();
        world
            .monday
            .item(id)
            .expect("the item is on the board")
            .clone()
    }

    fn connection(&self, token: &str) -> String {
        let path = self.data.join(format!("monday-{}.json", token.len()));
        std::fs::create_dir_all(&self.data).unwrap();
        std::fs::write(&path, json!({"api_token": token}).to_string()).unwrap();
        path.display().to_string()
    }
}

#[test]
fn the_monday_example_creates_updates_and_polls_items() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/monday");
    let bench = Bench {
        providers: Providers::start(),
        data: std::env::temp_dir().join(format!("heph-monday-{}", std::process::id())),
        example: example.clone(),
    };
    bench.providers.accept_token(TOKEN);
    bench
        .providers
        .world
        .lock()
        .unwrap()
        .monday
        .add_board("4242", 120);
    let dir = bench.example.to_str().unwrap();
    let (code, out, err) = bench.heph(&["connector", "build", dir]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("built monday 0.1.0"), "{err}");
    let conn = bench.connection(TOKEN);

    let (code, out, err) = bench.heph(&["connector", "test", dir, "--connection", &conn]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(json_of(&out)["name"], "Partner Tester");
    let (code, out, err) = bench.heph(&["connector", "call", dir, "create_item", "--connection", &conn, "--input",
        r#"{"board_id": "4242", "name": "Review the draft", "column_values": {"status": {"label": "Done"}}}"#]);
    assert_eq!(code, 0, "{out}\n{err}");
    let created = json_of(&out);
    let id = created["id"].as_str().expect("an item id").to_string();
    assert_eq!(created["name"], "Review the draft");
    let item = bench.item(&id);
    assert_eq!(item["column_values"]["status"]["label"], "Done", "{item}");

    // The first poll pages through all 121 items (100, then next_items_page), oldest first.
    let (code, out, err) = bench.heph(&[
        "connector",
        "poll",
        dir,
        "new_item",
        "--connection",
        &conn,
        "--config",
        r#"{"board_id": "4242"}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<String> = out
        .lines()
        .map(|l| json_of(l)["data"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 121, "{err}");
    assert_eq!(
        (names[0].as_str(), names[120].as_str()),
        ("Item 1", "Review the draft")
    );
    let cursor = err
        .lines()
        .last()
        .unwrap()
        .strip_prefix("cursor: ")
        .unwrap()
        .to_string();
    assert_eq!(cursor, id);

    // Nothing new since: no items; one more: only it.
    let (_, out, _) = bench.heph(&[
        "connector",
        "poll",
        dir,
        "new_item",
        "--connection",
        &conn,
        "--config",
        r#"{"board_id": "4242"}"#,
        "--cursor",
        &cursor,
    ]);
    assert_eq!(out.trim(), "", "nothing new");
    let (code, out, err) = bench.heph(&[
        "connector",
        "call",
        dir,
        "update_item",
        "--connection",
        &conn,
        "--input",
        &json!({"board_id": "4242", "item_id": id, "column_values": {"text": "checked"}})
            .to_string(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    {
        let item = bench.item(&id);
        assert_eq!(item["column_values"]["text"], "checked", "{item}");
        assert_eq!(
            item["column_values"]["status"]["label"], "Done",
            "other columns stay: {item}"
        );
    }

    // What monday.com documents for every request.
    let received = bench.providers.received("api.monday.com");
    assert!(received.len() >= 4);
    for r in &received {
        assert_eq!((r.method.as_str(), r.uri.as_str()), ("POST", "/v2"));
        assert_eq!(
            r.header("authorization"),
            Some(TOKEN),
            "the token alone, no Bearer"
        );
        assert_eq!(r.header("api-version"), Some("2025-10"));
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
    }
    assert!(
        received
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("next_items_page")),
        "the second page was read with its cursor"
    );

    // Errors: an unknown board, a bad token.
    let (code, _, err) = bench.heph(&[
        "connector",
        "call",
        dir,
        "create_item",
        "--connection",
        &conn,
        "--input",
        r#"{"board_id": "999", "name": "x"}"#,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not_found") && err.contains("Board 999 not found"),
        "{err}"
    );
    let bad = bench.connection("wrong");
    let (code, _, err) = bench.heph(&["connector", "test", dir, "--connection", &bad]);
    assert_eq!(code, 1);
    assert!(err.contains("unauthorized"), "{err}");
    let _ = std::fs::remove_dir_all(&bench.data);
}
