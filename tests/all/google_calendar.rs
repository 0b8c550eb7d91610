//! The Google Calendar connector as it ships, against the Calendar fake (HTTPS under
//! www.googleapis.com), connected through Google's OAuth flow (offline access, PKCE, client
//! credentials in the body) against the real authorization server: events, errors, the
//! incremental sync with its 410 restart, push channels, and the study-plan example.

use heph_tests::providers::google::PRIMARY;
use heph_tests::providers::{oauth, Providers};
use heph_tests::tokio;
use serde_json::{json, Value};

use crate::connectors::{action, connect, param, token_request, Connected};
use crate::engine::{collection, example, run_now, wait_run};

const EVENTS_SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";
const READ_SCOPE: &str = "https://www.googleapis.com/auth/calendar.readonly";

async fn google(providers: &Providers, fields: Value) -> Connected {
    connect(
        providers,
        &oauth::GOOGLE,
        "google-calendar",
        "google",
        fields,
    )
    .await
}

/// The event id the connector derives from a key.
fn id_for(key: &str) -> String {
    format!("heph{}", hex::encode(key))
}

#[test]
fn google_calendar_connects_offline_with_pkce_and_manages_events() {
    tokio().block_on(async {
        let providers = Providers::start();
        let c = google(&providers, json!({})).await;
        let id = c.id();
        assert_eq!(c.connection["account"]["id"], PRIMARY, "{}", c.connection);
        assert_eq!(param(&c.authorize_url, "scope"), Some(format!("{EVENTS_SCOPE} {READ_SCOPE}")));
        assert_eq!(param(&c.authorize_url, "include_granted_scopes").as_deref(), Some("true"));

        // The code went to Google's token endpoint as a form with the client's credentials and
        // the PKCE verifier in it, and came back with a refresh token (offline access).
        let (token, form) = token_request(&providers, &oauth::GOOGLE);
        let field = |k: &str| form.get(k).map(String::as_str);
        assert_eq!(field("client_id"), Some("google"));
        assert_eq!(field("client_secret"), Some("google-secret"));
        assert!(field("code_verifier").is_some_and(|v| v.len() >= 43), "{form:?}");
        assert!(token.header("authorization").is_none(), "client_secret_post: no Basic header");
        let view = c.api.get(&format!("/api/connections/{id}")).await.1;
        assert!(view["secrets_set"].as_array().unwrap().iter().any(|s| s == "oauth:refresh_token"), "{view}");

        // An all-day event with reminders, keyed by the module it stands for.
        let (status, created) = action(&c.api, &id, "create_event", json!({"key": "module-7", "summary": "Traits due",
            "start": "2026-12-01", "all_day": true, "reminders": [{"method": "email", "minutes": 1440}, {"minutes": 60}]})).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["output"]["id"], id_for("module-7"));
        // The same key again, with a new date: the event moves; there is still one.
        let (status, moved) = action(&c.api, &id, "create_event", json!({"key": "module-7", "summary": "Traits due", "start": "2026-12-03", "all_day": true})).await;
        assert_eq!(status, 200, "{moved}");
        {
            let world = providers.world.lock().unwrap();
            let live = world.google.live();
            assert_eq!(live.len(), 1, "{live:?}");
            assert_eq!(live[0]["start"], json!({"date": "2026-12-03"}));
            assert_eq!(live[0]["end"], json!({"date": "2026-12-04"}));
            assert_eq!(live[0]["reminders"]["overrides"][0], json!({"method": "email", "minutes": 1440}));
        }
        // A timed event in a zone, with attendees; the organizer asked not to e-mail them.
        let (status, timed) = action(&c.api, &id, "create_event", json!({"summary": "Study group", "start": "2026-12-02T18:00:00+01:00",
            "time_zone": "Europe/Paris", "duration_minutes": 90, "attendees": ["sam@example.test"], "send_updates": "none"})).await;
        assert_eq!(status, 200, "{timed}");
        assert_eq!(timed["output"]["end"], json!({"dateTime": "2026-12-02T19:30:00+01:00", "timeZone": "Europe/Paris"}));
        let (status, patched) = action(&c.api, &id, "update_event", json!({"event_id": timed["output"]["id"], "location": "Library"})).await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["output"]["summary"], "Study group", "a patch keeps the other fields");
        let (status, quick) = action(&c.api, &id, "quick_add", json!({"text": "Review session tomorrow 6pm"})).await;
        assert_eq!(status, 200, "{quick}");
        let (status, calendars) = action(&c.api, &id, "list_calendars", json!({})).await;
        assert_eq!(status, 200, "{calendars}");
        assert_eq!(calendars["output"]["count"], 2);
        let (status, busy) = action(&c.api, &id, "free_busy", json!({"time_min": "2026-12-02T00:00:00Z", "time_max": "2026-12-03T00:00:00Z"})).await;
        assert_eq!(status, 200, "{busy}");
        assert_eq!(busy["output"]["calendars"]["primary"]["busy"], json!([{"start": "2026-12-02T17:00:00Z", "end": "2026-12-02T18:30:00Z"}]));

        // What Google refuses comes back as invalid input, with Google's message.
        let (status, body) = action(&c.api, &id, "create_event", json!({"event_id": "Not_Valid", "summary": "x", "start": "2026-12-01"})).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["details"]["connector_code"], "invalid_input", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("Invalid resource id"), "{body}");
        let (status, body) = action(&c.api, &id, "create_event", json!({"summary": "x", "start": "2026-12-02T18:00:00"})).await;
        assert_eq!(status, 502, "a date-time without zone: {body}");
        // Quota: 403 rateLimitExceeded is a rate limit, not a permission problem.
        providers.world.lock().unwrap().rate_limit_next = 1;
        let (status, body) = action(&c.api, &id, "list_calendars", json!({})).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["details"]["connector_code"], "rate_limited", "{body}");

        // Google stops accepting the access token (expired early, say): the 401 makes the host
        // refresh it at Google's token endpoint (a form with the client's credentials), and
        // the call goes through with the new one.
        providers.world.lock().unwrap().tokens.clear();
        let (status, body) = action(&c.api, &id, "list_calendars", json!({})).await;
        assert_eq!(status, 200, "{body}\n{}", c.server.log());
        let stats = c.authorization_server.stats().await;
        assert_eq!(stats["refresh_token.success"], 1, "{stats}");
        let refresh = providers.received("oauth2.googleapis.com").into_iter().filter(|r| r.uri == "/token").nth(1).expect("a refresh request");
        let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&refresh.body).into_owned().collect();
        assert_eq!(form.get("grant_type").map(String::as_str), Some("refresh_token"));
        assert_eq!(form.get("client_secret").map(String::as_str), Some("google-secret"));

        // Deleting by key cancels; a second delete is not an error.
        let (status, deleted) = action(&c.api, &id, "delete_event", json!({"key": "module-7"})).await;
        assert_eq!(status, 200, "{deleted}");
        assert_eq!(deleted["output"]["deleted"], true);
        assert_eq!(providers.world.lock().unwrap().google.event(&id_for("module-7")).unwrap()["status"], "cancelled");
        let (status, again) = action(&c.api, &id, "delete_event", json!({"key": "module-7"})).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["output"]["deleted"], false);

        for r in providers.received("www.googleapis.com") {
            let token = r.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).expect("a bearer token");
            for text in c.server.answers().iter().chain([c.server.log()].iter()) {
                assert!(!text.contains(token) && !text.contains("google-secret"), "a secret leaked: {text}");
            }
        }
    });
}

