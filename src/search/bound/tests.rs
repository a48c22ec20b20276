//! Soundness of the batched kernels by sampling, their order against interval bounds, and
//! agreement with the dual network's CROWN bound on the same boxes.

use super::*;
use crate::attack::Rng;
use crate::bounds::dual::DualNetwork;
use crate::bounds::{objective_lower, BoundConfig, Method};
use crate::ir::{Affine, Network, Node, NodeId, Op};
use ndarray::Array1;
use proptest::prelude::*;

/// A random ReLU chain `x → (Affine, Relu)* → Affine` with weights in [−1, 1], biases in
/// [−½, ½].
pub(crate) fn random_chain(rng: &mut Rng, n_in: usize, hidden: &[usize], n_out: usize) -> Network {
    let mut nodes = vec![Node {
        name: "x".into(),
        op: Op::Input,
        inputs: vec![],
        shape: vec![n_in],
    }];
    let mut width = n_in;
    for (k, &rows) in hidden.iter().chain([&n_out]).enumerate() {
        let weight = Array2::from_shape_fn((rows, width), |_| rng.uniform() * 2.0 - 1.0);
        let bias = Array1::from_shape_fn(rows, |_| rng.uniform() - 0.5);
        nodes.push(Node {
            name: format!("fc{k}"),
            op: Op::Affine(Affine { weight, bias }),
            inputs: vec![NodeId(nodes.len() - 1)],
            shape: vec![rows],
        });
        if k < hidden.len() {
            nodes.push(Node {
                name: format!("relu{k}"),
                op: Op::Relu,
                inputs: vec![NodeId(nodes.len() - 1)],
                shape: vec![rows],
            });
        }
        width = rows;
    }
    Network::new(nodes).unwrap()
}

const MODES: [Intermediate; 6] = [
    mode(false, false, 0),
    mode(true, false, 0),
    mode(false, true, 0),
    mode(true, true, 0),
    mode(true, true, 1),
    mode(true, true, 2),
];

const fn mode(forward: bool, backward: bool, depth: usize) -> Intermediate {
    Intermediate {
        forward,
        backward,
        depth,
    }
}

/// `b` random boxes inside `[−1, 1]^n` (some of them points along one axis) and two random
/// rows per box.
fn random_batch(
    rng: &mut Rng,
    b: usize,
    n_in: usize,
    n_out: usize,
) -> (Array2<f64>, Array2<f64>, Rows) {
    let mut lo = Array2::zeros((b, n_in));
    let mut hi = Array2::zeros((b, n_in));
    for d in 0..b {
        for m in 0..n_in {
            let l = rng.uniform() * 2.0 - 1.0;
            let w = if rng.uniform() < 0.1 {
                0.0
            } else {
                rng.uniform() * (1.0 - l)
            };
            lo[[d, m]] = l;
            hi[[d, m]] = l + w;
        }
    }
    let r = 2 * b;
    let rows = Rows {
        dom: (0..r).map(|i| (i / 2) as u32).collect(),
        c: Array2::from_shape_fn((r, n_out), |_| (rng.uniform() * 4.0).round() - 2.0),
        rhs: (0..r).map(|_| rng.uniform() - 0.5).collect(),
    };
    (lo, hi, rows)
}

fn row_value(net: &Network, rows: &Rows, r: usize, x: &[f64]) -> f64 {
    row_of(rows, r, &net.eval_f64(x))
}

