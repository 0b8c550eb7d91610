//! Builds the test connectors in `tests/guests/` for wasm32-wasip2 and lists them for the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

include!("../host/build_wasm.rs");

fn main() {
    let manifest_dir = PathBuf::from(cargo_env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("tests/ lies inside the workspace")
        .to_path_buf();
    let out = PathBuf::from(cargo_env("OUT_DIR"));
    let wasm_target = nested_target_dir("wasm-guests");
    rerun_if_changed(&root, &["tests/guests", "sdk", "wit"]);
    let guests = build_wasm_workspace(&manifest_dir.join("guests/Cargo.toml"), &wasm_target);
    let mut code = String::from("/// The test connectors: (name, manifest, component).\npub const GUESTS: &[(&str, &str, &[u8])] = &[\n");
    for (name, dir) in guests {
        let wasm = wasm_target
            .join("wasm32-wasip2/release")
            .join(format!("{name}.wasm"));
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?}), include_bytes!({:?})),\n",
            dir.join("heph.toml"),
            wasm
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("guests.rs"), code)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.join("guests.rs").display()));
}