#[test]
fn google_calendar_changes_sync_incrementally_and_start_over_after_410() {
    tokio().block_on(async {
        let providers = Providers::start();
        {
            let mut world = providers.world.lock().unwrap();
            for (i, day) in ["2026-12-01", "2026-12-02", "2026-12-03"].iter().enumerate() {
                world.google.insert(&format!("seed0000{i}"), &format!("Seed {i}"), day);
            }
        }
        let c = google(&providers, json!({})).await;
        let scenario = "name: Calendar changes\ntrigger:\n  type: poll\n  connector: google-calendar\n  trigger: event_changed\n  every: 1h\n  config:\n    start: beginning\n    page_size: 2\nnodes:\n  - id: save\n    type: store\n    op: upsert\n    collection: changes\n    key: \"{{ trigger_id }}\"\n    record:\n      summary: \"{{ trigger.summary }}\"\n      status: \"{{ trigger.status }}\"\n";
        let (status, created) = c.api.send_typed("POST", "/api/scenarios", "application/yaml", scenario).await;
        assert_eq!(status, 201, "{created}");
        let sid = created["id"].as_str().unwrap().to_string();

        // The first poll is a full sync, two events a page.
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["items_done"], 3, "{run}");
        // Then only the changes, deletions included.
        {
            let mut world = providers.world.lock().unwrap();
            world.google.insert("added0001", "Added", "2026-12-09");
        }
        let (status, _) = action(&c.api, &c.id(), "delete_event", json!({"event_id": "seed00001"})).await;
        assert_eq!(status, 200);
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["items_done"], 2, "{run}");
        let changes = collection(&c.api, "changes").await;
        let cancelled = changes.iter().find(|r| r["id"] == "seed00001").unwrap();
        assert_eq!(cancelled["data"]["status"], "cancelled", "{changes:?}");
        let lists: Vec<String> = providers.received("www.googleapis.com").into_iter().filter(|r| r.method == "GET" && r.uri.contains("/events?")).map(|r| r.uri).collect();
        assert!(lists.last().unwrap().contains("syncToken=sync-"), "{lists:?}");
        for uri in &lists {
            assert!(!uri.contains("timeMin") && !uri.contains("orderBy"), "a sync token takes no filter: {uri}");
        }

        // Google expires the token: 410, and the trigger does a full sync again by itself.
        providers.world.lock().unwrap().google.expire_sync_tokens();
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["items_done"], 4, "every event again, the cancelled one too: {run}");
        // The restart is in the run's history, in the connector's words.
        let events = run["events"].to_string();
        assert!(events.contains("410 Gone") && events.contains("full sync"), "{events}");
        let lists: Vec<String> = providers.received("www.googleapis.com").into_iter().filter(|r| r.method == "GET" && r.uri.contains("/events?")).map(|r| r.uri).collect();
        let refused = lists.iter().rposition(|u| u.contains("syncToken=")).unwrap();
        assert!(!lists[refused + 1].contains("syncToken") && !lists[refused + 1].contains("pageToken"), "{lists:?}");
    });
}

