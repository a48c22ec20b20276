//! The ReLU-split search: sampled soundness of the batched β pass for any slopes and
//! multipliers, small networks where β proves what plain splitting cannot within a small
//! budget and where the exact leaves (LP, then Z3) decide fully split domains, and the same
//! search on 1 and 2 threads.

mod common;

use certus::attack::Rng;
use certus::bounds::dual::{DualNetwork, RowSplits, Slopes, Split};
use certus::deadline::Deadline;
use certus::ir::{Network, Op};
use certus::outcome::Verdict;
use certus::relusplit::{search, ReluSplitConfig};
use common::{conv_net, margin_instance, random_net};
use ndarray::Array2;
use proptest::prelude::*;

/// `rows` random split domains of up to `per_row` splits each, as [`RowSplits`] holds them
/// (`start`, `splits`, `beta >= 0`), with random per-row slopes `α ∈ [0, 1]` for every ReLU.
#[allow(clippy::type_complexity)]
fn random_domains(
    net: &Network,
    bounds: &[certus::bounds::Bounds],
    rng: &mut Rng,
    rows: usize,
    per_row: usize,
) -> (Vec<usize>, Vec<Split>, Vec<f64>, Vec<Option<Array2<f64>>>) {
    let (mut start, mut splits, mut beta) = (vec![0], Vec::new(), Vec::new());
    for _ in 0..rows {
        let s = random_splits(net, bounds, rng, per_row);
        beta.extend(s.iter().map(|_| 10.0 * rng.uniform() * rng.uniform()));
        splits.extend(s);
        start.push(splits.len());
    }
    let alphas = net
        .nodes()
        .iter()
        .map(|n| {
            (n.op == Op::Relu)
                .then(|| Array2::from_shape_fn((rows, net.len_of(n.input())), |_| rng.uniform()))
        })
        .collect();
    (start, splits, beta, alphas)
}

/// Splits of up to `max` activation neurons of `net` (each with a point inside its bounds; 0 for
/// ReLUs, which are only split when unstable), as one row's list.
fn random_splits(
    net: &Network,
    bounds: &[certus::bounds::Bounds],
    rng: &mut Rng,
    max: usize,
) -> Vec<Split> {
    let mut out = Vec::new();
    for _ in 0..max {
        let acts: Vec<usize> = (0..net.nodes().len())
            .filter(|&i| net.nodes()[i].op.is_activation())
            .collect();
        let i = acts[(rng.uniform() * acts.len() as f64) as usize % acts.len()];
        let b = &bounds[net.nodes()[i].input().0];
        let k = (rng.uniform() * b.len() as f64) as usize % b.len();
        let (l, u) = (b.lower[k], b.upper[k]);
        let point = match net.nodes()[i].op {
            Op::Relu if l < 0.0 && u > 0.0 => 0.0,
            Op::Relu => continue,
            _ => l + (u - l) * rng.uniform(),
        };
        out.push(Split {
            node: i as u32,
            neuron: k as u32,
            point,
            up: rng.uniform() < 0.5,
        });
    }
    out
}

