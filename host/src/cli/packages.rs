//! `heph connector install|approve|rollback|remove|versions` and `heph publisher …`: the admin's
//! side of the install lifecycle, on the store directly (a running server picks the change up
//! within seconds).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Subcommand;

use super::{open_app, print_json, Global};
use crate::app::App;
use crate::packages::{InstallOutcome, Review};
use crate::store::{Role, User};

/// Exit code of an install that waits for the admin's approval.
const AWAITING_APPROVAL: u8 = 3;

#[derive(Debug, Subcommand)]
pub(super) enum LifecycleCommand {
    /// Install or upgrade a connector: from a registry (NAME or NAME@VERSION) or a package file.
    /// Verifies its digest and signature against your trusted publishers, checks and compiles
    /// it, shows what it may do, and activates it once you approve (an upgrade that asks for
    /// nothing more needs no new approval). Exit code 3: verified, waiting for approval.
    Install {
        /// `NAME`, `NAME@VERSION`, or the path of a `.hephpkg` file.
        package: String,
        /// The registry's URL.
        #[arg(long, env = "HEPH_REGISTRY")]
        registry: Option<String>,
        /// Approve what the review shows without asking.
        #[arg(long)]
        approve: bool,
        /// Act as this admin (default: the first admin).
        #[arg(long)]
        user: Option<String>,
    },
    /// Approve the version waiting for approval, and activate it.
    Approve {
        /// The connector's id.
        id: String,
        /// Act as this admin.
        #[arg(long)]
        user: Option<String>,
    },
    /// Go back to the version that was active before the last install, upgrade or rollback.
    Rollback {
        /// The connector's id.
        id: String,
        /// Act as this admin.
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove a connector (its connections stay, for a reinstall). Refuses while enabled
    /// scenarios use it, unless --disable-scenarios.
    Remove {
        /// The connector's id.
        id: String,
        /// Disable the scenarios that use it.
        #[arg(long)]
        disable_scenarios: bool,
        /// Act as this admin.
        #[arg(long)]
        user: Option<String>,
    },
    /// The versions of a connector this host keeps (what `rollback` can go back to).
    Versions {
        /// The connector's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum PublisherCommand {
    /// Trust a publisher's key: packages it signs can be installed (after your approval).
    Trust {
        /// The publisher's name, as in its manifests.
        name: String,
        /// Its public key, `ed25519:…`, as `heph keygen` printed it.
        key: String,
    },
    /// List the trusted publishers.
    List,
    /// Stop trusting a publisher (what is installed stays).
    Untrust {
        /// The publisher's name.
        name: String,
    },
}

/// The admin a command acts as: `--user NAME`, the first admin, or — on a store with no admin
/// yet — the operator at this machine's shell, who has the store anyway.
async fn admin(app: &App, name: Option<&str>) -> anyhow::Result<User> {
    if name.is_some()
        || app
            .store
            .users()
            .await?
            .iter()
            .any(|u| u.role == Role::Admin)
    {
        return super::acting_admin(app, name).await;
    }
    Ok(User {
        id: "cli".into(),
        name: "command line".into(),
        role: Role::Admin,
        created_at: 0,
    })
}

/// Runs `heph connector install|approve|rollback|remove|versions`.
pub(super) async fn run(command: LifecycleCommand, global: &Global) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    match command {
        LifecycleCommand::Install {
            package,
            registry,
            approve,
            user,
        } => {
            let admin = admin(&app, user.as_deref()).await?;
            let outcome = if std::path::Path::new(&package).is_file() {
                let bytes =
                    std::fs::read(&package).with_context(|| format!("cannot read {package}"))?;
                let source = format!("file {package}");
                app.install_package(&admin, &bytes, None, &source, approve)
                    .await?
            } else {
                let Some(registry) = registry else {
                    bail!("say which registry to install `{package}` from: --registry URL (or HEPH_REGISTRY)");
                };
                let (name, version) = package.split_once('@').unwrap_or((&package, "latest"));
                app.install_from_registry(&admin, Some(&registry), name, version, approve)
                    .await?
            };
            print_review(outcome.review());
            let outcome = match outcome {
                InstallOutcome::AwaitingApproval { review } if ask(&review)? => {
                    InstallOutcome::Installed {
                        review: app.approve_connector(&admin, &review.id).await?,
                    }
                }
                other => other,
            };
            let review = outcome.review();
            let code = match &outcome {
                InstallOutcome::Installed { .. } => {
                    eprintln!("installed {} {}", review.id, review.version);
                    ExitCode::SUCCESS
                }
                InstallOutcome::AlreadyActive { .. } => {
                    eprintln!(
                        "{} {} is already the active version: nothing changed",
                        review.id, review.version
                    );
                    ExitCode::SUCCESS
                }
                InstallOutcome::AwaitingApproval { .. } => {
                    eprintln!(
                        "not installed yet: {} {} waits for approval (`heph connector approve {}`, or install again with --approve); {}",
                        review.id,
                        review.version,
                        review.id,
                        match &review.active_version {
                            Some(v) => format!("{v} stays active"),
                            None => "nothing is active".into(),
                        }
                    );
                    ExitCode::from(AWAITING_APPROVAL)
                }
            };
            print_json(&outcome);
            Ok(code)
        }
        LifecycleCommand::Approve { id, user } => {
            let admin = admin(&app, user.as_deref()).await?;
            let review = app.approve_connector(&admin, &id).await?;
            eprintln!("approved and installed {} {}", review.id, review.version);
            Ok(ExitCode::SUCCESS)
        }
        LifecycleCommand::Rollback { id, user } => {
            let admin = admin(&app, user.as_deref()).await?;
            let row = app.rollback_connector(&admin, &id).await?;
            eprintln!("{id} is back to {} ({})", row.version, row.digest);
            Ok(ExitCode::SUCCESS)
        }
        LifecycleCommand::Remove {
            id,
            disable_scenarios,
            user,
        } => {
            let admin = admin(&app, user.as_deref()).await?;
            let disabled = app.remove_connector(&admin, &id, disable_scenarios).await?;
            for scenario in &disabled {
                eprintln!("disabled scenario {scenario}");
            }
            eprintln!("removed {id}");
            Ok(ExitCode::SUCCESS)
        }
        LifecycleCommand::Versions { id } => {
            let installed = app.store.connector(&id).await?;
            let mut out = std::io::stdout().lock();
            for p in app.store.packages_of(&id).await? {
                let mark = if p.digest == installed.digest && installed.status == "active" {
                    "active"
                } else if Some(&p.digest) == installed.pending_digest.as_ref() {
                    "pending"
                } else if Some(&p.digest) == installed.previous_digest.as_ref() {
                    "previous"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "{:<10} {:<9} {:<12} {} {}",
                    p.version, mark, p.publisher, p.digest, p.source
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The review on stderr: what the admin approves.
fn print_review(review: &Review) {
    let caps = &review.capabilities;
    eprintln!(
        "{} {} ({}) by {}\n  {}\n  digest:           {}\n  signed by:        {}\n  hosts:            {}\n  auth:             {}\n  private networks: {}\n  {}",
        review.id,
        review.version,
        review.name,
        review.publisher,
        review.description,
        review.digest,
        review.key,
        if caps.hosts.is_empty() { "none".into() } else { caps.hosts.join(", ") },
        caps.auth,
        if caps.private_network { "asked for" } else { "no" },
        match &review.active_version {
            Some(v) => format!("upgrade from {v}"),
            None => "first install".into(),
        }
    );
    for reason in &review.needs_approval {
        eprintln!("  needs approval: {reason}");
    }
}

/// Asks the admin at a terminal; false without one.
fn ask(review: &Review) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!(
        "Install {} {} with these capabilities? [y/N] ",
        review.id, review.version
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Runs `heph publisher …`.
pub(super) async fn publisher(
    command: PublisherCommand,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    let admin = admin(&app, None).await?;
    match command {
        PublisherCommand::Trust { name, key } => {
            app.trust_publisher(&admin, &name, key.trim()).await?;
            eprintln!("trusting {name} ({key})");
        }
        PublisherCommand::List => {
            for (name, key) in app.store.trusted_publishers().await? {
                println!("{name:<24} {key}");
            }
        }
        PublisherCommand::Untrust { name } => {
            app.store.untrust_publisher(&name).await?;
            eprintln!("no longer trusting {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
