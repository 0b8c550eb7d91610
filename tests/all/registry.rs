//! The registry end to end, with the real `heph` binary: a partner's connector goes from
//! `heph connector new` to a scenario on an admin's server through a registry on loopback;
//! every refusal leaves nothing installed; an upgrade under load keeps calls working and a
//! rollback restores the old version; two admins installing at once install once.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use heph_registry::{Contents, Package, SecretKey};
use heph_tests::heph_server::{Api, HephServer, ServerOptions};
use heph_tests::providers::json;
use heph_tests::upstream::{Received, Upstream};
use heph_tests::{heph_binary, output, tokio, GUESTS};
use serde_json::{json, Value};

use super::engine::run_now;

const TOKEN: &str = "acme-token-7f3c";
const NEW_HOST: &str = "https://api.acme.example";

/// The partner's project, built and packed once for every test here: versions 0.1.0, 0.1.1
/// (same capabilities) and 0.2.0 (one more host).
struct Partner {
    project: PathBuf,
    key_file: PathBuf,
    public_key: String,
    packages: [PathBuf; 3],
}

fn heph_in(dir: &Path, data: &Path, args: &[&str]) -> (i32, String, String) {
    output(
        Command::new(heph_binary())
            .current_dir(dir)
            .env("HEPH_DATA_DIR", data)
            .env_remove("HEPH_CONNECTOR_DIR")
            .args(args),
    )
}

fn ok(dir: &Path, data: &Path, args: &[&str]) -> String {
    let (code, out, err) = heph_in(dir, data, args);
    assert_eq!(code, 0, "heph {args:?}:\n{out}\n{err}");
    out
}

fn partner() -> &'static Partner {
    static PARTNER: OnceLock<Partner> = OnceLock::new();
    PARTNER.get_or_init(|| {
        let root = std::env::temp_dir().join(format!(
            "heph-partner-{}",
            hex::encode(heph::vault::random_bytes::<6>())
        ));
        std::fs::create_dir_all(&root).unwrap();
        let data = root.join("data");
        ok(
            &root,
            &data,
            &["connector", "new", "acme-items", "--publisher", "acme"],
        );
        let project = root.join("acme-items");
        for file in [
            "heph.toml",
            "src/lib.rs",
            "bench.json",
            "README.md",
            ".heph-sdk/sdk/Cargo.toml",
        ] {
            assert!(project.join(file).is_file(), "the template has {file}");
        }
        let key_file = root.join("acme.key");
        let public_key = ok(
            &root,
            &data,
            &["keygen", "--out", key_file.to_str().unwrap()],
        )
        .trim()
        .to_string();
        assert!(public_key.starts_with("ed25519:"), "{public_key}");
        let manifest = std::fs::read_to_string(project.join("heph.toml")).unwrap();
        let mut packages = Vec::new();
        for (version, extra_host) in [("0.1.0", false), ("0.1.1", false), ("0.2.0", true)] {
            let mut text =
                manifest.replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
            if extra_host {
                text = text.replace(
                    "hosts = [\"{base_url}\"]",
                    &format!("hosts = [\"{{base_url}}\", \"{NEW_HOST}\"]"),
                );
            }
            std::fs::write(project.join("heph.toml"), text).unwrap();
            ok(&project, &data, &["connector", "build"]);
            let packed = ok(
                &project,
                &data,
                &["connector", "pack", "--key", key_file.to_str().unwrap()],
            );
            let path = project.join(packed.trim());
            let keep = root.join(format!("acme-items-{version}.hephpkg"));
            std::fs::copy(&path, &keep).unwrap();
            packages.push(keep);
        }
        // The project is left at 0.1.0, as the partner's bench runs it.
        std::fs::write(project.join("heph.toml"), &manifest).unwrap();
        ok(&project, &data, &["connector", "build"]);
        Partner {
            project,
            key_file,
            public_key,
            packages: packages.try_into().unwrap(),
        }
    })
}