/// True when every split holds at the node values `vals` of one input.
fn holds(splits: &[Split], net: &Network, vals: &[Vec<f64>]) -> bool {
    splits.iter().all(|s| {
        let z = vals[net.nodes()[s.node as usize].input().0][s.neuron as usize];
        if s.up {
            z >= s.point
        } else {
            z <= s.point
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every row of a batched pass over its own domain (random splits, random slopes in
    /// [0, 1], random multipliers up to 10, f64 and f32) lower-bounds the objective at every
    /// sampled input of that domain, on random networks of every op (ReLU, sigmoid, tanh).
    #[test]
    fn the_split_pass_is_sound_for_any_slopes_and_multipliers(
        seed in any::<u64>(), n_in in 1usize..4, h in 2usize..7, act in 0usize..3,
    ) {
        let act = [Op::Relu, Op::Sigmoid, Op::Tanh][act].clone();
        let mut rng = Rng::new(seed);
        let net = random_net(&mut rng, n_in, &[h, h], 2, &[act]);
        let lo: Vec<f64> = (0..n_in).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + 2.0 * rng.uniform()).collect();
        let dn = DualNetwork::new(&net);
        let bounds = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
        let rows = 6;
        let mut c = Array2::zeros((rows, 2));
        c.mapv_inplace(|_: f64| rng.uniform() * 2.0 - 1.0);
        let (start, splits, beta, alphas) = random_domains(&net, &bounds, &mut rng, rows, 3);
        let rs = RowSplits { start: &start, splits: &splits, beta: &beta };
        let k = net.nodes().len() - 1;
        let lb64 = dn.backward_domains::<f64>(&bounds, k, &c, Slopes::PerRow(&alphas), rs).lower;
        let lb32 = dn.backward_domains::<f32>(&bounds, k, &c, Slopes::PerRow(&alphas), rs).lower;
        for _ in 0..400 {
            let x: Vec<f64> = (0..n_in).map(|i| lo[i] + rng.uniform() * (hi[i] - lo[i])).collect();
            let vals = net.eval_all::<f64>(&x);
            let y = vals.last().unwrap();
            for r in 0..rows {
                if !holds(&splits[start[r]..start[r + 1]], &net, &vals) {
                    continue;
                }
                let v = c[[r, 0]] * y[0] + c[[r, 1]] * y[1];
                prop_assert!(lb64[r] <= v, "row {r}: f64 bound {} above {v}", lb64[r]);
                prop_assert!(lb32[r] <= v, "row {r}: f32 bound {} above {v}", lb32[r]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// The same on a random image network (`common::conv_net`: strided, padded, multi-channel
    /// convolutions, whose passes go through the batched `ir::ConvRows`), with α-CROWN's
    /// intermediate bounds, over a small box around a random image.
    #[test]
    fn the_split_pass_is_sound_on_convolutions(seed in any::<u64>(), eps in 0.01f64..0.3) {
        let mut rng = Rng::new(seed);
        let net = conv_net(&mut rng);
        let n_in = net.len_of(certus::ir::NodeId(0));
        let mid: Vec<f64> = (0..n_in).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let lo: Vec<f64> = mid.iter().map(|m| m - eps).collect();
        let hi: Vec<f64> = mid.iter().map(|m| m + eps).collect();
        let dn = DualNetwork::new(&net);
        let acfg = certus::bounds::alpha::AlphaConfig::default();
        let bounds = certus::bounds::alpha::all_bounds(&dn, &lo, &hi, &acfg, Deadline::NONE);
        let rows = 8;
        let c = Array2::from_shape_fn((rows, 2), |_| rng.uniform() * 2.0 - 1.0);
        let (start, splits, beta, alphas) = random_domains(&net, &bounds, &mut rng, rows, 4);
        let rs = RowSplits { start: &start, splits: &splits, beta: &beta };
        let k = net.nodes().len() - 1;
        let lb64 = dn.backward_domains::<f64>(&bounds, k, &c, Slopes::PerRow(&alphas), rs).lower;
        let lb32 = dn.backward_domains::<f32>(&bounds, k, &c, Slopes::PerRow(&alphas), rs).lower;
        for s in 0..600 {
            // Corners of the box half the time (where bounds are tightest), else inside.
            let x: Vec<f64> = (0..n_in)
                .map(|i| match (s % 2, rng.uniform()) {
                    (0, u) if u < 0.5 => lo[i],
                    (0, _) => hi[i],
                    (_, u) => lo[i] + u * (hi[i] - lo[i]),
                })
                .collect();
            let vals = net.eval_all::<f64>(&x);
            for (j, b) in bounds.iter().enumerate() {
                let inside = vals[j].iter().zip(b.lower.iter().zip(&b.upper));
                for (v, (l, u)) in inside {
                    prop_assert!(l <= v && v <= u, "node {j}: {v} outside [{l}, {u}]");
                }
            }
            let y = vals.last().unwrap();
            for r in 0..rows {
                if !holds(&splits[start[r]..start[r + 1]], &net, &vals) {
                    continue;
                }
                let v = c[[r, 0]] * y[0] + c[[r, 1]] * y[1];
                prop_assert!(lb64[r] <= v, "row {r}: f64 bound {} above {v}", lb64[r]);
                prop_assert!(lb32[r] <= v, "row {r}: f32 bound {} above {v}", lb32[r]);
            }
        }
    }
}

/// The search with `beta` and `exact_leaves`, small batches and budget, and no root refinement
/// (these tests are about the search's own steps).
fn cfg(beta: bool, exact_leaves: bool) -> ReluSplitConfig {
    ReluSplitConfig {
        beta,
        exact_leaves,
        refine: 0.0,
        batch: 4,
        budget: 1000,
        ..ReluSplitConfig::default()
    }
}

#[test]
fn beta_proves_what_plain_splitting_cannot_within_a_small_budget() {
    let (net, prop) = margin_instance(8, 0.1);
    let budget = |beta| ReluSplitConfig {
        budget: 100,
        ..cfg(beta, false)
    };
    let (v, with) = search(&net, &prop, &budget(true), Deadline::NONE, None);
    assert_eq!(v, Verdict::Unsat, "β: {with:?}");
    assert_eq!(with.leaves, 0, "β: {with:?}");
    // Without β the same search splits down to fully split domains (undecided here: no
    // exact leaves) and runs out of its budget.
    let (v, without) = search(&net, &prop, &budget(false), Deadline::NONE, None);
    assert!(matches!(&v, Verdict::Unknown(_)), "no β: {v:?} {without:?}");
    assert!(without.leaves > 0, "no β: {without:?}");
}

#[test]
fn exact_leaves_decide_fully_split_domains() {
    // An unsat instance whose search reaches fully split domains.
    let (net, prop) = margin_instance(8, 0.03);
    let (v, stats) = search(&net, &prop, &cfg(true, true), Deadline::NONE, None);
    assert_eq!(v, Verdict::Unsat, "{stats:?}");
    assert!(stats.leaves > 0, "{stats:?}");
    let (v, stats) = search(&net, &prop, &cfg(true, false), Deadline::NONE, None);
    assert!(
        matches!(&v, Verdict::Unknown(why) if why.contains("fully split")),
        "{v:?} {stats:?}"
    );
    // A sat instance whose counterexample is found at a leaf (no other candidates evaluated).
    let (net, prop) = margin_instance(1, 0.01);
    let off = ReluSplitConfig {
        candidates: false,
        budget: u64::MAX,
        ..cfg(true, true)
    };
    let (v, stats) = search(&net, &prop, &off, Deadline::NONE, None);
    assert!(matches!(v, Verdict::Sat(_)), "{v:?} {stats:?}");
    assert!(stats.leaves > 0, "{stats:?}");
}

/// The search on one thread and on two takes the very same steps.
#[test]
fn the_same_search_on_one_and_two_threads() {
    let (net, prop) = margin_instance(8, 0.1);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                search(
                    &net,
                    &prop,
                    &ReluSplitConfig::default(),
                    Deadline::NONE,
                    None,
                )
            })
    };
    let (v1, s1) = run(1);
    let (v2, s2) = run(2);
    assert_eq!(v1, Verdict::Unsat);
    assert_eq!(v1.word(), v2.word());
    assert_eq!((s1.domains, s1.passes), (s2.domains, s2.passes));
    assert!(s1.domains > 10, "{v1:?} {s1:?}");
}

/// The search tells its progress callback when each region's root bound starts; the share it
/// reports decided stays within [0, 1].
#[test]
fn progress_is_reported() {
    let (net, prop) = margin_instance(8, 0.03);
    let mut seen: Vec<(&'static str, f64)> = Vec::new();
    let mut record = |p: &certus::search::Progress| seen.push((p.phase, p.decided));
    let (v, _) = search(
        &net,
        &prop,
        &cfg(true, true),
        Deadline::NONE,
        Some(&mut record),
    );
    assert_eq!(v, Verdict::Unsat);
    assert_eq!(seen.first().map(|s| s.0), Some("root"), "{seen:?}");
    assert!(
        seen.iter().all(|&(_, d)| (0.0..=1.0).contains(&d)),
        "{seen:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Bounds re-derived under a domain's ReLU splits (their neurons clamped to their halves,
    /// every later node re-bounded, `DualNetwork::rebound_from`) hold at every sampled input of
    /// that domain, for every node, and are never looser than the bounds they started from.
    #[test]
    fn rebound_bounds_hold_on_the_domain(
        seed in any::<u64>(), n_in in 1usize..4, h in 2usize..7,
    ) {
        let mut rng = Rng::new(seed);
        let net = random_net(&mut rng, n_in, &[h, h, h], 2, &[Op::Relu]);
        let lo: Vec<f64> = (0..n_in).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + 2.0 * rng.uniform()).collect();
        let dn = DualNetwork::new(&net);
        let root = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
        let splits = random_splits(&net, &root, &mut rng, 3);
        let mut bounds = root.clone();
        let mut from = net.nodes().len();
        for s in &splits {
            let p = net.nodes()[s.node as usize].input().0;
            let k = s.neuron as usize;
            (bounds[p].lower[k], bounds[p].upper[k]) =
                s.restrict(bounds[p].lower[k], bounds[p].upper[k]);
            from = from.min(p);
        }
        dn.rebound_from(&mut bounds, from, Slopes::Adaptive, Deadline::NONE);
        for (b, r) in bounds.iter().zip(&root) {
            for e in 0..b.len() {
                prop_assert!(b.lower[e] >= r.lower[e] && b.upper[e] <= r.upper[e]);
            }
        }
        for _ in 0..1000 {
            let x: Vec<f64> = (0..n_in).map(|i| lo[i] + rng.uniform() * (hi[i] - lo[i])).collect();
            let vals = net.eval_all::<f64>(&x);
            if !holds(&splits, &net, &vals) {
                continue;
            }
            for (i, (v, b)) in vals.iter().zip(&bounds).enumerate() {
                for (e, &ve) in v.iter().enumerate() {
                    prop_assert!(
                        b.lower[e] <= ve && ve <= b.upper[e],
                        "node {i} element {e}: {ve} outside [{}, {}]", b.lower[e], b.upper[e]
                    );
                }
            }
        }
    }
}

/// Domains given roots of their own (re-bounded intermediate layers, either branching rule)
/// reach the same verdicts, and the rebounds happen.
#[test]
fn rerooted_domains_reach_the_same_verdicts() {
    for first in [false, true] {
        let reroot = ReluSplitConfig {
            reroot_depth: 4,
            reroot_first: first,
            budget: u64::MAX,
            ..cfg(true, true)
        };
        let (net, prop) = margin_instance(8, 0.03);
        let (v, stats) = search(&net, &prop, &reroot, Deadline::NONE, None);
        assert_eq!(v, Verdict::Unsat, "first layer {first}: {stats:?}");
        assert!(stats.rebounds > 0, "first layer {first}: {stats:?}");
        let (net, prop) = margin_instance(1, 0.01);
        let (v, stats) = search(&net, &prop, &reroot, Deadline::NONE, None);
        assert!(
            matches!(v, Verdict::Sat(_)),
            "first layer {first}: {v:?} {stats:?}"
        );
    }
}

/// Stall-triggered re-rooting (`reroot-stall`): with a gain no split reaches, every domain
/// past its first split re-roots its children; the verdicts are those of the frozen search
/// (two unsat instances, one re-bounded by α-CROWN, and a sat one), and the re-rootings happen.
#[test]
fn stall_rerooting_keeps_the_verdicts() {
    for (seed, d) in [(3, 0.03), (5, 0.03), (1, 0.01)] {
        let (net, prop) = margin_instance(seed, d);
        let frozen = ReluSplitConfig {
            budget: u64::MAX,
            ..cfg(true, true)
        };
        let stall = ReluSplitConfig {
            reroot_stall: 1,
            reroot_stall_gain: 1e6,
            reroot_stall_share: 0.3,
            reroot_iterations: if seed == 5 { 2 } else { 0 },
            ..frozen.clone()
        };
        let (v0, _) = search(&net, &prop, &frozen, Deadline::NONE, None);
        let (v1, stats) = search(&net, &prop, &stall, Deadline::NONE, None);
        assert_eq!(
            std::mem::discriminant(&v0),
            std::mem::discriminant(&v1),
            "seed {seed}, d {d}: {v0:?} {v1:?} {stats:?}"
        );
        assert!(stats.stall_reroots > 0, "seed {seed}, d {d}: {stats:?}");
        assert!(stats.rebounds > 0, "seed {seed}, d {d}: {stats:?}");
    }
}
