//! Builds the first-party connectors in `plugins/` for wasm32-wasip2 and embeds them.
//!
//! The nested cargo gets its own target directory (`target/wasm-plugins`): sharing the outer
//! build's would wait forever on its lock. The wasm target is added with rustup when missing
//! (rust-toolchain.toml names it, but machines with `RUSTUP_AUTO_INSTALL=0` do not fetch it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(cargo_env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ lies inside the workspace")
        .to_path_buf();
    let out = PathBuf::from(cargo_env("OUT_DIR"));
    let wasm_target = nested_target_dir("wasm-plugins");
    rerun_if_changed(&root, &["plugins", "sdk", "wit"]);
    let plugins = build_wasm_workspace(&root.join("plugins/Cargo.toml"), &wasm_target);

    let mut code = String::from("/// The first-party connectors: (manifest, component).\npub const FIRST_PARTY: &[(&str, &[u8])] = &[\n");
    for (name, dir) in plugins {
        let wasm = wasm_target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let manifest = dir.join("heph.toml");
        code.push_str(&format!(
            "    (include_str!({:?}), include_bytes!({:?})),\n",
            manifest, wasm
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("first_party.rs"), code)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.join("first_party.rs").display()));
    embed_sdk(&root, &out);
}

/// The SDK and the WIT contract as (path, text) pairs: `heph connector new` writes them into a
/// new project, so that a partner builds with exactly the contract this binary runs.
fn embed_sdk(root: &Path, out: &Path) {
    // Paths relative to the workspace: what the vendored copy is laid out by.
    let mut files = vec![
        PathBuf::from("sdk/Cargo.toml"),
        PathBuf::from("sdk/Cargo.lock"),
    ];
    for dir in ["sdk/src", "wit"] {
        collect(root, Path::new(dir), &mut files);
    }
    files.sort();
    let mut code = String::from("/// The SDK and the WIT contract: (path under the vendored root, text).\npub const SDK_FILES: &[(&str, &str)] = &[\n");
    for relative in files {
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            relative.display().to_string(),
            root.join(&relative)
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("sdk_files.rs"), code)
        .unwrap_or_else(|e| panic!("cannot write sdk_files.rs: {e}"));
}

/// The `.rs` and `.wit` files under `root/dir`, as paths relative to `root`.
fn collect(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(root.join(dir))
        .unwrap_or_else(|e| panic!("{}: {e}", root.join(dir).display()));
    for entry in entries.flatten() {
        let relative = dir.join(entry.file_name());
        if entry.path().is_dir() {
            collect(root, &relative, files);
        } else if relative
            .extension()
            .is_some_and(|x| x == "rs" || x == "wit")
        {
            files.push(relative);
        }
    }
}

include!("build_wasm.rs");
