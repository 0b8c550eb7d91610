//! The host memory one call may make the host hold, charged as it grows: call-log entries,
//! buffered request bodies, the answer's text and the values parsed from it. Past the budget
//! the flag is set, what would have been kept is dropped, and the call ends with
//! `memory_exceeded` at its next step (a host call, an epoch tick, or its end).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A call's host-memory budget. Cheap to clone (shared by the call's parts).
#[derive(Debug, Clone)]
pub struct HostBudget(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    cap: usize,
    used: AtomicUsize,
    exceeded: AtomicBool,
}

/// The budget ran out.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the call made the host hold more than its {0} bytes of memory")]
pub struct OverBudget(pub usize);

impl HostBudget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> HostBudget {
        HostBudget(Arc::new(Inner {
            cap,
            used: AtomicUsize::new(0),
            exceeded: AtomicBool::new(false),
        }))
    }

    /// Charges `bytes`; past the cap nothing is charged and the budget is marked exceeded.
    pub fn charge(&self, bytes: usize) -> Result<(), OverBudget> {
        let inner = &self.0;
        let mut used = inner.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if next > inner.cap {
                inner.exceeded.store(true, Ordering::Relaxed);
                return Err(OverBudget(inner.cap));
            }
            match inner
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    /// Gives back what a released buffer had charged.
    pub fn release(&self, bytes: usize) {
        let _ = self
            .0
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }

    /// Whether a charge was ever refused.
    pub fn exceeded(&self) -> bool {
        self.0.exceeded.load(Ordering::Relaxed)
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.0.cap
    }
}

/// An upper bound of the memory `serde_json` needs for a parsed JSON text, counted without
/// parsing it: every value is a `Value` (and a map or vector slot), every string its bytes.
/// A result of millions of tiny values is refused by this before it is built.
pub fn parsed_json_bytes(text: &str) -> usize {
    // A `Value` is 32 bytes (with `preserve_order`, an object entry adds the key and an index
    // slot); a vector or map over-allocates up to twice. 96 bytes a value covers both.
    const PER_VALUE: usize = 96;
    let mut values = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            // Each separator or opening bracket starts another value (or key).
            b',' | b':' | b'[' | b'{' => values += 1,
            _ => {}
        }
    }
    values.saturating_mul(PER_VALUE).saturating_add(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_up_to_the_cap_and_remembers_an_overrun() {
        let b = HostBudget::new(100);
        assert!(b.charge(60).is_ok());
        assert!(b.charge(50).is_err());
        assert!(b.exceeded());
        assert_eq!(b.used(), 60, "a refused charge is not counted");
        b.release(60);
        assert!(b.charge(100).is_ok());
        assert!(b.exceeded(), "an overrun stays recorded");
    }

    #[test]
    fn parsed_size_grows_with_the_number_of_values_not_only_bytes() {
        let small_values = format!("[{}0]", "0,".repeat(1000));
        let one_string = format!("\"{}\"", "x".repeat(2000));
        assert!(parsed_json_bytes(&small_values) > 1000 * 96);
        assert!(parsed_json_bytes(&one_string) < 3000);
        // Brackets and commas inside strings are text, not values.
        assert!(parsed_json_bytes(r#"{"a":"[,,,{"}"#) < 4 * 96 + 20);
        assert!(parsed_json_bytes(r#"["\"[,,"]"#) < 3 * 96 + 20);
    }
}