#[test]
fn google_push_notifications_are_checked_against_the_channel_token() {
    tokio().block_on(async {
        let providers = Providers::start();
        let c = google(&providers, json!({})).await;
        let id = c.id();
        // Without the channel secret there is no channel to open.
        let (status, body) = action(&c.api, &id, "watch_events", json!({"address": "https://heph.example.test/hooks/x/y"})).await;
        assert_eq!(status, 502, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("channel_secret"), "{body}");
        let (status, body) = c.api.patch(&format!("/api/connections/{id}"), json!({"fields": {"channel_secret": "a-long-random-channel-secret-0f3c"}})).await;
        assert_eq!(status, 200, "{body}");
        let scenario = "name: Calendar pushes\ntrigger:\n  type: webhook\n  connector: google-calendar\n  trigger: event_notification\nnodes:\n  - id: save\n    type: store\n    op: upsert\n    collection: pushes\n    key: \"{{ trigger_id }}\"\n    record: \"{{ trigger }}\"\n";
        let (status, created) = c.api.send_typed("POST", "/api/scenarios", "application/yaml", scenario).await;
        assert_eq!(status, 201, "{created}");
        let sid = created["id"].as_str().unwrap().to_string();
        c.api.post(&format!("/api/scenarios/{sid}/enable"), json!({})).await;
        let hook = created["webhook_url"].as_str().unwrap().to_string();
        // Google only calls https addresses: the scenario's URL as the public proxy serves it.
        let public = hook.replace(&c.server.url, "https://heph.example.test");

        // A channel whose token only this connection can make.
        let (status, watched) = action(&c.api, &id, "watch_events", json!({"address": public, "ttl_seconds": 3600})).await;
        assert_eq!(status, 200, "{watched}");
        let channel = watched["output"].clone();
        let stored = providers.world.lock().unwrap().google.channels[0].clone();
        assert_eq!(stored["address"], public.as_str());
        let token = stored["token"].as_str().unwrap().to_string();
        assert!(!token.contains("a-long-random"), "the token is a MAC, not the secret");

        let notify = |channel_id: String, token: String, state: &'static str, number: u32| {
            let hook = hook.clone();
            async move {
                let response = reqwest::Client::new().post(hook)
                    .header("x-goog-channel-id", channel_id).header("x-goog-channel-token", token)
                    .header("x-goog-resource-id", format!("res-{PRIMARY}")).header("x-goog-resource-state", state)
                    .header("x-goog-message-number", number.to_string()).header("content-length", "0")
                    .send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let channel_id = channel["id"].as_str().unwrap().to_string();
        // The first message (sync) only says the channel is open.
        let (status, answer) = notify(channel_id.clone(), token.clone(), "sync", 1).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["accepted"], 0, "{answer}");
        let (status, answer) = notify(channel_id.clone(), token.clone(), "exists", 2).await;
        assert_eq!(status, 202, "{answer}");
        let run = wait_run(&c.api, answer["runs"][0].as_str().unwrap(), 10).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let pushes = collection(&c.api, "pushes").await;
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0]["data"]["resource_state"], "exists", "{pushes:?}");
        // Another channel's token, or none, is refused.
        let (status, _) = notify(channel_id.clone(), format!("v1.{}", "ab".repeat(32)), "exists", 3).await;
        assert_eq!(status, 401);
        let (status, _) = notify("heph-someone-else".into(), token.clone(), "exists", 4).await;
        assert_eq!(status, 401);

        // Renewal: a channel far from expiry is kept; one about to expire is replaced, and the
        // old one stopped.
        let (status, kept) = action(&c.api, &id, "renew_watch", json!({"channel": channel, "address": public, "renew_within_hours": 0})).await;
        assert_eq!(status, 200, "{kept}");
        assert_eq!(kept["output"]["renewed"], false, "{kept}");
        let (status, renewed) = action(&c.api, &id, "renew_watch", json!({"channel": channel, "address": public, "renew_within_hours": 24})).await;
        assert_eq!(status, 200, "{renewed}");
        assert_eq!(renewed["output"]["renewed"], true, "{renewed}");
        let channels = providers.world.lock().unwrap().google.channels.clone();
        assert_eq!(channels.len(), 1, "{channels:?}");
        assert_ne!(channels[0]["id"], channel_id.as_str());
        let fresh = renewed["output"]["channel"].clone();
        let (status, stopped) = action(&c.api, &id, "stop_channel", fresh.clone()).await;
        assert_eq!(status, 200, "{stopped}");
        assert_eq!(stopped["output"]["stopped"], true);
        assert!(providers.world.lock().unwrap().google.channels.is_empty());
        let (status, again) = action(&c.api, &id, "stop_channel", fresh).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["output"]["stopped"], false);
    });
}

