//! ONNX import: the hand-made fixtures of `tests/fixtures` (written by `gen_fixtures.py`)
//! against onnxruntime's recorded outputs and against hand-derived values, every benchmark
//! network against its reference outputs, and the errors of broken or unsupported models.

mod common;

use certus::import::onnx;
use certus::ir::{Network, Op};
use certus::tolerances::REFERENCE_REL_TOL;
use certus::Error;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Absolute floor of the output comparison, for outputs near 0 (f32 rounding of a sum whose
/// terms cancel is relative to the terms, not to the result).
const ABS_FLOOR: f64 = 1e-6;

/// Smallest output magnitude counted in the reported relative error.
const REL_STAT_MIN: f64 = 1e-3;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load_fixture(name: &str) -> Network {
    onnx::load(&fixture(&format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn load_err(name: &str) -> String {
    match onnx::load(&fixture(&format!("{name}.onnx"))) {
        Ok(_) => panic!("{name} loaded, but it should fail"),
        Err(e) => e.to_string(),
    }
}

fn op_names(net: &Network) -> Vec<&'static str> {
    net.nodes().iter().map(|n| n.op.name()).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Largest relative error seen (over outputs of magnitude at least [`REL_STAT_MIN`], where a
/// relative error means something), and largest absolute error.
#[derive(Default)]
struct Stats {
    max_rel: f64,
    max_abs: f64,
    worst: String,
    compared: usize,
}

impl Stats {
    /// Asserts `|got − want| <= REFERENCE_REL_TOL·max(|want|, scale) + ABS_FLOOR`
    /// element-wise (`scale` 0: relative to each output alone).
    fn check(&mut self, got: &[f64], want: &[f64], scale: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: output length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let err = (g - w).abs();
            let tol = REFERENCE_REL_TOL * w.abs().max(scale) + ABS_FLOOR;
            assert!(
                err <= tol,
                "{what}: output {i} is {g}, expected {w} (allowed {tol:.2e})"
            );
            self.max_abs = self.max_abs.max(err);
            if w.abs() >= REL_STAT_MIN && err / w.abs() > self.max_rel {
                self.max_rel = err / w.abs();
                self.worst = format!("{what}, output {i}: {g} vs {w}");
            }
        }
        self.compared += 1;
    }

    /// Checks both evaluations of `net` at `x` against `want` (onnxruntime's f32 outputs).
    ///
    /// certus's f32 evaluation need not sum in onnxruntime's order, and the rounding of a sum
    /// is relative to its terms, not to its result: an output much smaller than the others
    /// (cifar_deep_kw's 0.008 among outputs near 1) can differ by more than
    /// `REFERENCE_REL_TOL` of itself. The f32 comparison is therefore relative to the output
    /// vector's scale, `max_j |want_j|`; the f64 one stays element-wise.
    fn check_net(&mut self, net: &Network, x: &[f64], want: &[f64], what: &str) {
        self.check(&net.eval_f64(x), want, 0.0, &format!("{what} (f64)"));
        let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        let y32: Vec<f64> = net.eval_f32(x).iter().map(|&v| v as f64).collect();
        self.check(&y32, want, scale, &format!("{what} (f32)"));
    }
}

#[test]
fn fixtures_match_onnxruntime() {
    let mut names: Vec<String> = std::fs::read_dir(fixture(""))
        .expect("tests/fixtures")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".io.json")?.to_string())
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 13,
        "fixtures with recorded outputs: {names:?}"
    );
    let mut stats = Stats::default();
    for name in &names {
        let net = load_fixture(name);
        let text = std::fs::read_to_string(fixture(&format!("{name}.io.json"))).unwrap();
        let io: Value = serde_json::from_str(&text).unwrap();
        let in_shape: Vec<usize> = floats(&io["input_shape"])
            .iter()
            .map(|&d| d as usize)
            .collect();
        assert_eq!(
            net.input_shape(),
            in_shape.as_slice(),
            "{name}: input shape"
        );
        for (k, case) in io["cases"].as_array().unwrap().iter().enumerate() {
            let x = floats(&case["input"]);
            stats.check_net(
                &net,
                &x,
                &floats(&case["output"]),
                &format!("{name} case {k}"),
            );
        }
    }
    println!(
        "{} fixtures, {} comparisons: max relative error {:.2e} ({}), max absolute error {:.2e}",
        names.len(),
        stats.compared,
        stats.max_rel,
        stats.worst,
        stats.max_abs
    );
}

/// `y = 3 + relu(x0 − x1) − 2·relu(2·x0 + x1 − 1)`, exactly, on a grid.
#[test]
fn tiny_relu_matches_hand_derived_values() {
    let net = load_fixture("tiny_relu");
    assert_eq!(op_names(&net), ["Input", "Affine", "Relu", "Affine"]);
    let names: Vec<&str> = net.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["x", "fc1", "relu1", "fc2"]);
    let Op::Affine(a) = &net.nodes()[1].op else {
        unreachable!()
    };
    assert_eq!(a.weight, ndarray::array![[1.0, -1.0], [2.0, 1.0]]);
    assert_eq!(a.bias, ndarray::array![0.0, -1.0]);
    let relu = |v: f64| v.max(0.0);
    for i in -4..=4 {
        for j in -4..=4 {
            let (x0, x1) = (i as f64 / 2.0, j as f64 / 2.0);
            let want = 3.0 + relu(x0 - x1) - 2.0 * relu(2.0 * x0 + x1 - 1.0);
            assert_eq!(net.eval_f64(&[x0, x1]), [want], "x = ({x0}, {x1})");
            assert_eq!(net.eval_f32(&[x0, x1]), [want as f32], "x = ({x0}, {x1})");
        }
    }
}

