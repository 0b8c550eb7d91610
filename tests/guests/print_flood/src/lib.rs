//! prints a megabyte to stdout, then answers: its output is cut, the call goes on.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    let line = "x".repeat(1023);
    for _ in 0..1024 {
        println!("{line}");
    }
    Ok(heph_sdk::json!({"printed": 1 << 20}))
});
