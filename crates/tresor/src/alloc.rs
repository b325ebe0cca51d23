//! Memory allocator settings for the process.
//!
//! glibc's malloc raises its mmap threshold every time a large block is
//! freed, up to 32 MiB. After the first 16 MiB pack buffer is freed, every
//! chunk, compression and encryption buffer (0.5–16 MiB) comes from
//! per-thread heaps instead of its own mapping, and those heaps keep what
//! is freed: a backup's resident size then grows with the database
//! (measured: 86 MiB for a 97 MiB SQLite database, 163 MiB for a 615 MiB
//! one), although the live heap stays under 40 MiB. A fixed threshold of
//! 128 KiB gives large blocks back to the system when they are freed and
//! keeps the peak flat (78 and 79 MiB in the same runs; `BENCHMARKS.md`,
//! "Memory"). The price, a fresh mapping whose pages fault in for every
//! large buffer, is not paid per chunk: chunk and record buffers are handed
//! from one chunk to the next (`tresor_repo::take_buffer`). That is the
//! only `unsafe` in tresor: one call into the C library, before any thread
//! starts.

/// Large blocks at least this big get their own mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes glibc's mmap threshold, unless the user set one through the
/// environment (`MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES`) or turned the
/// tuning off (`TRESOR_MALLOC_TUNING=off`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn tune() {
    let user_set = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mmap_threshold"))
        || std::env::var("TRESOR_MALLOC_TUNING").is_ok_and(|v| v == "off");
    if user_set {
        return;
    }
    // SAFETY: `mallopt` only changes allocator parameters; it is called
    // once at startup, before the runtime or any other thread exists. Its
    // result is not checked: a refusal leaves glibc's defaults, which cost
    // memory, not correctness (and logging is not set up yet).
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Other platforms' allocators need no tuning here.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn tune() {}
