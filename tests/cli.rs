//! The `certus` binary end to end: verdicts, exit codes, output formats, and one-line errors
//! (exit code 2, no panic) for every kind of malformed input.

mod common;

use common::{certus, root, shared_benchmarks};
use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean error: exit code 2, one `error: ...` line naming `needle`, no panic.
fn assert_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(line.contains(needle), "`{line}` should mention `{needle}`");
}

fn tmp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("certus-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn readme_example_unsat() {
    let o = certus(&[
        "verify",
        "examples/vee.nnet",
        "properties/vee_above_2.1.vnnlib",
    ]);
    assert_eq!(stdout(&o), "unsat\n");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn sat_prints_replayable_counterexample_and_result_file() {
    let rf = tmp_file("vee.result", b"");
    let o = certus(&[
        "verify",
        "examples/vee.nnet",
        "properties/vee_above_1.9.vnnlib",
        "--result-file",
        rf.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("sat"));
    // ((X_0 v)\n (X_1 v)\n (Y_0 v))
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), 3, "{out}");
    assert!(
        body[0].starts_with("((X_0 ")
            && body[1].starts_with(" (X_1 ")
            && body[2].starts_with(" (Y_0 ")
    );
    assert!(body[2].ends_with("))"));
    let num = |l: &str| -> f64 {
        l.trim()
            .trim_start_matches('(')
            .split_whitespace()
            .nth(1)
            .unwrap()
            .trim_end_matches(')')
            .parse()
            .unwrap()
    };
    let (x0, x1, y) = (num(body[0]), num(body[1]), num(body[2]));
    let relu = |v: f64| v.max(0.0);
    assert!((relu(x0 + x1) + relu(x0 - x1) - y).abs() < 1e-6 && y >= 1.9);
    assert_eq!(std::fs::read_to_string(&rf).unwrap(), out);
}

