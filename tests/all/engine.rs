//! The scenario engine through `heph serve`, as users drive it: scenarios saved over the API
//! (YAML and JSON), runs started and read back with their steps, the data store, the real
//! WordPress as the first user of it, webhooks, and an upstream that rate-limits, fails and
//! stalls.

use std::time::{Duration, Instant};

use heph_tests::heph_server::{Api, HephServer, ServerOptions};
use heph_tests::records::{self, records_dir, RecordsUpstream, Scripted};
use heph_tests::tokio;
use heph_tests::wordpress::{site_lock, wordpress};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The repository's examples folder.
pub fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Waits for a run to end; returns it with its first items.
pub async fn wait_run(api: &Api, run_id: &str, limit: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, run) = api.get(&format!("/api/runs/{run_id}?limit={limit}")).await;
        assert_eq!(status, 200, "{run}");
        if !matches!(run["status"].as_str(), Some("queued" | "running")) {
            return run;
        }
        assert!(Instant::now() < deadline, "the run did not end: {run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a run of a scenario and waits for it.
pub async fn run_now(api: &Api, scenario: &str, input: Option<Value>) -> Value {
    let body = match input {
        Some(input) => json!({"input": input}),
        None => json!({}),
    };
    let (status, started) = api
        .post(&format!("/api/scenarios/{scenario}/run"), body)
        .await;
    assert!(status == 202 || status == 200, "{status} {started}");
    wait_run(api, started["run"]["id"].as_str().expect("run id"), 1000).await
}

/// Every record of a collection.
pub async fn collection(api: &Api, name: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = api
            .get(&format!("/api/store/{name}?limit=1000&after={after}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let records = page["records"].as_array().cloned().unwrap_or_default();
        all.extend(records);
        match page["next_after"].as_str() {
            Some(next) => after = next.to_string(),
            None => return all,
        }
    }
}

fn cli_ok(server: &HephServer, args: &[&str]) -> String {
    let out = server.cli(args).output().expect("heph");
    assert!(
        out.status.success(),
        "heph {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server with the records connector, and a connection to `upstream`.
pub fn records_server(
    upstream: &RecordsUpstream,
    rate: Option<f64>,
    options: ServerOptions,
) -> (HephServer, String) {
    let mut options = options;
    options.connector_dirs.push(records_dir(rate));
    let server = HephServer::start(options);
    cli_ok(&server, &["connector", "allow-private", "records"]);
    let out = cli_ok(
        &server,
        &[
            "connection",
            "create",
            "records",
            "--name",
            "upstream",
            "--field",
            &format!("base_url={}", upstream.url),
            "--field",
            &format!("token={}", records::TOKEN),
        ],
    );
    let connection: Value = serde_json::from_str(&out).expect("connection JSON");
    assert_eq!(connection["status"], "ok", "{connection}");
    (server, connection["id"].as_str().unwrap().to_string())
}

async fn create(api: &Api, definition: Value) -> String {
    let (status, scenario) = api.post("/api/scenarios", definition).await;
    assert_eq!(status, 201, "{scenario}");
    scenario["id"].as_str().unwrap().to_string()
}

#[test]
fn wordpress_users_and_posts_reach_the_store_mapped_and_stay_in_sync() {
    let wp = wordpress();
    let _site = site_lock();
    let server = HephServer::start(ServerOptions::default());
    cli_ok(&server, &["connector", "allow-private", "wordpress"]);
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let (status, connection) = api
            .post("/api/connections", json!({"consent": true, "connector": "wordpress", "fields": wp.values(false, &wp.application_password)}))
            .await;
        assert_eq!(status, 201, "{connection}");
        let connection_id = connection["id"].as_str().unwrap().to_string();

        // The portal MVP, exactly as the example file says (sent as YAML).
        let (status, users) = api
            .send_typed("POST", "/api/scenarios", "application/yaml", &example("wordpress-users-to-portal.yaml"))
            .await;
        assert_eq!(status, 201, "{users}");
        assert_eq!(users["version"], 1);
        assert_eq!(users["enabled"], false);
        let run = run_now(&api, users["id"].as_str().unwrap(), None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let rest_users = wp.all("/wp/v2/users?context=edit").await;
        assert_eq!(run["items_done"], rest_users.len() as u64, "{}", run["error"]);
        let stored = collection(&api, "users").await;
        assert_eq!(stored.len(), rest_users.len(), "every user once");
        for user in &rest_users {
            let id = user["id"].as_u64().unwrap().to_string();
            let record = stored.iter().find(|r| r["id"] == id.as_str()).unwrap_or_else(|| panic!("user {id} is missing"));
            let data = &record["data"];
            assert_eq!(data["wordpress_id"], user["id"], "a single expression keeps its number type");
            assert_eq!(data["email"], user["email"].as_str().unwrap().to_lowercase().as_str());
            assert_eq!(data["name"], user["name"]);
            assert_eq!(data["roles"], user["roles"], "a list stays a list");
            assert_eq!(data["source"], "wordpress");
            assert!(data["registered_at"].as_str().unwrap().ends_with("+00:00"), "{data}");
        }
        // Every step is on record, with its input and output.
        let first = &run["items"][0];
        assert_eq!(first["status"], "done");
        let steps = first["steps"].as_array().unwrap();
        assert_eq!(steps.iter().map(|s| s["node_id"].as_str().unwrap()).collect::<Vec<_>>(), ["user", "save"]);
        assert_eq!(steps[1]["input"]["collection"], "users");
        assert!(run["events"].as_array().unwrap().iter().any(|e| e["message"].as_str().unwrap().contains("read 331 item(s)")) || rest_users.len() != 331, "{}", run["events"]);

        // Posts: an incremental sync on a schedule (every 2 s here).
        let mut posts: Value = serde_json::from_str(&yaml_to_json(&example("wordpress-posts-sync.yaml"))).unwrap();
        posts["trigger"]["every"] = json!("2s");
        let posts_id = create(&api, posts.clone()).await;
        let run = run_now(&api, &posts_id, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let rest_posts = wp.all("/wp/v2/posts?context=edit&status=publish,future,draft,pending,private").await;
        let stored = collection(&api, "posts").await;
        assert_eq!(stored.len(), rest_posts.len(), "every post, whatever its status");
        let sample = &rest_posts[rest_posts.len() / 2];
        let record = stored.iter().find(|r| r["id"] == sample["id"].as_u64().unwrap().to_string().as_str()).unwrap();
        assert_eq!(record["data"]["title"], sample["title"]["raw"]);
        assert_eq!(record["data"]["status"], sample["status"]);

        // An edit keeps the cursor: the next run imports nothing again.
        let cursor = api.get(&format!("/api/scenarios/{posts_id}")).await.1["cursor"].clone();
        assert!(cursor.is_string(), "the cursor is kept after the run: {cursor}");
        posts["description"] = json!("edited");
        let (status, edited) = api.send("PUT", &format!("/api/scenarios/{posts_id}"), Some(posts.clone())).await;
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["version"], 2);
        assert_eq!(edited["cursor"], cursor, "an edit that keeps the trigger keeps the cursor");
        let again = run_now(&api, &posts_id, None).await;
        assert_eq!(again["items_done"], 0, "no re-import after an edit: {again}");

        // Enabled, it polls on its schedule: change three posts, and the next runs import
        // exactly those.
        let (status, enabled) = api.post(&format!("/api/scenarios/{posts_id}/enable"), json!({})).await;
        assert_eq!(status, 200, "{enabled}");
        assert!(enabled["next_run_at"].is_i64(), "{enabled}");
        let stamp = heph::store::now_ms();
        let mut changed = Vec::new();
        for post in rest_posts.iter().filter(|p| p["status"] == "publish").take(2) {
            let (status, updated) = api
                .post(&format!("/api/connections/{connection_id}/actions/update_post"), json!({"id": post["id"], "title": format!("Synced {stamp}")}))
                .await;
            assert_eq!(status, 200, "{updated}");
            changed.push(post["id"].as_u64().unwrap().to_string());
        }
        let (status, created) = api
            .post(&format!("/api/connections/{connection_id}/actions/create_post"), json!({"title": format!("New {stamp}"), "status": "draft"}))
            .await;
        assert_eq!(status, 200, "{created}");
        changed.push(created["output"]["id"].as_u64().map(|i| i.to_string()).unwrap_or_else(|| panic!("{created}")));
        let deadline = Instant::now() + Duration::from_secs(60);
        let seen = loop {
            let (_, runs) = api.get(&format!("/api/runs?scenario={posts_id}&limit=100")).await;
            let mut ids = Vec::new();
            for run in runs["runs"].as_array().unwrap() {
                if run["created_at"].as_i64().unwrap() < stamp || matches!(run["status"].as_str(), Some("queued" | "running")) {
                    continue;
                }
                let detail = wait_run(&api, run["id"].as_str().unwrap(), 1000).await;
                for item in detail["items"].as_array().unwrap() {
                    ids.push(item["item_id"].as_str().unwrap().to_string());
                }
            }
            ids.sort();
            if ids.len() >= changed.len() || Instant::now() > deadline {
                break ids;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let mut expected = changed.clone();
        expected.sort();
        assert_eq!(seen, expected, "the scheduled runs import exactly the changed posts");
        let stored = collection(&api, "posts").await;
        let record = stored.iter().find(|r| r["id"] == changed[0].as_str()).unwrap();
        assert_eq!(record["data"]["title"], format!("Synced {stamp}").as_str());
        let (status, _) = api.post(&format!("/api/scenarios/{posts_id}/disable"), json!({})).await;
        assert_eq!(status, 200);
    });
}

/// YAML examples as JSON, through the server's own parser (`heph scenario check` would do too).
fn yaml_to_json(text: &str) -> String {
    // The examples are plain YAML maps; serde_json cannot read them, so let the host do it.
    let value: Value = heph::engine::scenario::parse(text)
        .map(|(_, value)| value)
        .unwrap_or_else(|problems| panic!("{problems:?}"));
    value.to_string()
}

#[test]
fn every_problem_of_a_scenario_is_reported_with_its_node_and_field() {
    let upstream = RecordsUpstream::start(10);
    let (server, _) = records_server(&upstream, None, ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let bad = json!({
            "name": "broken",
            "trigger": {"type": "poll", "connector": "records", "trigger": "nope", "every": "soon"},
            "nodes": [
                {"id": "a", "type": "transform", "after": "c", "output": {"x": "{{ trigger.id }}"}},
                {"id": "b", "type": "transform", "after": "a", "output": {"x": 1}},
                {"id": "c", "type": "transform", "after": "b", "output": {"x": 1}},
                {"id": "d", "type": "action", "after": "trigger", "connector": "nothing", "action": "x"},
                {"id": "e", "type": "action", "after": "trigger", "connector": "records", "action": "fly"},
                {"id": "f", "type": "action", "after": "trigger", "connector": "wordpress", "action": "get_user", "connection": "upstream", "input": {"id": 1}},
                {"id": "g", "type": "transform", "after": "trigger", "output": {"broken": "{{ trigger.id | }}", "later": "{{ h.x }}"}},
                {"id": "h", "type": "action", "after": "trigger", "connector": "records", "action": "send", "input": {"title": 5, "colour": "red"}},
                {"id": "i", "type": "store", "after": "trigger", "op": "upsert", "collection": "bad name!", "record": {}}
            ]
        });
        let (status, answer) = api.post("/api/scenarios", bad).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_scenario");
        let problems = answer["error"]["details"]["problems"].as_array().unwrap().clone();
        let has = |node: Option<&str>, field: &str, words: &str| {
            assert!(
                problems.iter().any(|p| p["node"].as_str() == node && p["field"] == field && p["message"].as_str().unwrap().contains(words)),
                "no problem at {node:?} {field} saying `{words}` in {problems:#?}"
            );
        };
        has(None, "trigger.trigger", "no poll trigger `nope`");
        has(None, "trigger.every", "not an interval");
        has(Some("a"), "after", "cycle");
        has(Some("b"), "after", "cycle");
        has(Some("d"), "connector", "no connector `nothing`");
        has(Some("d"), "connection", "no nothing connection");
        has(Some("e"), "action", "no action `fly`");
        has(Some("f"), "connection", "is a records connection");
        has(Some("g"), "output.broken", "syntax");
        has(Some("g"), "output", "`h` does not come before this node");
        has(Some("h"), "input.id", "requires `id`");
        has(Some("h"), "input.title", "not of type \"string\"");
        has(Some("h"), "input.colour", "no input `colour`");
        has(Some("i"), "collection", "letters, digits");
        has(Some("i"), "key", "id is needed");

        // A typo in a field name is a problem too, not something ignored; so is bad JSON.
        let (status, answer) = api
            .post("/api/scenarios", json!({"name": "t", "trigger": {"type": "manual"}, "nodes": [{"id": "a", "type": "transform", "ouput": {}}]}))
            .await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["details"]["problems"][0]["field"], "ouput");
        let (status, answer) = api.send_raw("POST", "/api/scenarios", "{\"name\": ").await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_json");
        // Nothing was saved.
        assert_eq!(api.get("/api/scenarios").await.1["scenarios"], json!([]));
    });
}

#[test]
fn an_upstream_that_rate_limits_fails_and_stalls_gets_the_policy_it_asks_for() {
    let upstream = RecordsUpstream::start(10);
    let (server, _) = records_server(
        &upstream,
        None,
        ServerOptions {
            call_timeout: Some(2),
            ..Default::default()
        },
    );
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let scenario = |name: &str, retries: u32, on_error: &str| {
            json!({
                "name": name,
                "trigger": {"type": "manual"},
                "nodes": [
                    {"id": "send", "type": "action", "connector": "records", "action": "send", "retries": retries, "on_error": on_error,
                     "input": {"id": "{{ trigger.id }}", "title": "{{ trigger.title }}"}},
                    {"id": "after", "type": "transform", "output": {"got": "{{ send }}"}}
                ]
            })
        };
        // 429 (wait 1 s, as told), then two 503s, then a success.
        let id = create(&api, scenario("retrying", 3, "stop")).await;
        upstream.script(vec![
            Scripted { status: 429, retry_after: Some(1), delay: Duration::ZERO },
            Scripted::status(503),
            Scripted::status(503),
        ]);
        let run = run_now(&api, &id, Some(json!({"id": "r1", "data": {"id": "r1", "title": "One"}}))).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let step = &run["items"][0]["steps"][0];
        assert_eq!(step["attempts"], 4, "{step}");
        let logs: Vec<&str> = step["logs"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
        assert!(logs[0].contains("rate limited: retry after 1 s") && logs[0].contains("trying again in 1.0 s"), "{logs:?}");
        assert!(logs[1].contains("transient") && logs[2].contains("transient"), "{logs:?}");
        let statuses: Vec<u64> = step["requests"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [429, 503, 503, 200], "every attempt's request is on record");
        let sends = upstream.sends();
        assert_eq!(sends.len(), 4);
        assert!(sends[1].0 - sends[0].0 >= Duration::from_millis(950), "the retry waited for Retry-After");
        assert_eq!(sends[3].1, json!({"id": "r1", "title": "One"}));

        // A long Retry-After (2 s, past the second waited inline): the item waits without a
        // worker, and the node is tried again once it is over.
        let id = create(&api, scenario("parking", 3, "stop")).await;
        let before = upstream.sends().len();
        upstream.script(vec![Scripted { status: 429, retry_after: Some(2), delay: Duration::ZERO }]);
        let run = run_now(&api, &id, Some(json!({"id": "r6", "data": {"id": "r6", "title": "Six"}}))).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let steps = run["items"][0]["steps"].as_array().unwrap();
        let shape: Vec<(&str, &str, i64)> = steps
            .iter()
            .map(|s| (s["node_id"].as_str().unwrap(), s["status"].as_str().unwrap(), s["attempts"].as_i64().unwrap()))
            .collect();
        assert_eq!(shape, [("send", "waiting", 1), ("send", "ok", 2), ("after", "ok", 1)], "{run}");
        assert!(run["events"].to_string().contains("no worker is held"), "{run}");
        let sends = upstream.sends();
        assert_eq!(sends.len() - before, 2);
        assert!(sends[before + 1].0 - sends[before].0 >= Duration::from_millis(1900), "the retry waited for Retry-After");

        // While an upstream's Retry-After holds the connection, another run's item waits it
        // out without a worker too (not an attempt), then calls once.
        let before = upstream.sends().len();
        upstream.script(vec![Scripted { status: 429, retry_after: Some(6), delay: Duration::ZERO }]);
        let (status, first) = api
            .post(&format!("/api/scenarios/{id}/run"), json!({"input": {"id": "r7", "data": {"id": "r7", "title": "Seven"}}}))
            .await;
        assert_eq!(status, 202, "{first}");
        for _ in 0..3000 {
            if upstream.sends().len() > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let second = run_now(&api, &id, Some(json!({"id": "r8", "data": {"id": "r8", "title": "Eight"}}))).await;
        assert_eq!(second["status"], "succeeded", "{second}");
        let shape: Vec<(&str, &str, i64)> = second["items"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["node_id"].as_str().unwrap(), s["status"].as_str().unwrap(), s["attempts"].as_i64().unwrap()))
            .collect();
        assert_eq!(shape, [("send", "waiting", 0), ("send", "ok", 1), ("after", "ok", 1)], "{second}");
        assert!(second["items"][0]["steps"][0]["logs"].to_string().contains("waiting without a worker"), "{second}");
        let first = wait_run(&api, first["run"]["id"].as_str().unwrap(), 1000).await;
        assert_eq!(first["status"], "succeeded", "{first}");
        let eights = upstream.sends()[before..].iter().filter(|(_, body)| body["id"] == "r8").count();
        assert_eq!(eights, 1, "the held item sent nothing while the connection was held");

        // 503 for ever: two retries, then the item is skipped and the run goes on.
        let id = create(&api, scenario("skipping", 2, "skip")).await;
        upstream.script(vec![Scripted::status(503); 3]);
        let run = run_now(&api, &id, Some(json!({"id": "r2", "title": "Two"}))).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["items"][0]["status"], "skipped");
        assert_eq!(run["items"][0]["steps"][0]["attempts"], 3);
        assert_eq!(run["items_skipped"], 1);

        // A stalled upstream: the call times out (transient), is retried once, then the node
        // goes on with an error output.
        let id = create(&api, scenario("continuing", 1, "continue")).await;
        upstream.script(vec![Scripted { status: 200, retry_after: None, delay: Duration::from_secs(4) }; 2]);
        let run = run_now(&api, &id, Some(json!({"id": "r3", "title": "Three"}))).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let steps = run["items"][0]["steps"].as_array().unwrap();
        assert_eq!(steps[0]["status"], "error");
        assert_eq!(steps[0]["attempts"], 2);
        assert_eq!(steps[0]["error_code"], "timeout", "{}", steps[0]);
        assert_eq!(steps[1]["output"]["got"]["error"]["code"], "timeout", "{}", steps[1]);

        // Invalid input is not retried, and stops the run.
        let id = create(&api, scenario("stopping", 3, "stop")).await;
        upstream.script(vec![Scripted::status(422)]);
        let run = run_now(&api, &id, Some(json!({"id": "r4", "title": "Four"}))).await;
        assert_eq!(run["status"], "failed");
        assert_eq!(run["items"][0]["steps"][0]["attempts"], 1);
        assert!(run["error"].as_str().unwrap().contains("node `send`: invalid input"), "{run}");

        // A mapped input that breaks the action's schema fails before any call.
        let before = upstream.sends().len();
        let run = run_now(&api, &id, Some(json!({"id": "r5", "title": {"not": "a string"}}))).await;
        assert_eq!(run["status"], "failed");
        assert_eq!(run["items"][0]["steps"][0]["error_code"], "invalid_input");
        assert_eq!(upstream.sends().len(), before, "nothing was sent");

        // No secret in any answer, step log or the server log.
        assert!(!server.answers().iter().any(|a| a.contains(records::TOKEN)));
        assert!(!server.log().contains(records::TOKEN));
    });
}

#[test]
fn the_connection_rate_limit_spaces_requests_across_items() {
    let upstream = RecordsUpstream::start(10);
    let (server, _) = records_server(&upstream, Some(5.0), ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let id = create(&api, json!({
            "name": "limited",
            "settings": {"concurrency": 8},
            "trigger": {"type": "poll", "connector": "records", "trigger": "records"},
            "nodes": [{"id": "send", "type": "action", "connector": "records", "action": "send", "input": {"id": "{{ trigger_id }}"}}]
        })).await;
        let run = run_now(&api, &id, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["items_done"], 10);
        let mut times: Vec<Instant> = upstream.sends().into_iter().map(|(t, _)| t).collect();
        times.sort();
        assert_eq!(times.len(), 10);
        // 5 requests/s with a burst of 1: requests (polls included) at least ~200 ms apart.
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(150), "{:?}", pair[1] - pair[0]);
        }
    });
}

