//! The partner's workflow: `heph connector new` (a working template with a bench and a unit
//! test), `build` (wasm32-wasip2, then the same checks as an install), `pack` (a signed
//! package), `publish`; and `heph keygen`. `heph connector test` (the bench) is in `connector`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{anyhow, bail, Context as _};
use clap::Subcommand;
use heph_registry::{Contents, RegistryClient, SecretKey};

use super::Global;
use crate::packages::check;
use crate::runtime::Runtime;

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// Where `new` vendors the SDK and the WIT contract inside a project.
const VENDORED: &str = ".heph-sdk";

#[derive(Debug, Subcommand)]
pub(super) enum PartnerCommand {
    /// Start a connector project in a new directory NAME: a manifest, a Rust crate using the
    /// SDK (a poll trigger and an action), a bench, a unit test and a README.
    New {
        /// The connector's id (lower-case letters, digits, `-`); also the directory's name.
        name: String,
        /// Your publisher name, as registered with the registry.
        #[arg(long, default_value = "your-name")]
        publisher: String,
        /// Use the SDK at this path instead of a copy of this heph's SDK.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build the project for wasm32-wasip2 and check it as an install would.
    Build {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Check the built component and write a signed package (`target/ID-VERSION.hephpkg`).
    Pack {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Your secret key file (`heph keygen`).
        #[arg(long, env = "HEPH_PUBLISHER_KEY")]
        key: PathBuf,
        /// Where to write the package.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Publish a package to a registry.
    Publish {
        /// The `.hephpkg` file.
        package: PathBuf,
        /// The registry's URL.
        #[arg(long, env = "HEPH_REGISTRY")]
        registry: String,
        /// Your publish token (printed when you registered).
        #[arg(long, env = "HEPH_PUBLISH_TOKEN", hide_env_values = true)]
        token: String,
    },
}

/// Runs the partner's commands.
pub(super) async fn run(command: PartnerCommand, global: &Global) -> anyhow::Result<ExitCode> {
    match command {
        PartnerCommand::New {
            name,
            publisher,
            sdk,
        } => new_project(&name, &publisher, sdk.as_deref()),
        PartnerCommand::Build { dir } => {
            cargo_build(&dir)?;
            let runtime = Runtime::new(super::app_config(global)?.runtime)?;
            let (manifest, wasm) = built_component(&dir)?;
            let checked = check::check(&runtime, &manifest, &wasm)
                .await
                .map_err(|e| anyhow!("the component does not pass the checks:\n{e}"))?;
            for warning in &checked.warnings {
                eprintln!("warning: {warning}");
            }
            let names = |kind: &str| -> String {
                checked.describe[kind]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|a| a["name"].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            eprintln!(
                "built {} {} ({} KiB): actions {}; triggers {}",
                checked.manifest.id,
                checked.manifest.version,
                wasm.len() / 1024,
                names("actions"),
                names("triggers")
            );
            Ok(ExitCode::SUCCESS)
        }
        PartnerCommand::Pack { dir, key, out } => {
            let key = SecretKey::load(&key)?;
            let runtime = Runtime::new(super::app_config(global)?.runtime)?;
            let (manifest_text, component) = built_component(&dir)?;
            let checked = check::check(&runtime, &manifest_text, &component)
                .await
                .map_err(|e| anyhow!("cannot pack:\n{e}"))?;
            for warning in &checked.warnings {
                eprintln!("warning: {warning}");
            }
            let readme = std::fs::read_to_string(dir.join("README.md")).unwrap_or_default();
            let m = &checked.manifest;
            let contents = Contents {
                manifest: manifest_text,
                component,
                describe: checked.describe,
                readme,
            };
            let digest = contents.digest();
            let bytes = contents.sign(&m.publisher, &key);
            let out = out.unwrap_or_else(|| {
                dir.join("target")
                    .join(format!("{}-{}.hephpkg", m.id, m.version))
            });
            std::fs::write(&out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "packed {} {} for publisher {} ({} KiB)\n  digest: {digest}\n  key:    {}",
                m.id,
                m.version,
                m.publisher,
                bytes.len() / 1024,
                key.public()
            );
            println!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        PartnerCommand::Publish {
            package,
            registry,
            token,
        } => {
            let bytes = std::fs::read(&package)
                .with_context(|| format!("cannot read {}", package.display()))?;
            let answer = RegistryClient::new(&registry)
                .publish(&token, bytes)
                .await?;
            eprintln!(
                "published {}@{} ({})",
                answer["name"].as_str().unwrap_or("?"),
                answer["version"].as_str().unwrap_or("?"),
                answer["digest"].as_str().unwrap_or("?")
            );
            super::print_json(&answer);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `heph keygen`: a new signing key in a private file; the public key on stdout.
pub(super) fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    let key = SecretKey::generate()?;
    key.save(out)?;
    eprintln!(
        "wrote your secret key to {} (keep it private; it signs your packages)",
        out.display()
    );
    println!("{}", key.public());
    Ok(ExitCode::SUCCESS)
}

/// A project's manifest text and built component.
pub(super) fn built_component(dir: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    let manifest = std::fs::read_to_string(dir.join("heph.toml"))
        .with_context(|| format!("cannot read {}", dir.join("heph.toml").display()))?;
    let wasm_path = dir
        .join("target/wasm32-wasip2/release")
        .join(format!("{}.wasm", crate_name(dir)?.replace('-', "_")));
    let wasm = std::fs::read(&wasm_path).map_err(|e| {
        anyhow!(
            "{}: {e}; build the project first with `heph connector build`",
            wasm_path.display()
        )
    })?;
    Ok((manifest, wasm))
}

fn crate_name(dir: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml"))
        .with_context(|| format!("cannot read {}", dir.join("Cargo.toml").display()))?;
    let cargo: toml::Value = toml::from_str(&text).context("Cargo.toml")?;
    cargo["package"]["name"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("Cargo.toml has no [package] name"))
}

/// `cargo build --release --target wasm32-wasip2` in the project, adding the target first
/// when the toolchain lacks it.
fn cargo_build(dir: &Path) -> anyhow::Result<()> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .context("cannot run rustc: is Rust installed (https://rustup.rs)?")?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if !Path::new(&sysroot)
        .join("lib/rustlib/wasm32-wasip2")
        .exists()
    {
        eprintln!("adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)");
        let added = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .current_dir(dir)
            .status()
            .context("cannot run rustup")?;
        if !added.success() {
            bail!(
                "the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed"
            );
        }
    }
    let status = Command::new("cargo")
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed (see above)");
    }
    Ok(())
}

fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        })
}

fn new_project(name: &str, publisher: &str, sdk: Option<&Path>) -> anyhow::Result<ExitCode> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || name.starts_with(|c: char| !c.is_ascii_lowercase())
    {
        bail!("`{name}`: a connector's id starts with a letter and has lower-case letters, digits and `-`");
    }
    let dir = Path::new(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let title: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let type_name = title.replace(' ', "");
    let sdk_path = match sdk {
        Some(path) => std::path::absolute(path)?.display().to_string(),
        None => format!("{VENDORED}/sdk"),
    };
    let values = [
        ("id", name),
        ("title", &title),
        ("type", &type_name),
        ("publisher", publisher),
        ("crate", name),
        ("sdk", &sdk_path),
    ];
    let files: [(&str, &str); 7] = [
        ("heph.toml", include_str!("template/heph.toml.tpl")),
        ("Cargo.toml", include_str!("template/Cargo.toml.tpl")),
        ("src/lib.rs", include_str!("template/lib.rs.tpl")),
        ("bench.json", include_str!("template/bench.json.tpl")),
        ("README.md", include_str!("template/README.md.tpl")),
        (
            "connection.example.json",
            include_str!("template/connection.json.tpl"),
        ),
        (".gitignore", include_str!("template/gitignore.tpl")),
    ];
    let write = |path: &Path, text: &str| -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    for (path, template) in files {
        write(&dir.join(path), &fill(template, &values))?;
    }
    for (path, text) in SDK_FILES {
        if *path == "sdk/Cargo.lock" {
            // The SDK's pinned dependencies: the project builds with the versions heph's own
            // connectors were tested with.
            write(&dir.join("Cargo.lock"), text)?;
        } else if sdk.is_none() {
            write(&dir.join(VENDORED).join(path), text)?;
        }
    }
    eprintln!(
        "created {}: edit heph.toml and src/lib.rs, then `cd {name} && heph connector build`",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
