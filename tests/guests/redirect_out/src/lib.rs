//! follows a redirect from an allowed host to one outside the list.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| { fetch_input_url!(input) });
