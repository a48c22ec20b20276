//! Sigmoid and tanh splitting in the ReLU-split search: hand-made networks whose property one
//! bound pass cannot prove and splitting does, and one it cannot prove (the search is not
//! complete on such networks: `unknown`, never `unsat` without a proof).
//!
//! A known limit: splits of two neurons of the same input are consistent only through the
//! multipliers; with a tight margin (tanh, `c = 5`, gain 0.01) the default optimisation leaves
//! some inconsistent narrow domains unrefuted, and the answer is `unknown`.

mod common;

use certus::bounds::Method;
use certus::deadline::Deadline;
use certus::ir::{Network, Op};
use certus::outcome::Verdict;
use certus::relusplit::{search, ReluSplitConfig};
use certus::spec::Property;
use certus::verify::refuted_by_one_pass;
use common::mlp_with;

/// `x ∈ [−1, 1]²`, `z = x0 + x1`, neurons `h0 = act(z)` and `h1 = act(z/10)` (nearly linear
/// over `[−0.2, 0.2]`), outputs `y0 = h0 − c·h1 + m` and `y1 = 0`, so `y0 − y1` is
/// `act(z) − c·act(z/10) + m`: `m` is set `gain` above the least value of the rest on a fine
/// grid of `z`. One pass relaxes `h0` over all of `[−2, 2]`, too loosely for a small gain.
fn bump(act: Op, c: f64, gain: f64) -> (Network, Property) {
    let f = |z: f64| match act {
        Op::Tanh => z.tanh(),
        _ => 1.0 / (1.0 + (-z).exp()),
    };
    let least = (0..=40_000)
        .map(|i| -2.0 + 4.0 * i as f64 / 40_000.0)
        .map(|z| f(z) - c * f(z / 10.0))
        .fold(f64::INFINITY, f64::min);
    let layers = [
        (vec![vec![1.0, 1.0], vec![0.1, 0.1]], vec![0.0, 0.0], true),
        (
            vec![vec![1.0, -c], vec![0.0, 0.0]],
            vec![gain - least, 0.0],
            false,
        ),
    ];
    let net = mlp_with(2, &layers, act);
    // The bad case: y0 − y1 <= 0.
    let prop = Property::robustness(vec![-1.0; 2], vec![1.0; 2], 0, 2);
    (net, prop)
}

/// `x ∈ [−4, 4]²` and two sigmoid neurons of the same input `x0 + x1`, outputs
/// `y0 = h0 − h1 + m`, `y1 = 0`: `y0 − y1 = m` everywhere, but each neuron is relaxed on its
/// own, so splits of one must also be carried to the other (through the multipliers).
fn twins(act: Op, margin: f64) -> (Network, Property) {
    let layers = [
        (vec![vec![1.0, 1.0], vec![1.0, 1.0]], vec![0.0, 0.0], true),
        (
            vec![vec![1.0, -1.0], vec![0.0, 0.0]],
            vec![margin, 0.0],
            false,
        ),
    ];
    let net = mlp_with(2, &layers, act);
    let prop = Property::robustness(vec![-4.0; 2], vec![4.0; 2], 0, 2);
    (net, prop)
}

fn cfg(budget: u64) -> ReluSplitConfig {
    ReluSplitConfig {
        batch: 8,
        budget,
        ..ReluSplitConfig::default()
    }
}

#[test]
fn splitting_sigmoid_and_tanh_proves_what_one_pass_cannot() {
    let cases = [
        ("sigmoid twins", twins(Op::Sigmoid, 0.05)),
        ("tanh twins", twins(Op::Tanh, 0.5)),
    ];
    for (name, (net, prop)) in cases {
        assert!(
            !refuted_by_one_pass(&net, &prop, Method::Alpha),
            "{name}: one alpha pass should not prove it (tangent points optimised)"
        );
        let (v, stats) = search(&net, &prop, &cfg(20_000), Deadline::NONE, None);
        assert_eq!(v, Verdict::Unsat, "{name}: {stats:?}");
        assert!(stats.domains > 0, "{name}: {stats:?}");
    }
}

#[test]
fn an_unprovable_margin_stays_unknown() {
    // y0 − y1 = 1e-9 > 0: true, but narrower than any relaxation the splits reach.
    let (net, prop) = twins(Op::Sigmoid, 1e-9);
    let (v, stats) = search(&net, &prop, &cfg(2_000), Deadline::NONE, None);
    assert!(matches!(v, Verdict::Unknown(_)), "{v:?} {stats:?}");
}

/// Optimised tangent points (`alpha`) prove in one pass the bumps that CROWN's fixed tangent
/// points leave open (splitting was needed for them before the points were optimised).
#[test]
fn optimised_tangent_points_prove_the_bumps_in_one_pass() {
    for (name, (net, prop)) in [
        ("tanh", bump(Op::Tanh, 5.0, 0.05)),
        ("sigmoid", bump(Op::Sigmoid, 5.0, 0.01)),
    ] {
        assert!(
            !refuted_by_one_pass(&net, &prop, Method::Crown),
            "{name}: crown"
        );
        assert!(
            refuted_by_one_pass(&net, &prop, Method::Alpha),
            "{name}: alpha"
        );
    }
}
