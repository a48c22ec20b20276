//! DAG networks end to end: the residual and concat fixtures of `tests/fixtures` (written by
//! `gen_fixtures.py`; their f32/f64 evaluation against onnxruntime is checked with the other
//! fixtures in `onnx_import.rs`) bounded by every engine. Over a box around a recorded input:
//! sampled outputs lie inside the interval, dual, crown, alpha and LP bounds and inside the
//! bounds the SMT engine proves by bisection, and tighter bounds lie inside looser ones.

mod common;

use certus::attack::Rng;
use certus::bounds::dual::{DualNetwork, Slopes};
use certus::bounds::{output_bounds, plus_minus_identity, Bounds, Method};
use certus::deadline::Deadline;
use certus::import::onnx;
use certus::ir::{Network, Op};
use certus::outcome::confirm;
use certus::smt::{solve, SmtOutcome};
use certus::spec::{Disjunct, LinearConstraint, Property, Region};
use common::root;
use std::time::Duration;

const FIXTURES: [&str; 3] = ["residual_identity", "residual_conv", "concat_branches"];

/// The fixture, and the box of radius `eps` around its first recorded input.
fn fixture(name: &str, eps: f64) -> (Network, Vec<f64>, Vec<f64>) {
    let dir = root().join("tests/fixtures");
    let net = onnx::load(&dir.join(format!("{name}.onnx"))).unwrap();
    let io: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.io.json"))).unwrap(),
    )
    .unwrap();
    let x: Vec<f64> = io["cases"][0]["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let lo = x.iter().map(|v| v - eps).collect();
    let hi = x.iter().map(|v| v + eps).collect();
    (net, lo, hi)
}

/// Uniform points and random corners of the box, with their f64 outputs.
fn samples(net: &Network, lo: &[f64], hi: &[f64], seed: u64) -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut rng = Rng::new(seed);
    (0..400)
        .map(|k| {
            let x: Vec<f64> = (0..lo.len())
                .map(|i| {
                    let t = if k % 2 == 0 {
                        rng.uniform()
                    } else {
                        (rng.uniform() < 0.5) as u8 as f64
                    };
                    lo[i] + t * (hi[i] - lo[i])
                })
                .collect();
            let y = net.eval_f64(&x);
            (x, y)
        })
        .collect()
}

fn inside(outer: &Bounds, inner: &Bounds) -> bool {
    (0..outer.len()).all(|j| outer.lower[j] <= inner.lower[j] && inner.upper[j] <= outer.upper[j])
}

/// The fixtures really are DAGs: some node has two inputs and some node two consumers.
#[test]
fn fixtures_are_dags() {
    for name in FIXTURES {
        let (net, _, _) = fixture(name, 0.0);
        assert!(!net.is_chain(), "{name}");
        let joins = net.nodes().iter().filter(|n| n.inputs.len() > 1).count();
        let forks = (0..net.nodes().len())
            .filter(|&i| net.consumers(certus::ir::NodeId(i)).len() > 1)
            .count();
        assert!(
            joins >= 1 && forks >= 1,
            "{name}: {joins} joins, {forks} forks"
        );
    }
}

/// Every bound engine contains the sampled outputs, and the engines nest: interval ⊇ dual ⊇
/// alpha, dual ⊇ LP, interval ⊇ crown ⊇ alpha, crown ⊇ LP. Also the raw passes (no interval
/// intersection) in f64 and f32.
#[test]
fn every_bound_engine_contains_samples() {
    for name in FIXTURES {
        let (net, lo, hi) = fixture(name, 0.1);
        let pts = samples(&net, &lo, &hi, 1);
        let b = |m| output_bounds(&net, &lo, &hi, m);
        let (i, d, c, a, l) = (
            b(Method::Interval),
            b(Method::Dual),
            b(Method::Crown),
            b(Method::Alpha),
            b(Method::Lp),
        );
        for (m, bd) in [
            ("interval", &i),
            ("dual", &d),
            ("crown", &c),
            ("alpha", &a),
            ("lp", &l),
        ] {
            for (x, y) in &pts {
                assert!(bd.contains(y), "{name} {m}: f({x:?}) = {y:?} not in {bd:?}");
            }
        }
        assert!(inside(&i, &d) && inside(&d, &a) && inside(&d, &l), "{name}");
        assert!(inside(&i, &c) && inside(&c, &a) && inside(&c, &l), "{name}");
        assert!(
            c.mean_width() < i.mean_width(),
            "{name}: the dual network tightens"
        );

        let dn = DualNetwork::new(&net);
        let all = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
        let n = net.output_len();
        let mut rows = plus_minus_identity(n);
        rows.row_mut(0).fill(0.1); // not exact in f32
        let k = net.nodes().len() - 1;
        let l64 = dn.backward::<f64>(&all, k, &rows, Slopes::Adaptive).lower;
        let l32 = dn.backward::<f32>(&all, k, &rows, Slopes::Adaptive).lower;
        for (_, y) in &pts {
            for (r, row) in rows.rows().into_iter().enumerate() {
                let v: f64 = row.iter().zip(y).map(|(a, b)| a * b).sum();
                assert!(
                    l64[r] <= v && l32[r] <= v,
                    "{name} row {r}: {} {} > {v}",
                    l64[r],
                    l32[r]
                );
            }
        }
    }
}

