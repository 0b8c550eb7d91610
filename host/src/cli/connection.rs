//! `heph connection …` (mirrors `/api/connections`) and `heph oauth-app …`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::{acting_admin, acting_user, open_app, print_json, Global};
use crate::connections::{CreateConnection, EditConnection, StartAuthorization};

#[derive(Debug, Subcommand)]
pub(super) enum ConnectionCommand {
    /// List the user's connections with their status.
    List {
        #[command(flatten)]
        user: UserArg,
    },
    /// Show one connection (secrets are never shown, only which are set).
    Show {
        /// The connection's id.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Create a connection from fields, and test it.
    Create {
        /// The connector's id.
        connector: String,
        /// A name for it.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: FieldArgs,
        /// Do not test it now.
        #[arg(long)]
        no_test: bool,
        #[command(flatten)]
        user: UserArg,
    },
    /// Change a connection's name or fields; `--field NAME=` clears one.
    Edit {
        /// The connection's id.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: FieldArgs,
        #[command(flatten)]
        user: UserArg,
    },
    /// Run the connector's test: prints who the account is.
    Test {
        /// The connection's id.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Run one action through the connection; prints its output.
    Call {
        /// The connection's id.
        id: String,
        /// The action's name.
        action: String,
        /// The action's input, a JSON object (`@FILE` reads a file).
        #[arg(long, default_value = "{}")]
        input: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Allow its use again.
    Enable {
        /// The connection's id.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Stop its use without deleting it.
    Disable {
        /// The connection's id.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Delete it (an OAuth connection's tokens are revoked at the provider first).
    Delete {
        /// The connection's id.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
    /// Connect an OAuth account: prints the URL to open; the running server completes it.
    Connect {
        /// The connector's id.
        connector: String,
        /// A name for it.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: FieldArgs,
        #[command(flatten)]
        user: UserArg,
    },
    /// Connect an OAuth connection's account again (after `needs_reauth`).
    Reauthorize {
        /// The connection's id.
        id: String,
        #[command(flatten)]
        user: UserArg,
    },
}

#[derive(Debug, Args)]
pub(super) struct UserArg {
    /// The user (default: the only user).
    #[arg(long = "user", id = "user")]
    name: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct FieldArgs {
    /// A field, `NAME=VALUE` (repeatable). For secrets prefer --fields FILE: a command line
    /// can be seen by other users of the machine.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    field: Vec<String>,
    /// A JSON file with the fields.
    #[arg(long = "fields", value_name = "FILE")]
    file: Option<PathBuf>,
}

impl FieldArgs {
    fn map(&self) -> anyhow::Result<Map<String, Value>> {
        let mut map = match &self.file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                match serde_json::from_str(&text)
                    .with_context(|| format!("{} is not valid JSON", path.display()))?
                {
                    Value::Object(map) => map,
                    _ => bail!("{} must hold a JSON object", path.display()),
                }
            }
            None => Map::new(),
        };
        for pair in &self.field {
            let Some((name, value)) = pair.split_once('=') else {
                bail!("--field {pair}: write NAME=VALUE");
            };
            let value = if value.is_empty() {
                Value::Null
            } else {
                Value::String(value.into())
            };
            map.insert(name.to_string(), value);
        }
        Ok(map)
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum OAuthAppCommand {
    /// Register (or replace) a connector's OAuth client. The secret is read from the
    /// HEPH_OAUTH_CLIENT_SECRET variable or from standard input, never from the command line.
    Set {
        /// The connector's id.
        connector: String,
        /// The client id the provider gave.
        #[arg(long)]
        client_id: String,
        /// Read the client secret from standard input.
        #[arg(long)]
        client_secret_stdin: bool,
        /// The admin acting (default: the first admin).
        #[arg(long)]
        user: Option<String>,
    },
    /// Show a connector's OAuth app and the redirect URI to register at the provider.
    Show {
        /// The connector's id.
        connector: String,
    },
}

pub(super) async fn run(command: ConnectionCommand, global: &Global) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    match command {
        ConnectionCommand::List { user } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let list = app.list_connections(&user).await?;
            if list.is_empty() {
                eprintln!("{} has no connections yet", user.name);
            }
            for c in list {
                println!(
                    "{}\t{}\t{}\t{}{}{}",
                    c.id,
                    c.connector,
                    c.name,
                    c.status.as_str(),
                    if c.enabled { "" } else { " (disabled)" },
                    c.last_error.map(|e| format!("\t{e}")).unwrap_or_default()
                );
            }
        }
        ConnectionCommand::Show { id, user } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            print_json(&app.get_connection(&user, &id).await?);
        }
        ConnectionCommand::Create {
            connector,
            name,
            fields,
            no_test,
            user,
        } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let request = CreateConnection {
                connector,
                name,
                fields: fields.map()?,
                test: Some(!no_test),
                // The operator typed the command on the server's machine.
                consent: true,
            };
            let view = app.create_connection(&user, request).await?;
            let failed = view.status.as_str() != "ok" && !no_test;
            print_json(&view);
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        ConnectionCommand::Edit {
            id,
            name,
            fields,
            user,
        } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let map = fields.map()?;
            let edit = EditConnection {
                name,
                fields: (!map.is_empty()).then_some(map),
                enabled: None,
            };
            print_json(&app.edit_connection(&user, &id, edit).await?);
        }
        ConnectionCommand::Test { id, user } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let result = app.test_connection(&user, &id).await?;
            print_json(&result);
            if !result.ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        ConnectionCommand::Call {
            id,
            action,
            input,
            user,
        } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let text = match input.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
                }
                None => input,
            };
            let input: Value = serde_json::from_str(&text).context("--input is not valid JSON")?;
            let outcome = app.call_action(&user, &id, &action, &input).await?;
            match outcome.result {
                Ok(output) => print_json(&output),
                Err(e) => {
                    eprintln!("error [{}]: {e}", e.code());
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        ConnectionCommand::Enable { id, user } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let edit = EditConnection {
                enabled: Some(true),
                ..EditConnection::default()
            };
            print_json(&app.edit_connection(&user, &id, edit).await?);
        }
        ConnectionCommand::Disable { id, user } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let edit = EditConnection {
                enabled: Some(false),
                ..EditConnection::default()
            };
            print_json(&app.edit_connection(&user, &id, edit).await?);
        }
        ConnectionCommand::Delete { id, user } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            print_json(&app.delete_connection(&user, &id).await?);
        }
        ConnectionCommand::Connect {
            connector,
            name,
            fields,
            user,
        } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let request = StartAuthorization {
                connector: Some(connector),
                name,
                fields: fields.map()?,
                consent: true,
            };
            let started = app.start_authorization(&user, request, None).await?;
            eprintln!("Open this URL in a browser and allow access; `heph serve` (reachable at {}) completes the connection:", started.redirect_uri);
            println!("{}", started.authorize_url);
        }
        ConnectionCommand::Reauthorize { id, user } => {
            let user = acting_user(&app, user.name.as_deref()).await?;
            let started = app
                .start_authorization(&user, StartAuthorization::default(), Some(&id))
                .await?;
            eprintln!("Open this URL in a browser and allow access again:");
            println!("{}", started.authorize_url);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn run_oauth_app(
    command: OAuthAppCommand,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    let app = open_app(global).await?;
    match command {
        OAuthAppCommand::Set {
            connector,
            client_id,
            client_secret_stdin,
            user,
        } => {
            let admin = acting_admin(&app, user.as_deref()).await?;
            let secret = if client_secret_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the client secret")?;
                Some(line.trim().to_string())
            } else {
                std::env::var("HEPH_OAUTH_CLIENT_SECRET").ok()
            };
            let view = app
                .set_oauth_app(&admin, &connector, &client_id, secret.as_deref())
                .await?;
            print_json(&view);
        }
        OAuthAppCommand::Show { connector } => print_json(&app.oauth_app_view(&connector).await?),
    }
    Ok(ExitCode::SUCCESS)
}
