//! The core ops added for issue 14 and the convolutions lowered to `Conv`: each fixture's
//! hand-derived answers, the core ops it lowers to, and sampled soundness of every bound engine
//! on it. (Their f32 and f64 evaluation against onnxruntime is checked with the other fixtures
//! in `onnx_import.rs`.)

mod common;

use certus::attack::Rng;
use certus::bounds::{output_bounds, Method};
use certus::import::onnx;
use certus::ir::Network;
use common::root;

/// Every fixture of this file, for the sampled soundness check.
const FIXTURES: [&str; 9] = [
    "ops_conv_group",
    "ops_conv_transpose",
    "ops_conv_transpose_1d",
    "ops_sign",
    "ops_pow",
    "ops_mul",
    "ops_softmax",
    "ops_softmax_axis11",
    "ops_softmax_axis13",
];

fn load(name: &str) -> Network {
    onnx::load(&root().join(format!("tests/fixtures/{name}.onnx")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ops(net: &Network) -> Vec<&'static str> {
    net.nodes().iter().map(|n| n.op.name()).collect()
}

#[test]
fn grouped_conv_reads_its_own_channels() {
    // relu(a + 2b, c + 2d, 3e − f, 3g − h).
    let net = load("ops_conv_group");
    assert_eq!(ops(&net), ["Input", "Conv", "Relu", "Reshape"]);
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    assert_eq!(net.eval_f64(&x), [5.0, 11.0, 9.0, 13.0]);
    let x = [1.0, -1.0, 0.5, 2.0, -1.0, -3.0, 2.0, 7.0];
    assert_eq!(net.eval_f64(&x), [0.0, 4.5, 0.0, 0.0]);
}

#[test]
fn conv_transpose_upsamples_then_crops() {
    // Channel 0: 2·(each pixel as a 2×2 block + 0.5); channel 1: −relu of the diagonal
    // pattern; both cropped to 3×3.
    let net = load("ops_conv_transpose");
    assert_eq!(ops(&net), ["Input", "Conv", "Relu", "Conv", "Reshape"]);
    let (a, b, c, d) = (1.0, 2.0, 3.0, 4.0);
    let ch0 = [a, a, b, a, a, b, c, c, d].map(|v| 2.0 * (v + 0.5));
    let ch1 = [a, 0.0, b, 0.0, 0.0, 0.0, c, 0.0, d].map(|v: f64| -v);
    let want: Vec<f64> = ch0.iter().chain(&ch1).copied().collect();
    assert_eq!(net.eval_f64(&[a, b, c, d]), want);
}

#[test]
fn conv_transpose_1d_with_output_padding() {
    let net = load("ops_conv_transpose_1d");
    assert_eq!(ops(&net), ["Input", "Conv", "Reshape"]);
    let (a, b, c) = (1.0, -2.0, 3.0);
    let want = [a, a, b, b, c, c, 0.0].map(|v| v + 0.25);
    assert_eq!(net.eval_f64(&[a, b, c]), want);
}

#[test]
fn sign_is_a_step_with_sign_zero_zero() {
    // y = sign(x0 − x1) + 2·sign(x0 + x1 − 0.5).
    let net = load("ops_sign");
    assert_eq!(ops(&net), ["Input", "Affine", "Sign", "Affine"]);
    for (x, y) in [
        ([1.0, 0.0], 3.0),
        ([0.0, 1.0], 1.0),
        ([0.25, 0.25], 0.0),
        ([-1.0, 0.0], -3.0),
        ([0.5, 0.5], 2.0),
    ] {
        assert_eq!(net.eval_f64(&x), [y], "{x:?}");
        assert_eq!(net.eval_f32(&x), [y as f32], "{x:?}");
    }
}

#[test]
fn pow_two_is_a_square() {
    // ((x0 + x1)² − (x0 − x1)²)/4 = x0·x1.
    let net = load("ops_pow");
    assert_eq!(ops(&net), ["Input", "Affine", "Square", "Affine"]);
    for x in [[1.0, 1.0], [0.5, -2.0], [3.0, 0.25], [-1.0, -1.5]] {
        assert_eq!(net.eval_f64(&x), [x[0] * x[1]], "{x:?}");
    }
}

#[test]
fn mul_of_computed_values_broadcasts_and_squares() {
    // (x0·x2, x1·(x2 + 1), x0² + x1² + x2², x0·c, x1·c) with c = x0 + x1 + x2; Mul(x, x) is a
    // Square, the [1,1] operand of the last Mul a repeating Gather.
    let net = load("ops_mul");
    let names = ops(&net);
    assert_eq!(
        names.iter().filter(|&&o| o == "Mul").count(),
        2,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|&&o| o == "Square").count(),
        1,
        "{names:?}"
    );
    assert!(names.contains(&"Gather"), "{names:?}");
    for [a, b, c] in [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.25, -4.0, -1.0]] {
        let s = a + b + c;
        let want = [a * c, b * (c + 1.0), a * a + b * b + c * c, a * s, b * s];
        assert_eq!(net.eval_f64(&[a, b, c]), want);
    }
}

