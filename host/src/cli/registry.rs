//! `heph registry serve` runs a connector registry; `heph registry register` registers a
//! publisher's key with one and prints the publish token.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use heph_registry::server::{Registry, RegistryConfig};
use heph_registry::{RegistryClient, SecretKey};

#[derive(Debug, Subcommand)]
pub(super) enum RegistryCommand {
    /// Serve a registry: publishers register and publish, hosts list, search and download.
    Serve {
        /// Where the registry keeps its index (registry.db) and its packages (blobs/).
        #[arg(long, env = "HEPH_REGISTRY_DIR", default_value = "heph-registry")]
        dir: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// The largest package accepted, in MiB.
        #[arg(long, default_value_t = 32)]
        max_package_mb: usize,
        /// The public key (`heph keygen` prints it) that may register reserved publisher names
        /// such as `heph`: yours, as the registry's operator.
        #[arg(long, env = "HEPH_REGISTRY_OFFICIAL_KEY")]
        official_key: Option<String>,
    },
    /// Register a publisher name and its public key; prints the publish token (keep it).
    Register {
        /// The publisher name (what your manifests say in `publisher`).
        name: String,
        /// Your secret key file (`heph keygen`); only its public half is sent.
        #[arg(long, env = "HEPH_PUBLISHER_KEY")]
        key: PathBuf,
        /// The registry's URL.
        #[arg(long, env = "HEPH_REGISTRY")]
        registry: String,
    },
}

/// Runs `heph registry …`.
pub(super) async fn run(command: RegistryCommand) -> anyhow::Result<ExitCode> {
    match command {
        RegistryCommand::Serve {
            dir,
            listen,
            max_package_mb,
            official_key,
        } => {
            let mut config = RegistryConfig::new(dir.clone());
            config.max_package_bytes = max_package_mb.max(1) << 20;
            config.official_key = official_key;
            let registry = Registry::open(&config).await?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let address = listener.local_addr()?;
            // Tests and scripts read the address from this line (with --listen 127.0.0.1:0).
            println!("heph registry listening on http://{address}");
            tracing::info!(dir = %dir.display(), address = %address, "registry ready");
            heph_registry::server::serve(registry, listener).await?;
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Register {
            name,
            key,
            registry,
        } => {
            let key = SecretKey::load(&key)?;
            let answer = RegistryClient::new(&registry)
                .register(&name, &key.public().to_string())
                .await?;
            eprintln!("registered {name}; your publish token (shown once):");
            println!("{}", answer["token"].as_str().unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    }
}
