//! Hostile and broken input (issue 15 item 3): every file of the corpus in `tests/hostile/`
//! (its ONNX models written by `gen_hostile.py`) and inputs generated here (a 100 MB property
//! file, 10^5 nesting levels, truncated and bit-flipped ONNX) goes through the `certus` binary.
//! Each must end, within seconds and under a memory limit, in a clear error (exit code 2, one
//! `error: ...` line naming the file and the line, node or tensor at fault) or, where the input
//! is legal, in its correct answer: never a panic, a stack overflow, a hang or a kill.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run must end in.
enum Expect {
    /// Exit code 2, and stderr's `error:` line contains each of these pieces.
    Error(&'static [&'static str]),
    /// This first line of stdout (`sat`, `unsat`) and its exit code.
    Answer(&'static str, i32),
}

/// The end of one run of the binary.
struct Ran {
    code: Option<i32>,
    out: String,
    err: String,
}

/// Runs `certus ARGS` from the crate root with a memory limit and a wall-clock limit: a run
/// still going after `limit` is killed and fails the test as a hang.
fn run(args: &[&str], limit: Duration) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_certus"))
        .args(args)
        .current_dir(common::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run certus");
    let t = Instant::now();
    while child.try_wait().expect("wait for certus").is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("certus {args:?} still ran after {limit:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().expect("collect certus's output");
    Ran {
        code: o.status.code(),
        out: String::from_utf8_lossy(&o.stdout).into(),
        err: String::from_utf8_lossy(&o.stderr).into(),
    }
}

/// Checks a run against `expect`; `what` names the case in failure messages.
fn check(what: &str, r: &Ran, expect: &Expect) {
    assert!(
        !r.err.contains("panicked") && !r.err.contains("stack overflow"),
        "{what}: {}",
        r.err
    );
    match expect {
        Expect::Error(pieces) => {
            assert_eq!(
                r.code,
                Some(2),
                "{what}: stdout {:?}, stderr {}",
                r.out,
                r.err
            );
            let line = (r.err.lines().find(|l| l.starts_with("error: ")))
                .unwrap_or_else(|| panic!("{what}: no `error:` line in {:?}", r.err));
            for p in *pieces {
                assert!(line.contains(p), "{what}: `{p}` missing from {line:?}");
            }
        }
        Expect::Answer(first, code) => {
            assert_eq!(r.out.lines().next(), Some(*first), "{what}: {}", r.err);
            assert_eq!(r.code, Some(*code), "{what}: {}", r.err);
        }
    }
}

/// The memory limit every run gets (MiB): a model that tried to allocate a declared 10^12
/// elements would be refused (and answer `unknown`, failing the test) rather than fill the
/// machine.
const MEMORY: &str = "1024";

/// A scratch folder for files the tests write.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("certus-hostile-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The box `[0, 1]^2` of a two-input network, and the bad case `Y_0 >= c` among `outs` outputs.
fn box_property(outs: usize, c: f64) -> String {
    let mut s = String::from("(declare-const X_0 Real)\n(declare-const X_1 Real)\n");
    for k in 0..outs {
        s += &format!("(declare-const Y_{k} Real)\n");
    }
    s += "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n";
    s + &format!("(assert (>= Y_0 {c:?}))\n")
}

/// Every ONNX model of the corpus with a two-input, two-output property over `[0, 1]^2`.
#[test]
fn hostile_onnx_models() {
    let dir = scratch("onnx");
    let above = dir.join("above_1.5.vnnlib");
    std::fs::write(&above, box_property(2, 1.5)).unwrap();
    let cases: &[(&str, Expect)] = &[
        (
            "onnx_constant_of_huge_shape",
            Expect::Error(&["cos (ConstantOfShape)", "too large"]),
        ),
        (
            "onnx_conv_huge_dilation",
            Expect::Error(&["conv (Conv)", "dilations"]),
        ),
        (
            "onnx_conv_zero_stride",
            Expect::Error(&["conv (Conv)", "strides [0, 1]"]),
        ),
        ("onnx_cycle", Expect::Error(&["add (Add)", "`r`", "later"])),
        (
            "onnx_dangling_input",
            Expect::Error(&["add (Add)", "`ghost`"]),
        ),
        (
            "onnx_huge_initializer",
            Expect::Error(&["`W`", "too large"]),
        ),
        ("onnx_huge_input", Expect::Error(&["too large"])),
        (
            "onnx_inf_weight",
            Expect::Error(&["`fc`", "NaN or infinite"]),
        ),
        ("onnx_nan_bias", Expect::Error(&["`fc`", "NaN or infinite"])),
        ("onnx_missing_output", Expect::Error(&["output `y`"])),
        ("onnx_negative_dim", Expect::Error(&["`x`", "dimension -5"])),
        ("onnx_no_input", Expect::Error(&["no input"])),
        ("onnx_opset_99", Expect::Error(&["version 99"])),
        (
            "onnx_overflowing_dims",
            Expect::Error(&["`W`", "too large"]),
        ),
        (
            "onnx_raw_data_too_short",
            Expect::Error(&["`W`", "12 bytes"]),
        ),
        (
            "onnx_reshape_two_wildcards",
            Expect::Error(&["reshape (Reshape)", "[-1, -1]"]),
        ),
        (
            "onnx_reshape_wrong_size",
            Expect::Error(&["reshape (Reshape)", "[1, 7]"]),
        ),
        (
            "onnx_tensor_written_twice",
            Expect::Error(&["`y`", "written twice", "`neg`"]),
        ),
        (
            "onnx_typed_data_wrong_length",
            Expect::Error(&["`W`", "holds 3"]),
        ),
        // Legal: y = x (no nodes) and y = relu^2000(x) (no stack overflow); y_0 <= 1 < 1.5.
        ("onnx_no_nodes", Expect::Answer("unsat", 0)),
        ("onnx_deep_chain", Expect::Answer("unsat", 0)),
    ];
    let on_disk = std::fs::read_dir(common::root().join("tests/hostile"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("onnx".as_ref()))
        .count();
    assert_eq!(
        on_disk,
        cases.len(),
        "every ONNX file of the corpus has a case"
    );
    for (name, expect) in cases {
        let file = format!("tests/hostile/{name}.onnx");
        let r = run(
            &[
                "verify",
                &file,
                above.to_str().unwrap(),
                "--memory-limit",
                MEMORY,
            ],
            Duration::from_secs(60),
        );
        check(name, &r, expect);
        if let Expect::Error(_) = expect {
            assert!(
                r.err.contains(&file),
                "{name}: the file is not named: {}",
                r.err
            );
        }
    }
    // A tensor stored in an external file (not read: the model is refused naming it).
    let file = "tests/fixtures/external_data.onnx";
    let r = run(
        &[
            "verify",
            file,
            above.to_str().unwrap(),
            "--memory-limit",
            MEMORY,
        ],
        Duration::from_secs(60),
    );
    let expect = Expect::Error(&["tests/fixtures/external_data.onnx", "external data"]);
    check("external data", &r, &expect);
}

/// Every VNN-LIB 1.0 file and NNet file of the corpus, against the example network
/// `y = relu(x0 + x1) + relu(x0 − x1)` (range `[0, 2]` on `[0, 1]^2`) or its property.
#[test]
fn hostile_vnnlib_and_nnet_files() {
    let cases: &[(&str, Expect)] = &[
        (
            "vnnlib_empty",
            Expect::Error(&[":1:1:", "no inputs declared"]),
        ),
        (
            "vnnlib_inverted_box",
            Expect::Error(&[":5:9:", "empty input box"]),
        ),
        ("vnnlib_nan", Expect::Error(&[":8:17:", "`nan`"])),
        ("vnnlib_not_utf8", Expect::Error(&[":9:", "UTF-8"])),
        (
            "vnnlib_overflowing_number",
            Expect::Error(&[":5:17:", "`1e400`", "too large"]),
        ),
        (
            "vnnlib_too_many_inputs",
            Expect::Error(&["3 inputs", "takes 2", "vee.nnet"]),
        ),
        (
            "vnnlib_unbalanced",
            Expect::Error(&[":8:1:", "never closed"]),
        ),
        (
            "vnnlib_unbounded",
            Expect::Error(&[":6:9:", "X_1 has no upper bound"]),
        ),
        ("vnnlib_undeclared", Expect::Error(&[":8:13:", "`Y_3`"])),
        (
            "vnnlib_unknown_command",
            Expect::Error(&[":8:2:", "check-everything"]),
        ),
        // Legal: the bad case asks y >= 1 and y <= 0 at once (never), and a point box
        // x = (0.5, 0.25), where y = 1 >= 0.75.
        ("vnnlib_contradictory", Expect::Answer("unsat", 0)),
        ("vnnlib_point_box", Expect::Answer("sat", 1)),
    ];
    for (name, expect) in cases {
        let file = format!("tests/hostile/{name}.vnnlib");
        let r = run(
            &[
                "verify",
                "examples/vee.nnet",
                &file,
                "--memory-limit",
                MEMORY,
            ],
            Duration::from_secs(60),
        );
        check(name, &r, expect);
        if let Expect::Error(_) = expect {
            assert!(
                r.err.contains(&file),
                "{name}: the file is not named: {}",
                r.err
            );
        }
    }
    let nnet: &[(&str, Expect)] = &[
        ("nnet_huge_header", Expect::Error(&["input minimums"])),
        ("nnet_nan_weight", Expect::Error(&["line 10", "`nan`"])),
        ("nnet_truncated", Expect::Error(&["header"])),
    ];
    for (name, expect) in nnet {
        let file = format!("tests/hostile/{name}.nnet");
        let prop = "properties/vee_above_2.1.vnnlib";
        let r = run(
            &["verify", &file, prop, "--memory-limit", MEMORY],
            Duration::from_secs(60),
        );
        check(name, &r, expect);
        assert!(r.err.contains(&file), "{name}: {}", r.err);
    }
}

/// Every VNN-LIB 2.0 query of the corpus, through the standard's interface with the example
/// network as `f`.
#[test]
fn hostile_vnnlib2_queries() {
    let cases: &[(&str, Expect)] = &[
        (
            "vnnlib2_index_out_of_range",
            Expect::Error(&[":6:15:", "index 3"]),
        ),
        (
            "vnnlib2_nonlinear",
            Expect::Error(&[":6:21:", "polynomial"]),
        ),
        (
            "vnnlib2_overflowing_number",
            Expect::Error(&[":6:18:", "`1e999`"]),
        ),
        ("vnnlib2_undeclared", Expect::Error(&[":6:13:", "`z`"])),
        ("vnnlib2_contradictory", Expect::Answer("unsat", 0)),
    ];
    for (name, expect) in cases {
        let file = format!("tests/hostile/{name}.vnnlib");
        let r = run(
            &["verify", &file, "--network", "f=examples/vee.nnet"],
            Duration::from_secs(60),
        );
        check(name, &r, expect);
        if let Expect::Error(_) = expect {
            assert!(r.err.contains(&file), "{name}: {}", r.err);
        }
    }
}

/// 10^5 nested lists, in both VNN-LIB versions and in a term: a clear error at the first list
/// past the depth limit, not a stack overflow.
#[test]
fn deeply_nested_expressions_are_refused() {
    let dir = scratch("deep");
    let n = 100_000;
    let head = box_property(1, 2.5);
    let deep_and = format!(
        "(assert {}(>= Y_0 3){})\n",
        "(and ".repeat(n),
        ")".repeat(n)
    );
    let deep_term = format!(
        "(assert (>= {}Y_0{} 3))\n",
        "(+ 0 ".repeat(n),
        ")".repeat(n)
    );
    for (tag, text) in [("and", deep_and), ("term", deep_term)] {
        let f = dir.join(format!("deep_{tag}.vnnlib"));
        std::fs::write(&f, format!("{head}{text}")).unwrap();
        let r = run(
            &["verify", "examples/vee.nnet", f.to_str().unwrap()],
            Duration::from_secs(60),
        );
        check(tag, &r, &Expect::Error(&[":9:", "nested deeper than"]));
    }
    let q = format!(
        "(vnnlib-version <2.0>)\n(declare-network f\n  (declare-input x real [2])\n  \
         (declare-output y real [1]))\n(assert {}(>= y[0] 3.0){})\n",
        "(and ".repeat(n),
        ")".repeat(n)
    );
    let f = dir.join("deep2.vnnlib");
    std::fs::write(&f, q).unwrap();
    let r = run(
        &[
            "verify",
            f.to_str().unwrap(),
            "--network",
            "f=examples/vee.nnet",
        ],
        Duration::from_secs(60),
    );
    check("2.0", &r, &Expect::Error(&[":5:", "nested deeper than"]));
}

/// A 100 MB property file (the box, then a million and a half redundant box constraints and a
/// long comment) is read and decided within the memory limit: `unsat` (y <= 2 < 2.5).
#[test]
fn a_100_mb_property_file_is_decided() {
    let dir = scratch("big");
    let f = dir.join("big.vnnlib");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&f).unwrap());
    w.write_all(box_property(1, 2.5).as_bytes()).unwrap();
    let line = b"(assert (<= X_0 1.0))\n(assert (>= X_1 0.0))\n";
    for _ in 0..750_000 {
        w.write_all(line).unwrap();
    }
    let comment = format!("; {}\n", "x".repeat(1 << 20));
    while w.get_ref().metadata().unwrap().len() < 100 << 20 {
        w.write_all(comment.as_bytes()).unwrap();
        w.flush().unwrap();
    }
    drop(w);
    let r = run(
        &[
            "verify",
            "examples/vee.nnet",
            f.to_str().unwrap(),
            "--memory-limit",
            "2048",
        ],
        Duration::from_secs(120),
    );
    check("100 MB", &r, &Expect::Answer("unsat", 0));
    let _ = std::fs::remove_file(&f);
}

