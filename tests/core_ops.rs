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
const FIXTURES: [&str; 3] = [
    "ops_conv_group",
    "ops_conv_transpose",
    "ops_conv_transpose_1d",
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