#[test]
fn eval_reads_commas_and_whitespace() {
    let inputs = tmp_file("vee.txt", b"# comment\n1, 0\n0.5 0.25\n\n");
    let o = certus(&["eval", "examples/vee.nnet", inputs.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "2\n1\n");
}

#[test]
fn eval_wrong_length_names_the_line() {
    let inputs = tmp_file("short.txt", b"1 0\n1\n");
    assert_error(
        &certus(&["eval", "examples/vee.nnet", inputs.to_str().unwrap()]),
        "short.txt:2",
    );
}

#[test]
fn inspect_prints_the_ir() {
    let o = certus(&["inspect", "examples/vee.nnet"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("Affine") && out.contains("Relu") && out.contains("W 2x2"),
        "{out}"
    );
}

#[test]
fn missing_network_file() {
    let o = certus(&["verify", "nope.onnx", "properties/vee_above_2.1.vnnlib"]);
    assert_eq!(stdout(&o), "error\n");
    assert_error(&o, "nope.onnx");
}

#[test]
fn missing_property_file() {
    assert_error(
        &certus(&["verify", "examples/vee.nnet", "nope.vnnlib"]),
        "nope.vnnlib",
    );
}

#[test]
fn non_onnx_bytes() {
    let f = tmp_file("garbage.onnx", b"this is not a protobuf \xff\xff\xff\xff");
    assert_error(&certus(&["inspect", f.to_str().unwrap()]), "garbage.onnx");
}

#[test]
fn truncated_onnx() {
    let Some(b) = shared_benchmarks() else { return };
    let bytes = std::fs::read(b.join("mnistfc/onnx/mnist-net_256x2.onnx")).unwrap();
    let f = tmp_file("truncated.onnx", &bytes[..bytes.len() / 2]);
    assert_error(&certus(&["inspect", f.to_str().unwrap()]), "truncated.onnx");
}

#[test]
fn unsupported_ops_are_all_listed() {
    let f = root().join("tests/fixtures/unsupported.onnx");
    if !f.exists() {
        panic!("fixture missing: {}", f.display());
    }
    let o = certus(&["inspect", f.to_str().unwrap()]);
    assert_error(&o, "Hardmax");
    assert!(stderr(&o).contains("Erf"), "{}", stderr(&o));
}

#[test]
fn vnnlib_syntax_error_names_line_and_column() {
    let f = tmp_file(
        "bad.vnnlib",
        b"(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 1.0)\n",
    );
    assert_error(
        &certus(&["verify", "examples/vee.nnet", f.to_str().unwrap()]),
        "bad.vnnlib:3:",
    );
}

#[test]
fn unbounded_input() {
    let f = tmp_file(
        "unbounded.vnnlib",
        b"(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n\
          (assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (>= Y_0 1))\n",
    );
    let o = certus(&["verify", "examples/vee.nnet", f.to_str().unwrap()]);
    assert_error(&o, "X_1");
}

#[test]
fn input_index_out_of_range() {
    let f = tmp_file(
        "three_inputs.vnnlib",
        b"(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)\n(declare-const Y_0 Real)\n\
          (assert (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1) (>= X_2 0) (<= X_2 1)))\n(assert (>= Y_0 1))\n",
    );
    assert_error(
        &certus(&["verify", "examples/vee.nnet", f.to_str().unwrap()]),
        "3 inputs",
    );
}

#[test]
fn output_index_out_of_range() {
    let f = tmp_file(
        "two_outputs.vnnlib",
        b"(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n\
          (assert (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1)))\n(assert (>= Y_1 1))\n",
    );
    assert_error(
        &certus(&["verify", "examples/vee.nnet", f.to_str().unwrap()]),
        "2 outputs",
    );
}

#[test]
fn bench_scores_a_folder() {
    let dir = std::env::temp_dir().join(format!("certus-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = root();
    let abs = |p: &str| r.join(p).to_str().unwrap().to_string();
    std::fs::write(
        dir.join("instances.csv"),
        format!(
            "{0},{1},5\n{0},{2},5\n",
            abs("examples/vee.nnet"),
            abs("properties/vee_above_2.1.vnnlib"),
            abs("properties/vee_above_1.9.vnnlib")
        ),
    )
    .unwrap();
    // The second expected answer is deliberately wrong: bench must flag it and exit 1.
    std::fs::write(
        dir.join("expected.csv"),
        format!(
            "onnx,vnnlib,expected\n{0},{1},unsat\n{0},{2},unsat\n",
            abs("examples/vee.nnet"),
            abs("properties/vee_above_2.1.vnnlib"),
            abs("properties/vee_above_1.9.vnnlib")
        ),
    )
    .unwrap();
    let o = certus(&["bench", dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("summary: 2 instances, 1 solved (1 unsat, 0 sat), 1 wrong, 0 unsolved"),
        "{out}"
    );
}

#[test]
fn nnet_and_onnx_acasxu_agree() {
    let Some(b) = shared_benchmarks() else { return };
    let inputs = tmp_file(
        "acas.txt",
        b"0.6 -0.5 0.2 0.45 -0.5\n0.0 0.1 -0.1 0.3 0.2\n",
    );
    let i = inputs.to_str().unwrap();
    let onnx = certus(&[
        "eval",
        "--f64",
        b.join("acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx")
            .to_str()
            .unwrap(),
        i,
    ]);
    let nnet = certus(&[
        "eval",
        "--f64",
        b.join("acasxu/nnet/ACASXU_experimental_v2a_1_1.nnet")
            .to_str()
            .unwrap(),
        i,
    ]);
    let parse = |o: &Output| -> Vec<f64> {
        stdout(o)
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let (a, n) = (parse(&onnx), parse(&nnet));
    assert_eq!(a.len(), 10);
    for (x, y) in a.iter().zip(&n) {
        assert!((x - y).abs() < 1e-4, "{a:?} vs {n:?}");
    }
}

#[test]
fn acasxu_quick_instances_are_right() {
    // Sat instances that the falsifier settles in well under a second.
    let Some(b) = shared_benchmarks() else { return };
    let acas = |net: &str, prop: &str| {
        certus(&[
            "verify",
            b.join(format!("acasxu/onnx/ACASXU_run2a_{net}_batch_2000.onnx"))
                .to_str()
                .unwrap(),
            b.join(format!("acasxu/vnnlib/prop_{prop}.vnnlib"))
                .to_str()
                .unwrap(),
            "--timeout",
            "20",
        ])
    };
    for (net, prop) in [("1_7", "3"), ("1_9", "3")] {
        let o = acas(net, prop);
        assert_eq!(
            stdout(&o).lines().next(),
            Some("sat"),
            "{net} prop {prop}: {}",
            stderr(&o)
        );
    }
}

/// Asserts that `certus` rejected the arguments at parse time: exit 2, a usage error naming
/// `option` and saying `what`, no panic.
fn assert_usage_error(o: &Output, option: &str, what: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err.lines().next().unwrap_or_default();
    assert!(
        line.starts_with("error: ") && line.contains(option) && line.contains(what),
        "`{line}` should name `{option}` and say `{what}`"
    );
}

/// A benchmark folder in a temporary directory with these `instances.csv` and (optional)
/// `expected.csv` rows; paths are relative to the crate root's absolute path.
fn bench_dir(name: &str, instances: &[(&str, &str)], expected: &[(&str, &str, &str)]) -> String {
    let dir = std::env::temp_dir().join(format!("certus-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = root();
    let abs = |p: &str| r.join(p).to_str().unwrap().to_string();
    let rows: String = instances
        .iter()
        .map(|(n, p)| format!("{},{},5\n", abs(n), abs(p)))
        .collect();
    std::fs::write(dir.join("instances.csv"), rows).unwrap();
    if !expected.is_empty() {
        let rows: String = expected
            .iter()
            .map(|(n, p, e)| format!("{},{},{e}\n", abs(n), abs(p)))
            .collect();
        std::fs::write(
            dir.join("expected.csv"),
            format!("onnx,vnnlib,expected\n{rows}"),
        )
        .unwrap();
    }
    dir.to_str().unwrap().to_string()
}

const VEE: &str = "examples/vee.nnet";
const HOLDS: &str = "properties/vee_above_2.1.vnnlib";
const FAILS: &str = "properties/vee_above_1.9.vnnlib";

#[test]
fn bench_counts_errors_and_exits_2() {
    // The second instance's property does not exist: an error, counted, exit code 2.
    let dir = bench_dir(
        "bench-error",
        &[(VEE, HOLDS), (VEE, "properties/missing.vnnlib")],
        &[
            (VEE, HOLDS, "unsat"),
            (VEE, "properties/missing.vnnlib", "sat"),
        ],
    );
    let o = certus(&["bench", &dir]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains(" ERROR\n"), "{out}");
    assert!(
        out.contains("summary: 2 instances, 1 solved (1 unsat, 0 sat), 0 wrong, 0 unsolved, 0 unchecked, 1 errors"),
        "{out}"
    );
    assert!(stderr(&o).contains("missing.vnnlib"), "{}", stderr(&o));
}

#[test]
fn bench_does_not_score_unknown_expectations_ok() {
    // No expected.csv row for the first instance, `unknown` for the second: both answered,
    // neither `ok`; they are counted apart and the run is clean (exit 0).
    let dir = bench_dir(
        "bench-unchecked",
        &[(VEE, HOLDS), (VEE, FAILS)],
        &[(VEE, FAILS, "unknown")],
    );
    let o = certus(&["bench", &dir]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains(" ok\n"), "{out}");
    assert_eq!(out.matches(" ?\n").count(), 2, "{out}");
    assert!(
        out.contains("summary: 2 instances, 0 solved (0 unsat, 0 sat), 0 wrong, 0 unsolved, 2 unchecked, 0 errors"),
        "{out}"
    );
}

#[test]
fn bench_filter_matching_nothing_is_an_error() {
    let dir = bench_dir("bench-filter", &[(VEE, HOLDS)], &[]);
    assert_error(&certus(&["bench", &dir, "--filter", "no-such"]), "no-such");
    let o = certus(&["bench", &dir, "--filter", "vee_above_2.1"]);
    assert!(
        stdout(&o).contains("summary: 1 instances"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bench_rejects_a_bad_expected_answer() {
    let dir = bench_dir(
        "bench-bad-expected",
        &[(VEE, HOLDS)],
        &[(VEE, HOLDS, "maybe")],
    );
    assert_error(&certus(&["bench", &dir]), "expected.csv:2");
}

/// Huge budgets are no limit (no panic), zero, negative and NaN ones are usage errors.
#[test]
fn verify_timeout_values() {
    for t in ["1e19", "1e300", "inf"] {
        let o = certus(&["verify", VEE, HOLDS, "--timeout", t]);
        assert_eq!(stdout(&o), "unsat\n", "--timeout {t}: {}", stderr(&o));
    }
    for t in ["-1", "0", "nan", "soon"] {
        let o = certus(&["verify", VEE, HOLDS, "--timeout", t]);
        assert_usage_error(
            &o,
            "--timeout",
            if t == "soon" {
                "not a number"
            } else {
                "must be"
            },
        );
    }
    let o = certus(&["verify", VEE, HOLDS, "--timeout", "-1"]);
    assert_usage_error(&o, "--timeout", "must be a positive number");
    assert_usage_error(
        &certus(&["verify", VEE, HOLDS, "--seed", "-3"]),
        "--seed",
        "zero or more",
    );
}

#[test]
fn attack_numeric_options() {
    for t in ["1e19", "1e300", "inf"] {
        let o = certus(&["attack", VEE, FAILS, "--timeout", t]);
        assert_eq!(o.status.code(), Some(1), "--timeout {t}: {}", stderr(&o));
    }
    assert_usage_error(
        &certus(&["attack", VEE, FAILS, "--timeout", "-1"]),
        "--timeout",
        "must be a positive",
    );
    assert_usage_error(
        &certus(&["attack", VEE, FAILS, "--count", "0"]),
        "--count",
        "at least 1",
    );
    assert_usage_error(
        &certus(&["attack", VEE, FAILS, "--count", "-2"]),
        "--count",
        "at least 1",
    );
    assert_usage_error(
        &certus(&["attack", VEE, FAILS, "--restarts", "-1"]),
        "--restarts",
        "zero or more",
    );
}

#[test]
fn dlv_numeric_options() {
    let input = tmp_file("dlv_x.txt", b"0.4\n");
    let x = input.to_str().unwrap();
    let net = "tests/fixtures/dlv_tent.nnet";
    let run = |extra: &[&str]| {
        let mut a = vec![
            "dlv", net, "--input", x, "--label", "1", "--eps", "0.2", "--step", "0.1",
        ];
        a.extend(extra);
        certus(&a)
    };
    for t in ["1e19", "1e300", "inf"] {
        let o = run(&["--timeout", t, "--query-timeout", t, "--layers", "0"]);
        assert_eq!(o.status.code(), Some(0), "--timeout {t}: {}", stderr(&o));
    }
    // `--clip LO,HI` as the README writes it, negative bounds included.
    let o = run(&["--clip", "-1,1", "--layers", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_usage_error(
        &run(&["--timeout", "-1"]),
        "--timeout",
        "must be a positive",
    );
    assert_usage_error(
        &run(&["--query-timeout", "0"]),
        "--query-timeout",
        "must be a positive",
    );
    assert_usage_error(&run(&["--features", "0"]), "--features", "at least 1");
    assert_usage_error(&run(&["--clip", "1,0"]), "--clip", "LO must not exceed HI");
    assert_usage_error(&run(&["--clip", "0"]), "--clip", "LO,HI");
    assert_usage_error(&run(&["--layers", "-1"]), "--layers", "zero or more");
    assert_usage_error(&run(&["--divide", "inf"]), "--divide", "positive finite");
    for eps in ["-0.2", "0", "nan", "inf"] {
        let mut a = vec![
            "dlv", net, "--input", x, "--label", "1", "--step", "0.1", "--eps", eps,
        ];
        a.push("--layers");
        a.push("0");
        assert_usage_error(&certus(&a), "--eps", "positive finite");
    }
    // A grid too fine to search is an error, not an overflow.
    let a = [
        "dlv", net, "--input", x, "--label", "1", "--eps", "1e300", "--step", "1e-300",
    ];
    assert_error(&certus(&a), "grid steps");
}

#[test]
fn bench_timeout_scale_values() {
    let dir = bench_dir("bench-scale", &[(VEE, HOLDS)], &[(VEE, HOLDS, "unsat")]);
    for s in ["1e19", "1e300", "inf"] {
        let o = certus(&["bench", &dir, "--timeout-scale", s]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "--timeout-scale {s}: {}",
            stderr(&o)
        );
        assert!(stdout(&o).contains("1 solved"), "{}", stdout(&o));
    }
    for s in ["-1", "0", "nan"] {
        let o = certus(&["bench", &dir, "--timeout-scale", s]);
        assert_usage_error(&o, "--timeout-scale", "must be positive");
    }
}

#[test]
fn radius_numeric_options() {
    let run = |extra: &[&str]| {
        let mut a = vec![
            "radius",
            "tests/fixtures/radius_linear.nnet",
            "--data",
            "tests/fixtures/radius_linear.csv",
            "--scale",
            "1",
        ];
        a.extend(extra);
        certus(&a)
    };
    for t in ["1e19", "1e300", "inf"] {
        let o = run(&["--time-budget", t, "--engine", "complete", "--jobs", "1"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "--time-budget {t}: {}",
            stderr(&o)
        );
    }
    assert_usage_error(
        &run(&["--time-budget", "-1"]),
        "--time-budget",
        "must be a positive",
    );
    assert_usage_error(&run(&["--count", "0"]), "--count", "at least 1");
    assert_usage_error(&run(&["--jobs", "0"]), "--jobs", "at least 1");
    assert_usage_error(&run(&["--eps-max", "-0.1"]), "--eps-max", "positive finite");
    assert_usage_error(&run(&["--eps-max", "inf"]), "--eps-max", "positive finite");
    assert_usage_error(
        &run(&["--tolerance", "0"]),
        "--tolerance",
        "positive finite",
    );
    assert_usage_error(
        &run(&["--eps-grid", "0.01,-0.1"]),
        "--eps-grid",
        "positive finite",
    );
    assert_usage_error(&run(&["--std", "0"]), "--std", "positive finite");
    assert_usage_error(&run(&["--mean", "nan"]), "--mean", "finite");
    let a = [
        "radius",
        "tests/fixtures/radius_linear.nnet",
        "--data",
        "x.csv",
        "--scale",
        "-255",
    ];
    assert_usage_error(&certus(&a), "--scale", "positive finite");
    let o = run(&["--mean", "-0.5", "--std", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
