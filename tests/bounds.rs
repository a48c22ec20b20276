//! The bound engines: values computed on paper, soundness by sampling (random networks and the
//! shared benchmarks' reference outputs), and the order of tightness.

mod common;

use certus::attack::Rng;
use certus::bounds::alpha::{optimise, AlphaConfig};
use certus::bounds::dual::{DualNetwork, Slopes};
use certus::bounds::{output_bounds, plus_minus_identity, Bounds, Method};
use certus::deadline::Deadline;
use certus::ir::{Network, Op};
use common::{mlp, random_net, shared_benchmarks, vee};
use proptest::prelude::*;

const METHODS: [Method; 5] = [
    Method::Interval,
    Method::Dual,
    Method::Crown,
    Method::Alpha,
    Method::Lp,
];

/// Raw output bounds of one slope choice (not intersected with interval bounds).
fn raw(net: &Network, lo: &[f64], hi: &[f64], inter: Slopes, out: Slopes) -> Bounds {
    let dn = DualNetwork::new(net);
    let all = dn.all_bounds(lo, hi, inter, Deadline::NONE);
    let n = net.output_len();
    let r = dn.output_lower(&all, &plus_minus_identity(n), out);
    Bounds {
        lower: r[..n].to_vec(),
        upper: r[n..].iter().map(|v| -v).collect(),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn vee_bounds_match_paper() {
    // y = relu(x0+x1) + relu(x0−x1) on [0,1]²; z1 = x0−x1 ∈ [−1,1] is unstable with s = 1/2, so
    // y <= (x0+x1) + (x0−x1+1)/2 = 1.5 x0 + 0.5 x1 + 0.5 <= 2.5; the lower line (α = 1/2 or 1)
    // gives y >= 1.5 x0 + 0.5 x1 >= 0 or y >= 2 x0 >= 0. Interval: [0, 3].
    let net = vee();
    let i = output_bounds(&net, &[0.0, 0.0], &[1.0, 1.0], Method::Interval);
    assert!(close(i.lower[0], 0.0) && close(i.upper[0], 3.0), "{i:?}");
    for m in [Method::Dual, Method::Crown, Method::Alpha, Method::Lp] {
        let b = output_bounds(&net, &[0.0, 0.0], &[1.0, 1.0], m);
        assert!(
            close(b.lower[0], 0.0) && close(b.upper[0], 2.5),
            "{m:?}: {b:?}"
        );
        assert!(b.lower[0] <= 0.0 && b.upper[0] >= 2.5, "rounded outward");
    }
}

/// `y = relu(x)` on `x ∈ [−1, 2]`: the lower line `α x` is minimised at `x = −1`, so the lower
/// bound is `−α`: Wong–Kolter's `α = 2/3` gives −2/3, the adaptive `α = 1` (u >= −l) gives −1,
/// and the optimal `α = 0` gives 0. The upper line `2/3 (x + 1)` gives 2 at `x = 2`.
#[test]
fn relu_slopes_match_paper() {
    let net = mlp(1, &[(vec![vec![1.0]], vec![0.0], true)]);
    let (lo, hi) = ([-1.0], [2.0]);
    let wk = raw(&net, &lo, &hi, Slopes::WongKolter, Slopes::WongKolter);
    assert!(
        close(wk.lower[0], -2.0 / 3.0) && close(wk.upper[0], 2.0),
        "{wk:?}"
    );
    let ad = raw(&net, &lo, &hi, Slopes::Adaptive, Slopes::Adaptive);
    assert!(close(ad.lower[0], -1.0), "{ad:?}");
    let dn = DualNetwork::new(&net);
    let all = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
    let opt = optimise(
        &dn,
        &all,
        &plus_minus_identity(1),
        &AlphaConfig::default(),
        Deadline::NONE,
    );
    assert!(
        opt[0] <= 0.0 && opt[0] > -1e-9,
        "optimised lower bound {}",
        opt[0]
    );
    assert!(close(-opt[1], 2.0));
}

fn sample_check(
    net: &Network,
    rng: &mut Rng,
    lo: &[f64],
    hi: &[f64],
    b: &Bounds,
    what: &str,
) -> Result<(), TestCaseError> {
    for _ in 0..100 {
        let x: Vec<f64> = (0..lo.len())
            .map(|i| lo[i] + rng.uniform() * (hi[i] - lo[i]))
            .collect();
        let y = net.eval_f64(&x);
        prop_assert!(b.contains(&y), "{what}: {y:?} not in {b:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every method's bounds (raw, not intersected) contain sampled outputs, for ReLU, sigmoid
    /// and tanh networks; optimised slopes are never looser than their starting point.
    #[test]
    fn bounds_contain_samples(seed in any::<u64>(), n_in in 1usize..4, h1 in 1usize..7, h2 in 1usize..7, act in 0usize..3) {
        let act = [Op::Relu, Op::Sigmoid, Op::Tanh][act].clone();
        let mut rng = Rng::new(seed);
        let net = random_net(&mut rng, n_in, &[h1, h2], 3, &[act]);
        let lo: Vec<f64> = (0..n_in).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + 2.0 * rng.uniform()).collect();
        for m in METHODS {
            let b = output_bounds(&net, &lo, &hi, m);
            sample_check(&net, &mut rng, &lo, &hi, &b, &format!("{m:?}"))?;
        }
        let wk = raw(&net, &lo, &hi, Slopes::WongKolter, Slopes::WongKolter);
        sample_check(&net, &mut rng, &lo, &hi, &wk, "raw dual")?;
        let ad = raw(&net, &lo, &hi, Slopes::Adaptive, Slopes::Adaptive);
        sample_check(&net, &mut rng, &lo, &hi, &ad, "raw crown")?;
        // interval ⊇ dual ⊇ alpha, dual ⊇ LP, and crown ⊇ alpha, crown ⊇ LP.
        let i = output_bounds(&net, &lo, &hi, Method::Interval);
        let c = output_bounds(&net, &lo, &hi, Method::Crown);
        let a = output_bounds(&net, &lo, &hi, Method::Alpha);
        let l = output_bounds(&net, &lo, &hi, Method::Lp);
        let d = output_bounds(&net, &lo, &hi, Method::Dual);
        for j in 0..3 {
            prop_assert!(i.lower[j] <= d.lower[j] && d.upper[j] <= i.upper[j]);
            prop_assert!(d.lower[j] <= a.lower[j] && a.upper[j] <= d.upper[j]);
            prop_assert!(d.lower[j] <= l.lower[j] && l.upper[j] <= d.upper[j]);
            prop_assert!(i.lower[j] <= c.lower[j] && c.upper[j] <= i.upper[j]);
            prop_assert!(c.lower[j] <= a.lower[j] && a.upper[j] <= c.upper[j]);
            prop_assert!(c.lower[j] <= l.lower[j] && l.upper[j] <= c.upper[j]);
        }
    }
}

/// On every shared benchmark network, each method's bounds over the first instance's box contain
/// the onnxruntime reference outputs (whose inputs lie in that box), up to f32 rounding.
#[test]
fn bounds_contain_benchmark_reference_outputs() {
    let Some(root) = shared_benchmarks() else {
        return;
    };
    let mut checked = 0;
    for bench in ["acasxu", "mnistfc", "eran"] {
        let dir = root.join(bench);
        let instances = certus::bench::read_instances(&dir).unwrap();
        let refs = std::fs::read_to_string(dir.join("reference_outputs.jsonl")).unwrap();
        let mut seen = std::collections::HashSet::new();
        for line in refs.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let onnx = v["onnx"].as_str().unwrap().to_string();
            // Networks with many reference lines: check the first few networks of each benchmark.
            if !seen.contains(&onnx) && seen.len() >= 3 {
                continue;
            }
            seen.insert(onnx.clone());
            let f = |k: &str| -> Vec<f64> {
                v[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            };
            let (x, y) = (f("input"), f("output"));
            let inst = instances.iter().find(|i| i.onnx == onnx).unwrap();
            let net =
                certus::import::load_network(&dir.join(&inst.onnx), Default::default()).unwrap();
            let prop = certus::spec::vnnlib::parse_file(&dir.join(&inst.vnnlib)).unwrap();
            let Some(region) = prop.regions.iter().find(|r| r.contains(&x)) else {
                continue;
            };
            for m in METHODS {
                // The LP on the 784-input networks takes seconds per output: ACAS Xu only.
                if m == Method::Lp && bench != "acasxu" {
                    continue;
                }
                let b = output_bounds(&net, &region.lower, &region.upper, m);
                for (j, &yj) in y.iter().enumerate() {
                    let tol = 1e-5 * (1.0 + yj.abs());
                    assert!(
                        b.lower[j] - tol <= yj && yj <= b.upper[j] + tol,
                        "{bench} {onnx} {m:?}: Y_{j} = {yj} not in [{}, {}]",
                        b.lower[j],
                        b.upper[j]
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} reference points checked");
}

/// `c·y` for each row of `c`.
fn rows_dot(c: &ndarray::Array2<f64>, y: &[f64]) -> Vec<f64> {
    c.rows()
        .into_iter()
        .map(|r| r.iter().zip(y).map(|(a, b)| a * b).sum())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A pass holding `λ` in f32 is still sound, also for objective coefficients that f32
    /// cannot represent (0.1): sampled values of `c·y` lie above its lower bounds.
    #[test]
    fn f32_passes_are_sound(seed in any::<u64>(), n_in in 1usize..5, h in 1usize..9, act in 0usize..3) {
        let act = [Op::Relu, Op::Sigmoid, Op::Tanh][act].clone();
        let mut rng = Rng::new(seed);
        let net = random_net(&mut rng, n_in, &[h, h], 3, &[act]);
        let lo: Vec<f64> = (0..n_in).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + 2.0 * rng.uniform()).collect();
        let dn = DualNetwork::new(&net);
        let all = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
        let mut c = plus_minus_identity(3);
        c.row_mut(0).assign(&ndarray::arr1(&[0.1, -0.3, 1.0 / 3.0]));
        let k = net.nodes().len() - 1;
        let lb = dn.backward::<f32>(&all, k, &c, Slopes::Adaptive).lower;
        for _ in 0..100 {
            let x: Vec<f64> = (0..n_in).map(|i| lo[i] + rng.uniform() * (hi[i] - lo[i])).collect();
            let v = rows_dot(&c, &net.eval_f64(&x));
            for (r, (&l, &v)) in lb.iter().zip(&v).enumerate() {
                prop_assert!(l <= v, "row {r}: {l} > {v}");
            }
        }
    }
}

/// A network wide enough for the f32 input step (see `DualNetwork::wide`): sampled outputs and
/// the box's corners lie inside every dual method's bounds, which keep their order.
#[test]
fn wide_network_bounds_contain_samples() {
    let mut rng = Rng::new(7);
    let n_in = 400;
    let mut net = random_net(&mut rng, n_in, &[256, 256], 4, &[Op::Relu]);
    // Weights of a trained net's scale (fan-in normalised), so that bounds stay meaningful.
    let nodes: Vec<_> = net.nodes().to_vec();
    let scaled: Vec<_> = nodes
        .into_iter()
        .map(|mut n| {
            if let Op::Affine(a) = &mut n.op {
                let s = 1.0 / (a.weight.ncols() as f64).sqrt();
                a.weight.mapv_inplace(|w| w * s);
            }
            n
        })
        .collect();
    net = Network::new(scaled).unwrap();
    assert!(DualNetwork::new(&net).wide());
    let centre: Vec<f64> = (0..n_in).map(|_| rng.uniform()).collect();
    let lo: Vec<f64> = centre.iter().map(|c| (c - 0.02f64).max(0.0)).collect();
    let hi: Vec<f64> = centre.iter().map(|c| (c + 0.02f64).min(1.0)).collect();
    let i = output_bounds(&net, &lo, &hi, Method::Interval);
    let d = output_bounds(&net, &lo, &hi, Method::Dual);
    let c = output_bounds(&net, &lo, &hi, Method::Crown);
    let a = output_bounds(&net, &lo, &hi, Method::Alpha);
    let mut points: Vec<Vec<f64>> = vec![lo.clone(), hi.clone()];
    for _ in 0..200 {
        points.push(
            (0..n_in)
                .map(|k| if rng.uniform() < 0.5 { lo[k] } else { hi[k] })
                .collect(),
        );
    }
    for x in &points {
        let y = net.eval_f64(x);
        for (m, b) in [("dual", &d), ("crown", &c), ("alpha", &a)] {
            assert!(b.contains(&y), "{m}: {y:?} not in {b:?}");
        }
    }
    for j in 0..4 {
        assert!(i.lower[j] <= d.lower[j] && d.upper[j] <= i.upper[j]);
        assert!(d.lower[j] <= a.lower[j] && a.upper[j] <= d.upper[j]);
        assert!(c.lower[j] <= a.lower[j] && a.upper[j] <= c.upper[j]);
    }
    assert!(c.mean_width() < i.mean_width(), "the dual network tightens");
}

/// A wide network (f32 input step) whose input feeds two branches joined by an Add: the input's
/// `λ` is then a sum, so the fused input step must not be taken; every dual method's bounds
/// still contain sampled outputs and keep their order.
#[test]
fn wide_network_with_a_shared_input_is_sound() {
    use certus::ir::{Affine, Node, NodeId};
    let mut rng = Rng::new(9);
    let n_in = 400;
    let mut affine = |rows: usize, cols: usize| {
        let s = 1.0 / (cols as f64).sqrt();
        Op::Affine(Affine {
            weight: ndarray::Array2::from_shape_fn((rows, cols), |_| {
                (rng.uniform() * 2.0 - 1.0) * s
            }),
            bias: ndarray::Array1::from_shape_fn(rows, |_| rng.uniform() - 0.5),
        })
    };
    let node = |name: &str, op: Op, inputs: &[usize], n: usize| Node {
        name: name.into(),
        op,
        inputs: inputs.iter().map(|&j| NodeId(j)).collect(),
        shape: vec![n],
    };
    let net = Network::new(vec![
        node("x", Op::Input, &[], n_in),
        node("a", affine(256, n_in), &[0], 256),
        node("ra", Op::Relu, &[1], 256),
        node("b", affine(256, n_in), &[0], 256),
        node("rb", Op::Relu, &[3], 256),
        node("join", Op::Add, &[2, 4], 256),
        node("c", affine(128, 256), &[5], 128),
        node("rc", Op::Relu, &[6], 128),
        node("out", affine(4, 128), &[7], 4),
    ])
    .unwrap();
    assert!(DualNetwork::new(&net).wide());
    let mut rng = Rng::new(10);
    let centre: Vec<f64> = (0..n_in).map(|_| rng.uniform()).collect();
    let lo: Vec<f64> = centre.iter().map(|c| c - 0.02).collect();
    let hi: Vec<f64> = centre.iter().map(|c| c + 0.02).collect();
    let i = output_bounds(&net, &lo, &hi, Method::Interval);
    let d = output_bounds(&net, &lo, &hi, Method::Dual);
    let c = output_bounds(&net, &lo, &hi, Method::Crown);
    let a = output_bounds(&net, &lo, &hi, Method::Alpha);
    for _ in 0..200 {
        let x: Vec<f64> = (0..n_in)
            .map(|k| if rng.uniform() < 0.5 { lo[k] } else { hi[k] })
            .collect();
        let y = net.eval_f64(&x);
        for (m, b) in [("dual", &d), ("crown", &c), ("alpha", &a)] {
            assert!(b.contains(&y), "{m}: {y:?} not in {b:?}");
        }
    }
    for j in 0..4 {
        assert!(i.lower[j] <= d.lower[j] && d.upper[j] <= i.upper[j]);
        assert!(c.lower[j] <= a.lower[j] && a.upper[j] <= c.upper[j]);
    }
    assert!(c.mean_width() < i.mean_width(), "the dual network tightens");
}

/// Alpha and the LP honour the deadline: with one already passed they return at once (alpha's
/// iteration counts would otherwise run for hours, the LP with re-tightening takes about 4 s
/// here), with one that passes mid-way they stop soon after it, and their bounds still contain
/// sampled outputs and lie inside the interval bounds (crown's own passes stop at the deadline
/// too, so crown is no floor then).
#[test]
fn alpha_and_lp_stop_at_the_deadline_with_sound_bounds() {
    use certus::bounds::{output_bounds_with, BoundConfig};
    use std::time::{Duration, Instant};
    let mut rng = Rng::new(11);
    let net = random_net(&mut rng, 6, &[50, 50, 50], 3, &[Op::Relu]);
    let lo: Vec<f64> = (0..6).map(|_| rng.uniform() - 1.0).collect();
    let hi: Vec<f64> = lo.iter().map(|l| l + 1.0).collect();
    let ibp = output_bounds(&net, &lo, &hi, Method::Interval);
    for (budget, limit) in [(Duration::ZERO, 1.0), (Duration::from_millis(300), 1.5)] {
        for m in [Method::Alpha, Method::Lp] {
            let cfg = BoundConfig {
                alpha: AlphaConfig {
                    iterations: 10_000_000,
                    intermediate_iterations: 10_000_000,
                    ..AlphaConfig::default()
                },
                lp_retighten: true,
                deadline: Deadline::after(budget),
                ..BoundConfig::default()
            };
            let t = Instant::now();
            let b = output_bounds_with(&net, &lo, &hi, m, &cfg);
            let took = t.elapsed().as_secs_f64();
            assert!(took < limit, "{m:?} with {budget:?} took {took} s");
            for j in 0..3 {
                assert!(
                    ibp.lower[j] <= b.lower[j] && b.upper[j] <= ibp.upper[j],
                    "{m:?}"
                );
            }
            sample_check(&net, &mut rng, &lo, &hi, &b, &format!("{m:?} {budget:?}")).unwrap();
        }
    }
}

/// The dual network itself honours the deadline inside its layer loop (issue 10's last item: one
/// crown pass over oval21's conv nets took seconds and could not be interrupted). With a deadline
/// already passed, every node keeps its interval bounds; with one that passes mid-way, the pass
/// returns within one chunk of rows of it, with bounds that are sound (sampled), inside the
/// interval bounds, and looser than the whole pass's (so it did stop early).
#[test]
fn the_dual_network_stops_at_the_deadline_with_sound_bounds() {
    use certus::bounds::interval::Interval;
    use std::time::{Duration, Instant};
    let mut rng = Rng::new(5);
    let net = random_net(&mut rng, 20, &[800, 800, 800, 800, 800], 4, &[Op::Relu]);
    let lo: Vec<f64> = (0..20).map(|_| rng.uniform() - 1.0).collect();
    let hi: Vec<f64> = lo.iter().map(|l| l + 1.0).collect();
    let dn = DualNetwork::new(&net);
    let ibp = Interval::new(&net).all(&lo, &hi);
    let passed = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::after(Duration::ZERO));
    assert_eq!(passed, ibp, "a passed deadline leaves the interval bounds");

    let t = Instant::now();
    let full = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
    let full_took = t.elapsed();
    let budget = Duration::from_millis(50);
    let t = Instant::now();
    let cut = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::after(budget));
    let took = t.elapsed();
    let width = |b: &[Bounds]| b.iter().map(Bounds::mean_width).sum::<f64>();
    assert!(
        width(&cut) > width(&full),
        "cut short ({took:?}; the whole pass took {full_took:?})"
    );
    assert!(
        took < budget + Duration::from_millis(700),
        "answered after {took:?} with a {budget:?} deadline (the whole pass took {full_took:?})"
    );
    for (i, (c, b)) in cut.iter().zip(&ibp).enumerate() {
        for j in 0..c.len() {
            assert!(
                b.lower[j] <= c.lower[j] && c.upper[j] <= b.upper[j],
                "node {i}"
            );
        }
    }
    for _ in 0..200 {
        let x: Vec<f64> = (0..20)
            .map(|i| lo[i] + rng.uniform() * (hi[i] - lo[i]))
            .collect();
        for (i, v) in net.eval_all::<f64>(&x).iter().enumerate() {
            assert!(
                cut[i].contains(v),
                "node {i}: {v:?} outside the cut-short bounds"
            );
        }
    }
}
