//! The process's memory, watched against a limit (`--memory-limit`): past the limit every
//! engine stops as at its deadline, and `verify` answers `unknown` with the reason instead of
//! the process being killed by the system.
//!
//! A watcher thread ([`watch`]) reads the resident set size (Linux `/proc/self/statm`) every
//! [`POLL`] and sets one process-wide flag once it reaches the limit; [`crate::deadline::Deadline::expired`]
//! reads that flag (one relaxed atomic load), so every loop that checks its deadline also stops
//! for memory, with no check of its own. What the search stores between steps is small and
//! bounded (branch and bound is depth first: at most two boxes per level of its split depth per
//! batch), so memory grows inside single bound computations; a single allocation far past the
//! limit is caught by the binary's hard limit instead (`certus verify --memory-limit`, which also
//! sets `RLIMIT_DATA` and writes the result file when the allocation fails).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often the watcher reads the resident set size.
pub const POLL: Duration = Duration::from_millis(20);

static EXCEEDED: AtomicBool = AtomicBool::new(false);
/// The limit being watched, in bytes (0: none), and the largest resident size seen past it.
static LIMIT: AtomicU64 = AtomicU64::new(0);
static SEEN: AtomicU64 = AtomicU64::new(0);

/// True once the watched limit has been reached (never without [`watch`]).
pub fn exceeded() -> bool {
    EXCEEDED.load(Ordering::Relaxed)
}

/// The resident set size of this process in bytes, when the system tells it (Linux).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|&p| p > 0)?)
}

/// Starts the watcher: from now on, once the resident set size reaches `limit` bytes,
/// [`exceeded`] is true (and every deadline has expired). Call once, at the edge (the CLI);
/// `Err` when the system does not report the resident size (then nothing is watched).
pub fn watch(limit: u64) -> Result<(), String> {
    resident_bytes().ok_or("this system does not report the process's resident memory")?;
    LIMIT.store(limit, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("certus-memory".into())
        .spawn(move || loop {
            if let Some(rss) = resident_bytes().filter(|&r| r >= limit) {
                SEEN.store(rss, Ordering::Relaxed);
                EXCEEDED.store(true, Ordering::Relaxed);
                return;
            }
            std::thread::sleep(POLL);
        })
        .map_err(|e| format!("cannot start the memory watcher: {e}"))?;
    Ok(())
}

/// Why the search stopped, once the limit has been reached: the limit and the resident size
/// the watcher saw.
pub fn reason() -> Option<String> {
    exceeded().then(|| {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        format!(
            "memory limit reached: {:.0} MiB resident, limit {:.0} MiB",
            mib(SEEN.load(Ordering::Relaxed)),
            mib(LIMIT.load(Ordering::Relaxed))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_size_is_read() {
        let rss = resident_bytes().expect("Linux reports /proc/self/statm");
        assert!(rss > 1 << 20 && rss < 1 << 40, "{rss}");
    }
}
