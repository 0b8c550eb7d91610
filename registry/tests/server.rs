//! The registry server on loopback: publish, list, download, yank, and every refusal leaving
//! nothing behind.

use std::path::Path;

use heph_registry::client::ClientError;
use heph_registry::server::{Registry, RegistryConfig};
use heph_registry::{Contents, Package, RegistryClient, SecretKey};
use serde_json::json;

async fn start(dir: &Path, max: usize) -> RegistryClient {
    let mut config = RegistryConfig::new(dir.to_path_buf());
    config.max_package_bytes = max;
    let registry = Registry::open(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(heph_registry::server::serve(registry, listener));
    RegistryClient::new(&format!("http://{addr}"))
}

fn contents(publisher: &str, version: &str, hosts: &[&str]) -> Contents {
    Contents {
        manifest: format!(
            "id = \"acme-notes\"\nname = \"Acme Notes\"\nversion = \"{version}\"\npublisher = \"{publisher}\"\n\
             contract = \"0.1.0\"\ndescription = \"Notes at Acme\"\n[auth]\nkind = \"bearer\"\ntoken = \"{{token}}\"\n\
             [capabilities]\nhosts = {hosts:?}\n"
        ),
        component: vec![0u8; 2000],
        describe: json!({"actions": [{"name": "create_note"}], "triggers": [{"name": "new_note"}]}),
        readme: "# Acme Notes\n".into(),
    }
}

fn blob_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blobs/sha256"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

fn refused(result: Result<serde_json::Value, ClientError>) -> (u16, String, String) {
    match result {
        Err(ClientError::Refused {
            status,
            code,
            message,
        }) => (status, code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn publish_list_download_and_yank() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start(dir.path(), 1 << 20).await;
    let key = SecretKey::generate().unwrap();
    let token = registry
        .register("acme", &key.public().to_string())
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    for version in ["1.0.0", "1.2.0", "1.10.0"] {
        let package = contents("acme", version, &["https://api.acme.test"]).sign("acme", &key);
        let answer = registry.publish(&token, package).await.unwrap();
        assert_eq!(answer["version"], version);
    }
    let listing = registry.search("notes at").await.unwrap();
    let found = &listing["connectors"][0];
    assert_eq!(found["name"], "acme-notes");
    assert_eq!(found["publisher"], "acme");
    assert_eq!(found["latest"], "1.10.0", "semver order, not text order");
    assert_eq!(found["capabilities"]["auth"], "bearer");
    assert_eq!(
        found["capabilities"]["hosts"],
        json!(["https://api.acme.test"])
    );
    assert_eq!(found["actions"], json!(["create_note"]));
    let versions: Vec<_> = found["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].clone())
        .collect();
    assert_eq!(versions, [json!("1.10.0"), json!("1.2.0"), json!("1.0.0")]);
    assert_eq!(
        registry.search("nothing like it").await.unwrap()["connectors"],
        json!([])
    );

    let download = registry.download("acme-notes", "1.2.0").await.unwrap();
    let package = Package::read(&download.bytes).unwrap();
    package.expect_digest(&download.digest).unwrap();
    package.verify(&key.public()).unwrap();
    assert!(package.contents.manifest.contains("1.2.0"));

    registry
        .yank(&token, "acme-notes", "1.10.0", true)
        .await
        .unwrap();
    assert_eq!(
        registry.version("acme-notes", "latest").await.unwrap()["version"],
        "1.2.0"
    );
    // A yanked version can still be fetched by its exact number (installs pinned to it).
    assert!(registry.download("acme-notes", "1.10.0").await.is_ok());
    let (status, _, _) = refused(
        registry
            .yank("wrong-token", "acme-notes", "1.2.0", true)
            .await,
    );
    assert_eq!(status, 401);
    let publisher = registry.publisher("acme").await.unwrap();
    assert_eq!(publisher["public_key"], key.public().to_string());
}

#[tokio::test]
async fn bad_uploads_get_a_clear_4xx_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start(dir.path(), 64 << 10).await;
    let key = SecretKey::generate().unwrap();
    let token = registry
        .register("acme", &key.public().to_string())
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let good = contents("acme", "1.0.0", &[]).sign("acme", &key);

    // Truncated.
    let (status, code, message) = refused(
        registry
            .publish(&token, good[..good.len() - 700].to_vec())
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "invalid_package"),
        "{message}"
    );
    assert!(
        message.contains("truncated") || message.contains("canonical"),
        "{message}"
    );

    // Signed by a key that is not the publisher's.
    let stranger = SecretKey::generate().unwrap();
    let (status, code, message) = refused(
        registry
            .publish(
                &token,
                contents("acme", "1.0.0", &[]).sign("acme", &stranger),
            )
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "bad_signature"), "{message}");

    // A valid signature moved onto other contents.
    let moved = Package::read(&good).unwrap();
    let mut other = contents("acme", "1.0.0", &["https://evil.test"]);
    other.readme = "changed".into();
    let signature_json = serde_json::to_vec_pretty(&moved.signature).unwrap();
    let tampered = other.sign("acme", &stranger);
    // Replace the signature entry of the other package with the good one's.
    let mut archive = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(&tampered[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if name == "signature.json" {
            data = signature_json.clone();
        }
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, name, &data[..]).unwrap();
    }
    let (status, code, message) = refused(
        registry
            .publish(&token, archive.into_inner().unwrap())
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "bad_signature"), "{message}");

    // Too large.
    let mut huge = contents("acme", "1.0.0", &[]);
    huge.component = vec![7u8; 200 << 10];
    let (status, code, message) = refused(registry.publish(&token, huge.sign("acme", &key)).await);
    assert_eq!(
        (status, code.as_str()),
        (413, "package_too_large"),
        "{message}"
    );

    // Another publisher's name in the manifest.
    let (status, _, message) = refused(
        registry
            .publish(&token, contents("other", "1.0.0", &[]).sign("acme", &key))
            .await,
    );
    assert_eq!(status, 403, "{message}");

    assert_eq!(blob_count(dir.path()), 0, "no refused upload left a blob");
    assert_eq!(registry.search("").await.unwrap()["connectors"], json!([]));

    // The good one goes in; the same version again is refused, and its blob stays.
    registry.publish(&token, good.clone()).await.unwrap();
    let mut changed = contents("acme", "1.0.0", &[]);
    changed.readme = "# a different 1.0.0\n".into();
    let (status, code, message) =
        refused(registry.publish(&token, changed.sign("acme", &key)).await);
    assert_eq!((status, code.as_str()), (409, "conflict"), "{message}");
    assert!(message.contains("already published"), "{message}");
    assert_eq!(
        blob_count(dir.path()),
        1,
        "only the published package's blob"
    );
    let download = registry.download("acme-notes", "1.0.0").await.unwrap();
    assert_eq!(download.bytes, good);

    // Someone else cannot take the name.
    let rival_key = SecretKey::generate().unwrap();
    let rival = registry
        .register("rival", &rival_key.public().to_string())
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, message) = refused(
        registry
            .publish(
                &rival,
                contents("rival", "2.0.0", &[]).sign("rival", &rival_key),
            )
            .await,
    );
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("belongs to the publisher `acme`"),
        "{message}"
    );
    let (status, _, _) = refused(
        registry
            .register("acme", &rival_key.public().to_string())
            .await,
    );
    assert_eq!(status, 409);
    let (status, _, _) = refused(registry.publish("hephpub_nope", good).await);
    assert_eq!(status, 401);
}
