//! Raw bindings generated from `wit/since_v0_1_0` (the `plugin` world). Connector code rarely
//! needs them: the rest of the SDK wraps them.
#![allow(missing_docs, clippy::all)]

wit_bindgen::generate!({
    path: "../wit/since_v0_1_0",
    world: "plugin",
    generate_all,
    pub_export_macro: true,
    default_bindings_module: "heph_sdk::bindings",
});
