//! Host bindings for `heph:connector@0.1.0` (the `plugin` world). WASI's own interfaces are
//! the ones wasmtime-wasi and wasmtime-wasi-http implement.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit/since_v0_1_0",
    world: "plugin",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    require_store_data_send: true,
});
