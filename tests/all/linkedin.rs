//! The LinkedIn connector as it ships, against the LinkedIn fake (HTTPS under api.linkedin.com
//! and www.linkedin.com), connected through LinkedIn's OAuth flow (client credentials in the
//! body, no PKCE) against the real authorization server: who am I, text, image and article
//! posts, deletion, the add-to-profile URL, a retired API version, and the badges example.

use heph_tests::providers::linkedin::{BADGE_PNG, MEMBER};
use heph_tests::providers::{oauth, Providers};
use heph_tests::tokio;
use serde_json::json;

use crate::connectors::{action, connect, param, token_request, Connected};
use crate::engine::{collection, example, run_now};

const PORTAL: &str = "https://portal.example.test";

async fn linkedin(providers: &Providers) -> Connected {
    connect(
        providers,
        &oauth::LINKEDIN,
        "linkedin",
        "linkedin",
        json!({"media_source": PORTAL}),
    )
    .await
}

#[test]
fn linkedin_connects_and_shares_text_images_and_articles() {
    tokio().block_on(async {
        let providers = Providers::start();
        let c = linkedin(&providers).await;
        let id = c.id();
        assert_eq!(param(&c.authorize_url, "scope").as_deref(), Some("openid profile email w_member_social"));
        let (_, form) = token_request(&providers, &oauth::LINKEDIN);
        let field = |k: &str| form.get(k).map(String::as_str);
        assert_eq!(field("client_id"), Some("linkedin"));
        assert_eq!(field("client_secret"), Some("linkedin-secret"));
        assert_eq!(field("code_verifier"), None, "LinkedIn's web flow takes no PKCE");
        assert_eq!(c.connection["account"]["urn"], format!("urn:li:person:{MEMBER}"), "{}", c.connection);

        // Reserved characters of LinkedIn's text format are escaped, so nothing is cut.
        let text = "Finished Rust 101 (advanced) #rust | 100% @home [notes] <3 *yay* ~ok_";
        let (status, post) = action(&c.api, &id, "share_text", json!({"text": text})).await;
        assert_eq!(status, 200, "{post}");
        let urn = post["output"]["post_urn"].as_str().unwrap().to_string();
        assert!(urn.starts_with("urn:li:share:"), "{post}");
        assert_eq!(providers.world.lock().unwrap().linkedin.post(&urn).unwrap()["commentary"], text);

        // An image from the portal: fetched without LinkedIn's token, uploaded with it.
        let (status, image_post) = action(&c.api, &id, "share_image", json!({"text": "New badge", "image_url": format!("{PORTAL}/badges/rust-101.png"), "alt_text": "Rust 101"})).await;
        assert_eq!(status, 200, "{image_post}");
        let portal = providers.received("portal.example.test");
        assert_eq!(portal.len(), 1);
        assert!(portal[0].header("authorization").is_none(), "the token never leaves LinkedIn's hosts");
        let upload = providers.received("www.linkedin.com").into_iter().find(|r| r.method == "PUT").expect("the upload");
        assert!(upload.header("authorization").is_some_and(|a| a.starts_with("Bearer ")));
        assert_eq!(upload.header("content-type"), Some("image/png"));
        {
            let world = providers.world.lock().unwrap();
            let image = image_post["output"]["image_urn"].as_str().unwrap();
            assert_eq!(world.linkedin.images.iter().find(|(u, _)| u == image).unwrap().1.as_deref(), Some(BADGE_PNG));
            let stored = world.linkedin.post(image_post["output"]["post_urn"].as_str().unwrap()).unwrap();
            assert_eq!(stored["content"]["media"]["id"], image);
            assert_eq!(stored["content"]["media"]["altText"], "Rust 101");
        }
        // Images only from the configured site.
        let (status, body) = action(&c.api, &id, "share_image", json!({"text": "x", "image_url": "https://elsewhere.example.test/x.png"})).await;
        assert_ne!(status, 200, "{body}");
        assert!(body.to_string().contains("elsewhere.example.test"), "{body}");

        let (status, article) = action(&c.api, &id, "share_article", json!({"text": "Read this", "url": "https://portal.example.test/articles/ownership", "title": "Ownership, explained"})).await;
        assert_eq!(status, 200, "{article}");
        let (status, body) = action(&c.api, &id, "share_article", json!({"url": "https://portal.example.test/a"})).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["details"]["connector_code"], "invalid_input", "a missing title: {body}");

        // Every REST call carried the version and the Rest.li protocol version.
        for r in providers.received("api.linkedin.com").iter().filter(|r| r.uri.starts_with("/rest/")) {
            assert_eq!(r.header("linkedin-version"), Some("202609"), "{r:?}");
            assert_eq!(r.header("x-restli-protocol-version"), Some("2.0.0"), "{r:?}");
        }

        // Deleting, twice.
        let (status, deleted) = action(&c.api, &id, "delete_post", json!({"post_urn": urn})).await;
        assert_eq!(status, 200, "{deleted}");
        assert_eq!(deleted["output"]["deleted"], true);
        let (status, again) = action(&c.api, &id, "delete_post", json!({"post_urn": urn})).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["output"]["deleted"], false);

        // A retired version: 426, explained, not retried.
        let (status, body) = c.api.patch(&format!("/api/connections/{id}"), json!({"fields": {"linkedin_version": "202401"}})).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = action(&c.api, &id, "share_text", json!({"text": "hello"})).await;
        assert_eq!(status, 502, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("linkedin_version"), "{body}");
        assert_eq!(providers.received("api.linkedin.com").iter().filter(|r| r.header("linkedin-version") == Some("202401")).count(), 1);
    });
}

