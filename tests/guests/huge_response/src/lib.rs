//! reads a response body larger than the host allows.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| { fetch_input_url!(input) });
