//! does nothing: the baseline for call overhead.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| { Ok(heph_sdk::json!({"echo": input})) });