/// What each fixture lowers to: which ops fold into which (see `src/import/onnx/mod.rs`).
#[test]
fn fixtures_lower_to_the_expected_ops() {
    let table: &[(&str, &[&str])] = &[
        // Gemm's alpha/beta fold into the weights; a symbolic batch dimension becomes 1.
        (
            "gemm_alpha_beta",
            &["Input", "Affine", "Relu", "Affine", "Affine"],
        ),
        // MatMul + Add (either order) + Mul + Sub: one Affine per layer.
        ("matmul_add", &["Input", "Affine", "Relu", "Affine"]),
        // Sub, Div, Mul, Neg, const − x on the input: one ScaleShift; Flatten emits nothing.
        (
            "normalize",
            &["Input", "ScaleShift", "Affine", "Relu", "Affine"],
        ),
        // BN and the per-channel Mul fold into the convolutions; the per-pixel Add cannot.
        (
            "conv_bn",
            &[
                "Input",
                "Conv",
                "Relu",
                "Conv",
                "Relu",
                "Conv",
                "ScaleShift",
                "Affine",
            ],
        ),
        ("bn_input", &["Input", "ScaleShift", "Affine"]),
        (
            "sigmoid_tanh",
            &["Input", "Affine", "Sigmoid", "Affine", "Tanh", "Affine"],
        ),
        // Shape-only ops emit nothing but the final Reshape to the output's shape.
        ("shapes_opset13", &["Input", "Affine", "Relu", "Reshape"]),
        (
            "shapes_opset11",
            &["Input", "Affine", "Relu", "Affine", "Affine"],
        ),
        // Subtracting a zero mean is an identity and disappears.
        ("ir3_inputs", &["Input", "Affine", "Relu", "Affine"]),
        ("float64", &["Input", "Affine", "Tanh", "Affine"]),
        ("unsorted", &["Input", "Affine", "Relu", "Affine"]),
        // The MatMul has two readers, so the Add stays separate; the dead Relu is dropped.
        ("dead_branch", &["Input", "Affine", "ScaleShift"]),
        // The identity shortcut: relu0 feeds conv1 and the join.
        (
            "residual_identity",
            &[
                "Input", "Conv", "Relu", "Conv", "Relu", "Conv", "Add", "Relu", "Affine",
            ],
        ),
        // Every BatchNormalization folds into its Conv; both branches read the input.
        (
            "residual_conv",
            &[
                "Input", "Conv", "Relu", "Conv", "Conv", "Add", "Relu", "Affine",
            ],
        ),
        // Sub = Add of a negated branch; broadcasting, the inner-axis Concat and the Transpose
        // are Gathers (the last two composed into one node).
        (
            "concat_branches",
            &[
                "Input",
                "Conv",
                "Relu",
                "Conv",
                "Relu",
                "Conv",
                "Concat",
                "ScaleShift",
                "Add",
                "Gather",
                "Add",
                "Concat",
                "Gather",
                "Concat",
                "Affine",
                "Relu",
                "Affine",
            ],
        ),
    ];
    for (name, ops) in table {
        assert_eq!(op_names(&load_fixture(name)), *ops, "{name}");
    }
    let net = load_fixture("shapes_opset13");
    assert_eq!(net.input_shape(), [1, 2, 3]);
    assert_eq!(net.output_shape(), [4, 1]);
    assert_eq!(load_fixture("gemm_alpha_beta").input_shape(), [1, 3]);
    assert_eq!(load_fixture("ir3_inputs").input_shape(), [1, 1, 1, 3]);
}