/// The row `r` at the output `y`.
fn row_of(rows: &Rows, r: usize, y: &[f64]) -> f64 {
    rows.c.row(r).iter().zip(y).map(|(c, y)| c * y).sum::<f64>() - rows.rhs[r]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Sampled row values lie above every mode's bound and linear form, and no mode is looser
    /// than interval bounds (up to rounding).
    #[test]
    fn bounds_and_forms_contain_samples(seed in any::<u64>(), n_in in 1usize..6, h1 in 1usize..9, h2 in 1usize..9, h3 in 0usize..6) {
        let mut rng = Rng::new(seed);
        let hidden: Vec<usize> = [h1, h2, h3].into_iter().filter(|&h| h > 0).collect();
        let net = random_chain(&mut rng, n_in, &hidden, 3);
        let chain = crate::search::chain::Chain::from_network(&net).unwrap();
        let (lo, hi, rows) = random_batch(&mut rng, 6, n_in, 3);
        let ibp = interval_rows(&chain, lo.view(), hi.view(), &rows);
        for mode in MODES {
            let out = linear_rows(&chain, lo.view(), hi.view(), &rows, mode, None);
            for (r, &ib) in ibp.iter().enumerate() {
                // Up to the rounding of the centre/radius form (the search keeps the larger).
                let tol = 1e-12 * (1.0 + ib.abs());
                prop_assert!(out.lb[r] >= ib - tol, "{mode:?} row {r}: {} looser than interval {ib}", out.lb[r]);
                let d = rows.dom[r] as usize;
                for _ in 0..40 {
                    let x: Vec<f64> = (0..n_in)
                        .map(|m| lo[[d, m]] + rng.uniform() * (hi[[d, m]] - lo[[d, m]]))
                        .collect();
                    let v = row_value(&net, &rows, r, &x);
                    let form: f64 = out.a.row(r).iter().zip(&x).map(|(a, x)| a * x).sum::<f64>() + out.k[r];
                    prop_assert!(out.lb[r] <= v, "{mode:?} row {r}: bound {} > value {v}", out.lb[r]);
                    prop_assert!(form <= v + 1e-12 * (1.0 + v.abs()), "{mode:?} row {r}: form {form} > value {v}");
                    // The f32 evaluation at the f32 point nearest `x`, when it is in the box.
                    let x32: Vec<f64> = x.iter().map(|&v| v as f32 as f64).collect();
                    if (0..n_in).all(|m| lo[[d, m]] <= x32[m] && x32[m] <= hi[[d, m]]) {
                        let y: Vec<f64> = net.eval_f32(&x32).into_iter().map(f64::from).collect();
                        let v = row_of(&rows, r, &y);
                        let form: f64 = out.a.row(r).iter().zip(&x32).map(|(a, x)| a * x).sum::<f64>() + out.k[r];
                        prop_assert!(out.lb[r] <= v, "{mode:?} row {r}: bound {} > f32 value {v}", out.lb[r]);
                        prop_assert!(form <= v + 1e-12 * (1.0 + v.abs()), "{mode:?} row {r}: form {form} > f32 value {v}");
                    }
                }
            }
        }
    }

    /// With backward intermediate bounds the kernels compute the dual network's CROWN bound
    /// (same slopes, same order of intermediate bounds, both keeping the f32 residuals), up to
    /// rounding.
    #[test]
    fn backward_mode_matches_dual_crown(seed in any::<u64>(), n_in in 1usize..6, h1 in 1usize..9, h2 in 1usize..9) {
        let mut rng = Rng::new(seed);
        let net = random_chain(&mut rng, n_in, &[h1, h2], 3);
        let chain = crate::search::chain::Chain::from_network(&net).unwrap();
        let (lo, hi, rows) = random_batch(&mut rng, 4, n_in, 3);
        let mode = Intermediate { forward: false, backward: true, depth: 0 };
        let out = linear_rows(&chain, lo.view(), hi.view(), &rows, mode, None);
        // The chain kernels' residuals are `ρ_n·(|W|·M + |b|)`; so are these.
        let dn = DualNetwork::keeping_f32_loose(&net);
        for r in 0..rows.dom.len() {
            let d = rows.dom[r] as usize;
            let c = rows.c.slice(ndarray::s![r..r + 1, ..]).to_owned();
            let (l, h) = (lo.row(d).to_vec(), hi.row(d).to_vec());
            let (ay, last) = objective_lower(&dn, &l, &h, &c, Method::Crown, &BoundConfig::default());
            let spec = crate::spec::LinearConstraint {
                coeffs: (0..3).filter(|&k| c[[0, k]] != 0.0).map(|k| (k, c[[0, k]])).collect(),
                rhs: rows.rhs[r],
            };
            let want = (ay[0] - rows.rhs[r]).max(crate::bounds::constraint_lower_bound(&spec, &last));
            let tol = 1e-9 * (1.0 + want.abs());
            prop_assert!((out.lb[r] - want).abs() <= tol, "row {r}: {} vs dual crown {want}", out.lb[r]);
        }
    }
}