#[test]
fn a_webhook_delivery_becomes_runs_and_bad_ones_are_refused() {
    let wp = wordpress();
    let server = HephServer::start(ServerOptions::default());
    cli_ok(&server, &["connector", "allow-private", "wordpress"]);
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let secret = "a-webhook-signing-secret-42";
        let mut fields = wp.values(false, &wp.application_password);
        fields.insert("webhook_secret".into(), json!(secret));
        let (status, connection) = api.post("/api/connections", json!({"consent": true, "connector": "wordpress", "fields": fields})).await;
        assert_eq!(status, 201, "{connection}");
        let (status, scenario) = api
            .send_typed("POST", "/api/scenarios", "application/yaml", &example("wordpress-posts-webhook.yaml"))
            .await;
        assert_eq!(status, 201, "{scenario}");
        let id = scenario["id"].as_str().unwrap();
        let url = scenario["webhook_url"].as_str().expect("a webhook URL").to_string();
        assert!(url.starts_with(&format!("{}/hooks/{id}/", server.url)), "{url}");
        let client = reqwest::Client::new();
        let body = json!({"event": "post.saved", "id": 987654, "object": {"id": 987654, "title": {"raw": "Pushed – Zoë"}, "status": "publish", "modified_gmt": "2024-05-06T07:08:09"}}).to_string();
        let sign = |body: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(body.as_bytes());
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        };
        let deliver = |url: String, body: String, signature: String| {
            let client = client.clone();
            async move {
                let response = client.post(url).header("x-heph-signature", signature).body(body).send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, answer) = deliver(url.clone(), body.clone(), sign(&body)).await;
        assert_eq!(status, 409, "a disabled scenario refuses deliveries: {answer}");
        api.post(&format!("/api/scenarios/{id}/enable"), json!({})).await;
        let (status, answer) = deliver(url.clone(), body.clone(), sign(&body)).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["accepted"], 1);
        let run = wait_run(&api, answer["runs"][0].as_str().unwrap(), 10).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let (status, record) = api.get("/api/store/posts/987654").await;
        assert_eq!(status, 200, "{record}");
        assert_eq!(record["data"]["title"], "Pushed – Zoë");

        let (status, answer) = deliver(url.clone(), body.clone(), "sha256=00".into()).await;
        assert_eq!(status, 401, "a wrong signature: {answer}");
        let (status, _) = deliver(format!("{}/hooks/{id}/wrong-token", server.url), body.clone(), sign(&body)).await;
        assert_eq!(status, 404, "a wrong token");
        let token = url.rsplit('/').next().unwrap();
        assert!(!server.log().contains(token), "the webhook token is not logged");
    });
}

