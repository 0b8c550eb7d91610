// Shared by host/build.rs and tests/build.rs: builds a workspace of wasm components.

/// `<target>/<name>`: the nested build's own target directory beside the outer one (OUT_DIR is
/// `<target>/<profile>/build/<pkg>/out`). Sharing the outer one would wait forever on its lock.
pub fn nested_target_dir(name: &str) -> PathBuf {
    let out = PathBuf::from(cargo_env("OUT_DIR"));
    out.ancestors()
        .nth(4)
        .unwrap_or_else(|| panic!("OUT_DIR {} is not <target>/<profile>/build/<pkg>/out", out.display()))
        .join(name)
}

/// A variable cargo always sets for build scripts.
pub fn cargo_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run this through cargo"))
}

/// Asks cargo to run the build script again when anything under these folders changes.
pub fn rerun_if_changed(root: &Path, dirs: &[&str]) {
    for dir in dirs {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
}

/// Builds every member of a wasm workspace; returns (package name, package dir) of each.
pub fn build_wasm_workspace(manifest: &Path, target_dir: &Path) -> Vec<(String, PathBuf)> {
    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir);
    clean_env(&mut cmd);
    let status = cmd.status().expect("cannot run cargo for the wasm connectors");
    assert!(status.success(), "building the wasm components of {} failed", manifest.display());

    let workspace = manifest.parent().unwrap_or_else(|| Path::new("."));
    let read = |path: &Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    };
    let text = read(manifest);
    let members = text
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .map(|l| l.split('"').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>())
        .unwrap_or_default();
    members
        .into_iter()
        .map(|m| {
            let dir = workspace.join(&m);
            let cargo_toml = read(&dir.join("Cargo.toml"));
            let name = cargo_toml
                .lines()
                .find(|l| l.trim_start().starts_with("name"))
                .and_then(|l| l.split('"').nth(1))
                .unwrap_or_else(|| panic!("{}/Cargo.toml has no package name", dir.display()))
                .to_string();
            (name, dir)
        })
        .collect()
}

/// The outer cargo's settings (flags, profile, target) must not leak into the nested build.
fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        let keep = matches!(key.as_str(), "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_NET_OFFLINE")
            || key.starts_with("CARGO_REGISTRIES_")
            || key.starts_with("CARGO_NET_");
        if (key.starts_with("CARGO_") && !keep) || matches!(key.as_str(), "RUSTC" | "RUSTDOC" | "RUSTFLAGS" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER" | "TARGET" | "HOST" | "OUT_DIR" | "PROFILE" | "OPT_LEVEL" | "DEBUG" | "NUM_JOBS") {
            cmd.env_remove(key);
        }
    }
}

fn ensure_wasm_target() {
    let sysroot = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let installed = sysroot.is_some_and(|s| Path::new(&s).join("lib/rustlib/wasm32-wasip2").exists());
    if !installed {
        let status = Command::new("rustup").args(["target", "add", "wasm32-wasip2"]).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed"
        );
    }
}