#[test]
fn the_badges_example_posts_each_badge_once_and_stores_its_profile_link() {
    tokio().block_on(async {
        let providers = Providers::start();
        let c = linkedin(&providers).await;
        let badge = json!({"name": "Rust 101", "course": "Rust for beginners", "issuer": "Heph Academy",
            "earned_at": "2026-11-20T09:30:00Z", "image_url": format!("{PORTAL}/badges/rust-101.png"),
            "url": "https://portal.example.test/badges/b-42"});
        let (status, body) = c.api.put("/api/store/badges/b-42", badge).await;
        assert_eq!(status, 200, "{body}");
        let (status, created) = c.api.send_typed("POST", "/api/scenarios", "application/yaml", &example("badges-to-linkedin.yaml")).await;
        assert_eq!(status, 201, "{created}");
        let sid = created["id"].as_str().unwrap().to_string();
        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");

        let posts = providers.world.lock().unwrap().linkedin.posts.clone();
        assert_eq!(posts.len(), 1, "{posts:?}");
        assert_eq!(posts[0]["commentary"], "I earned the Rust 101 badge (Rust for beginners) from Heph Academy! https://portal.example.test/badges/b-42");
        assert!(posts[0]["content"]["media"]["id"].as_str().unwrap().starts_with("urn:li:image:"));
        let stored = collection(&c.api, "badges").await;
        let data = &stored[0]["data"];
        assert_eq!(data["linkedin_post_urn"], posts[0]["id"], "{data}");
        let link = data["add_to_profile_url"].as_str().expect("the profile link");
        assert!(link.starts_with("https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME"), "{link}");
        assert_eq!(param(link, "name").as_deref(), Some("Rust 101"));
        assert_eq!(param(link, "organizationName").as_deref(), Some("Heph Academy"));
        assert_eq!(param(link, "issueYear").as_deref(), Some("2026"));
        assert_eq!(param(link, "issueMonth").as_deref(), Some("11"));
        assert_eq!(param(link, "certId").as_deref(), Some("b-42"));

        let run = run_now(&c.api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(providers.world.lock().unwrap().linkedin.posts.len(), 1, "a badge is posted once");
    });
}
