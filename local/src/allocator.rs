//! Tuning of the local stack's allocators: mimalloc (Rust's, see `main.rs`)
//! and the C library's malloc, which SQLite uses for its page caches.
//!
//! By default mimalloc keeps freed memory for a second before returning it
//! to the OS, and commits arena memory eagerly on Linux; purged pages of an
//! eagerly committed arena stay resident. Under the batch writer's bursts
//! (a few MB of events and planned writes per group, freed on another
//! thread) that held the stack at 168 MB; returning it after 100 ms and
//! committing on demand brought the same run to 94 MB at no measurable cost
//! in throughput (BENCHMARKS.md).

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// `mi_option_arena_eager_commit` in mimalloc v3's `mi_option_e` (mimalloc.h);
/// the bindings name only the stable options.
const ARENA_EAGER_COMMIT: mi_option_t = 4;
/// `mi_option_purge_delay` (milliseconds before freed memory is returned).
const PURGE_DELAY: mi_option_t = 15;

/// Call first thing in `main`, before threads start allocating. Options
/// set in the environment (`MIMALLOC_PURGE_DELAY`, `MALLOC_ARENA_MAX`, ...)
/// are left as set.
pub fn return_memory_promptly() {
    // glibc gives each thread that allocates an arena of its own (up to
    // 8 per core); SQLite runs on tokio's blocking threads, so its caches
    // were spread over four arenas of ~10 MB each. Two arenas serve
    // connections that are used one thread at a time anyway.
    #[cfg(target_env = "gnu")]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes malloc's tuning parameters.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    }
    for (option, name, value) in
        [(ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0), (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 100)]
    {
        if std::env::var_os(name).is_none() {
            // SAFETY: setting an option is a plain store into mimalloc's
            // option table, valid at any time; the indices are checked by
            // the test below.
            unsafe { mi_option_set(option, value) };
        }
    }
}

#[cfg(test)]
mod tests {
    use libmimalloc_sys::mi_option_get;

    use super::*;

    fn option(option: mi_option_t) -> std::ffi::c_long {
        // SAFETY: reading an option has no preconditions.
        unsafe { mi_option_get(option) }
    }

    #[test]
    fn the_option_indices_name_the_options_meant() {
        // mimalloc v3's defaults for these two options (options.c): a shifted
        // index would read some other option's default.
        assert_eq!(option(ARENA_EAGER_COMMIT), 2, "arena_eager_commit defaults to 2 (on overcommit systems)");
        assert_eq!(option(PURGE_DELAY), 1000, "purge_delay defaults to 1000 ms");
        return_memory_promptly();
        assert_eq!((option(ARENA_EAGER_COMMIT), option(PURGE_DELAY)), (0, 100));
    }
}
