//! The ReLU-split search's root refinement of intermediate bounds (small branch and bounds per
//! neuron, `ReluSplitConfig::refine`): sampled soundness of the refined bounds (exact and f32
//! evaluations), that it tightens, and that the search reaches the same verdicts with it.

mod common;

use certus::attack::Rng;
use certus::bounds::alpha::{self, AlphaConfig};
use certus::bounds::dual::DualNetwork;
use certus::bounds::f32_error::f32_errors;
use certus::deadline::Deadline;
use certus::ir::Op;
use certus::outcome::Verdict;
use certus::relusplit::{refine_bounds, search, ReluSplitConfig};
use common::{margin_instance, mlp, random_layers, random_net};
use proptest::prelude::*;

fn refining(leaves: usize) -> ReluSplitConfig {
    ReluSplitConfig {
        refine: 1.0,
        refine_leaves: leaves,
        refine_max_leaves: leaves,
        refine_last: true,
        ..ReluSplitConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Refined bounds (α-CROWN's, each layer's unstable neurons re-bounded by a small branch
    /// and bound over the earlier layers, later layers re-bounded over them) are never looser
    /// than α-CROWN's and hold at every sampled input of the box, for every node: the exact
    /// (f64) values inside them, the f32 evaluation inside them widened by its error bound.
    #[test]
    fn refined_bounds_hold_on_the_box(
        seed in any::<u64>(), n_in in 1usize..5, h in 3usize..8, leaves in 2usize..20,
    ) {
        let mut rng = Rng::new(seed);
        let net = random_net(&mut rng, n_in, &[h, h, h], 2, &[Op::Relu]);
        let lo: Vec<f64> = (0..n_in).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + 2.0 * rng.uniform()).collect();
        let dn = DualNetwork::new(&net);
        let before = alpha::all_bounds(&dn, &lo, &hi, &AlphaConfig::default(), Deadline::NONE);
        let mut bounds = before.clone();
        refine_bounds(&dn, &mut bounds, &refining(leaves), Deadline::NONE);
        for (b, r) in bounds.iter().zip(&before) {
            for e in 0..b.len() {
                prop_assert!(b.lower[e] >= r.lower[e] && b.upper[e] <= r.upper[e]);
            }
        }
        let err = f32_errors(&net, &before);
        for _ in 0..1000 {
            let x: Vec<f64> = (0..n_in).map(|i| lo[i] + rng.uniform() * (hi[i] - lo[i])).collect();
            let exact = net.eval_all::<f64>(&x);
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let single = net.eval_all::<f32>(&x32);
            for (i, b) in bounds.iter().enumerate() {
                for e in 0..b.len() {
                    let (v, w) = (exact[i][e], f64::from(single[i][e]));
                    prop_assert!(
                        b.lower[e] <= v && v <= b.upper[e],
                        "node {i} element {e}: {v} outside [{}, {}]", b.lower[e], b.upper[e]
                    );
                    prop_assert!(
                        b.lower[e] - err[i][e] <= w && w <= b.upper[e] + err[i][e],
                        "node {i} element {e}: f32 {w} outside [{}, {}] ± {}",
                        b.lower[e], b.upper[e], err[i][e]
                    );
                }
            }
        }
    }
}

/// With a time limit the trees grow past `refine_leaves` (`refine_max_leaves`), the layers
/// share the time by `refine_decay` (and `refine_by_size`), and far bounds may be left alone
/// (`refine_sides`): the refined bounds still hold at every sampled input (exact evaluation) and
/// are never looser than α-CROWN's.
#[test]
fn grown_trees_and_weighted_layers_keep_bounds_sound() {
    let runs = [
        (3u64, 1.0, 0.0, false),
        (4, 0.5, 2.0, true),
        (5, 0.2, 1.0, false),
    ];
    for (seed, decay, sides, by_size) in runs {
        let mut rng = Rng::new(seed);
        let net = random_net(&mut rng, 3, &[8, 8, 8], 2, &[Op::Relu]);
        let lo: Vec<f64> = (0..3).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + 1.5).collect();
        let dn = DualNetwork::new(&net);
        let before = alpha::all_bounds(&dn, &lo, &hi, &AlphaConfig::default(), Deadline::NONE);
        let mut bounds = before.clone();
        let cfg = ReluSplitConfig {
            refine_max_leaves: 1 << 12,
            refine_decay: decay,
            refine_sides: sides,
            refine_by_size: by_size,
            ..refining(2)
        };
        let deadline = Deadline::after(std::time::Duration::from_millis(150));
        let stats = refine_bounds(&dn, &mut bounds, &cfg, deadline);
        assert!(stats.layers > 0, "{stats:?}");
        for _ in 0..2000 {
            let x: Vec<f64> = (0..3)
                .map(|i| lo[i] + rng.uniform() * (hi[i] - lo[i]))
                .collect();
            let exact = net.eval_all::<f64>(&x);
            for (i, (b, r)) in bounds.iter().zip(&before).enumerate() {
                for (e, &v) in exact[i].iter().enumerate() {
                    assert!(b.lower[e] >= r.lower[e] && b.upper[e] <= r.upper[e]);
                    assert!(
                        b.lower[e] <= v && v <= b.upper[e],
                        "seed {seed} node {i} element {e}: {v} outside [{}, {}]",
                        b.lower[e],
                        b.upper[e]
                    );
                }
            }
        }
    }
}

