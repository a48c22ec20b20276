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
    assert_error(&o, "Softmax");
    assert!(stderr(&o).contains("MaxPool"), "{}", stderr(&o));
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
fn bad_timeout_is_an_error() {
    assert_error(
        &certus(&[
            "verify",
            "examples/vee.nnet",
            "properties/vee_above_2.1.vnnlib",
            "--timeout=-1",
        ]),
        "--timeout",
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
