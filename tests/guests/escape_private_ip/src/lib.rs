//! fetches an allowed host that is a loopback, private or metadata address.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| { fetch_input_url!(input) });