/// A small real model (two inputs, a Gemm, a ReLU, a residual Add) cut at every length and
/// with every 7th bit flipped, imported in process: each either loads or fails with an error
/// naming the file, and never panics. Through the binary, every 16th cut is `error`, exit 2.
#[test]
fn truncated_and_bit_flipped_onnx() {
    let path = common::root().join("tests/fixtures/concat_branches.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let name = Path::new("cut.onnx");
    let mut loaded = 0;
    for n in 0..bytes.len() {
        match certus::import::onnx::from_bytes(&bytes[..n], name) {
            Ok(_) => loaded += 1,
            Err(e) => assert!(e.to_string().starts_with("cut.onnx"), "{n} bytes: {e}"),
        }
    }
    // A prefix ending exactly between two fields of the top message can still be a model.
    assert!(
        loaded < bytes.len() / 10,
        "{loaded} of {} prefixes loaded",
        bytes.len()
    );
    for bit in (0..bytes.len() * 8).step_by(7) {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        if let Err(e) = certus::import::onnx::from_bytes(&b, name) {
            assert!(e.to_string().starts_with("cut.onnx"), "bit {bit}: {e}");
        }
    }
    let dir = scratch("cut");
    let prop = dir.join("p.vnnlib");
    std::fs::write(&prop, box_property(1, 1e9)).unwrap();
    for n in (1..bytes.len()).step_by(bytes.len() / 16 + 1) {
        let f = dir.join(format!("cut_{n}.onnx"));
        std::fs::write(&f, &bytes[..n]).unwrap();
        let r = run(
            &[
                "verify",
                f.to_str().unwrap(),
                prop.to_str().unwrap(),
                "--memory-limit",
                MEMORY,
            ],
            Duration::from_secs(60),
        );
        check(&format!("cut at {n}"), &r, &Expect::Error(&["cut_"]));
        assert_eq!(r.out, "error\n", "cut at {n}");
    }
}
