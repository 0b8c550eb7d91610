//! panics.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    let reason = input["reason"].as_str().unwrap_or("no reason");
    panic!("guest panicked on purpose: {reason}");
});
