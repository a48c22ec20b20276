//! Resource limits and exit paths of `certus verify`: the result file is written however the
//! process ends (SIGTERM from a harness at its timeout, SIGINT, an allocation refused under
//! `--memory-limit`), `--memory-limit` ends a run with `unknown` and the reason instead of the
//! system killing it, and `--jobs` is honoured.

mod common;

use common::{hard_instance, nnet_text, vnnlib_above};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The hard instance (no engine decides it in seconds) written once.
fn files() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("certus-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (layers, lower, upper, c) = hard_instance();
        let (net, prop) = (dir.join("hard.nnet"), dir.join("hard.vnnlib"));
        std::fs::write(&net, nnet_text(lower.len(), &layers)).unwrap();
        std::fs::write(&prop, vnnlib_above(&lower, &upper, c)).unwrap();
        (net, prop)
    })
}

/// Starts `certus verify` on the hard instance with `extra` arguments, waits until it has
/// loaded (0.5 s), sends `signal`, and returns (exit code, stdout, stderr, result file text).
fn stopped_by(signal: i32, extra: &[&str], tag: &str) -> (Option<i32>, String, String, String) {
    let (net, prop) = files();
    let result = net.with_file_name(format!("{tag}.result"));
    let child = Command::new(env!("CARGO_BIN_EXE_certus"))
        .args(["verify", net.to_str().unwrap(), prop.to_str().unwrap()])
        .args(["--timeout", "60", "--result-file", result.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run certus");
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    // SAFETY: kill(2) on the child's own process id.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let pid = child.id();
    let o = child.wait_with_output().expect("wait for certus");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "process {pid} took {:?} to stop",
        t.elapsed()
    );
    let text = std::fs::read_to_string(&result).unwrap_or_default();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
        text,
    )
}

/// VNN-COMP stops a tool with SIGTERM at the timeout: certus, in the middle of branch and
/// bound, writes `timeout` to the result file and stdout and exits 3 at once.
#[test]
fn sigterm_writes_the_result_file() {
    let (code, out, err, file) = stopped_by(libc::SIGTERM, &[], "term");
    assert_eq!(file, "timeout\n", "{err}");
    assert_eq!(out, "timeout\n", "{err}");
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("SIGTERM"), "{err}");
    // The same in the SMT engine, whose work runs on Z3's own threads.
    let (code, _, err, file) = stopped_by(libc::SIGTERM, &["--engine", "smt"], "term-smt");
    assert_eq!((file.as_str(), code), ("timeout\n", Some(3)), "{err}");
}

/// An interrupt is not a timeout: `unknown`.
#[test]
fn sigint_writes_unknown() {
    let (code, out, err, file) = stopped_by(libc::SIGINT, &["--jobs", "1"], "int");
    assert_eq!(
        (file.as_str(), out.as_str(), code),
        ("unknown\n", "unknown\n", Some(3)),
        "{err}"
    );
}

/// The VNN-LIB 2.0 interface says `timed-out`.
#[test]
fn sigterm_in_the_standard_interface_says_timed_out() {
    let (net, _) = files();
    let (_, lower, upper, c) = hard_instance();
    let mut q = String::from("(vnnlib-version <2.0>)\n(declare-network f\n  (declare-input x real [20])\n  (declare-output y real [1]))\n");
    for i in 0..lower.len() {
        q += &format!(
            "(assert (>= x[{i}] {:?}))\n(assert (<= x[{i}] {:?}))\n",
            lower[i], upper[i]
        );
    }
    q += &format!("(assert (>= y[0] {c:?}))\n");
    let query = net.with_file_name("hard2.vnnlib");
    std::fs::write(&query, q).unwrap();
    let result = net.with_file_name("std.result");
    let child = Command::new(env!("CARGO_BIN_EXE_certus"))
        .args(["verify", query.to_str().unwrap()])
        .arg(format!("--network=f={}", net.display()))
        .args(["--timeout", "60", "--result-file", result.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run certus");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on the child's own process id.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        std::fs::read_to_string(&result).unwrap(),
        "timed-out\n",
        "{err}"
    );
    assert_eq!(o.status.code(), Some(3), "{err}");
}

/// `--memory-limit` far below what a run needs ends in `unknown`, in the result file too, with
/// exit code 3 and the reason on stderr, never a kill by the system: at 1 MiB the network cannot
/// even be read (and an allocation refused in any thread, even while the answer is being
/// written, must not leave the result file empty); at 64 MiB the SMT engine (Z3 grows past
/// 100 MiB on this instance) stops when resident memory passes 85% of the limit, or Z3's next
/// allocation is refused.
#[test]
fn memory_limit_ends_in_unknown_with_the_reason() {
    let (net, prop) = files();
    for (mib, engine) in [("1", "crown"), ("64", "smt")] {
        let result = net.with_file_name(format!("mem-{mib}.result"));
        // A file left by an earlier run must not stand in for this run's.
        let _ = std::fs::remove_file(&result);
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_certus"))
            .args(["verify", net.to_str().unwrap(), prop.to_str().unwrap()])
            .args(["--timeout", "20", "--memory-limit", mib, "--engine", engine])
            .args(["--result-file", result.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let file = std::fs::read_to_string(&result).unwrap();
        assert_eq!(file, "unknown\n", "{mib} MiB: {err}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "unknown\n",
            "{mib} MiB: {err}"
        );
        assert_eq!(o.status.code(), Some(3), "{mib} MiB: {err}");
        assert!(err.contains("memory"), "{mib} MiB: {err}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{mib} MiB: {:?}",
            t.elapsed()
        );
    }
}

/// A generous limit changes nothing: the easy instance is still decided.
#[test]
fn memory_limit_and_jobs_leave_easy_instances_alone() {
    let root = common::root();
    let o = Command::new(env!("CARGO_BIN_EXE_certus"))
        .current_dir(&root)
        .args([
            "verify",
            "examples/vee.nnet",
            "properties/vee_above_2.1.vnnlib",
        ])
        .args(["--memory-limit", "4096", "--jobs", "1"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "unsat\n");
    assert_eq!(o.status.code(), Some(0));
}