/// Softmax of one group in f64, a reference of the test's own.
fn softmax(x: &[f64]) -> Vec<f64> {
    let e: Vec<f64> = x.iter().map(|v| v.exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

fn close(got: &[f64], want: &[f64]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12)
}

#[test]
fn softmax_takes_its_axis_as_the_opset_defines_it() {
    // softmax(relu(x)) at (1, −1, 0): (e, 1, 1)/(e + 2).
    let net = load("ops_softmax");
    assert_eq!(ops(&net), ["Input", "Relu", "Softmax"]);
    let e = std::f64::consts::E;
    let y = net.eval_f64(&[1.0, -1.0, 0.0]);
    assert!(
        close(&y, &[e / (e + 2.0), 1.0 / (e + 2.0), 1.0 / (e + 2.0)]),
        "{y:?}"
    );
    // [1, 2, 2, 2] with axis 1: from opset 13 pairs across the two channels, before it one group
    // of all eight elements.
    let x = [0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0];
    let y13 = load("ops_softmax_axis13").eval_f64(&x);
    let pairs: Vec<f64> = (0..4).map(|i| softmax(&[x[i], x[4 + i]])[0]).collect();
    let want: Vec<f64> = pairs
        .iter()
        .chain(&pairs.iter().map(|p| 1.0 - p).collect::<Vec<_>>())
        .copied()
        .collect();
    assert!(close(&y13, &want), "{y13:?}");
    let y11 = load("ops_softmax_axis11").eval_f64(&x);
    assert!(close(&y11, &softmax(&x)), "{y11:?}");
}

#[test]
fn opsets_outside_7_to_21_are_refused() {
    for (v, name) in [(6, "opset6_unsupported"), (22, "opset22_unsupported")] {
        let err = onnx::load(&root().join(format!("tests/fixtures/{name}.onnx")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("version {v} of the standard operator set"))
                && err.contains("versions 7 to 21"),
            "{err}"
        );
    }
}

/// Inputs within `radius` of each recorded input of fixture `name`: corners one time in three,
/// else uniform.
fn samples(rng: &mut Rng, lo: &[f64], hi: &[f64], n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|k| {
            (0..lo.len())
                .map(|i| {
                    let t = if k % 3 == 0 {
                        (rng.uniform() < 0.5) as u8 as f64
                    } else {
                        rng.uniform()
                    };
                    lo[i] + t * (hi[i] - lo[i])
                })
                .collect()
        })
        .collect()
}