/// The API the template talks to: `GET /me`, `GET /items?after=`, `POST /items`, behind a
/// bearer token.
async fn items_api() -> (Upstream, Arc<Mutex<Vec<Value>>>) {
    let items = Arc::new(Mutex::new(vec![
        json!({"id": "1", "name": "Seeded one"}),
        json!({"id": "2", "name": "Seeded two"}),
    ]));
    let state = items.clone();
    let upstream = Upstream::start(move |r: &Received| {
        if r.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return json(401, &json!({"error": "bad token"}));
        }
        let mut items = state.lock().unwrap();
        match (r.method.as_str(), r.uri.split('?').next().unwrap_or("")) {
            ("GET", "/me") => json(200, &json!({"name": "Acme user"})),
            ("GET", "/items") => {
                let after: u64 = r
                    .uri
                    .split("after=")
                    .nth(1)
                    .and_then(|a| a.split('&').next())
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0);
                let newer: Vec<&Value> = items
                    .iter()
                    .filter(|i| i["id"].as_str().unwrap().parse::<u64>().unwrap() > after)
                    .collect();
                json(200, &json!({"items": newer, "has_more": false}))
            }
            ("POST", "/items") => {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                let Some(name) = body["name"].as_str() else {
                    return json(400, &json!({"error": "name is required"}));
                };
                let item = json!({"id": (items.len() + 1).to_string(), "name": name});
                items.push(item.clone());
                json(201, &item)
            }
            _ => json(404, &json!({"error": "no such endpoint"})),
        }
    })
    .await;
    (upstream, items)
}

/// `heph registry serve` on a free loopback port.
pub(crate) struct RegistryProcess {
    pub(crate) url: String,
    child: Child,
}

impl RegistryProcess {
    pub(crate) fn start(dir: &Path) -> RegistryProcess {
        RegistryProcess::start_with(dir, &[])
    }

