//! allocates until the memory cap.
#![allow(unconditional_recursion, unreachable_code)]

include!("../../shared/attack.rs");

attack_guest!(|ctx, input| {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
});
