//! The memory budget of a template evaluation. Fuel bounds how many instructions a template
//! runs, but not what they build: `{% set s = s ~ s %}` in a loop doubles a string at every
//! turn, and a 100-byte template once built an 800 MB string. Here the process's allocator
//! counts the bytes a thread holds while it evaluates a template, and minijinja (patched, see
//! `vendor/VENDORED.md`) asks before every instruction whether the evaluation is still within
//! [`TEMPLATE_MEMORY`]; past it, the evaluation ends with an error naming the limit.
//!
//! Counting is per thread (an evaluation is synchronous: it never moves between threads) and
//! only while an evaluation is armed; everything else pays one thread-local read per
//! allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// What one evaluation may hold at once.
pub const TEMPLATE_MEMORY: usize = 32 * 1024 * 1024;

/// The message of an evaluation stopped by the budget.
pub const OVER_BUDGET: &str = "the template built more than 32 MiB of values (a string doubled in a loop?); templates map data, they do not generate it";

thread_local! {
    /// How deep in armed evaluations this thread is (0: not counting).
    static ARMED: Cell<u32> = const { Cell::new(0) };
    /// Bytes allocated and not freed since the outermost evaluation began.
    static HELD: Cell<isize> = const { Cell::new(0) };
}

/// The process's allocator: the system's, counting for armed threads.
pub struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn count(delta: isize) {
    // `try_with`: during a thread's teardown its locals are gone; nothing is counted then.
    let _ = ARMED.try_with(|armed| {
        if armed.get() > 0 {
            let _ = HELD.try_with(|held| held.set(held.get().saturating_add(delta)));
        }
    });
}

// SAFETY: every call is passed to the system allocator unchanged; counting only reads and
// writes thread-local cells, which allocate nothing.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

/// Runs `evaluate` with its allocations counted against the budget (nested calls share the
/// outermost one's count).
pub fn within_budget<T>(evaluate: impl FnOnce() -> T) -> T {
    install();
    let outermost = ARMED.with(|armed| {
        let depth = armed.get();
        armed.set(depth + 1);
        depth == 0
    });
    if outermost {
        HELD.with(|held| held.set(0));
    }
    let result = evaluate();
    ARMED.with(|armed| armed.set(armed.get() - 1));
    result
}

/// The check minijinja runs before each instruction.
fn check() -> Result<(), &'static str> {
    let held = HELD.try_with(Cell::get).unwrap_or(0);
    let armed = ARMED.try_with(Cell::get).unwrap_or(0) > 0;
    if armed && held > TEMPLATE_MEMORY as isize {
        Err(OVER_BUDGET)
    } else {
        Ok(())
    }
}

fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| minijinja::set_budget_check(check));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluation_counts_what_it_holds_and_nothing_else() {
        let held_after = within_budget(|| {
            let kept = vec![0u8; 1024 * 1024];
            let within = check().is_ok();
            let held = HELD.with(Cell::get);
            drop(kept);
            (within, held, HELD.with(Cell::get))
        });
        assert!(held_after.0);
        assert!(held_after.1 >= 1024 * 1024, "{}", held_after.1);
        assert!(held_after.2 < held_after.1, "freed bytes are given back");
        let over = within_budget(|| {
            let hoard = vec![1u8; TEMPLATE_MEMORY + 1];
            let verdict = check();
            drop(hoard);
            verdict
        });
        assert_eq!(over, Err(OVER_BUDGET));
        // Outside an evaluation nothing is counted or refused.
        let _big = vec![0u8; TEMPLATE_MEMORY * 2];
        assert_eq!(check(), Ok(()));
    }
}