#[test]
fn the_study_plan_example_keeps_one_event_per_module() {
    tokio().block_on(async {
        let providers = Providers::start();
        let c = google(&providers, json!({})).await;
        for (key, title, due) in [("m1", "Ownership", "2026-12-01"), ("m2", "Borrowing", "2026-12-08"), ("m3", "Lifetimes", "2026-12-15")] {
            let (status, body) = c.api.put(&format!("/api/store/modules/{key}"), json!({"title": title, "path": "Rust 101", "due": due})).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, created) = c.api.send_typed("POST", "/api/scenarios", "application/yaml", &example("study-plan-calendar.yaml")).await;
        assert_eq!(status, 201, "{created}");
        let sid = created["id"].as_str().unwrap().to_string();
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let event = |key: &str| providers.world.lock().unwrap().google.event(&id_for(&format!("module-{key}"))).cloned().expect("the module's event");
        assert_eq!(providers.world.lock().unwrap().google.live().len(), 3);
        let first = event("m1");
        assert_eq!(first["summary"], "Ownership");
        assert_eq!(first["start"], json!({"date": "2026-12-01"}));
        assert_eq!(first["reminders"], json!({"useDefault": false, "overrides": [{"method": "email", "minutes": 1440}, {"method": "popup", "minutes": 60}]}));
        let module = c.api.get("/api/store/modules/m1").await.1;
        assert_eq!(module["data"]["calendar_due"], "2026-12-01", "{module}");

        // Nothing changed: nothing is sent.
        let writes = |p: &Providers| p.received("www.googleapis.com").iter().filter(|r| r.method != "GET").count();
        let before = writes(&providers);
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(writes(&providers), before, "an unchanged module is not sent again");

        // m2's due date moves; m3 is dropped.
        c.api.put("/api/store/modules/m2", json!({"title": "Borrowing", "path": "Rust 101", "due": "2026-12-10", "calendar_due": "2026-12-08"})).await;
        c.api.put("/api/store/modules/m3", json!({"title": "Lifetimes", "path": "Rust 101", "due": "2026-12-15", "dropped": true, "calendar_due": "2026-12-15"})).await;
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(event("m2")["start"], json!({"date": "2026-12-10"}));
        assert_eq!(event("m3")["status"], "cancelled");
        let world = providers.world.lock().unwrap();
        assert_eq!(world.google.live().len(), 2, "no duplicate, the dropped one cancelled");
        drop(world);
        let m3 = c.api.get("/api/store/modules/m3").await.1;
        assert!(m3["data"]["calendar_due"].is_null(), "{m3}");
    });
}

