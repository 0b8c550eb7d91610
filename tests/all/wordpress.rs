//! The WordPress connector against a real WordPress (Debian's package; see
//! tests/wordpress/start.sh): everything it polls is compared, field by field, with what
//! WordPress's own REST API returns.

use std::collections::{BTreeMap, BTreeSet};

use heph::runtime::{CallError, ConnectionContext, Connector, Item, Limits};
use heph_tests::wordpress::wordpress;
use heph_tests::{runtime, tokio, wordpress_connector};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// These tests change the site; they take turns (with the engine's).
fn lock() -> std::sync::MutexGuard<'static, ()> {
    heph_tests::wordpress::site_lock()
}

/// Polls until the trigger has nothing more ready; returns the items and the last cursor.
async fn poll_all(
    connector: &Connector,
    conn: &ConnectionContext,
    trigger: &str,
    mut cursor: Option<String>,
) -> (Vec<Item>, Option<String>) {
    let mut items = Vec::new();
    loop {
        let outcome = connector
            .poll(conn, trigger, &json!({}), cursor.as_deref())
            .await;
        let page = outcome
            .result
            .unwrap_or_else(|e| panic!("poll {trigger}: {e}\n{:?}", outcome.log.requests));
        items.extend(page.items);
        cursor = page.cursor.or(cursor);
        if !page.has_more {
            return (items, cursor);
        }
    }
}

fn by_id(items: &[Item]) -> BTreeMap<u64, Value> {
    let map: BTreeMap<u64, Value> = items
        .iter()
        .map(|i| (i.id.parse().expect("numeric id"), i.data.clone()))
        .collect();
    assert_eq!(map.len(), items.len(), "an item came twice");
    map
}

fn rest_by_id(list: Vec<Value>) -> BTreeMap<u64, Value> {
    list.into_iter()
        .map(|v| (v["id"].as_u64().expect("id"), v))
        .collect()
}

#[test]
fn the_connection_test_says_who_the_credentials_belong_to() {
    let wp = wordpress();
    tokio().block_on(async {
        let rt = runtime(Limits::default());
        let connector = wordpress_connector(&rt);
        for plain in [false, true] {
            let me = connector
                .test_connection(&wp.connection(&connector, plain))
                .await
                .result
                .expect("test connection");
            assert_eq!(me["username"], "admin", "plain={plain}");
            assert_eq!(me["email"], "admin@example.org");
            assert_eq!(me["roles"], json!(["administrator"]));
        }
    });
}

#[test]
fn a_wrong_password_is_unauthorized_not_an_empty_list() {
    let wp = wordpress();
    tokio().block_on(async {
        let rt = runtime(Limits::default());
        let connector = wordpress_connector(&rt);
        for plain in [false, true] {
            let values = wp.values(plain, "wrong wrong wrong wrong");
            let conn = ConnectionContext::from_values(connector.manifest(), &values, true).unwrap();
            let test = connector.test_connection(&conn).await.result;
            assert!(
                matches!(test, Err(CallError::Unauthorized(_))),
                "test, plain={plain}: {test:?}"
            );
            for trigger in ["posts", "users"] {
                let poll = connector
                    .poll(&conn, trigger, &json!({}), None)
                    .await
                    .result;
                assert!(
                    matches!(poll, Err(CallError::Unauthorized(_))),
                    "{trigger}, plain={plain}: {poll:?}"
                );
            }
            let list = connector
                .run_action(&conn, "list_users", &json!({}))
                .await
                .result;
            assert!(
                matches!(list, Err(CallError::Unauthorized(_))),
                "list_users: {list:?}"
            );
        }
    });
}

#[test]
fn a_full_poll_of_posts_matches_the_rest_api_field_by_field() {
    let wp = wordpress();
    let _site = lock();
    tokio().block_on(async {
        let rt = runtime(Limits::default());
        let connector = wordpress_connector(&rt);
        let expected = rest_by_id(
            wp.all("/wp/v2/posts?context=edit&status=any&orderby=id&order=asc")
                .await,
        );
        assert!(
            expected.len() > 300,
            "the fixture has more than three pages of posts"
        );
        let statuses: BTreeSet<&str> = expected
            .values()
            .filter_map(|p| p["status"].as_str())
            .collect();
        assert_eq!(
            statuses,
            BTreeSet::from(["draft", "future", "pending", "private", "publish"])
        );
        for plain in [false, true] {
            let (items, cursor) =
                poll_all(&connector, &wp.connection(&connector, plain), "posts", None).await;
            let got = by_id(&items);
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>(),
                "plain={plain}"
            );
            for (id, post) in &expected {
                assert_eq!(&got[id], post, "post {id}, plain={plain}");
            }
            assert!(cursor.is_some());
        }
    });
}

