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
    let mut files = Vec::new();
    files.push(root.join("sdk/Cargo.toml"));
    files.push(root.join("sdk/Cargo.lock"));
    for dir in ["sdk/src", "wit"] {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    let mut code = String::from("/// The SDK and the WIT contract: (path under the vendored root, text).\npub const SDK_FILES: &[(&str, &str)] = &[\n");
    for file in files {
        let relative = file.strip_prefix(root).expect("inside the workspace");
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            relative.display().to_string(),
            file
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("sdk_files.rs"), code)
        .unwrap_or_else(|e| panic!("cannot write sdk_files.rs: {e}"));
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|x| x == "rs" || x == "wit") {
            files.push(path);
        }
    }
}

include!("build_wasm.rs");
