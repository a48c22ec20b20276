//! One deadline for every engine: `certus verify --timeout T` on an instance no engine can
//! decide in T answers `timeout` within T + 1 s (process start and loading included), prints it,
//! writes it to `--result-file`, and exits 3. One test per engine; they run one at a time so that
//! the wall-clock times are not those of seven processes sharing the cores.

mod common;

use common::{certus, hard_instance, nnet_text, vnnlib_above};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The budget given to `--timeout`.
const T: Duration = Duration::from_secs(1);
/// What the deadline may be overshot by (the bound).
const SLACK: Duration = Duration::from_secs(1);

/// The hard instance written once as `hard.nnet` and `hard.vnnlib`.
fn files() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("certus-deadline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (layers, lower, upper, c) = hard_instance();
        let (net, prop) = (dir.join("hard.nnet"), dir.join("hard.vnnlib"));
        std::fs::write(&net, nnet_text(lower.len(), &layers)).unwrap();
        std::fs::write(&prop, vnnlib_above(&lower, &upper, c)).unwrap();
        (net, prop)
    })
}

/// Runs `verify --engine engine --timeout T` on the hard instance and checks the answer, the
/// result file, the exit code and the wall-clock time.
fn times_out(engine: &str) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (net, prop) = files();
    let result = net.with_file_name(format!("{engine}.result"));
    let t = Instant::now();
    let o = certus(&[
        "verify",
        net.to_str().unwrap(),
        prop.to_str().unwrap(),
        "--engine",
        engine,
        "--timeout",
        &T.as_secs_f64().to_string(),
        "--result-file",
        result.to_str().unwrap(),
    ]);
    let took = t.elapsed();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(out, "timeout\n", "{engine}: {err}");
    assert_eq!(o.status.code(), Some(3), "{engine}: {err}");
    assert_eq!(std::fs::read_to_string(&result).unwrap(), out, "{engine}");
    assert!(
        took <= T + SLACK,
        "{engine}: answered after {took:?} with --timeout {T:?}"
    );
}

#[test]
fn interval_keeps_the_deadline() {
    times_out("interval");
}

#[test]
fn dual_keeps_the_deadline() {
    times_out("dual");
}

#[test]
fn crown_keeps_the_deadline() {
    times_out("crown");
}

#[test]
fn alpha_keeps_the_deadline() {
    times_out("alpha");
}

#[test]
fn lp_keeps_the_deadline() {
    times_out("lp");
}

#[test]
fn smt_keeps_the_deadline() {
    times_out("smt");
}

#[test]
fn dlv_keeps_the_deadline() {
    times_out("dlv");
}

#[test]
fn input_split_keeps_the_deadline() {
    times_out("input-split");
}

#[test]
fn auto_keeps_the_deadline() {
    times_out("auto");
}

#[test]
fn relu_split_keeps_the_deadline() {
    times_out("relu-split");
}
