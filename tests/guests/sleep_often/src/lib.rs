//! sleeps `times` times for `ms` milliseconds in one call: waiting is not CPU time.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    let times = input["times"].as_u64().unwrap_or(1000);
    let ms = input["ms"].as_u64().unwrap_or(2);
    for _ in 0..times {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    Ok(heph_sdk::json!({"slept": times * ms}))
});