#[test]
fn a_full_poll_of_users_matches_the_rest_api_field_by_field() {
    let wp = wordpress();
    tokio().block_on(async {
        let rt = runtime(Limits::default());
        let connector = wordpress_connector(&rt);
        let expected = rest_by_id(
            wp.all("/wp/v2/users?context=edit&orderby=id&order=asc")
                .await,
        );
        assert!(
            expected.len() > 300,
            "the fixture has more than three pages of users"
        );
        for plain in [false, true] {
            let conn = wp.connection(&connector, plain);
            let (items, cursor) = poll_all(&connector, &conn, "users", None).await;
            let got = by_id(&items);
            assert_eq!(got, expected, "plain={plain}");
            assert!(got
                .values()
                .any(|u| u["name"].as_str().is_some_and(|n| n.contains("O'Brien"))));
            // Nothing new: the next poll is empty.
            let (again, _) = poll_all(&connector, &conn, "users", cursor).await;
            assert!(again.is_empty(), "{again:?}");
        }
    });
}

#[test]
fn an_incremental_poll_returns_exactly_the_changed_posts() {
    let wp = wordpress();
    let _site = lock();
    tokio().block_on(async {
        let rt = runtime(Limits::default());
        let connector = wordpress_connector(&rt);
        let conn = wp.connection(&connector, false);
        let (all, cursor) = poll_all(&connector, &conn, "posts", None).await;
        // The site outlives a test run: every edit carries this run's token so it really changes
        // the post.
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let (nothing, cursor) = poll_all(&connector, &conn, "posts", cursor).await;
        assert!(
            nothing.is_empty(),
            "scheduled posts and posts sharing a timestamp are not repeated: {:?}",
            nothing.iter().map(|i| &i.id).collect::<Vec<_>>()
        );

        // Change three existing posts (a draft, a published and a private one), in quick
        // succession so that they share a second.
        let pick = |status: &str| {
            all.iter()
                .find(|i| i.data["status"] == status)
                .map(|i| i.id.clone())
                .expect(status)
        };
        let changed = [pick("draft"), pick("publish"), pick("private")];
        for (n, id) in changed.iter().enumerate() {
            let title = format!("Changed {n} — l'été ☕ {run}");
            let updated = connector
                .run_action(&conn, "update_post", &json!({"id": id, "title": title}))
                .await
                .result
                .expect("update_post");
            assert_eq!(updated["title"]["raw"], title.as_str());
        }
        // A new draft, a back-dated post and a scheduled one.
        let new = connector
            .run_action(
                &conn,
                "create_post",
                &json!({"title": "Brand new – Zoë's", "status": "draft"}),
            )
            .await
            .result
            .expect("create_post");
        let back = connector
            .run_action(
                &conn,
                "create_post",
                &json!({"title": "Back-dated", "status": "publish", "date": "2019-05-04T03:02:01"}),
            )
            .await
            .result
            .expect("back-dated");
        let future = connector
            .run_action(
                &conn,
                "create_post",
                &json!({"title": "Scheduled", "status": "future", "date": "2099-01-01T00:00:00"}),
            )
            .await
            .result
            .expect("scheduled");
        assert!(
            back["modified_gmt"].as_str().unwrap_or("") < "2020",
            "WordPress back-dates modified_gmt: {}",
            back["modified_gmt"]
        );

        let (items, cursor) = poll_all(&connector, &conn, "posts", cursor).await;
        let got: BTreeSet<String> = items.iter().map(|i| i.id.clone()).collect();
        let mut expected: BTreeSet<String> = changed.iter().cloned().collect();
        for created in [&new, &back, &future] {
            expected.insert(created["id"].to_string());
        }
        assert_eq!(got, expected);
        assert_eq!(items.len(), expected.len(), "each once");
        let changed_item = items.iter().find(|i| i.id == changed[0]).unwrap();
        assert_eq!(
            changed_item.data["title"]["raw"],
            format!("Changed 0 — l'été ☕ {run}").as_str()
        );

        // Nothing more; then one more change is seen alone, even within the same second as the
        // last one (WordPress's modification times have whole seconds: the fingerprint of the
        // content tells the versions apart).
        let (nothing, cursor) = poll_all(&connector, &conn, "posts", cursor).await;
        assert!(
            nothing.is_empty(),
            "{:?}",
            nothing.iter().map(|i| &i.id).collect::<Vec<_>>()
        );
        connector
            .run_action(
                &conn,
                "update_post",
                &json!({"id": changed[1], "content": format!("Edited again {run}")}),
            )
            .await
            .result
            .expect("update");
        let (items, _) = poll_all(&connector, &conn, "posts", cursor).await;
        assert_eq!(
            items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
            vec![changed[1].clone()]
        );

        for created in [&new, &back, &future] {
            connector
                .run_action(
                    &conn,
                    "delete_post",
                    &json!({"id": created["id"], "force": true}),
                )
                .await
                .result
                .expect("delete");
        }
    });
}

