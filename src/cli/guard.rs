//! The result file of `certus verify` on every exit path.
//!
//! A harness may stop certus at any moment: VNN-COMP sends SIGTERM at the timeout and then
//! SIGKILL. Once [`arm`]ed, a signal (SIGTERM, SIGINT, SIGHUP) or an abort (SIGABRT: an allocation
//! refused under `--memory-limit`, or any other abort) writes the result file and stdout's first
//! line, then ends the process with exit code 3:
//! - SIGTERM: the timeout word (`timeout`, or `timed-out` in the VNN-LIB 2.0 interface), since
//!   that is what a harness's SIGTERM means;
//! - SIGINT, SIGHUP, SIGABRT: `unknown`.
//!
//! The handler does only what is async-signal-safe: an atomic compare-and-swap, `open`, `write`,
//! `close`, `nanosleep` and `_exit`, on a path and words prepared before the handler is
//! installed. The same compare-and-swap guards the normal path ([`finish`]): whichever of the
//! two comes first writes the file, the other leaves it alone. A handler that finds the final
//! answer being written returns (the process ends by itself right after), except for an abort:
//! an allocation refused in another thread (the memory watcher, a worker) while the main
//! thread writes the answer cannot return, so it waits until [`write_final`] has written the
//! file (no allocation there) and then exits with the decided code. It once exited at once and
//! left an empty result file (about 1 run in 15 at `--memory-limit 1`).
//!
//! Panics are caught around the verification by the callers and answered `error`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::OnceLock;

const RUNNING: u8 = 0;
/// The normal path has claimed the answer and is writing it.
const FINAL: u8 = 1;
/// The normal path has written the result file (and stdout).
const WRITTEN: u8 = 2;
/// How long an abort in another thread waits for the normal path to finish writing, in
/// milliseconds: the write itself takes microseconds; this only bounds a stuck writer.
const WRITE_WAIT_MS: u32 = 5000;

static STATE: AtomicU8 = AtomicU8::new(RUNNING);
/// The exit code the normal path decided on, for an abort after it has answered.
static DECIDED: AtomicI32 = AtomicI32::new(EXIT_STOPPED);

/// What the handler writes, made before it is installed.
struct Prepared {
    /// The result file as a C string, if any.
    path: Option<CString>,
    /// `"timeout\n"` (or the 2.0 word) for SIGTERM.
    on_term: &'static [u8],
}

static PREPARED: OnceLock<Prepared> = OnceLock::new();

/// Exit code after a signal: `verify`'s code for `unknown`/`timeout`.
const EXIT_STOPPED: i32 = 3;

/// Installs the handlers for this run: from now on a signal writes `result_file` (when given)
/// and stdout's first line. `timeout_word` is the word for SIGTERM. Call once, before the long
/// work starts.
pub fn arm(result_file: Option<&Path>, timeout_word: &'static str) {
    let on_term: &'static [u8] = match timeout_word {
        "timed-out" => b"timed-out\n",
        _ => b"timeout\n",
    };
    let path = result_file.and_then(|p| CString::new(p.as_os_str().as_bytes()).ok());
    if PREPARED.set(Prepared { path, on_term }).is_err() {
        return; // armed already
    }
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGABRT] {
        // SAFETY: `on_signal` is async-signal-safe (see the module doc); the sigaction struct
        // is fully initialised (zeroed, then the handler and an empty mask).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// Writes the final answer `text` to the result file (when given) and then to stdout, without
/// allocating: the file through the path prepared by [`arm`] (when armed for it) and both
/// through raw file descriptors, since under a tiny `--memory-limit` an allocation here (a
/// path's C string, stdout's buffer made on first use) is refused and would lose the answer.
/// Earlier output ended with a newline, so stdout's line buffer holds nothing to reorder.
pub fn write_final(result_file: Option<&Path>, text: &str) -> std::io::Result<()> {
    let r = write_both(result_file, text);
    written();
    r
}

/// Tells the handler that the claimed answer is written: an abort waiting in another thread's
/// handler may end the process now. [`write_final`] calls it; a path that claims with
/// [`finish`] and writes otherwise calls it after its write.
pub fn written() {
    STATE.store(WRITTEN, Ordering::SeqCst);
}

fn write_both(result_file: Option<&Path>, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    if let Some(f) = result_file {
        match PREPARED.get().and_then(|p| p.path.as_ref()) {
            Some(path) => {
                // SAFETY: `path` is a valid C string; the buffer outlives the calls.
                let fd = unsafe {
                    libc::open(
                        path.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                        0o644,
                    )
                };
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // SAFETY: `fd` was just opened and is owned (and closed) by this File.
                let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
                file.write_all(text.as_bytes())?;
            }
            None => std::fs::write(f, text)?,
        }
    }
    // SAFETY: fd 1 is open for the process's lifetime; ManuallyDrop never closes it.
    let mut out = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
    // A closed stdout (a pipe whose reader left) loses this copy, not the result file.
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

/// Claims the right to write the final answer, which ends with exit code `code`: `true` once,
/// for whichever of the normal path and a signal comes first. The normal path calls it before
/// writing its result file and then stdout; `false` means a signal has already answered (the
/// process is ending).
pub fn finish(code: u8) -> bool {
    DECIDED.store(i32::from(code), Ordering::SeqCst);
    claim()
}

fn claim() -> bool {
    STATE
        .compare_exchange(RUNNING, FINAL, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

extern "C" fn on_signal(sig: libc::c_int) {
    if !claim() {
        if sig == libc::SIGABRT {
            // An abort after the answer was claimed (an allocation refused under a tiny
            // --memory-limit, in this thread after the write or in another one during it): the
            // handler may not return (abort would kill the process by the signal), so wait
            // until the result file is written, then end with the decided code.
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 1_000_000,
            };
            for _ in 0..WRITE_WAIT_MS {
                if STATE.load(Ordering::SeqCst) == WRITTEN {
                    break;
                }
                // SAFETY: nanosleep is async-signal-safe; `pause` outlives the call.
                unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
            }
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(DECIDED.load(Ordering::SeqCst)) }
        }
        // The final answer is being written: let the normal path end the process.
        return;
    }
    let Some(p) = PREPARED.get() else {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(EXIT_STOPPED) }
    };
    let word: &[u8] = if sig == libc::SIGTERM {
        p.on_term
    } else {
        b"unknown\n"
    };
    // SAFETY: open/write/close/_exit are async-signal-safe; the buffers outlive the calls.
    unsafe {
        if let Some(path) = &p.path {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                0o644,
            );
            if fd >= 0 {
                libc::write(fd, word.as_ptr().cast(), word.len());
                libc::close(fd);
            }
        }
        libc::write(1, word.as_ptr().cast(), word.len());
        let why: &[u8] = match sig {
            libc::SIGTERM => b"certus: stopped by SIGTERM\n",
            libc::SIGABRT => {
                b"certus: aborted (an allocation refused under --memory-limit ends this way)\n"
            }
            _ => b"certus: interrupted\n",
        };
        libc::write(2, why.as_ptr().cast(), why.len());
        libc::_exit(EXIT_STOPPED);
    }
}