#[test]
fn a_connection_that_needs_reauthorization_pauses_the_scenario_until_it_is_fixed() {
    let upstream = RecordsUpstream::start(50);
    let (server, connection) = records_server(&upstream, None, ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let id = create(&api, json!({
            "name": "pausing",
            "trigger": {"type": "poll", "connector": "records", "trigger": "records", "config": {"limit": 20}},
            "nodes": [{"id": "save", "type": "store", "op": "upsert", "collection": "things", "key": "{{ trigger_id }}", "record": "{{ trigger }}"}]
        })).await;
        let (status, _) = api.send("PATCH", &format!("/api/connections/{connection}"), Some(json!({"fields": {"token": "a-revoked-token"}}))).await;
        assert_eq!(status, 200);
        let run = run_now(&api, &id, None).await;
        assert_eq!(run["status"], "paused", "{run}");
        let scenario = api.get(&format!("/api/scenarios/{id}")).await.1;
        assert!(scenario["paused"]["reason"].as_str().unwrap().contains("needs to be connected again"), "{scenario}");
        assert_eq!(scenario["paused"]["connection"], connection.as_str());
        assert_eq!(upstream.unauthorized(), 1, "one refusal, not one per item");
        let (status, refused) = api.post(&format!("/api/scenarios/{id}/run"), json!({})).await;
        assert_eq!(status, 409, "{refused}");
        assert_eq!(refused["error"]["code"], "scenario_paused");

        // The right token again: the scenario and its paused run go on by themselves.
        api.send("PATCH", &format!("/api/connections/{connection}"), Some(json!({"fields": {"token": records::TOKEN}}))).await;
        let run = wait_resumed(&api, run["id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(collection(&api, "things").await.len(), 50);
        assert_eq!(api.get(&format!("/api/scenarios/{id}")).await.1["paused"], Value::Null);

        // A single-item run (manual, as a webhook's) whose action is refused pauses too; once
        // the connection is fixed its item runs again, numbered after the paused one.
        let manual = create(&api, json!({
            "name": "pausing-manual",
            "trigger": {"type": "manual"},
            "nodes": [{"id": "send", "type": "action", "connector": "records", "action": "send", "input": {"id": "{{ trigger.id }}"}}]
        })).await;
        api.send("PATCH", &format!("/api/connections/{connection}"), Some(json!({"fields": {"token": "a-revoked-token"}}))).await;
        let run = run_now(&api, &manual, Some(json!({"id": "m1", "data": {"id": "m1"}}))).await;
        assert_eq!(run["status"], "paused", "{run}");
        assert_eq!(run["items_failed"], 0, "a paused item has not failed: {run}");
        api.send("PATCH", &format!("/api/connections/{connection}"), Some(json!({"fields": {"token": records::TOKEN}}))).await;
        let run = wait_resumed(&api, run["id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let items: Vec<(i64, &str)> = run["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["seq"].as_i64().unwrap(), i["status"].as_str().unwrap()))
            .collect();
        assert_eq!(items, [(1, "paused"), (2, "done")], "{run}");
        assert_eq!((run["items_done"].as_u64(), run["items_failed"].as_u64()), (Some(1), Some(0)), "{run}");
        let sent = upstream.sends().iter().filter(|(_, body)| body["id"] == "m1").count();
        assert_eq!(sent, 1, "the refused call reached nothing; the item's action was made once");
    });
}

async fn wait_resumed(api: &Api, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = api.get(&format!("/api/runs/{run_id}")).await.1;
        if run["status"] == "succeeded" || run["status"] == "failed" {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "the paused run did not resume: {run}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_cancelled_import_keeps_its_progress_and_the_next_run_goes_on_from_there() {
    let upstream = RecordsUpstream::start(2000);
    upstream.set_page_delay(Duration::from_millis(100));
    let (server, _) = records_server(&upstream, None, ServerOptions::default());
    let api = server.api(&server.admin_token);
    tokio().block_on(async {
        let id = create(&api, json!({
            "name": "cancelled",
            "trigger": {"type": "poll", "connector": "records", "trigger": "records"},
            "nodes": [
                {"id": "keep", "type": "filter", "condition": "trigger.count % 2 == 0"},
                {"id": "save", "type": "store", "op": "upsert", "collection": "even", "key": "{{ trigger_id }}", "record": {"title": "{{ trigger.title }}", "n": "{{ trigger.count }}"}}
            ]
        })).await;
        let (_, started) = api.post(&format!("/api/scenarios/{id}/run"), json!({})).await;
        let run_id = started["run"]["id"].as_str().unwrap().to_string();
        while upstream.pages_served() < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (status, cancelled) = api.post(&format!("/api/runs/{run_id}/cancel"), json!({})).await;
        assert_eq!(status, 200, "{cancelled}");
        let run = wait_run(&api, &run_id, 1).await;
        assert_eq!(run["status"], "cancelled", "{run}");
        let first = run["items_done"].as_u64().unwrap() + run["items_skipped"].as_u64().unwrap();
        assert!(first > 0 && first < 2000, "{run}");
        let run = run_now(&api, &id, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let second = run["items_done"].as_u64().unwrap() + run["items_skipped"].as_u64().unwrap();
        assert_eq!(first + second, 2000, "no item lost, none imported twice");
        let even = collection(&api, "even").await;
        assert_eq!(even.len(), 1000, "the filter let every even record through");
        assert!(even.iter().all(|r| r["data"]["n"].as_u64().unwrap() % 2 == 0));
    });
}