/// An ill-conditioned chain where f32 and f64 differ visibly: `z = x + 2^k_j − 2^k_j` style
/// cancellations (biases up to `3·10^4`, weights up to `10^3`) over thin boxes with f32 corners.
/// The f32 evaluation at every sampled f32 point lies above every mode's bound and form, and
/// the samples do show f32 values far from the f64 ones (so the bound must keep the slack).
#[test]
fn bounds_contain_f32_evaluations_of_an_ill_conditioned_chain() {
    let mut rng = Rng::new(1515);
    let mut visible = 0.0f64;
    for case in 0..30 {
        let n_in = 1 + case % 3;
        let mut net = random_chain(&mut rng, n_in, &[6, 5], 2);
        let mut nodes = net.nodes().to_vec();
        for (k, node) in nodes.iter_mut().enumerate() {
            if let Op::Affine(a) = &mut node.op {
                let big = if k == 1 { 1e3 } else { 1.0 };
                a.weight.mapv_inplace(|w| (w * big) as f32 as f64);
                let shift: f64 = if k == 1 { 3e4 } else { 1.0 };
                a.bias.mapv_inplace(|b| (b * shift) as f32 as f64);
            }
        }
        // Undo the first layer's big biases after the ReLU (where it is active, the f32 sum
        // `w·x + b` has lost the low bits of `w·x`).
        net = Network::new(nodes).unwrap();
        let chain = crate::search::chain::Chain::from_network(&net).unwrap();
        let b = 4;
        let mut lo = Array2::zeros((b, n_in));
        let mut hi = Array2::zeros((b, n_in));
        for d in 0..b {
            for m in 0..n_in {
                let l = (rng.uniform() * 2.0 - 1.0) as f32;
                let w = [0.0f32, 1e-6, 1e-3, 0.5][d];
                lo[[d, m]] = l as f64;
                hi[[d, m]] = (l + w) as f64;
            }
        }
        let rows = Rows {
            dom: (0..2 * b).map(|i| (i / 2) as u32).collect(),
            c: Array2::from_shape_fn(
                (2 * b, 2),
                |(r, k)| if (r + k) % 2 == 0 { 1.0 } else { -0.5 },
            ),
            rhs: vec![0.0; 2 * b],
        };
        for mode in MODES {
            let out = linear_rows(&chain, lo.view(), hi.view(), &rows, mode, None);
            for r in 0..rows.dom.len() {
                let d = rows.dom[r] as usize;
                for _ in 0..30 {
                    let x: Vec<f64> = (0..n_in)
                        .map(|m| {
                            let v = lo[[d, m]] + rng.uniform() * (hi[[d, m]] - lo[[d, m]]);
                            (v as f32 as f64).clamp(lo[[d, m]], hi[[d, m]])
                        })
                        .collect();
                    let y32: Vec<f64> = net.eval_f32(&x).into_iter().map(f64::from).collect();
                    let y64 = net.eval_f64(&x);
                    visible = visible.max((y32[0] - y64[0]).abs());
                    let v = row_of(&rows, r, &y32);
                    let form: f64 =
                        out.a.row(r).iter().zip(&x).map(|(a, x)| a * x).sum::<f64>() + out.k[r];
                    assert!(
                        out.lb[r] <= v,
                        "case {case} {mode:?} row {r}: bound {} > f32 value {v}",
                        out.lb[r]
                    );
                    assert!(
                        form <= v + 1e-12 * (1.0 + v.abs()),
                        "case {case} {mode:?} row {r}: form {form} > f32 value {v}"
                    );
                }
            }
        }
    }
    assert!(
        visible > 1e-4,
        "f32 and f64 never differ visibly: {visible:e}"
    );
}
