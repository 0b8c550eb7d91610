[package]
name = "{{crate}}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
heph-sdk = { path = "{{sdk}}" }
serde_json = "1"

# A project of its own, even inside another workspace.
[workspace]

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"
