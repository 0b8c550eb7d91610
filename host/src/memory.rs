//! How heph asks the C allocator to treat large blocks. glibc's malloc raises its mmap
//! threshold as large blocks are freed, so that later ones come from its arenas, and an arena
//! keeps what was freed; with one arena per thread that ran a password hash (19 MiB each) or a
//! large template, the process kept hundreds of MiB it no longer used. Fixing the threshold at
//! 1 MiB maps every larger block on its own and gives it back when it is freed.

/// Blocks from this size on are mapped on their own and unmapped when freed.
pub const MMAP_THRESHOLD: i32 = 1024 * 1024;

/// Sets the thresholds; call once, early (`heph` does in `main`).
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD);
    }
}
