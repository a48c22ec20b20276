//! The ONNX ops lowered into existing core ops (Slice, Gather of computed data, Pad, ReduceSum,
//! ReduceMean, AveragePool, GlobalAveragePool): each fixture's hand-derived answers, the core
//! ops it lowers to, and sampled soundness of every bound engine on it. (Their f32 and f64
//! evaluation against onnxruntime is checked with the other fixtures in `onnx_import.rs`.)

mod common;

use certus::attack::Rng;
use certus::bounds::{output_bounds, Method};
use certus::import::onnx;
use certus::ir::Network;
use common::root;

const FIXTURES: [&str; 4] = ["ops_slice_gather", "ops_pad", "ops_reduce", "ops_pool"];

fn load(name: &str) -> Network {
    onnx::load(&root().join(format!("tests/fixtures/{name}.onnx"))).unwrap()
}

fn ops(net: &Network) -> Vec<&'static str> {
    net.nodes().iter().map(|n| n.op.name()).collect()
}

#[test]
fn slice_and_gather_select_and_reverse() {
    // [[a,b,c],[d,e,f]] -> relu(f, e, c, b): one composed Gather, then the ReLU.
    let net = load("ops_slice_gather");
    assert_eq!(ops(&net), ["Input", "Gather", "Relu", "Reshape"]);
    let x = [1.0, -2.0, 3.0, -4.0, 5.0, 6.0];
    assert_eq!(net.eval_f64(&x), [6.0, 5.0, 3.0, 0.0]);
}

#[test]
fn pad_constant_then_reflect() {
    // [[a,b],[c,d]] -> [[.5,.5,.5],[a,b,.5],[c,d,.5]] -> reflect one column each side.
    let net = load("ops_pad");
    assert_eq!(
        ops(&net),
        ["Input", "Gather", "ScaleShift", "Gather", "Relu", "Reshape"]
    );
    let (a, b, c, d) = (1.0, -2.0, 3.0, 4.0);
    let h = 0.5;
    let want = [h, h, h, h, h, b, a, b, h, b, d, c, d, h, d].map(|v: f64| v.max(0.0));
    assert_eq!(net.eval_f64(&[a, b, c, d]), want);
}

#[test]
fn reductions_sum_and_average() {
    // The sum of the two row means = (Σ x)/3, then ReLU.
    let net = load("ops_reduce");
    assert_eq!(ops(&net), ["Input", "Affine", "Affine", "Relu"]);
    let y = net.eval_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])[0];
    assert!((y - 7.0).abs() < 1e-12, "{y}");
    assert_eq!(net.eval_f64(&[-1.0; 6]), [0.0]);
}

#[test]
fn pooling_keeps_a_constant_channel_constant() {
    // count_include_pad = 0: the border averages divide by the cells inside the image.
    let net = load("ops_pool");
    assert_eq!(
        ops(&net),
        [
            "Input",
            "Conv",
            "ScaleShift",
            "Relu",
            "Conv",
            "Affine",
            "Reshape"
        ]
    );
    for (u, v) in [(1.0, 3.0), (0.25, 7.5)] {
        let x: Vec<f64> = [vec![u; 16], vec![v; 16]].concat();
        let y = net.eval_f64(&x);
        assert!(
            (y[0] - u).abs() < 1e-12 && (y[1] - v).abs() < 1e-12,
            "{y:?}"
        );
    }
}

/// Over a box of radius 0.1 around each recorded input, 300 sampled outputs lie inside the
/// interval, dual, crown, alpha and LP bounds.
#[test]
fn every_bound_engine_contains_samples() {
    let mut rng = Rng::new(7);
    for name in FIXTURES {
        let net = load(name);
        let io: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join(format!("tests/fixtures/{name}.io.json")))
                .unwrap(),
        )
        .unwrap();
        for case in io["cases"].as_array().unwrap().iter().take(2) {
            let x: Vec<f64> = (case["input"].as_array().unwrap().iter())
                .map(|v| v.as_f64().unwrap())
                .collect();
            let lo: Vec<f64> = x.iter().map(|v| v - 0.1).collect();
            let hi: Vec<f64> = x.iter().map(|v| v + 0.1).collect();
            for m in [
                Method::Interval,
                Method::Dual,
                Method::Crown,
                Method::Alpha,
                Method::Lp,
            ] {
                let b = output_bounds(&net, &lo, &hi, m);
                for k in 0..300 {
                    let p: Vec<f64> = (0..x.len())
                        .map(|i| {
                            let t = if k % 3 == 0 {
                                (rng.uniform() < 0.5) as u8 as f64
                            } else {
                                rng.uniform()
                            };
                            lo[i] + t * (hi[i] - lo[i])
                        })
                        .collect();
                    let y = net.eval_f64(&p);
                    assert!(
                        b.contains(&y),
                        "{name} {m:?}: f({p:?}) = {y:?} not in {b:?}"
                    );
                }
            }
        }
    }
}