#[test]
fn actions_create_update_get_and_list() {
    let wp = wordpress();
    let _site = lock();
    tokio().block_on(async {
        let rt = runtime(Limits::default());
        let connector = wordpress_connector(&rt);
        for plain in [false, true] {
            let conn = wp.connection(&connector, plain);
            let title = "L'été à Zürich — ☕ “quoted” & <b>bold</b>";
            let created = connector.run_action(&conn, "create_post", &json!({"title": title, "content": "<p>Hello</p>", "status": "pending"})).await.result.expect("create");
            let id = created["id"].as_u64().expect("id");
            let (status, _, rest) = wp.rest("GET", &format!("/wp/v2/posts/{id}?context=edit"), None).await;
            assert_eq!(status, 200);
            assert_eq!(rest["title"]["raw"], title);
            assert_eq!(rest["status"], "pending");

            let updated = connector.run_action(&conn, "update_post", &json!({"id": id, "status": "private", "excerpt": "Now private"})).await.result.expect("update");
            assert_eq!(updated["status"], "private");
            let got = connector.run_action(&conn, "get_post", &json!({"id": id})).await.result.expect("get");
            let (_, _, rest) = wp.rest("GET", &format!("/wp/v2/posts/{id}?context=edit"), None).await;
            assert_eq!(got, rest);

            let user = connector.run_action(&conn, "get_user", &json!({"id": 1})).await.result.expect("get_user");
            assert_eq!(user["username"], "admin");
            let list = connector.run_action(&conn, "list_users", &json!({"per_page": 5, "page": 2})).await.result.expect("list");
            assert_eq!(list["users"].as_array().map(Vec::len), Some(5));
            assert_eq!(list["users"][0]["id"], 6);
            assert!(list["total"].as_u64().unwrap_or(0) > 300);

            let missing = connector.run_action(&conn, "get_post", &json!({"id": 99_999_999})).await.result;
            assert!(matches!(&missing, Err(CallError::NotFound(m)) if m.contains("rest_post_invalid_id")), "{missing:?}");
            let bad = connector.run_action(&conn, "get_post", &json!({"id": "abc"})).await.result;
            assert!(matches!(bad, Err(CallError::InvalidInput(_))), "{bad:?}");
            let too_many = connector.run_action(&conn, "list_users", &json!({"per_page": 500})).await.result;
            assert!(matches!(too_many, Err(CallError::InvalidInput(_))), "{too_many:?}");
            let unknown = connector.run_action(&conn, "explode", &json!({})).await.result;
            assert!(matches!(&unknown, Err(CallError::InvalidInput(m)) if m.contains("unknown action")), "{unknown:?}");

            let deleted = connector.run_action(&conn, "delete_post", &json!({"id": id, "force": true})).await.result.expect("delete");
            assert_eq!(deleted["deleted"], true);
        }
    });
}

#[test]
fn webhook_deliveries_are_checked_against_the_signing_secret() {
    let wp = wordpress();
    tokio().block_on(async {
        let rt = runtime(Limits::default());
        let connector = wordpress_connector(&rt);
        let mut values = wp.values(false, &wp.application_password);
        values.insert("webhook_secret".into(), json!("hook-secret-123"));
        let conn = ConnectionContext::from_values(connector.manifest(), &values, true).unwrap();
        let body = json!({"event": "post.saved", "id": 42, "object": {"id": 42, "title": {"raw": "Pushed"}}}).to_string();
        let sign = |key: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
            mac.update(body.as_bytes());
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        };
        let deliver = |signature: Option<String>, trigger: &'static str| {
            let headers: Vec<(String, String)> = signature.into_iter().map(|s| ("X-Heph-Signature".to_string(), s)).collect();
            let connector = connector.clone();
            let conn = conn.clone();
            let body = body.clone().into_bytes();
            async move { connector.webhook(&conn, trigger, headers, body).await.result }
        };
        let items = deliver(Some(sign("hook-secret-123")), "post_event").await.expect("signed delivery");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id, "42");
        assert_eq!(items[0].data["object"]["title"]["raw"], "Pushed");
        assert!(deliver(Some(sign("hook-secret-123")), "user_event").await.expect("other trigger").is_empty());
        for bad in [Some(sign("wrong")), None, Some("sha256=zz".to_string())] {
            let result = deliver(bad.clone(), "post_event").await;
            assert!(matches!(result, Err(CallError::Unauthorized(_))), "{bad:?}: {result:?}");
        }
    });
}
