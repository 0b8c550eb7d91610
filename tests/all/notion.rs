//! The Notion connector as it ships, against the Notion fake (HTTPS under the real name):
//! an integration secret and the OAuth connect flow, every action, the minute-boundary dedupe
//! of the poll triggers, signed webhooks, and the notes example.

use heph_tests::providers::{oauth, Providers};
use heph_tests::tokio;
use serde_json::{json, Value};

use crate::connectors::{action, notion_connection, param, server, NOTES, NOTION_SECRET};
use crate::engine::{collection, example, run_now};

#[test]
fn notion_with_an_integration_secret() {
    tokio().block_on(async {
        let providers = Providers::start();
        providers.accept_token(NOTION_SECRET);
        providers
            .world
            .lock()
            .unwrap()
            .notion
            .add_data_source(NOTES);
        let server = server(&providers);
        let api = server.api(&server.admin_token);

        // OAuth is the default, so a connection without the secret is refused with the way in.
        let (status, body) = api
            .post(
                "/api/connections",
                json!({"consent": true, "connector": "notion", "name": "Notes", "fields": {}}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("integration_secret"),
            "{body}"
        );

        let conn = notion_connection(&api).await;
        assert_eq!(conn["status"], "ok", "{conn}");
        assert_eq!(conn["account"]["workspace"], "Learner's notes", "{conn}");
        let id = conn["id"].as_str().unwrap().to_string();

        // Every request carried the version (the manifest's default) and the secret as bearer.
        let sent = providers.received("api.notion.com");
        assert!(!sent.is_empty());
        for r in &sent {
            assert_eq!(r.header("notion-version"), Some("2026-03-11"), "{r:?}");
            assert_eq!(
                r.header("authorization"),
                Some(format!("Bearer {NOTION_SECRET}").as_str())
            );
        }

        // A page in the data source: the title property found by type, plain values converted
        // by the schema, Markdown content as blocks; 230 paragraphs go in three requests.
        let long: Vec<String> = (0..230)
            .map(|i| format!("Paragraph {i} with **bold**."))
            .collect();
        let markdown = format!(
            "# Week 3\n\n- one\n- two\n\n```rust\nfn main() {{}}\n```\n\n{}",
            long.join("\n\n")
        );
        let (status, page) = action(
            &api,
            &id,
            "create_page",
            json!({
            "data_source_id": NOTES.replace('-', ""), "title": "Ownership",
            "values": {"Tags": ["rust", "memory"], "Due": "2026-12-01", "Done": false},
            "content_markdown": markdown}),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let page_id = page["output"]["id"].as_str().expect("page id").to_string();
        {
            let world = providers.world.lock().unwrap();
            let stored = world.notion.page(&page_id).expect("the page");
            assert_eq!(
                stored["properties"]["Name"]["title"][0]["text"]["content"],
                "Ownership"
            );
            assert_eq!(
                stored["properties"]["Tags"]["multi_select"],
                json!([{"name": "rust"}, {"name": "memory"}])
            );
            assert_eq!(stored["properties"]["Due"]["date"]["start"], "2026-12-01");
            let blocks = world.notion.blocks_of(&page_id);
            assert_eq!(blocks.len(), 4 + 230, "every block arrives");
            assert_eq!(blocks[0]["type"], "heading_1");
            assert_eq!(blocks[3]["code"]["language"], "rust");
            assert_eq!(
                blocks[233]["paragraph"]["rich_text"][0]["text"]["content"],
                "Paragraph 229 with "
            );
        }
        let appends = providers
            .received("api.notion.com")
            .iter()
            .filter(|r| r.method == "PATCH" && r.uri.contains("/children"))
            .count();
        assert_eq!(appends, 2, "100 children per request at most");

        // Unknown property: Notion's validation error comes back as invalid input, untried again.
        let (status, body) = action(
            &api,
            &id,
            "create_page",
            json!({"data_source_id": NOTES, "values": {"Colour": "red"}}),
        )
        .await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(
            body["error"]["details"]["connector_code"], "invalid_input",
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Colour"),
            "{body}"
        );

        // Update, archive (in_trash on 2026-03-11), query and search.
        let (status, body) = action(
            &api,
            &id,
            "update_page",
            json!({"page_id": page_id, "values": {"Done": true}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = action(
            &api,
            &id,
            "append_content",
            json!({"page_id": page_id, "markdown": "Added later."}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"]["blocks_added"], 1);
        for title in ["Borrowing", "Lifetimes", "Traits"] {
            let (status, body) = action(
                &api,
                &id,
                "create_page",
                json!({"data_source_id": NOTES, "title": title}),
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body) = action(
            &api,
            &id,
            "query_data_source",
            json!({"data_source_id": NOTES, "limit": 3}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"]["count"], 3);
        let (status, body) = action(&api, &id, "search", json!({"query": "life"})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"]["count"], 1);
        let (status, body) = action(&api, &id, "archive_page", json!({"page_id": page_id})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            providers
                .world
                .lock()
                .unwrap()
                .notion
                .page(&page_id)
                .unwrap()["in_trash"],
            true
        );

        // A 429 with Retry-After is a rate limit, with the advised wait.
        providers.world.lock().unwrap().rate_limit_next = 1;
        let (status, body) = action(&api, &id, "search", json!({})).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(
            body["error"]["details"]["connector_code"], "rate_limited",
            "{body}"
        );

        // The secret never shows in an answer or the log.
        for text in server.answers().iter().chain([server.log()].iter()) {
            assert!(!text.contains(NOTION_SECRET), "the secret leaked: {text}");
        }
    });
}

#[test]
fn notion_updated_items_at_a_minute_boundary_come_once() {
    tokio().block_on(async {
        let providers = Providers::start();
        providers.accept_token(NOTION_SECRET);
        let minute = "2026-11-22T10:15:00.000Z";
        {
            let mut world = providers.world.lock().unwrap();
            world.notion.add_data_source(NOTES);
            world.notion.insert_page(NOTES, "A", "2026-11-22T10:14:00.000Z", "2026-11-22T10:14:00.000Z");
            world.notion.insert_page(NOTES, "B", minute, minute);
        }
        let server = server(&providers);
        let api = server.api(&server.admin_token);
        notion_connection(&api).await;
        let scenario = format!(
            "name: Notion edits\ntrigger:\n  type: poll\n  connector: notion\n  trigger: updated_item\n  every: 1h\n  config:\n    data_source_id: {NOTES}\n    start: beginning\n    page_size: 1\nnodes:\n  - id: save\n    type: store\n    op: upsert\n    collection: edits\n    key: \"{{{{ trigger_id }}}}@{{{{ trigger.last_edited_time }}}}\"\n    record:\n      title: \"{{{{ trigger.properties.Name.title[0].text.content }}}}\"\n"
        );
        let (status, created) = api.send_typed("POST", "/api/scenarios", "application/yaml", &scenario).await;
        assert_eq!(status, 201, "{created}");
        let sid = created["id"].as_str().unwrap().to_string();
        let run = run_now(&api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["items_done"], 2, "{run}");

        // Another page edited in the same minute as B: the next poll asks from that minute
        // again (Notion's filter is minute-precise), gives C, and not B a second time.
        providers.world.lock().unwrap().notion.insert_page(NOTES, "C", minute, minute);
        let run = run_now(&api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["items_done"], 1, "{run}");
        let edits = collection(&api, "edits").await;
        let mut titles: Vec<&str> = edits.iter().map(|e| e["data"]["title"].as_str().unwrap_or("?")).collect();
        titles.sort();
        assert_eq!(titles, ["A", "B", "C"], "{edits:?}");
        let queries: Vec<Value> = providers
            .received("api.notion.com")
            .iter()
            .filter(|r| r.uri.ends_with("/query"))
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        let last = queries.last().unwrap();
        assert_eq!(last["filter"]["last_edited_time"]["on_or_after"], minute, "{last}");
    });
}

#[test]
fn the_notes_example_sends_each_note_once() {
    tokio().block_on(async {
        let providers = Providers::start();
        providers.accept_token(NOTION_SECRET);
        providers.world.lock().unwrap().notion.add_data_source(NOTES);
        let server = server(&providers);
        let api = server.api(&server.admin_token);
        notion_connection(&api).await;
        // Two notes in the data store, as the learning platform writes them.
        let seed = "name: Seed notes\ntrigger:\n  type: manual\nnodes:\n  - id: note\n    type: iterator\n    over: \"{{ trigger }}\"\n  - id: save\n    type: store\n    op: upsert\n    collection: notes\n    key: \"{{ note.id }}\"\n    record: \"{{ note }}\"\n";
        let (status, seeded) = api.send_typed("POST", "/api/scenarios", "application/yaml", seed).await;
        assert_eq!(status, 201, "{seeded}");
        let notes = json!([
            {"id": "n1", "title": "Ownership", "course": "Rust 101", "tags": ["rust"], "body": "# Moves\n\nA value has **one** owner."},
            {"id": "n2", "title": "Borrowing", "course": "Rust 101", "tags": ["rust", "refs"], "body": "- shared\n- mutable"}
        ]);
        let run = run_now(&api, seeded["id"].as_str().unwrap(), Some(notes)).await;
        assert_eq!(run["status"], "succeeded", "{run}");

        let (status, created) = api
            .send_typed("POST", "/api/scenarios", "application/yaml", &example("notion-notes.yaml"))
            .await;
        assert_eq!(status, 201, "{created}");
        let sid = created["id"].as_str().unwrap().to_string();
        let run = run_now(&api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let pages = providers.world.lock().unwrap().notion.pages.clone();
        assert_eq!(pages.len(), 2, "{pages:?}");
        let own = pages.iter().find(|p| p["properties"]["Name"]["title"][0]["text"]["content"] == "Ownership").expect("the note's page");
        assert_eq!(own["properties"]["Course"]["select"]["name"], "Rust 101");
        assert_eq!(own["properties"]["Tags"]["multi_select"], json!([{"name": "rust"}]));
        let blocks = providers.world.lock().unwrap().notion.blocks_of(own["id"].as_str().unwrap());
        assert_eq!(blocks[0]["type"], "heading_1");
        assert_eq!(blocks[1]["paragraph"]["rich_text"][1]["annotations"]["bold"], true);
        let stored = collection(&api, "notes").await;
        assert!(stored.iter().all(|n| n["data"]["notion_page_id"].is_string()), "{stored:?}");

        // Run again: every note has its page, nothing is sent twice.
        let run = run_now(&api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(providers.world.lock().unwrap().notion.pages.len(), 2);
    });
}

#[test]
fn notion_connects_through_its_oauth_flow() {
    tokio().block_on(async {
        let providers = Providers::start();
        let c =
            crate::connectors::connect(&providers, &oauth::NOTION, "notion", "notion", json!({}))
                .await;
        assert_eq!(
            c.connection["account"]["workspace"], "Learner's notes",
            "{}",
            c.connection
        );
        assert_eq!(
            param(&c.authorize_url, "owner").as_deref(),
            Some("user"),
            "{}",
            c.authorize_url
        );

        // The code went to Notion's token endpoint as JSON with HTTP Basic client authentication.
        let token_requests: Vec<_> = providers
            .received("api.notion.com")
            .into_iter()
            .filter(|r| r.uri == "/v1/oauth/token")
            .collect();
        assert_eq!(token_requests.len(), 1);
        let request = &token_requests[0];
        assert!(
            request
                .header("content-type")
                .unwrap()
                .starts_with("application/json"),
            "{request:?}"
        );
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode("notion:notion-secret");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["grant_type"], "authorization_code");
        assert!(
            body["code"].is_string() && body.get("client_secret").is_none(),
            "{body}"
        );
        let stats = c.authorization_server.stats().await;
        assert_eq!(
            stats["authorization_code.success"], 1,
            "the real server granted it: {stats}"
        );

        // The token it got is the one the API calls carry.
        let (status, body) = action(&c.api, &c.id(), "search", json!({"query": "x"})).await;
        assert_eq!(status, 200, "{body}");
        let last = providers.received("api.notion.com").pop().unwrap();
        let token = last
            .header("authorization")
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap()
            .to_string();
        assert!(
            providers.world.lock().unwrap().scopes.contains_key(&token),
            "an access token from the flow"
        );
        for text in c.server.answers().iter().chain([c.server.log()].iter()) {
            assert!(
                !text.contains(&token) && !text.contains("notion-secret"),
                "a secret leaked: {text}"
            );
        }
    });
}

#[test]
fn notion_webhooks_are_verified_then_signed() {
    tokio().block_on(async {
        let providers = Providers::start();
        providers.accept_token(NOTION_SECRET);
        providers.world.lock().unwrap().notion.add_data_source(NOTES);
        let page = providers.world.lock().unwrap().notion.insert_page(NOTES, "Lifetimes", "2026-11-22T10:00:00.000Z", "2026-11-22T10:00:00.000Z");
        let server = server(&providers);
        let api = server.api(&server.admin_token);
        let conn = notion_connection(&api).await;
        let scenario = "name: Notion events\ntrigger:\n  type: webhook\n  connector: notion\n  trigger: events\nnodes:\n  - id: save\n    type: store\n    op: upsert\n    collection: notion_events\n    key: \"{{ trigger_id }}\"\n    record:\n      type: \"{{ trigger.type }}\"\n      token: \"{{ trigger.verification_token }}\"\n      title: \"{{ trigger.page.properties.Name.title[0].text.content }}\"\n";
        let (status, created) = api.send_typed("POST", "/api/scenarios", "application/yaml", scenario).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        api.post(&format!("/api/scenarios/{id}/enable"), json!({})).await;
        let url = created["webhook_url"].as_str().unwrap().to_string();
        let client = reqwest::Client::new();
        let deliver = |body: String, signature: Option<String>| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let mut request = client.post(url).header("content-type", "application/json").body(body);
                if let Some(signature) = signature {
                    request = request.header("x-notion-signature", signature);
                }
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };

        // Notion's first delivery: the verification token, unsigned.
        let verification = "secret_v3r1f1cat10nT0ken";
        let (status, answer) = deliver(json!({"verification_token": verification}).to_string(), None).await;
        assert_eq!(status, 202, "{answer}");
        let run = crate::engine::wait_run(&api, answer["runs"][0].as_str().unwrap(), 10).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let events = collection(&api, "notion_events").await;
        assert_eq!(events[0]["data"]["token"], verification, "{events:?}");

        // The token goes into the connection; events signed with it come with their page.
        let (status, body) = api.patch(&format!("/api/connections/{}", conn["id"].as_str().unwrap()),
            json!({"fields": {"webhook_verification_token": verification}})).await;
        assert_eq!(status, 200, "{body}");
        let event = json!({"id": "evt-1", "timestamp": "2026-11-22T10:01:00.000Z", "workspace_id": "ws", "type": "page.properties_updated",
            "entity": {"id": page, "type": "page"}, "data": {"updated_properties": ["title"]}}).to_string();
        let signature = {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(verification.as_bytes()).unwrap();
            mac.update(event.as_bytes());
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        };
        let (status, answer) = deliver(event.clone(), Some(signature)).await;
        assert_eq!(status, 202, "{answer}");
        let run = crate::engine::wait_run(&api, answer["runs"][0].as_str().unwrap(), 10).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let (_, record) = api.get("/api/store/notion_events/evt-1").await;
        assert_eq!(record["data"]["type"], "page.properties_updated", "{record}");
        assert_eq!(record["data"]["title"], "Lifetimes", "{record}");

        // A forged or unsigned event is refused, and nothing runs.
        let (status, _) = deliver(event.clone(), Some(format!("sha256={}", "0".repeat(64)))).await;
        assert_eq!(status, 401);
        let (status, _) = deliver(event, None).await;
        assert_eq!(status, 401);
        assert_eq!(collection(&api, "notion_events").await.len(), 2);
        let (_, view) = api.get(&format!("/api/connections/{}", conn["id"].as_str().unwrap())).await;
        assert_eq!(view["status"], "ok", "forged deliveries say nothing of the connection: {view}");
    });
}