/// Every folder of the shared benchmarks (`*/onnx`, `*/reference_outputs.jsonl`); none, with a
/// *skipped* note, when they are missing.
fn benchmark_dirs() -> Vec<PathBuf> {
    let Some(root) = common::shared_benchmarks() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&root) else {
        common::skipped(&format!("{} cannot be read", root.display()));
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_benchmark_network_loads() {
    let mut loaded = 0;
    for dir in benchmark_dirs() {
        let Ok(entries) = std::fs::read_dir(dir.join("onnx")) else {
            continue;
        };
        for path in entries.filter_map(|e| Some(e.ok()?.path())) {
            if path.extension().is_some_and(|x| x == "onnx") {
                let net = onnx::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(net.nodes().len() > 1, "{}", path.display());
                loaded += 1;
            }
        }
    }
    println!("{loaded} benchmark networks loaded");
}

#[test]
fn benchmark_reference_outputs_are_reproduced() {
    let mut stats = Stats::default();
    let mut lines = 0;
    for dir in benchmark_dirs() {
        let Ok(text) = std::fs::read_to_string(dir.join("reference_outputs.jsonl")) else {
            continue;
        };
        let mut nets: HashMap<String, Network> = HashMap::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let rec: Value = serde_json::from_str(line).expect("a JSON line");
            let onnx_path = rec["onnx"].as_str().expect("an `onnx` field").to_string();
            let net = nets.entry(onnx_path.clone()).or_insert_with(|| {
                onnx::load(&dir.join(&onnx_path)).unwrap_or_else(|e| panic!("{e}"))
            });
            let what = format!("{}:{} ({onnx_path})", dir.display(), i + 1);
            stats.check_net(net, &floats(&rec["input"]), &floats(&rec["output"]), &what);
            lines += 1;
        }
    }
    println!(
        "{lines} reference lines reproduced in f64 and f32: max relative error {:.2e} ({}), \
         max absolute error {:.2e}",
        stats.max_rel, stats.worst, stats.max_abs
    );
}

#[test]
fn acasxu_is_a_plain_relu_chain() {
    let Some(shared) = common::shared_benchmarks() else {
        return;
    };
    let path = shared.join("acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx");
    let net = onnx::load(&path).unwrap();
    let mut want = vec!["Input"];
    for _ in 0..6 {
        want.extend(["Affine", "Relu"]);
    }
    want.push("Affine");
    assert_eq!(op_names(&net), want);
    assert_eq!(net.input_shape(), [1, 1, 1, 5]);
    assert_eq!(net.output_len(), 5);
}

#[test]
fn missing_file_is_an_io_error() {
    let path = fixture("no_such_model.onnx");
    let err = onnx::load(&path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("no_such_model.onnx"), "{err}");
}

#[test]
fn every_truncation_fails_cleanly() {
    for name in ["conv_bn", "shapes_opset13", "ir3_inputs"] {
        let bytes = std::fs::read(fixture(&format!("{name}.onnx"))).unwrap();
        for len in 0..bytes.len() {
            let path = PathBuf::from(format!("{name}_truncated.onnx"));
            match onnx::from_bytes(&bytes[..len], &path) {
                Ok(_) => panic!("{name} truncated to {len} bytes loaded"),
                Err(Error::Model { path: p, msg }) => {
                    assert_eq!(p, path);
                    assert!(msg.contains("ONNX model"), "{name}[..{len}]: {msg}");
                }
                Err(e) => panic!("{name}[..{len}]: unexpected error kind: {e}"),
            }
        }
    }
}

/// A small deterministic generator (xorshift), so the tests need no `rand`.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn non_onnx_bytes_fail_cleanly() {
    let path = Path::new("garbage.onnx");
    let texts: [&[u8]; 3] = [
        b"",
        b"this is not an ONNX model\n",
        b"\x08\x07\x3a\xff\xff\xff",
    ];
    for bytes in texts {
        let err = onnx::from_bytes(bytes, path).unwrap_err().to_string();
        assert!(
            err.starts_with("garbage.onnx: ") && err.contains("ONNX model"),
            "{err}"
        );
    }
    let json = std::fs::read(fixture("tiny_relu.io.json")).unwrap();
    assert!(onnx::from_bytes(&json, path).is_err());
    let mut s = 0x9e37_79b9_7f4a_7c15;
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len).map(|_| xorshift(&mut s) as u8).collect();
        assert!(onnx::from_bytes(&bytes, path).is_err(), "{bytes:?}");
    }
}

