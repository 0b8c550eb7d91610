//! `heph vault …`: key generation, rotation (while servers keep serving) and retirement.

use std::process::ExitCode;

use clap::Subcommand;

use super::{open_app, print_json, Global};
use crate::vault::MasterKey;

#[derive(Debug, Subcommand)]
pub(super) enum VaultCommand {
    /// Print a new random master key (base64), for HEPH_MASTER_KEY.
    Keygen,
    /// Show where the keys come from, the active key, and how many secrets each key seals.
    Status,
    /// Re-encrypt every secret under a new key (added to the key file first). Running
    /// servers pick the new key up within a second and keep serving.
    Rotate {
        /// Do not add a key: re-encrypt under the first key already given (for keys in
        /// HEPH_MASTER_KEY: put the new key first, restart, then run this).
        #[arg(long)]
        no_new_key: bool,
    },
    /// Remove from the key file the keys no secret uses any more.
    Retire,
}

pub(super) async fn run(command: VaultCommand, global: &Global) -> anyhow::Result<ExitCode> {
    if let VaultCommand::Keygen = command {
        println!("{}", MasterKey::generate().to_base64());
        return Ok(ExitCode::SUCCESS);
    }
    let app = open_app(global).await?;
    match command {
        VaultCommand::Keygen => {}
        VaultCommand::Status => {
            let usage = app.store.secret_key_usage().await?;
            print_json(&serde_json::json!({
                "keys_from": app.vault.source().to_string(),
                "active_key": app.vault.active_key_id(),
                "secrets_by_key": usage.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                "unused_keys": app.vault.unused_keys(&app.store).await?,
            }));
        }
        VaultCommand::Rotate { no_new_key } => {
            eprintln!("rotating: servers switch to the new key within a second; re-encrypting…");
            let report = app.vault.rotate(&app.store, !no_new_key).await?;
            print_json(&report);
            if !report.unused_keys.is_empty() {
                eprintln!("done; `heph vault retire` removes the keys no secret uses any more");
            }
        }
        VaultCommand::Retire => {
            let retired = app.vault.retire(&app.store).await?;
            if retired.is_empty() {
                eprintln!("no key to retire");
            } else {
                eprintln!("retired {}", retired.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