/// The recorded inputs of fixture `name` (its `.io.json`).
fn recorded_inputs(name: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(root().join(format!("tests/fixtures/{name}.io.json")))
        .unwrap_or_else(|e| panic!("{name}.io.json: {e}"));
    let io: serde_json::Value = serde_json::from_str(&text).unwrap();
    (io["cases"].as_array().unwrap().iter())
        .map(|case| {
            (case["input"].as_array().unwrap().iter())
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// Over boxes of radius 0.1 and 0.5 around each recorded input, 300 sampled outputs lie inside
/// the interval, dual, crown, alpha and LP bounds.
#[test]
fn every_bound_engine_contains_samples() {
    let mut rng = Rng::new(14);
    for name in FIXTURES {
        let net = load(name);
        for x in recorded_inputs(name).iter().take(2) {
            for radius in [0.1, 0.5] {
                let lo: Vec<f64> = x.iter().map(|v| v - radius).collect();
                let hi: Vec<f64> = x.iter().map(|v| v + radius).collect();
                let points = samples(&mut rng, &lo, &hi, 300);
                for m in [
                    Method::Interval,
                    Method::Dual,
                    Method::Crown,
                    Method::Alpha,
                    Method::Lp,
                ] {
                    let b = output_bounds(&net, &lo, &hi, m);
                    for p in &points {
                        let y = net.eval_f64(p);
                        assert!(
                            b.contains(&y),
                            "{name} {m:?} r={radius}: f({p:?}) = {y:?} not in {b:?}"
                        );
                    }
                }
            }
        }
    }
}

/// A random network mixing the new core ops: per hidden layer an `Affine`, then one of
/// `Sign`, `Square`, `Mul` of two `Affine`s (or of one with itself), `Softmax` over two
/// groups, or `Relu`; a final `Affine`. Weights in [−1, 1].
fn random_core_net(rng: &mut Rng, n_in: usize, hidden: &[usize]) -> Network {
    use certus::ir::{Affine, Node, NodeId, Op, Softmax};
    use ndarray::{Array1, Array2};
    let mut nodes = vec![Node {
        name: "x".into(),
        op: Op::Input,
        inputs: vec![],
        shape: vec![n_in],
    }];
    let affine = |nodes: &mut Vec<Node>, rng: &mut Rng, from: usize, cols: usize, rows| {
        let weight = Array2::from_shape_fn((rows, cols), |_| rng.uniform() * 2.0 - 1.0);
        let bias = Array1::from_shape_fn(rows, |_| rng.uniform() - 0.5);
        nodes.push(Node {
            name: format!("fc{}", nodes.len()),
            op: Op::Affine(Affine { weight, bias }),
            inputs: vec![NodeId(from)],
            shape: vec![rows],
        });
        nodes.len() - 1
    };
    let (mut cur, mut width) = (0, n_in);
    for &rows in hidden {
        let rows = rows + rows % 2; // even, for two softmax groups
        let a = affine(&mut nodes, rng, cur, width, rows);
        let (op, inputs) = match (rng.uniform() * 6.0) as usize {
            0 => (Op::Sign, vec![a]),
            1 => (Op::Square, vec![a]),
            2 => {
                let b = affine(&mut nodes, rng, cur, width, rows);
                (Op::Mul, vec![a, b])
            }
            3 => (Op::Mul, vec![a, a]),
            4 => {
                let sm = if rng.uniform() < 0.5 {
                    Softmax {
                        len: rows / 2,
                        inner: 1,
                    }
                } else {
                    Softmax {
                        len: 2,
                        inner: rows / 2,
                    }
                };
                (Op::Softmax(sm), vec![a])
            }
            _ => (Op::Relu, vec![a]),
        };
        nodes.push(Node {
            name: format!("op{}", nodes.len()),
            op,
            inputs: inputs.into_iter().map(NodeId).collect(),
            shape: vec![rows],
        });
        cur = nodes.len() - 1;
        width = rows;
    }
    affine(&mut nodes, rng, cur, width, 2);
    Network::new(nodes).unwrap()
}

/// Random networks of the new ops over random boxes: sampled outputs lie inside every bound
/// engine's bounds, and each engine's bounds inside the interval bounds.
#[test]
fn random_networks_of_the_new_ops_are_bounded_soundly() {
    let mut rng = Rng::new(2025);
    for case in 0..60 {
        let n_in = 2 + case % 3;
        let hidden: Vec<usize> = (0..1 + case % 3)
            .map(|_| 2 + (rng.uniform() * 4.0) as usize)
            .collect();
        let net = random_core_net(&mut rng, n_in, &hidden);
        let radius = [0.01, 0.1, 0.5, 1.5][case % 4];
        let centre: Vec<f64> = (0..n_in).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let lo: Vec<f64> = centre.iter().map(|c| c - radius).collect();
        let hi: Vec<f64> = centre.iter().map(|c| c + radius).collect();
        let points = samples(&mut rng, &lo, &hi, 200);
        let ibp = output_bounds(&net, &lo, &hi, Method::Interval);
        for m in [Method::Dual, Method::Crown, Method::Alpha, Method::Lp] {
            let b = output_bounds(&net, &lo, &hi, m);
            for k in 0..b.len() {
                assert!(
                    b.lower[k] >= ibp.lower[k] && b.upper[k] <= ibp.upper[k],
                    "case {case} {m:?}: {b:?} outside {ibp:?}"
                );
            }
            for p in &points {
                let y = net.eval_f64(p);
                assert!(
                    b.contains(&y),
                    "case {case} {m:?}: f({p:?}) = {y:?} not in {b:?}"
                );
            }
        }
    }
}
