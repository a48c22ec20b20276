//! The triangle LP (`certus::bounds::lp`): a hand-checked optimum, soundness by sampling, and
//! its place in the tightness order (inside the dual network's bounds).

mod common;

use certus::attack::Rng;
use certus::bounds::dual::{DualNetwork, Slopes};
use certus::bounds::interval::interval_bounds;
use certus::bounds::lp::{output_bounds, Backend, TriangleLp};
use certus::bounds::Bounds;
use certus::deadline::Deadline;
use certus::ir::{Network, Op};
use common::{random_net, vee};
use ndarray::Array2;
use proptest::prelude::*;

/// Slack allowed when the LP's bound is compared with the dual network's. Mathematically the
/// LP optimum is at least the dual bound (Wong–Kolter's bound is one dual-feasible point of the
/// same LP), but our bound is recomputed from the solver's *approximate* multipliers (Clarabel
/// is an interior-point method converging to ~1e-8), so it may come out slightly looser.
const REL_SLACK: f64 = 1e-7;

fn slack(v: f64) -> f64 {
    REL_SLACK * (1.0 + v.abs())
}

fn random_box(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let lower: Vec<f64> = (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let upper = lower.iter().map(|l| l + 0.05 + rng.uniform()).collect();
    (lower, upper)
}

/// Output bounds of the dual network: rows `[I; −I]`.
fn dual_output_bounds(dual: &DualNetwork, bounds: &[Bounds], n_out: usize) -> Bounds {
    let mut c = Array2::zeros((2 * n_out, n_out));
    for j in 0..n_out {
        c[[j, j]] = 1.0;
        c[[n_out + j, j]] = -1.0;
    }
    let lo = dual.output_lower(bounds, &c, Slopes::WongKolter);
    Bounds {
        lower: lo[..n_out].to_vec(),
        upper: lo[n_out..].iter().map(|v| -v).collect(),
    }
}

/// Samples the box (corners included) and checks every output lies inside `b`.
fn assert_contains_samples(net: &Network, lower: &[f64], upper: &[f64], b: &Bounds, rng: &mut Rng) {
    let n = lower.len();
    for k in 0..200 {
        let x: Vec<f64> = (0..n)
            .map(|i| {
                if k < 1 << n {
                    if k >> i & 1 == 1 {
                        upper[i]
                    } else {
                        lower[i]
                    }
                } else {
                    lower[i] + rng.uniform() * (upper[i] - lower[i])
                }
            })
            .collect();
        let y = net.eval_f64(&x);
        assert!(
            b.contains(&y),
            "output {y:?} at {x:?} outside LP bounds {b:?}"
        );
    }
}

/// `vee` on `[0,1]²`: z0 = x0 + x1 ∈ [0, 2] (active, h0 = z0), z1 = x0 − x1 ∈ [−1, 1]
/// (unstable, s = 1/2: h1 >= 0, h1 >= z1, h1 <= (z1 + 1)/2). The LP maximum of y = h0 + h1 is
/// max x0 + x1 + (x0 − x1 + 1)/2 = max 1.5·x0 + 0.5·x1 + 0.5 = 2.5 at x = (1, 1) (where
/// h1 = 1/2 while the true relu is 0); the minimum is 0 at x = (0, 0).
#[test]
fn vee_triangle_lp_matches_paper() {
    let net = vee();
    let bounds = interval_bounds(&net, &[0.0, 0.0], &[1.0, 1.0]);
    for retighten in [false, true] {
        let out = output_bounds(&net, &bounds, Backend::Clarabel, retighten);
        assert!(out.upper[0] >= 2.5 && out.upper[0] <= 2.5 + 1e-6, "{out:?}");
        assert!(out.lower[0] <= 0.0 && out.lower[0] >= -1e-6, "{out:?}");
    }
    let lp = TriangleLp::new(&net, &bounds);
    let lo = lp.lower_bound(&[-1.0], Backend::Clarabel);
    assert!(-lo >= 2.5 && -lo <= 2.5 + 1e-6, "{lo}");
}

/// The same on HiGHS, when it is built in.
#[cfg(feature = "highs")]
#[test]
fn vee_triangle_lp_matches_paper_highs() {
    let net = vee();
    let bounds = interval_bounds(&net, &[0.0, 0.0], &[1.0, 1.0]);
    let out = output_bounds(&net, &bounds, Backend::Highs, true);
    assert!(out.upper[0] >= 2.5 && out.upper[0] <= 2.5 + 1e-6, "{out:?}");
    assert!(out.lower[0] <= 0.0 && out.lower[0] >= -1e-6, "{out:?}");
}

/// A degenerate box (x1 fixed at 0.5): z0 = x0 + 0.5 ∈ [0.5, 1.5] active, z1 = x0 − 0.5 ∈
/// [−0.5, 0.5] unstable with h1 <= (z1 + 0.5)/2 = x0/2. Max of y = h0 + h1 is 1.5·x0 + 0.5 = 2
/// at x0 = 1; min is x0 + 0.5 + max(0, z1) = 0.5 at x0 = 0. (Interior-point solvers must cope
/// with a zero-width variable box.)
#[test]
fn vee_with_a_fixed_input() {
    let net = vee();
    let bounds = interval_bounds(&net, &[0.0, 0.5], &[1.0, 0.5]);
    for retighten in [false, true] {
        let out = output_bounds(&net, &bounds, Backend::Clarabel, retighten);
        assert!(out.upper[0] >= 2.0 && out.upper[0] <= 2.0 + 1e-6, "{out:?}");
        assert!(out.lower[0] <= 0.5 && out.lower[0] >= 0.5 - 1e-6, "{out:?}");
    }
}

/// A box where every ReLU is inactive: the output is the last bias exactly, and no variable
/// feeds the objective.
#[test]
fn all_inactive_relus_give_the_bias() {
    let net = common::mlp(
        1,
        &[
            (vec![vec![1.0]], vec![-5.0], true),
            (vec![vec![2.0]], vec![0.75], false),
        ],
    );
    let bounds = interval_bounds(&net, &[0.0], &[1.0]);
    let out = output_bounds(&net, &bounds, Backend::Clarabel, true);
    assert!(
        out.lower[0] <= 0.75 && out.lower[0] > 0.75 - 1e-12,
        "{out:?}"
    );
    assert!(
        out.upper[0] >= 0.75 && out.upper[0] < 0.75 + 1e-12,
        "{out:?}"
    );
}

fn check_net(net: &Network, lower: &[f64], upper: &[f64], rng: &mut Rng) {
    let n_out = net.output_len();
    let dual = DualNetwork::new(net);
    let bounds = dual.all_bounds(lower, upper, Slopes::WongKolter, Deadline::NONE);
    let d = dual_output_bounds(&dual, &bounds, n_out);
    let lp = output_bounds(net, &bounds, Backend::Clarabel, false);
    assert_contains_samples(net, lower, upper, &lp, rng);
    for j in 0..n_out {
        assert!(
            lp.lower[j] >= d.lower[j] - slack(d.lower[j]),
            "lower {j}: LP {lp:?} dual {d:?}"
        );
        assert!(
            lp.upper[j] <= d.upper[j] + slack(d.upper[j]),
            "upper {j}: LP {lp:?} dual {d:?}"
        );
    }
    // A random objective: above the dual network's bound, below every sample.
    let c: Vec<f64> = (0..n_out).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let tri = TriangleLp::new(net, &bounds);
    let lb = tri.lower_bound(&c, Backend::Clarabel);
    let cm = Array2::from_shape_vec((1, n_out), c.clone()).unwrap();
    let dlb = dual.output_lower(&bounds, &cm, Slopes::WongKolter)[0];
    assert!(lb >= dlb - slack(dlb), "LP {lb} below dual {dlb}");
    for _ in 0..50 {
        let x: Vec<f64> = lower
            .iter()
            .zip(upper)
            .map(|(l, u)| l + rng.uniform() * (u - l))
            .collect();
        let y = net.eval_f64(&x);
        let cy: f64 = c.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!(lb <= cy, "LP bound {lb} above the value {cy} at {x:?}");
    }
    // Re-tightening from the loose interval bounds: still sound, and no looser than without.
    let ib = interval_bounds(net, lower, upper);
    let plain = output_bounds(net, &ib, Backend::Clarabel, false);
    let tight = output_bounds(net, &ib, Backend::Clarabel, true);
    assert_contains_samples(net, lower, upper, &tight, rng);
    for j in 0..n_out {
        assert!(
            tight.lower[j] >= plain.lower[j] - slack(plain.lower[j]),
            "{tight:?} vs {plain:?}"
        );
        assert!(
            tight.upper[j] <= plain.upper[j] + slack(plain.upper[j]),
            "{tight:?} vs {plain:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// ReLU nets with two hidden layers: LP bounds contain samples and lie inside the dual
    /// network's bounds.
    #[test]
    fn relu_lp_is_sound_and_inside_dual(seed in any::<u64>(), n_in in 2usize..5, h1 in 1usize..7, h2 in 1usize..7) {
        let mut rng = Rng::new(seed);
        let net = random_net(&mut rng, n_in, &[h1, h2], 3, &[Op::Relu]);
        let (lower, upper) = random_box(&mut rng, n_in);
        check_net(&net, &lower, &upper, &mut rng);
    }

    /// The same with a sigmoid and a tanh layer.
    #[test]
    fn sigmoid_tanh_lp_is_sound_and_inside_dual(seed in any::<u64>(), n_in in 2usize..5, h1 in 1usize..7, h2 in 1usize..7) {
        let mut rng = Rng::new(seed);
        let net = random_net(&mut rng, n_in, &[h1, h2], 2, &[Op::Sigmoid, Op::Tanh]);
        let (lower, upper) = random_box(&mut rng, n_in);
        check_net(&net, &lower, &upper, &mut rng);
    }
}

/// Slow tier (`cargo test --release --test lp -- --ignored --nocapture`): ACAS Xu 1_1 on
/// property 1's box. Prints how long `output_bounds` takes; checks samples and the dual order.
#[test]
#[ignore]
fn acasxu_output_bounds() {
    use std::time::Instant;
    let Some(dir) = common::shared_benchmarks() else {
        return;
    };
    let net = certus::import::load_network(
        &dir.join("acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx"),
        Default::default(),
    )
    .unwrap();
    let prop = certus::spec::vnnlib::parse_file(&dir.join("acasxu/vnnlib/prop_1.vnnlib")).unwrap();
    let (lower, upper) = (&prop.regions[0].lower, &prop.regions[0].upper);
    let dual = DualNetwork::new(&net);
    let t = Instant::now();
    let bounds = dual.all_bounds(lower, upper, Slopes::WongKolter, Deadline::NONE);
    let d = dual_output_bounds(&dual, &bounds, net.output_len());
    eprintln!(
        "dual network: {:?}  mean width {:.4}",
        t.elapsed(),
        d.mean_width()
    );
    let (vars, rows) = TriangleLp::new(&net, &bounds).size();
    eprintln!("LP: {vars} variables, {rows} rows");
    let backends = [
        Backend::Clarabel,
        #[cfg(feature = "highs")]
        Backend::Highs,
    ];
    let mut rng = Rng::new(1);
    for backend in backends {
        for retighten in [false, true] {
            let t = Instant::now();
            let out = output_bounds(&net, &bounds, backend, retighten);
            eprintln!(
                "{backend:?} retighten={retighten}: {:?}  mean width {:.4}",
                t.elapsed(),
                out.mean_width()
            );
            assert_contains_samples(&net, lower, upper, &out, &mut rng);
            for j in 0..net.output_len() {
                assert!(
                    out.lower[j] >= d.lower[j] - slack(d.lower[j]),
                    "{out:?} vs {d:?}"
                );
                assert!(
                    out.upper[j] <= d.upper[j] + slack(d.upper[j]),
                    "{out:?} vs {d:?}"
                );
            }
        }
    }
}
