//! `heph user …` and `heph token …`. A new token goes to stdout alone (so that scripts can
//! capture it); everything else to stderr.

use std::process::ExitCode;

use clap::Subcommand;

use super::{acting_user, open_app, Global};
use crate::auth::users::CreateUser;

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Create a user and print their first API token (shown once).
    Create {
        /// Login name.
        name: String,
        /// Make them an admin (the first user should be one).
        #[arg(long)]
        admin: bool,
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
        UserCommand::Create { name, admin } => {
            let role = if admin { "admin" } else { "member" };
            let (user, token) = app
                .create_user(
                    None,
                    CreateUser {
                        name,
                        role: Some(role.into()),
                    },
                )
                .await?;
            eprintln!(
                "created {role} {} ({}); their API token, shown once:",
                user.name, user.id
            );
            println!("{}", token.token);
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
        TokenCommand::Create { user, name } => {
            let user = acting_user(&app, user.as_deref()).await?;
            let token = app.create_token(&user, &name).await?;
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
                    "{}\t{}\tcreated {}\tlast used {}",
                    t.id,
                    t.name,
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