/// On wide enough random networks refinement tightens some bounds and shows some neurons
/// stable that α-CROWN left unstable.
#[test]
fn refinement_tightens_and_stabilises() {
    let (mut tightened, mut stabilised) = (0, 0);
    for seed in 0..6 {
        let mut rng = Rng::new(seed);
        let layers = random_layers(&mut rng, 4, &[12, 12, 12], 2);
        let net = mlp(4, &layers);
        let dn = DualNetwork::new(&net);
        let mid: Vec<f64> = (0..4).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let lo: Vec<f64> = mid.iter().map(|m| m - 0.2).collect();
        let hi: Vec<f64> = mid.iter().map(|m| m + 0.2).collect();
        let mut bounds = alpha::all_bounds(&dn, &lo, &hi, &AlphaConfig::default(), Deadline::NONE);
        let stats = refine_bounds(&dn, &mut bounds, &refining(16), Deadline::NONE);
        assert!(stats.unstable_after <= stats.unstable_before, "{stats:?}");
        tightened += stats.tightened;
        stabilised += stats.stabilised;
    }
    assert!(tightened > 0 && stabilised > 0, "{tightened} {stabilised}");
}

/// The search with refinement reaches the verdicts it reaches without (an unsat and a sat
/// instance), with the chunks' time shared equally or by influence (`refine_weigh`), and
/// refinement runs.
#[test]
fn the_search_with_refinement_reaches_the_same_verdicts() {
    let runs = [
        (8, 0.03, true, false),
        (1, 0.01, false, false),
        (8, 0.03, true, true),
    ];
    for (seed, d, unsat, weigh) in runs {
        let (net, prop) = margin_instance(seed, d);
        let cfg = ReluSplitConfig {
            batch: 4,
            refine_weigh: weigh,
            ..refining(8)
        };
        let (v, stats) = search(&net, &prop, &cfg, Deadline::NONE, None);
        match unsat {
            true => assert_eq!(v, Verdict::Unsat, "{stats:?}"),
            false => assert!(matches!(v, Verdict::Sat(_)), "{v:?} {stats:?}"),
        }
        assert!(stats.refine.layers > 0, "{stats:?}");
    }
}

/// With a time limit and `refine_max_leaves` above `refine_leaves`, the trees grow on past the
/// first cap (more leaves than without), the bounds are no looser, and they still hold at
/// sampled inputs.
#[test]
fn growing_trees_refine_further_and_stay_sound() {
    let mut rng = Rng::new(3);
    let layers = random_layers(&mut rng, 4, &[12, 12, 12], 2);
    let net = mlp(4, &layers);
    let dn = DualNetwork::new(&net);
    let mid: Vec<f64> = (0..4).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let lo: Vec<f64> = mid.iter().map(|m| m - 0.3).collect();
    let hi: Vec<f64> = mid.iter().map(|m| m + 0.3).collect();
    let before = alpha::all_bounds(&dn, &lo, &hi, &AlphaConfig::default(), Deadline::NONE);
    let mut capped = before.clone();
    let deadline = || Deadline::after(std::time::Duration::from_millis(1500));
    let small = refine_bounds(&dn, &mut capped, &refining(4), deadline());
    let mut grown = before.clone();
    let cfg = ReluSplitConfig {
        refine_max_leaves: 64,
        ..refining(4)
    };
    let big = refine_bounds(&dn, &mut grown, &cfg, deadline());
    assert!(big.leaves > small.leaves, "{small:?} {big:?}");
    let width = |b: &[certus::bounds::Bounds]| -> f64 {
        b.iter()
            .flat_map(|b| b.lower.iter().zip(&b.upper).map(|(l, u)| u - l))
            .sum()
    };
    assert!(width(&grown) <= width(&capped) + 1e-9);
    for _ in 0..2000 {
        let x: Vec<f64> = (0..4)
            .map(|i| lo[i] + rng.uniform() * (hi[i] - lo[i]))
            .collect();
        let exact = net.eval_all::<f64>(&x);
        for (i, (b, v)) in grown.iter().zip(&exact).enumerate() {
            for (e, &v) in v.iter().enumerate() {
                assert!(b.lower[e] <= v && v <= b.upper[e], "node {i} element {e}");
            }
        }
    }
}

/// A search that stalls (here: at once, every time) refines its root again and starts over,
/// and reaches the same verdicts (an unsat and a sat instance).
#[test]
fn refining_again_after_a_stall_keeps_the_verdicts() {
    for (seed, d, unsat) in [(8, 0.03, true), (1, 0.01, false)] {
        let (net, prop) = margin_instance(seed, d);
        let once = ReluSplitConfig {
            batch: 4,
            refine: 0.2,
            refine_leaves: 2,
            refine_max_leaves: 2,
            refine_again: 0.0,
            ..ReluSplitConfig::default()
        };
        let again = ReluSplitConfig {
            refine_again: 0.2,
            refine_stall: 0.0,
            refine_stall_decided: 1.0,
            refine_again_after: 0.0,
            refine_again_leaves: 16,
            ..once.clone()
        };
        let deadline = || Deadline::after(std::time::Duration::from_secs(20));
        let (v1, s1) = search(&net, &prop, &once, deadline(), None);
        let (v2, s2) = search(&net, &prop, &again, deadline(), None);
        for (v, stats) in [(&v1, &s1), (&v2, &s2)] {
            match unsat {
                true => assert_eq!(*v, Verdict::Unsat, "{stats:?}"),
                false => assert!(matches!(v, Verdict::Sat(_)), "{v:?} {stats:?}"),
            }
        }
        if unsat && s1.refuted_at_root == 0 {
            // The second search refined twice.
            assert!(s2.refine.layers > s1.refine.layers, "{s1:?} {s2:?}");
        }
    }
}