/// `y_j >= t` (`sign = 1`) or `y_j <= t` (`sign = −1`) as the bad case over the box.
fn reach(n_out: usize, lo: &[f64], hi: &[f64], j: usize, sign: f64, t: f64) -> Property {
    Property {
        n_inputs: lo.len(),
        n_outputs: n_out,
        regions: vec![Region {
            lower: lo.to_vec(),
            upper: hi.to_vec(),
            disjuncts: vec![Disjunct {
                constraints: vec![LinearConstraint {
                    coeffs: vec![(j, -sign)],
                    rhs: -sign * t,
                }],
            }],
        }],
    }
}

/// The SMT engine's exact encoding of the DAG, by bisection on `max y_j` and `min y_j` between
/// the sampled extreme and alpha's bound: every `sat` replays and reaches the threshold, every
/// `unsat` lies beyond every sample, so the proven bounds contain the samples and lie inside
/// alpha's.
#[test]
fn smt_bounds_contain_samples_and_lie_inside_alpha() {
    let mut decided = 0;
    // Radii that leave a few to a dozen ReLUs unstable (the queries Z3 must branch on).
    for (name, eps) in [
        ("residual_identity", 0.01),
        ("residual_conv", 0.05),
        ("concat_branches", 0.05),
    ] {
        let t0 = std::time::Instant::now();
        let (net, lo, hi) = fixture(name, eps);
        let region = &reach(net.output_len(), &lo, &hi, 0, 1.0, 0.0).regions[0];
        assert!(certus::smt::unstable_relus(&net, region) > 0, "{name}");
        assert!(net
            .nodes()
            .iter()
            .all(|n| !matches!(n.op, Op::Sigmoid | Op::Tanh)));
        let pts = samples(&net, &lo, &hi, 2);
        let alpha = output_bounds(&net, &lo, &hi, Method::Alpha);
        let n = net.output_len();
        for j in 0..n {
            for sign in [1.0, -1.0] {
                // Sampled extreme and alpha's bound, both in the "sign" direction.
                let seen = pts
                    .iter()
                    .map(|(_, y)| sign * y[j])
                    .fold(f64::NEG_INFINITY, f64::max);
                let bound = if sign > 0.0 {
                    alpha.upper[j]
                } else {
                    -alpha.lower[j]
                };
                assert!(seen <= bound, "{name} y_{j}: sample beyond alpha");
                let (mut reached, mut proven) = (seen, bound);
                for _ in 0..3 {
                    let t = 0.5 * (reached + proven);
                    let p = reach(n, &lo, &hi, j, sign, sign * t);
                    match solve(&net, &p, Deadline::after(Duration::from_secs(30))) {
                        SmtOutcome::Unsat => {
                            assert!(
                                seen < t,
                                "{name} y_{j}: unsat at {t}, a sample reaches {seen}"
                            );
                            proven = t;
                            decided += 1;
                        }
                        SmtOutcome::Sat(cex) => {
                            assert!(confirm(&net, &p, &cex.input).is_some());
                            let y = sign * net.eval_f64(&cex.input)[j];
                            assert!(y >= t, "{name} y_{j}: sat at {t} but the point gives {y}");
                            reached = t;
                            decided += 1;
                        }
                        SmtOutcome::Unconfirmed { .. } => reached = t,
                        o => panic!("{name} y_{j} at {t}: {o:?}"),
                    }
                }
                assert!(seen <= proven && proven <= bound, "{name} y_{j}");
            }
        }
        println!("{name}: {:?}", t0.elapsed());
    }
    assert!(decided >= 40, "only {decided} SMT answers");
}
