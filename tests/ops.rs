//! The ONNX ops lowered into existing core ops (Slice, Gather of computed data, Pad, ReduceSum,
//! ReduceMean, AveragePool, GlobalAveragePool; Clip, LeakyRelu, Max, Min and MaxPool exactly
//! with ReLUs; Expand, Where with a constant condition, Resize/Upsample nearest, and Equal,
//! Greater, ConstantOfShape folded on constants): each fixture's hand-derived answers, the core
//! ops it lowers to, and sampled soundness of every bound engine on it. (Their f32 and f64
//! evaluation against onnxruntime is checked with the other fixtures in `onnx_import.rs`.)

mod common;

use certus::attack::Rng;
use certus::bounds::{output_bounds, Method};
use certus::import::onnx;
use certus::ir::Network;
use common::root;

const FIXTURES: [&str; 12] = [
    "ops_slice_gather",
    "ops_pad",
    "ops_reduce",
    "ops_pool",
    "ops_clip_leaky",
    "ops_max_min",
    "ops_maxpool",
    "ops_plumb",
    "ops_resize",
    "ops_upsample",
    "ops_conv1d_same",
    "ops_split",
];

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

#[test]
fn clip_and_leaky_relu_are_exact() {
    let net = load("ops_clip_leaky");
    let clip = |v: f64| v.clamp(-0.5, 1.0);
    // The attribute is a float32: alpha = 0.1f32 exactly.
    let alpha = 0.1f32 as f64;
    let leaky = |v: f64| if v < 0.0 { alpha * v } else { v };
    for x in [
        [-2.0, -0.25, 0.5, 3.0],
        [0.0, 1.0, -0.5, 1.5],
        [-0.4, 0.999, 1.001, -7.0],
    ] {
        let want: Vec<f64> = x.iter().map(|&v| leaky(clip(v))).collect();
        let got = net.eval_f64(&x);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-15, "{x:?}: {got:?} vs {want:?}");
            // (exact up to the rounding of α·x + (1 − α)·relu(x) in f64)
        }
    }
}

#[test]
fn max_and_min_are_exact() {
    // y_i = min(1, max(a_i, b_i, 0.25)), a = (x0, x1), b = (x1, -x0).
    let net = load("ops_max_min");
    for x in [
        [0.5f64, -0.5],
        [-1.0, 2.0],
        [0.1, 0.2],
        [3.0, 0.5],
        [-0.3, -0.2],
    ] {
        let (a, b) = ([x[0], x[1]], [x[1], -x[0]]);
        let want: Vec<f64> = (0..2).map(|i| a[i].max(b[i]).clamp(0.25, 1.0)).collect();
        // a + relu(b − a) rounds in f64 (−0.2 + 0.5 is 0.30000000000000004).
        let got = net.eval_f64(&x);
        assert!(
            got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-12),
            "{x:?}: {got:?}"
        );
    }
}

#[test]
fn max_pool_takes_window_maxima() {
    let net = load("ops_maxpool");
    // A spike at channel 1, (3, 3): only channel 1's bottom-right output sees it; channel 0
    // holds -1 at (0, 0) and zeros, so its maxima are 0 (padding never wins).
    let mut x = vec![0.0; 32];
    x[16 + 15] = 5.0;
    x[0] = -1.0;
    assert_eq!(net.eval_f64(&x), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0]);
    // Against a direct computation on random inputs.
    let mut rng = Rng::new(3);
    let x: Vec<f64> = (0..32).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let at = |c: usize, i: i64, j: i64| {
        ((0..4).contains(&i) && (0..4).contains(&j))
            .then(|| x[c * 16 + i as usize * 4 + j as usize])
    };
    let pool3 = |c: usize, i: i64, j: i64| {
        (-1..=1)
            .flat_map(|p| (-1..=1).filter_map(move |q| at(c, i + p, j + q)))
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let want: Vec<f64> = (0..2)
        .flat_map(|c| (0..2).flat_map(move |i| (0..2).map(move |j| (c, i, j))))
        .map(|(c, i, j)| {
            (0..2)
                .flat_map(|p| (0..2).map(move |q| (2 * i + p, 2 * j + q)))
                .map(|(a, b)| pool3(c, a, b))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let got = net.eval_f64(&x);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
    }
}

#[test]
fn expand_and_where_with_folded_mask() {
    // y = (a, -b, -c, d, -a, b, c, -d) for x = [[a, b], [c, d]].
    let net = load("ops_plumb");
    let (a, b, c, d) = (1.5, -2.0, 0.25, 4.0);
    assert_eq!(net.eval_f64(&[a, b, c, d]), [a, -b, -c, d, -a, b, c, -d]);
}

#[test]
fn resize_and_upsample_nearest_repeat_pixels() {
    let x = [1.0, 2.0, 3.0, 4.0];
    // half_pixel, round_prefer_floor, scale 2: each pixel a 2x2 block.
    let want: Vec<f64> = (0..4)
        .flat_map(|i| (0..4).map(move |j| x[(i / 2) * 2 + j / 2]))
        .collect();
    assert_eq!(load("ops_resize").eval_f64(&x), want);
    // Opset 9 Upsample (asymmetric, floor), scales (2, 3): y[i][j] = x[i / 2][j / 3].
    let want: Vec<f64> = (0..4)
        .flat_map(|i| (0..6).map(move |j| x[(i / 2) * 2 + j / 3]))
        .collect();
    let net = load("ops_upsample");
    assert_eq!(ops(&net), ["Input", "Gather", "Reshape"]);
    assert_eq!(net.eval_f64(&x), want);
}

#[test]
fn conv_1d_with_same_padding() {
    // u = (1..5), v = ones: SAME_UPPER (k 3, s 2) gives (5, 12, 11); SAME_LOWER (k 2) sums
    // each with its predecessor: (5, 17, 23).
    let net = load("ops_conv1d_same");
    assert_eq!(ops(&net), ["Input", "Conv", "Relu", "Conv", "Reshape"]);
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    assert_eq!(net.eval_f64(&x), [5.0, 17.0, 23.0]);
}

#[test]
fn split_gives_each_part_to_its_reader() {
    // (relu(x2..x5), -x0, -x1).
    let net = load("ops_split");
    let x = [1.0, -2.0, 3.0, -4.0, 5.0, -6.0];
    assert_eq!(net.eval_f64(&x), [3.0, 0.0, 5.0, 0.0, -1.0, 2.0]);
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