/// Corrupted copies of valid models may load or fail, but must never panic.
#[test]
fn corrupted_models_never_panic() {
    // `CERTUS_FUZZ_ITERS=200000 cargo test --release --test onnx_import corrupted` for a
    // longer run.
    let iters: usize = std::env::var("CERTUS_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut s = std::env::var("CERTUS_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x2545_f491_4f6c_dd1d_u64);
    let names = [
        "conv_bn",
        "shapes_opset13",
        "shapes_opset11",
        "normalize",
        "gemm_alpha_beta",
        "bn_input",
        "ir3_inputs",
        "float64",
        "broken",
    ];
    for name in names {
        let good = std::fs::read(fixture(&format!("{name}.onnx"))).unwrap();
        for _ in 0..iters {
            let mut bytes = good.clone();
            for _ in 0..1 + xorshift(&mut s) % 3 {
                let i = (xorshift(&mut s) % bytes.len() as u64) as usize;
                bytes[i] = xorshift(&mut s) as u8;
            }
            if let Ok(net) = onnx::from_bytes(&bytes, Path::new(name)) {
                // A model that loads must evaluate (shapes consistent), whatever its values.
                net.eval_f64(&vec![0.5; net.input_len()]);
            }
        }
    }
}

#[test]
fn unsupported_ops_are_all_listed() {
    let err = load_err("unsupported");
    for needle in [
        "unsupported.onnx",
        "3 problems",
        "erf (Erf): unsupported op",
        "hardmax (Hardmax): unsupported op",
        "reciprocal (Div): dividing by a computed value",
    ] {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
}

#[test]
fn misused_ops_are_all_listed() {
    let err = load_err("broken");
    for needle in [
        "9 problems",
        "gemm_rank3 (Gemm): A must be 2-D",
        "relu_two_inputs (Relu): expects 1 input, has 2",
        "add_undefined (Add): input `nowhere` is not produced",
        "transpose_bad_perm (Transpose): perm [0, 2, 2] is not a permutation",
        "conv_group (Conv): the weight (2, 1, 1, 1) with group=2 does not fit the input",
        "div_zero (Div): division by a constant that contains 0",
        "pow_cube (Pow): exponent 3 is not supported (only 2",
        "reshape_bad (Reshape): cannot reshape [1, 2, 3] into [4, -1]",
        "conv_same (Conv): auto_pad=SAME_MIDDLE",
    ] {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
}

#[test]
fn external_data_is_refused_naming_the_tensor() {
    let err = load_err("external_data");
    assert!(err.contains("`W_ext`"), "{err}");
    assert!(err.contains("external_data.bin"), "{err}");
    assert!(err.contains("external data is not supported"), "{err}");
}

#[test]
fn nan_weights_are_refused() {
    let err = load_err("nan_weight");
    assert!(
        err.contains("`fc` (Affine) has a NaN or infinite weight"),
        "{err}"
    );
}

/// Several graph inputs are one flat input (in graph order), several outputs and tapped hidden
/// tensors one flat output (outputs, then taps).
#[test]
fn several_inputs_outputs_and_taps_are_laid_out_flat() {
    let net = load_fixture("two_inputs");
    assert_eq!(net.input_shape(), [6]);
    assert_eq!(
        net.eval_f64(&[1.0, 2.0, 3.0, 0.5, 0.25, -1.0]),
        [1.5, 2.25, 2.0]
    );
    let (net, io) = onnx::load_with(&fixture("two_in_two_out.onnx"), &["h", "pa"]).unwrap();
    let names = |v: &[(String, Vec<usize>)]| -> Vec<(String, Vec<usize>)> { v.to_vec() };
    assert_eq!(
        names(&io.inputs),
        [("a".to_string(), vec![1, 2]), ("b".to_string(), vec![1, 3])]
    );
    assert_eq!(
        names(&io.outputs),
        [
            ("y1".to_string(), vec![1, 1]),
            ("y2".to_string(), vec![1, 3])
        ]
    );
    assert_eq!(
        names(&io.taps),
        [
            ("h".to_string(), vec![1, 2]),
            ("pa".to_string(), vec![1, 2])
        ]
    );
    // a = (1, 0), b = (1, 0.5, 0): h = (1.5, 0), y1 = 1.5, y2 = (2, 1, 0), pa = a.
    let y = net.eval_f64(&[1.0, 0.0, 1.0, 0.5, 0.0]);
    assert_eq!(y, [1.5, 2.0, 1.0, 0.0, 1.5, 0.0, 1.0, 0.0]);
    let err = onnx::load_with(&fixture("two_in_two_out.onnx"), &["nowhere"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("hidden node `nowhere` is not produced"),
        "{err}"
    );
}