    /// With more arguments (`--official-key KEY`).
    pub(crate) fn start_with(dir: &Path, args: &[&str]) -> RegistryProcess {
        let mut child = Command::new(heph_binary())
            .args(["registry", "serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("heph registry serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("the registry prints its address")
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        RegistryProcess { url, child }
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn upload(server: &HephServer, bytes: Vec<u8>, approve: bool) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/api/connectors/packages?approve={approve}",
            server.url
        ))
        .bearer_auth(&server.admin_token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or_default())
}

async fn trust(api: &Api, name: &str, key: &str) {
    let (status, body) = api
        .post("/api/publishers", json!({"name": name, "public_key": key}))
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn connect(api: &Api, base_url: &str) -> String {
    let (status, body) = api
        .patch(
            "/api/connectors/acme-items",
            json!({"allow_private_network": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, conn) = api
        .post(
            "/api/connections",
            json!({"consent": true, "connector": "acme-items", "name": "Acme", "fields": {"base_url": base_url, "api_token": TOKEN}}),
        )
        .await;
    assert_eq!(status, 201, "{conn}");
    conn["id"].as_str().unwrap().to_string()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_partner_connector_goes_from_new_to_a_scenario() {
    let partner = partner();
    tokio().block_on(async {
        let (upstream, items) = items_api().await;
        let seeded = std::mem::take(&mut *items.lock().unwrap());
        // The partner's bench: the connection test and bench.json's cases, against the API.
        let conn_file = partner.project.join("connection.json");
        std::fs::write(
            &conn_file,
            json!({"base_url": upstream.url(), "api_token": TOKEN, "allow_private_network": true}).to_string(),
        )
        .unwrap();
        let data = partner.project.join("../data");
        let (code, out, err) = heph_in(&partner.project, &data, &["connector", "test", "--connection", "connection.json"]);
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains("bench: 4 passed, 0 failed"), "{out}");
        *items.lock().unwrap() = seeded;

        // Publish to a registry on loopback.
        let registry = RegistryProcess::start(&partner.project.join("../registry"));
        let key = partner.key_file.to_str().unwrap();
        let token = ok(&partner.project, &data, &["registry", "register", "acme", "--key", key, "--registry", &registry.url]);
        // Names that would pass for heph's own are not anyone's to register.
        for reserved in ["heph", "heph-official", "official"] {
            let (code, out, err) = heph_in(&partner.project, &data, &["registry", "register", reserved, "--key", key, "--registry", &registry.url]);
            assert_ne!(code, 0, "{reserved}: {out}");
            assert!(err.contains("reserved"), "{reserved}: {err}");
        }
        let package = partner.packages[0].to_str().unwrap();
        ok(&partner.project, &data, &["connector", "publish", package, "--registry", &registry.url, "--token", token.trim()]);

        // The admin installs it: refused until the publisher is trusted, then held for
        // approval with what it may do, then active. The registry is on loopback: the
        // operator names it, so that the server may fetch from it.
        let server = HephServer::start(ServerOptions {
            env: vec![("HEPH_REGISTRY".into(), registry.url.clone())],
            ..Default::default()
        });
        let api = server.api(&server.admin_token);
        let install = json!({"name": "acme-items", "registry": registry.url});
        let (status, body) = api.post("/api/connectors/install", install.clone()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("untrusted_publisher")), "{body}");
        trust(&api, "acme", &partner.public_key).await;
        let (status, body) = api.post("/api/connectors/install", install).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "awaiting_approval", "{body}");
        assert_eq!(body["review"]["capabilities"]["hosts"], json!(["{base_url}"]), "{body}");
        assert_eq!(body["review"]["capabilities"]["auth"], "bearer", "{body}");
        assert_eq!(body["review"]["publisher"], "acme", "{body}");
        let (status, _) = api.get("/api/connectors/acme-items").await;
        assert_eq!(status, 404, "not active before approval");
        let (status, body) = api.post("/api/connectors/acme-items/approve", json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["review"]["key"], partner.public_key, "{body}");
        assert_eq!(body["review"]["version"], "0.1.0", "{body}");
        let (status, shown) = api.get("/api/connectors/acme-items").await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!((shown["version"].as_str(), shown["status"].as_str()), (Some("0.1.0"), Some("active")), "{shown}");

        // A scenario uses it: each new item gets a copy.
        connect(&api, &upstream.url()).await;
        let scenario = "name: Copy items\ntrigger:\n  type: poll\n  connector: acme-items\n  trigger: new_item\n  every: 1h\nnodes:\n  - id: copy\n    type: action\n    connector: acme-items\n    action: create_item\n    input:\n      name: \"Copy of {{ trigger.name }}\"\n";
        let (status, created) = api.send_typed("POST", "/api/scenarios", "application/yaml", scenario).await;
        assert_eq!(status, 201, "{created}");
        let sid = created["id"].as_str().unwrap().to_string();
        let run = run_now(&api, &sid, None).await;
        assert_eq!(run["status"], "succeeded", "{run}\n{}", server.log());
        assert_eq!(run["items_done"], 2, "{run}");
        let mut names: Vec<String> = items.lock().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect();
        names.sort(); // items run concurrently: the copies come in any order
        assert_eq!(names, ["Copy of Seeded one", "Copy of Seeded two", "Seeded one", "Seeded two"]);

        // Removing it refuses while the enabled scenario uses it, unless told to disable it.
        api.post(&format!("/api/scenarios/{sid}/enable"), json!({})).await;
        let (status, body) = api.delete("/api/connectors/acme-items").await;
        assert_eq!(status, 409, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("Copy items"), "{body}");
        let (status, body) = api.delete("/api/connectors/acme-items?disable_scenarios=true").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["disabled_scenarios"], json!([sid]), "{body}");
        let (_, scenario) = api.get(&format!("/api/scenarios/{sid}")).await;
        assert_eq!(scenario["enabled"], false, "{scenario}");
        let (status, _) = api.get("/api/connectors/acme-items").await;
        assert_eq!(status, 404);
    });
}

#[test]
fn packing_refuses_a_manifest_the_component_disagrees_with() {
    let partner = partner();
    // A copy of the built project, so that the other tests keep the partner's manifest.
    let copy = partner.project.with_file_name(format!(
        "disagree-{}",
        hex::encode(heph::vault::random_bytes::<4>())
    ));
    let wasm = "target/wasm32-wasip2/release/acme_items.wasm";
    std::fs::create_dir_all(copy.join("target/wasm32-wasip2/release")).unwrap();
    for file in ["Cargo.toml", "README.md", wasm] {
        std::fs::copy(partner.project.join(file), copy.join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(partner.project.join("heph.toml")).unwrap();
    let data = partner.project.join("../data");
    let key = partner.key_file.to_str().unwrap();
    for (from, to, says) in [
        ("version = \"0.1.0\"", "version = \"0.9.9\"", "the manifest says version `0.9.9`, but the component was built with version `0.1.0`"),
        ("id = \"acme-items\"", "id = \"acme-things\"", "the manifest says id `acme-things`, but the component was built with id `acme-items`"),
        ("contract = \"0.1.0\"", "contract = \"0.2.0\"", "contract `0.2.0` is not supported"),
        ("actions = [\"create_item\"]", "actions = [\"create_item\", \"delete_item\"]", "the manifest names the action `delete_item`, which the component does not describe"),
        ("triggers = [\"new_item\"]", "triggers = []", "the component describes the trigger `new_item`, which the manifest's `triggers` list does not name"),
    ] {
        assert!(manifest.contains(from), "{from}");
        std::fs::write(copy.join("heph.toml"), manifest.replace(from, to)).unwrap();
        let out = copy.join("refused.hephpkg");
        let (code, _, err) = heph_in(&copy, &data, &["connector", "pack", "--key", key, "--out", out.to_str().unwrap()]);
        assert_ne!(code, 0, "{to}: packed anyway");
        assert!(err.contains(says), "{to}: {err}");
        assert!(!out.exists(), "{to}: a package was written");
    }
    // The unchanged manifest packs: the refusals above were the disagreements.
    std::fs::write(copy.join("heph.toml"), &manifest).unwrap();
    ok(
        &copy,
        &data,
        &[
            "connector",
            "pack",
            "--key",
            key,
            "--out",
            copy.join("ok.hephpkg").to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_dir_all(&copy);
}

/// `signature.json` as it stands in a package's archive.
fn signature_entry(bytes: &[u8]) -> Vec<u8> {
    let signature = Package::read(bytes).unwrap().signature;
    serde_json::to_vec_pretty(&signature).unwrap()
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    assert_eq!(needle.len(), with.len());
    let at = haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in the archive");
    let mut out = haystack.to_vec();
    out[at..at + needle.len()].copy_from_slice(with);
    out
}

#[test]
fn refused_packages_leave_nothing_installed() {
    let partner = partner();
    tokio().block_on(async {
        let server = HephServer::start(ServerOptions::default());
        let api = server.api(&server.admin_token);
        trust(&api, "acme", &partner.public_key).await;
        let good = read(&partner.packages[0]);
        let key = SecretKey::load(&partner.key_file).unwrap();
        let contents = Package::read(&good).unwrap().contents;

        let mut flipped = good.clone();
        let wasm_at = flipped.windows(4).position(|w| w == b"\0asm").unwrap();
        flipped[wasm_at + 200] ^= 0x01;
        let stranger = SecretKey::generate().unwrap();
        let by_unknown_key = contents.clone().sign("acme", &stranger);
        let by_untrusted_publisher = contents.clone().sign("someone-else", &stranger);
        let mut other = contents.clone();
        other.readme.push_str("\nChanged after signing.\n");
        let other = other.sign("acme", &key);
        let moved_signature = replace(&other, &signature_entry(&other), &signature_entry(&good));
        let (_, manifest, wasm) = GUESTS
            .iter()
            .find(|(n, ..)| *n == "forbidden_import")
            .unwrap();
        let forbidden = Contents {
            manifest: manifest.to_string(),
            component: wasm.to_vec(),
            describe: json!({"actions": [], "triggers": []}),
            readme: String::new(),
        }
        .sign("acme", &key);
        let truncated = good[..good.len() / 2].to_vec();

        for (what, bytes, status, code, says) in [
            (
                "a flipped byte",
                flipped,
                403,
                "bad_signature",
                "changed after it was signed",
            ),
            (
                "an unknown key",
                by_unknown_key,
                403,
                "untrusted_key",
                "the key trusted for `acme`",
            ),
            (
                "an untrusted publisher",
                by_untrusted_publisher,
                403,
                "untrusted_publisher",
                "heph publisher trust someone-else",
            ),
            (
                "a signature moved from other contents",
                moved_signature,
                403,
                "bad_signature",
                "does not verify",
            ),
            (
                "a forbidden import",
                forbidden,
                422,
                "package_refused",
                "evil:raw/socket",
            ),
            (
                "a truncated package",
                truncated,
                400,
                "invalid_package",
                "not a valid heph package",
            ),
        ] {
            let (got, body) = upload(&server, bytes, true).await;
            assert_eq!(
                (got, body["error"]["code"].as_str()),
                (status, Some(code)),
                "{what}: {body}"
            );
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{what}: {message}");
        }
        let (_, list) = api.get("/api/connectors").await;
        let ids: Vec<&str> = list["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert_eq!(
            ids,
            ["google-calendar", "linkedin", "notion", "wordpress"],
            "nothing was installed"
        );
        for id in ["acme-items", "forbidden"] {
            let (status, _) = api.get(&format!("/api/connectors/{id}/versions")).await;
            assert_eq!(status, 404, "no package of {id} was kept");
        }

        // An upgrade that asks for a new host waits for approval; the old version stays.
        let (status, body) = upload(&server, read(&partner.packages[0]), true).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = upload(&server, read(&partner.packages[2]), false).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(
            body["review"]["needs_approval"],
            json!([format!("new host {NEW_HOST}")]),
            "{body}"
        );
        let (_, shown) = api.get("/api/connectors/acme-items").await;
        assert_eq!(shown["version"], "0.1.0", "{shown}");
        assert!(
            shown["pending_reason"].as_str().unwrap().contains(NEW_HOST),
            "{shown}"
        );
        let (status, body) = api
            .post("/api/connectors/acme-items/approve", json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        let (_, shown) = api.get("/api/connectors/acme-items").await;
        assert_eq!(shown["version"], "0.2.0", "{shown}");
        assert_eq!(shown["hosts"], json!(["{base_url}", NEW_HOST]), "{shown}");
    });
}

#[test]
fn an_upgrade_under_load_keeps_calls_working_and_rollback_restores_it() {
    let partner = partner();
    tokio().block_on(async {
        let (upstream, _items) = items_api().await;
        let server = HephServer::start(ServerOptions::default());
        let api = server.api(&server.admin_token);
        trust(&api, "acme", &partner.public_key).await;
        let (status, body) = upload(&server, read(&partner.packages[0]), true).await;
        assert_eq!(status, 200, "{body}");
        let connection = connect(&api, &upstream.url()).await;

        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = {
            let (api, stop) = (api.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut calls, mut failures) = (0u32, Vec::new());
                // Bounded: at most 2,000 calls or 60 s.
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && calls < 2000
                    && Instant::now() < deadline
                {
                    let (status, body) = api
                        .post(
                            &format!("/api/connections/{connection}/actions/create_item"),
                            json!({"name": format!("call {calls}")}),
                        )
                        .await;
                    calls += 1;
                    if status != 200 {
                        failures.push(format!("{status} {body}"));
                    }
                }
                (calls, failures)
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        // 0.1.1 asks for nothing more: it is installed without a new approval.
        let (status, body) = upload(&server, read(&partner.packages[1]), false).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("installed")),
            "{body}"
        );
        let (_, shown) = api.get("/api/connectors/acme-items").await;
        assert_eq!(shown["version"], "0.1.1", "{shown}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, body) = api
            .post("/api/connectors/acme-items/rollback", json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        let (_, shown) = api.get("/api/connectors/acme-items").await;
        assert_eq!(shown["version"], "0.1.0", "{shown}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (calls, failures) = load.await.unwrap();
        assert!(calls >= 10, "only {calls} calls were made");
        assert!(
            failures.is_empty(),
            "{} of {calls} calls failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(3)]
        );
    });
}

#[test]
fn two_admins_installing_at_once_install_once() {
    let partner = partner();
    tokio().block_on(async {
        let server = HephServer::start(ServerOptions::default());
        let api = server.api(&server.admin_token);
        trust(&api, "acme", &partner.public_key).await;
        let package = partner.packages[0].to_str().unwrap();
        let installs: Vec<Child> = (0..2)
            .map(|_| {
                server
                    .cli(&["connector", "install", package, "--approve"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for install in installs {
            let out = install.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (status, versions) = api.get("/api/connectors/acme-items/versions").await;
        assert_eq!(status, 200, "{versions}");
        assert_eq!(
            versions["versions"].as_array().unwrap().len(),
            1,
            "{versions}"
        );
        let digest = Package::read(&read(&partner.packages[0])).unwrap().digest;
        assert_eq!(versions["installed"]["digest"], digest, "{versions}");
        assert_eq!(versions["installed"]["status"], "active", "{versions}");
        // The running server picks up what the command line installed.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, shown) = api.get("/api/connectors/acme-items").await;
            if status == 200 {
                assert_eq!(shown["digest"], digest, "{shown}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server never loaded it:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}
