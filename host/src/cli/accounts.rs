//! `heph user …` and `heph token …`. A new token goes to stdout alone (so that scripts can
//! capture it); everything else to stderr.

use std::process::ExitCode;

use clap::Subcommand;

use super::{acting_user, open_app, Global};
use crate::auth::users::CreateUser;
use crate::store::Role;

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Create a user and print their first API token (shown once).
    Create {
        /// Login name.
        name: String,
        /// Make them an admin (the first user should be one).
        #[arg(long)]
        admin: bool,
        /// Give them a password to sign in to the dashboard with: read from `HEPH_PASSWORD`,
        /// else asked for (a line of standard input).
        #[arg(long)]
        password: bool,
    },
    /// Set a user's password (read from `HEPH_PASSWORD`, else a line of standard input); it
    /// signs them out of every browser.
    Password {
        /// Login name.
        name: String,
    },
    /// Make a user an admin or a member (the last admin stays one).
    Role {
        /// Login name.
        name: String,
        /// `admin` or `member`.
        #[arg(value_parser = ["admin", "member"])]
        role: String,
    },
    /// Delete a user with their tokens, sessions, connections, scenarios, runs and records
    /// (refused while their runs are queued or running).
    Delete {
        /// Login name.
        name: String,
    },
    /// List the users.
    List,
}

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Create an API token and print it (shown once).
    Create {
        /// Whose (default: the only user).
        #[arg(long)]
        user: Option<String>,
        /// A name to recognise it by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// What it may do: `read`, `write`, `admin` (repeat, or separate with commas; default:
        /// all the user's role allows).
        #[arg(long = "scope", value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// List a user's tokens (names and dates; tokens themselves are not kept).
    List {
        /// Whose (default: the only user).
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token.
    Revoke {
        /// The token's id (`tok_…`).
        id: String,
        /// Whose (default: the only user).
        #[arg(long)]
        user: Option<String>,
    },
}

pub(super) async fn run_user(command: UserCommand, global: &Global) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    match command {
        UserCommand::Create {
            name,
            admin,
            password,
        } => {
            let role = if admin { "admin" } else { "member" };
            let password = if password {
                Some(read_password(&name)?)
            } else {
                None
            };
            let (user, token) = app
                .create_user(
                    None,
                    CreateUser {
                        name,
                        role: Some(if admin { Role::Admin } else { Role::Member }),
                        password,
                    },
                )
                .await?;
            eprintln!(
                "created {role} {} ({}); their API token, shown once:",
                user.name, user.id
            );
            println!("{}", token.token);
        }
        UserCommand::Password { name } => {
            let user = app.store.user_by_name(&name).await?;
            let password = read_password(&name)?;
            app.set_password(None, &user.id, None, &password).await?;
            eprintln!("password of {name} set; their browser sessions have ended");
        }
        UserCommand::Role { name, role } => {
            let user = app.store.user_by_name(&name).await?;
            let role = if role == "admin" {
                Role::Admin
            } else {
                Role::Member
            };
            app.set_role(None, &user.id, role).await?;
            eprintln!(
                "{name} is now {}",
                if role == Role::Admin {
                    "an admin"
                } else {
                    "a member"
                }
            );
        }
        UserCommand::Delete { name } => {
            let user = app.store.user_by_name(&name).await?;
            app.delete_user(None, &user.id).await?;
            eprintln!("deleted {name} with everything of theirs");
        }
        UserCommand::List => {
            for user in app.store.users().await? {
                println!("{}\t{}\t{:?}", user.id, user.name, user.role);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn run_token(command: TokenCommand, global: &Global) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    match command {
        TokenCommand::Create { user, name, scopes } => {
            let user = acting_user(&app, user.as_deref()).await?;
            let scopes = (!scopes.is_empty()).then_some(scopes);
            let token = app.create_token(&user, &name, scopes.as_deref()).await?;
            eprintln!(
                "created token {} for {}; shown once:",
                token.row.id, user.name
            );
            println!("{}", token.token);
        }
        TokenCommand::List { user } => {
            let user = acting_user(&app, user.as_deref()).await?;
            for t in app.list_tokens(&user).await? {
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}",
                    t.id,
                    t.name,
                    t.scopes.join(","),
                    t.created_at,
                    t.last_used_at.map_or("never".into(), |t| t.to_string())
                );
            }
        }
        TokenCommand::Revoke { id, user } => {
            let user = acting_user(&app, user.as_deref()).await?;
            app.delete_token(&user, &id).await?;
            eprintln!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A password from `HEPH_PASSWORD`, else one line of standard input (not echoed at a terminal
/// only if the terminal does so; scripts should use the variable).
fn read_password(name: &str) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("HEPH_PASSWORD") {
        return Ok(password);
    }
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!(
            "password for {name} (at least {} characters): ",
            crate::auth::passwords::MIN_LENGTH
        );
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        anyhow::bail!("no password given: set HEPH_PASSWORD or type one");
    }
    Ok(password)
}
