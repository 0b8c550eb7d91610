//! fetches a URL on a host its manifest does not list.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| { fetch_input_url!(input) });