#[test]
fn the_channel_renewal_example_opens_a_channel_and_renews_it_before_it_expires() {
    tokio().block_on(async {
        let providers = Providers::start();
        let c = google(&providers, json!({})).await;
        let (status, body) = c
            .api
            .patch(
                &format!("/api/connections/{}", c.id()),
                json!({"fields": {"channel_secret": "another-long-random-secret-77"}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let address = "https://heph.example.test/hooks/scn_push/token";
        let yaml = example("calendar-channel-renewal.yaml")
            .replace("https://heph.example.org/hooks/SCENARIO/TOKEN", address);
        let (status, created) = c
            .api
            .send_typed("POST", "/api/scenarios", "application/yaml", &yaml)
            .await;
        assert_eq!(status, 201, "{created}");
        let sid = created["id"].as_str().unwrap().to_string();
        let channels = |p: &Providers| p.world.lock().unwrap().google.channels.clone();

        // The first run opens the channel and keeps it.
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let opened = channels(&providers);
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0]["address"], address);
        let kept = c.api.get("/api/store/calendar_channels/primary").await.1;
        assert_eq!(kept["data"]["id"], opened[0]["id"], "{kept}");

        // A week from expiry: nothing to do.
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(channels(&providers), opened);

        // An hour from expiry: a new channel, the old one stopped, the new one kept.
        let mut soon = kept["data"].clone();
        soon["expiration"] = json!(chrono::Utc::now().timestamp_millis() + 3_600_000);
        c.api
            .put("/api/store/calendar_channels/primary", soon)
            .await;
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let now = channels(&providers);
        assert_eq!(now.len(), 1, "{now:?}");
        assert_ne!(now[0]["id"], opened[0]["id"]);
        let kept = c.api.get("/api/store/calendar_channels/primary").await.1;
        assert_eq!(kept["data"]["id"], now[0]["id"], "{kept}");
    });
}
