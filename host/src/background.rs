//! Background work: the CPU-heavy work a request asks for (a password hash, checking a
//! scenario, previewing a mapping, reading a large definition) runs on a few threads of their
//! own that the kernel schedules after the request threads (nice 10 on Linux). Under a flood
//! of sign-ins or members saving large scenarios, the cores are busy with this work, and the
//! threads that answer everyone else's small requests still get them first; the work itself
//! takes the time left over. How much of it runs at once is bounded by its callers' own
//! semaphores (`auth::passwords`, `engine::checking_turns`); the pool only gives it threads.

use std::sync::OnceLock;

use crate::app::AppError;

/// The niceness of background threads: a weight of about a tenth of a request thread's.
pub const NICENESS: i32 = 10;

/// Threads in the pool: at least as many as the turns its callers hand out (hashes, and one
/// check per two cores), so that work never queues here behind a semaphore's back.
fn threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    crate::auth::passwords::CONCURRENT_HASHES + cores
}

fn pool() -> Result<&'static rayon::ThreadPool, AppError> {
    static POOL: OnceLock<Result<rayon::ThreadPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads())
            .thread_name(|i| format!("heph-background-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| AppError::internal(format!("cannot start the background threads: {e}")))
}

/// Runs `work` on a background thread and waits for its answer. A panic in `work` is an
/// internal error for this caller, not the end of the process.
pub async fn run<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    pool()?.spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        // The caller may have gone (its request was cancelled): nobody to tell.
        let _ = answer.send(result);
    });
    match answered.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(AppError::internal(format!("{what} failed unexpectedly"))),
        Err(_) => Err(AppError::internal(format!("{what} was dropped"))),
    }
}

/// Lowers the calling thread's priority (on Linux, `setpriority` with `who = 0` names the
/// calling thread, not the process). Elsewhere the threads keep the process's priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only changes the scheduling weight of the calling thread.
    unsafe {
        if libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) != 0 {
            tracing::debug!(
                "background threads keep the normal priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_lower_priority_thread_and_a_panic_is_an_error() {
        let (name, nice) = run("probing", || {
            let name = std::thread::current().name().map(str::to_string);
            // SAFETY: getpriority reads the calling thread's niceness.
            #[cfg(target_os = "linux")]
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            #[cfg(not(target_os = "linux"))]
            let nice = NICENESS;
            (name, nice)
        })
        .await
        .expect("runs");
        assert!(name.is_some_and(|n| n.starts_with("heph-background-")));
        assert!(nice >= NICENESS, "niceness {nice}");
        let failed = run("panicking", || panic!("on purpose")).await;
        assert!(failed.is_err_and(|e| e.message.contains("panicking failed")));
        // The pool survives a panic.
        assert_eq!(run("adding", || 2 + 2).await.expect("runs"), 4);
    }
}
