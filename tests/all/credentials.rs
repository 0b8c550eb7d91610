//! Each auth kind of the manifest, injected the right way by the runtime: Basic, Bearer, an
//! API key in a header (with a prefix) or in the query, and nothing at all; the connector
//! never sees the secret, and the call log never shows it.

use heph::manifest::Manifest;
use heph::runtime::{ConnectionContext, Limits};
use heph_tests::upstream::{text, Upstream};
use heph_tests::{runtime, tokio, GUESTS};
use serde_json::json;

/// The `escape_other_host` guest (it fetches the URL it is given) under another auth section.
fn manifest(auth: &str) -> Manifest {
    Manifest::parse(&format!(
        "id='probe'\nname='probe'\nversion='1'\npublisher='t'\ncontract='0.1.0'\n{auth}\n\
         [[connection.fields]]\nname='site_url'\n[[connection.fields]]\nname='user'\n\
         [[connection.fields]]\nname='key'\nsecret=true\n[capabilities]\nhosts=['{{site_url}}']\n"
    ))
    .expect("manifest")
}

#[test]
fn every_auth_kind_is_injected_as_its_kind_says() {
    tokio().block_on(async {
        let up = Upstream::start(|_| text(200, "ok")).await;
        let rt = runtime(Limits::default());
        let (_, _, wasm) = GUESTS
            .iter()
            .find(|(n, ..)| *n == "escape_other_host")
            .unwrap();
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "ann:the-key-123"
            )
        );
        // (auth section, the header expected, the query parameter expected)
        type Case<'a> = (&'a str, Option<(&'a str, String)>, Option<&'a str>);
        let cases: [Case; 5] = [
            ("[auth]\nkind='none'", None, None),
            (
                "[auth]\nkind='basic'\nusername='{user}'\npassword='{key}'",
                Some(("authorization", basic)),
                None,
            ),
            (
                "[auth]\nkind='bearer'\ntoken='{key}'",
                Some(("authorization", "Bearer the-key-123".into())),
                None,
            ),
            (
                "[auth]\nkind='api_key'\nheader='X-Api-Key'\nprefix='Token '\nvalue='{key}'",
                Some(("x-api-key", "Token the-key-123".into())),
                None,
            ),
            (
                "[auth]\nkind='api_key'\nquery='api_key'\nvalue='{key}'",
                None,
                Some("api_key=the-key-123"),
            ),
        ];
        for (i, (auth, header, query)) in cases.iter().enumerate() {
            let m = manifest(auth);
            let connector = rt.load(m.clone(), wasm).expect("load").0;
            let values = json!({"site_url": up.url(), "user": "ann", "key": "the-key-123"});
            let ctx =
                ConnectionContext::from_values(&m, values.as_object().unwrap(), true).unwrap();
            let url = format!("{}/case/{i}?page=2", up.url());
            let outcome = connector
                .run_action(&ctx, "attack", &json!({"url": url}))
                .await;
            let result = outcome.result.expect("the call works");
            assert_eq!(result["status"], 200, "{auth}");
            let got = up.received().pop().expect("a request");
            assert_eq!(
                got.header("authorization").is_some(),
                header.as_ref().is_some_and(|(n, _)| *n == "authorization"),
                "{auth}"
            );
            if let Some((name, value)) = header {
                assert_eq!(got.header(name), Some(value.as_str()), "{auth}");
            }
            match query {
                Some(q) => assert_eq!(got.uri, format!("/case/{i}?page=2&{q}"), "{auth}"),
                None => assert_eq!(got.uri, format!("/case/{i}?page=2"), "{auth}"),
            }
            // The call log shows the URL the connector asked for, without the key.
            let log = serde_json::to_string(&outcome.log).unwrap();
            assert!(!log.contains("the-key-123"), "{auth}: {log}");
        }
    });
}
