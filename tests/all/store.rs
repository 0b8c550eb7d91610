//! The store and the vault, each test run against SQLite and against a real PostgreSQL:
//! tampered and moved ciphertexts, a callback state taken at most once under a race,
//! refreshed credentials saved only over the version they were read from, name conflicts,
//! and a rotation by another process while values are being written.

use std::sync::Arc;

use heph::store::{NewConnection, PendingAuthorization, Role, Status, Store};
use heph::vault::{KeySource, Keyring, MasterKey, Vault, VaultError};
use serde_json::json;

/// Runs `test` on a fresh SQLite store and on a fresh PostgreSQL database.
fn on_both(test: impl Fn(Store, std::path::PathBuf) -> futures::future::BoxFuture<'static, ()>) {
    heph_tests::tokio().block_on(async {
        let dir = std::env::temp_dir().join(format!(
            "heph-store-{}",
            hex::encode(heph::vault::random_bytes::<6>())
        ));
        let sqlite = Store::open_in(&dir).await.expect("sqlite store");
        test(sqlite, dir.clone()).await;
        let pg = Store::open(&heph_tests::postgres::fresh_database().await)
            .await
            .expect("postgres store");
        assert_eq!(pg.backend(), heph::store::Backend::Postgres);
        test(pg, dir.join("pg")).await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

async fn user_and_connector(store: &Store) -> String {
    let user = heph::store::new_id("usr");
    store
        .create_user(&user, &format!("u{}", &user[4..10]), Role::Member)
        .await
        .unwrap();
    store
        .install_connector("wordpress", "0.1.0", "digest", "manifest", "builtin")
        .await
        .unwrap();
    user
}

async fn connection(store: &Store, vault: &Vault, user: &str, password: &str) -> String {
    let id = heph::store::new_id("con");
    let owner = heph::connections::owner(&id);
    let sealed = vault
        .seal_str(&owner, "application_password", password)
        .unwrap();
    store
        .create_connection(
            &NewConnection {
                id: id.clone(),
                user_id: user.into(),
                connector_id: "wordpress".into(),
                name: "wp".into(),
                fields: json!({"site_url": "https://x.test"}),
                token_expires_at: None,
                status: Status::Untested,
            },
            &[sealed],
        )
        .await
        .unwrap();
    id
}

fn keyring() -> Keyring {
    Keyring::new(vec![MasterKey::generate()]).unwrap()
}

#[test]
fn a_moved_or_flipped_ciphertext_does_not_open() {
    on_both(|store, _| {
        Box::pin(async move {
            let vault = Vault::with_keyring(keyring());
            let user = user_and_connector(&store).await;
            let a = connection(&store, &vault, &user, "password-of-a").await;
            let b = connection(&store, &vault, &user, "password-of-b").await;
            let (owner_a, owner_b) = (heph::connections::owner(&a), heph::connections::owner(&b));
            let sealed_a = store.secrets_of(&owner_a).await.unwrap().remove(0).1;
            assert_eq!(
                vault
                    .open_string(&owner_a, "application_password", &sealed_a)
                    .unwrap(),
                "password-of-a"
            );

            // A's ciphertext copied into B's row.
            let sealed_b = store.secrets_of(&owner_b).await.unwrap().remove(0).1;
            assert!(store
                .replace_secret(&owner_b, "application_password", &sealed_b, &sealed_a)
                .await
                .unwrap());
            let moved = store.secrets_of(&owner_b).await.unwrap().remove(0).1;
            let err = vault
                .open_string(&owner_b, "application_password", &moved)
                .unwrap_err();
            assert!(matches!(err, VaultError::Tampered { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("altered, or copied from another row"),
                "{err}"
            );
            // The same ciphertext under another field of the same row.
            assert!(vault
                .open_string(&owner_a, "webhook_secret", &sealed_a)
                .is_err());

            // One flipped byte anywhere: the ciphertext, the tag, the nonce.
            for at in [0, sealed_a.ciphertext.len() - 1] {
                let mut flipped = sealed_a.clone();
                flipped.ciphertext[at] ^= 0x01;
                assert!(matches!(
                    vault.open_value(&owner_a, "application_password", &flipped),
                    Err(VaultError::Tampered { .. })
                ));
            }
            let mut flipped = sealed_a.clone();
            flipped.nonce[3] ^= 0x80;
            assert!(matches!(
                vault.open_value(&owner_a, "application_password", &flipped),
                Err(VaultError::Tampered { .. })
            ));
            // A key id nobody has.
            let mut unknown = sealed_a.clone();
            unknown.key_id = "k000000000000".into();
            let err = vault
                .open_value(&owner_a, "application_password", &unknown)
                .unwrap_err();
            assert!(err.to_string().contains("k000000000000"), "{err}");
            // Two seals of one value differ (a fresh nonce each time).
            let again = vault
                .seal(&owner_a, "application_password", b"password-of-a")
                .unwrap();
            assert_ne!(again.nonce, sealed_a.nonce);
            assert_ne!(again.ciphertext, sealed_a.ciphertext);
            store.close().await;
        })
    });
}

#[test]
fn a_callback_state_is_taken_once_even_when_raced() {
    on_both(|store, _| {
        Box::pin(async move {
            let vault = Vault::with_keyring(keyring());
            let user = user_and_connector(&store).await;
            let hash = hex::encode(heph::vault::random_bytes::<32>());
            let owner = heph::store::pending_owner(&hash);
            let pending = PendingAuthorization {
                state_hash: hash.clone(),
                user_id: user.clone(),
                connector_id: "wordpress".into(),
                connection_id: None,
                name: "n".into(),
                fields: json!({}),
                redirect_uri: "http://127.0.0.1/oauth/callback".into(),
                expires_at: heph::store::now_ms() + 60_000,
            };
            let verifier = vault
                .seal_str(&owner, "pkce_verifier", "verifier-value")
                .unwrap();
            store
                .create_pending_authorization(&pending, verifier)
                .await
                .unwrap();
            let store = Arc::new(store);
            let takers: Vec<_> = (0..8)
                .map(|_| {
                    let store = store.clone();
                    let hash = hash.clone();
                    tokio::spawn(async move { store.take_pending_authorization(&hash).await })
                })
                .collect();
            let mut taken = 0;
            for t in takers {
                if let Ok(Some((p, sealed))) = t.await.unwrap() {
                    taken += 1;
                    assert_eq!(p.user_id, user);
                    assert_eq!(
                        vault
                            .open_string(&owner, "pkce_verifier", &sealed[0].1)
                            .unwrap(),
                        "verifier-value"
                    );
                }
            }
            assert_eq!(taken, 1, "exactly one callback gets the state");
            assert!(
                store.secrets_of(&owner).await.unwrap().is_empty(),
                "the verifier went with it"
            );
            store.close().await;
        })
    });
}

#[test]
fn refreshed_credentials_are_saved_only_over_the_version_they_came_from() {
    on_both(|store, _| {
        Box::pin(async move {
            let vault = Vault::with_keyring(keyring());
            let user = user_and_connector(&store).await;
            let id = connection(&store, &vault, &user, "p").await;
            let owner = heph::connections::owner(&id);
            let v0 = store
                .connection_by_id(&id)
                .await
                .unwrap()
                .credential_version;
            let first = vault
                .seal_str(&owner, "oauth:access_token", "first-access")
                .unwrap();
            assert!(store
                .save_refreshed_credentials(&id, v0, Some(1), &[first])
                .await
                .unwrap());
            // A second refresh that read the same version loses, and changes nothing.
            let late = vault
                .seal_str(&owner, "oauth:access_token", "late-access")
                .unwrap();
            assert!(!store
                .save_refreshed_credentials(&id, v0, Some(2), &[late])
                .await
                .unwrap());
            let row = store.connection_by_id(&id).await.unwrap();
            assert_eq!(
                (row.credential_version, row.token_expires_at),
                (v0 + 1, Some(1))
            );
            let stored = store.secrets_of(&owner).await.unwrap();
            let access = stored
                .iter()
                .find(|(f, _)| f == "oauth:access_token")
                .unwrap();
            assert_eq!(
                vault.open_string(&owner, &access.0, &access.1).unwrap(),
                "first-access"
            );
            // A taken user name is a conflict, not a crash.
            let err = store
                .create_user("usr_x", &store.user(&user).await.unwrap().name, Role::Admin)
                .await
                .unwrap_err();
            assert!(matches!(err, heph::store::StoreError::Conflict(_)), "{err}");
            // Another user does not see the connection.
            let other = user_and_connector(&store).await;
            assert!(matches!(
                store.connection(&other, &id).await,
                Err(heph::store::StoreError::NotFound(_))
            ));
            assert!(store.delete_connection(&other, &id).await.is_err());
            store.delete_connection(&user, &id).await.unwrap();
            assert!(
                store.secrets_of(&owner).await.unwrap().is_empty(),
                "secrets go with their row"
            );
            store.close().await;
        })
    });
}

#[test]
fn rotation_by_another_process_under_load_loses_nothing() {
    on_both(|store, dir| {
        Box::pin(async move {
            std::fs::create_dir_all(&dir).unwrap();
            let key_file = dir.join("master.key");
            let _ = std::fs::remove_file(&key_file);
            // Two vaults over one key file: the server's and `heph vault rotate`'s.
            let server = Arc::new(
                Vault::open(KeySource::File(key_file.clone()), &store)
                    .await
                    .unwrap(),
            );
            let rotator = Vault::open(KeySource::File(key_file.clone()), &store)
                .await
                .unwrap();
            let old_key = server.active_key_id();
            let user = user_and_connector(&store).await;
            let mut ids = Vec::new();
            for i in 0..30 {
                ids.push(connection(&store, &server, &user, &format!("v0-{i}")).await);
            }
            let store = Arc::new(store);
            let writer = {
                let (store, server, ids) = (store.clone(), server.clone(), ids.clone());
                tokio::spawn(async move {
                    let mut round = 0;
                    let started = std::time::Instant::now();
                    while started.elapsed() < std::time::Duration::from_millis(3500) {
                        round += 1;
                        for (i, id) in ids.iter().enumerate() {
                            let owner = heph::connections::owner(id);
                            let sealed = server
                                .seal_str(&owner, "application_password", &format!("v{round}-{i}"))
                                .unwrap();
                            store.put_secrets(&owner, &[sealed]).await.unwrap();
                        }
                    }
                    round
                })
            };
            let report = rotator.rotate(&store, true).await.unwrap();
            let rounds = writer.await.unwrap();
            assert_ne!(report.active_key, old_key);
            assert_eq!(
                server.active_key_id(),
                report.active_key,
                "the server picked the new key up"
            );
            // A final pass; then everything is under the new key and has its last value.
            rotator.rotate(&store, false).await.unwrap();
            let usage = store.secret_key_usage().await.unwrap();
            assert_eq!(usage, vec![(report.active_key.clone(), 30)]);
            assert_eq!(rotator.retire(&store).await.unwrap(), vec![old_key]);
            let fresh = Vault::open(KeySource::File(key_file.clone()), &store)
                .await
                .unwrap();
            for (i, id) in ids.iter().enumerate() {
                let owner = heph::connections::owner(id);
                let (field, sealed) = store.secrets_of(&owner).await.unwrap().remove(0);
                assert_eq!(
                    fresh.open_string(&owner, &field, &sealed).unwrap(),
                    format!("v{rounds}-{i}")
                );
            }
            store.close().await;
        })
    });
}

/// A step of item `seq` whose input and output are `bytes` of text each.
fn big_step(seq: i64, step: i64, bytes: usize) -> heph::store::StepRecord {
    heph::store::StepRecord {
        item_seq: seq,
        step,
        node_id: "n".into(),
        status: "ok".into(),
        input: Some(json!("i".repeat(bytes))),
        output: Some(json!("o".repeat(bytes))),
        error_code: None,
        error: None,
        attempts: 1,
        started_at: 0,
        duration_us: 0,
        requests: None,
        logs: None,
    }
}

#[test]
fn step_values_and_run_answers_stay_within_their_sizes() {
    on_both(|store, _| {
        Box::pin(async move {
            let user = user_and_connector(&store).await;
            let scenario = heph::store::new_id("scn");
            store
                .create_scenario(&scenario, &user, "big", &json!({}), "hash")
                .await
                .unwrap();
            let enqueue = |id: String| heph::store::NewRun {
                id,
                scenario_id: scenario.clone(),
                scenario_version: 1,
                user_id: user.clone(),
                trigger_kind: "manual".into(),
                input: None,
            };
            let item = |seq: i64| heph::store::ItemRecord {
                seq,
                item_id: format!("i{seq}"),
                data_hash: String::new(),
                status: "done".into(),
                attempt: 1,
                error: None,
            };
            // 30 items, one step each of 2 × 200 KiB: 20 fit in one answer's 8 MiB.
            let (run, _) = store.enqueue_run(&enqueue(heph::store::new_id("run"))).await.unwrap();
            store.claim_run(&run, "w", 60_000).await.unwrap().expect("claimed");
            let batch = heph::store::Batch {
                items: (1..=30).map(item).collect(),
                steps: (1..=30).map(|seq| big_step(seq, 0, 200 * 1024)).collect(),
                ..Default::default()
            };
            store.commit_batch(&run, "w", &batch).await.unwrap();
            let (steps, last) = store.run_steps(&run, 1, 30).await.unwrap();
            assert_eq!(last, 20, "the answer ends at the item that would pass 8 MiB");
            assert_eq!(steps.len(), 20);
            assert!(steps.iter().all(|s| s.output.is_some()));
            let (rest, last) = store.run_steps(&run, 21, 30).await.unwrap();
            assert_eq!((rest.len(), last), (10, 30), "the next answer reads on");

            // One item of 30 such steps: whole, but past the budget its steps carry no values.
            let (run, _) = store.enqueue_run(&enqueue(heph::store::new_id("run"))).await.unwrap();
            store.claim_run(&run, "w", 60_000).await.unwrap().expect("claimed");
            let batch = heph::store::Batch {
                items: vec![item(1)],
                steps: (0..30).map(|step| big_step(1, step, 200 * 1024)).collect(),
                ..Default::default()
            };
            store.commit_batch(&run, "w", &batch).await.unwrap();
            let (steps, last) = store.run_steps(&run, 1, 1).await.unwrap();
            assert_eq!((steps.len(), last), (30, 1));
            assert!(steps[..20].iter().all(|s| s.input.is_some()));
            assert!(steps[20..].iter().all(|s| s.input.is_none() && s.output.is_none()));

            // A value past 256 KiB is kept as its size and its start.
            let (run, _) = store.enqueue_run(&enqueue(heph::store::new_id("run"))).await.unwrap();
            store.claim_run(&run, "w", 60_000).await.unwrap().expect("claimed");
            let batch = heph::store::Batch {
                items: vec![item(1)],
                steps: vec![big_step(1, 0, 300 * 1024)],
                ..Default::default()
            };
            store.commit_batch(&run, "w", &batch).await.unwrap();
            let (steps, _) = store.run_steps(&run, 1, 1).await.unwrap();
            let output = steps[0].output.clone().unwrap();
            assert_eq!(output["truncated"], true, "{:.200}", output.to_string());
            assert_eq!(output["bytes"], 300 * 1024 + 2, "the JSON text's size");
            assert!(output["preview"].as_str().unwrap().starts_with("\"ooo"));

            // Records are at most 1 MiB.
            let big = json!({"text": "x".repeat(1024 * 1024)});
            let refused = store.put_record(&user, "notes", "n1", &big).await.unwrap_err();
            assert!(refused.to_string().contains("at most 1024 KiB"), "{refused}");
            assert!(store.record(&user, "notes", "n1").await.unwrap().is_none());
        })
    });
}
