//! recurses without bound.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    fn dive(n: u64) -> u64 {
        std::hint::black_box(dive(std::hint::black_box(n + 1)) + 1)
    }
    Ok(heph_sdk::json!({"depth": dive(0)}))
});
