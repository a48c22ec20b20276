//! Root refinement of intermediate bounds by small branch and bounds (what α,β-CROWN asks
//! Gurobi's MIP for, done with our own batched β-CROWN).
//!
//! For each ReLU layer after the first with unstable neurons before it, layer by layer: the
//! layer's unstable neurons, most influential on the objective first, have their lower bound
//! `l_j` and upper bound `u_j` tightened by a branch and bound over the unstable neurons of the
//! layers before it. A *target* is one bound: the row `σ·e_j` applied to the layer's
//! pre-activation node `p` (`σ = +1`: `min z_j`, `σ = −1`: `min −z_j = −max z_j`). Its tree's
//! leaves are split domains of the region's box; each leaf is bounded by the split pass from `p`
//! ([`crate::bounds::dual`]: sound over the leaf's inputs for **any** slopes `α ∈ [0, 1]` and
//! multipliers `β >= 0`, with the bounds of the nodes before `p`, which hold over the whole box),
//! the slopes and multipliers optimised as in [`super::optimise`]. The leaves of a tree always
//! cover the box (a split adds both children, and no leaf is ever dropped), so the smallest leaf
//! bound is a lower bound of `σ·z_j` over the box: `l_j ← max(l_j, min_leaves)` for `σ = +1`,
//! `u_j ← min(u_j, −min_leaves)` for `σ = −1`. A child's bound is at least its parent's (it
//! bounds a subset). Each round splits the worst leaves of every unfinished target (the neuron
//! with the largest `|λ|·u(−l)/(u − l)` in that leaf's last pass) and bounds all children of all
//! targets as rows of one batched pass. A target is finished when its bound is `>= 0` (the
//! neuron is stable: its relaxation is exact), when the other bound of its neuron shows it
//! stable, at [`ReluSplitConfig::refine_leaves`] leaves, or at its share of the time (the
//! layers' shares: [`ReluSplitConfig::refine_decay`], [`ReluSplitConfig::refine_by_size`]; each
//! layer's time goes to its chunks of neurons equally or by their influence,
//! [`ReluSplitConfig::refine_weigh`]; [`ReluSplitConfig::refine_sides`] leaves far bounds
//! alone). Then every later node is re-bounded (interval step and α-CROWN over the refined
//! bounds, intersected with the bounds it had: [`DualNetwork::rebound_from_by`]), and the next
//! layer is refined.

mod tree;

use super::optimise::Stack;
use super::report::Reporter;
use super::root::{Neuron, Root};
use super::sub::Sub;
use super::ReluSplitConfig;
use crate::bounds::alpha::{self, AlphaConfig};
use crate::bounds::dual::{DualNetwork, Scales};
use crate::bounds::relax::{relu_phase, ReluPhase};
use crate::bounds::Bounds;
use crate::deadline::Deadline;
use crate::ir::{NodeId, Op};
use ndarray::Array2;
use std::time::{Duration, Instant};
use tree::tree;

/// What [`refine`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RefineStats {
    /// Layers whose bounds were refined.
    pub layers: usize,
    /// Bounds (a neuron's lower or upper one) refined, and those that gained.
    pub targets: usize,
    pub tightened: usize,
    /// Neurons refinement showed stable.
    pub stabilised: usize,
    /// Leaves bounded, and passes.
    pub leaves: u64,
    pub passes: u64,
    /// Unstable ReLUs before and after (re-bounding included).
    pub unstable_before: usize,
    pub unstable_after: usize,
    pub time: Duration,
}

impl RefineStats {
    /// Adds the counts of a later refinement of the same root (`unstable_after` becomes its).
    pub fn add(&mut self, r: &RefineStats) {
        self.layers += r.layers;
        self.targets += r.targets;
        self.tightened += r.tightened;
        self.stabilised += r.stabilised;
        self.leaves += r.leaves;
        self.passes += r.passes;
        self.unstable_after = r.unstable_after;
        self.time += r.time;
    }
}

/// Neurons refined together (each gives two targets, all leaves of all of them one batch).
const CHUNK: usize = 48;

/// With [`ReluSplitConfig::refine_weigh`], the least weight of a chunk, as a share of the
/// layer's mean chunk weight.
const WEIGH_FLOOR: f64 = 0.05;

/// A bound gain below this (absolute) does not count as tightening in [`RefineStats`].
const GAIN: f64 = 1e-9;

/// Refines `bounds` (sound bounds of every node over a box, e.g. α-CROWN's) within `deadline`
/// (see the module doc), ranking each layer's unstable neurons by `influence[node][neuron]`
/// (ties and zeros by their triangle height). Every bound stays sound over the same box and is
/// never looser than it was. Past `deadline` the bounds refined so far are kept.
pub(crate) fn refine(
    dual: &DualNetwork,
    bounds: &mut [Bounds],
    influence: &[Vec<f64>],
    cfg: &ReluSplitConfig,
    deadline: Deadline,
    report: &mut Reporter,
) -> RefineStats {
    let t0 = Instant::now();
    let net = dual.network();
    let mut stats = RefineStats {
        unstable_before: count_unstable(dual, bounds),
        ..RefineStats::default()
    };
    // The ReLU layers, each with its pre-activation node.
    let relus: Vec<(usize, usize)> = net
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| n.op == Op::Relu)
        .map(|(i, n)| (i, n.input().0))
        .collect();
    let acfg = AlphaConfig {
        iterations: cfg.root_intermediate_iterations.max(1),
        ..AlphaConfig::default()
    };
    for (li, &(relu, p)) in relus.iter().enumerate() {
        // The last ReLU layer's bounds only shape its own relaxation in the output rows (see
        // `ReluSplitConfig::refine_last`).
        let last = li + 1 == relus.len();
        if deadline.expired() || stats.layers >= cfg.refine_layers || (last && !cfg.refine_last) {
            break;
        }
        let anc = net.ancestors(NodeId(p));
        let unstable = unstable_before(dual, bounds, p, &anc);
        if unstable.is_empty() {
            continue;
        }
        let mut order: Vec<usize> = (0..bounds[p].len())
            .filter(|&j| is_unstable(&bounds[p], j))
            .collect();
        if order.is_empty() {
            continue;
        }
        // A neuron's influence on the output rows (0 where none is known).
        let infl_of = |j: usize| {
            influence
                .get(relu)
                .and_then(|v| v.get(j))
                .copied()
                .unwrap_or(0.0)
        };
        let rank = |j: usize| {
            let b = &bounds[p];
            let height = b.upper[j] * -b.lower[j] / (b.upper[j] - b.lower[j]);
            (infl_of(j), height)
        };
        order.sort_by(|&a, &b| {
            let (ra, rb) = (rank(a), rank(b));
            rb.0.total_cmp(&ra.0).then(rb.1.total_cmp(&ra.1))
        });
        // This layer's share of the time left: weight 1 against `decay^k` for the k-th layer
        // after it (`refine_decay`; equal shares at 1).
        let left = (relus.len() - li - usize::from(!cfg.refine_last))
            .min(cfg.refine_layers - stats.layers)
            .max(1);
        // With `refine_by_size`, each layer's weight is also multiplied by its unstable count
        // now (later layers' counts are those before their own refinement).
        let size = |k: usize| match cfg.refine_by_size {
            true => {
                let b = &bounds[relus[li + k].1];
                (0..b.len()).filter(|&j| is_unstable(b, j)).count().max(1) as f64
            }
            false => 1.0,
        };
        let weights: f64 = (0..left.min(relus.len() - li))
            .map(|k| cfg.refine_decay.powi(k as i32) * size(k))
            .sum();
        let layer_deadline = deadline.share(size(0) / weights, Duration::MAX);
        let root = Root {
            dual,
            bounds: bounds.to_vec(),
            scales: Scales::new(net),
            unstable,
            curved: Vec::new(),
            out: p,
            anc,
            tangents: false,
        };
        stats.layers += 1;
        let chunks: Vec<&[usize]> = order.chunks(CHUNK).collect();
        let mut changed = false;
        // Each chunk's weight: its neurons' influence, at least `WEIGH_FLOOR` of the mean
        // chunk's (a chunk the output rows hardly see still gets a glance).
        let mut weight: Vec<f64> = chunks
            .iter()
            .map(|c| c.iter().map(|&j| infl_of(j)).sum())
            .collect();
        let mean = weight.iter().sum::<f64>() / weight.len() as f64;
        for w in &mut weight {
            *w = w.max(WEIGH_FLOOR * mean);
        }
        for (ci, chunk) in chunks.iter().enumerate() {
            if layer_deadline.expired() {
                break;
            }
            // This chunk's share of the layer's time left: equal over the chunks left, or
            // (`refine_weigh`) its weight against theirs.
            let rest: f64 = weight[ci..].iter().sum();
            let frac = match cfg.refine_weigh && rest > 0.0 {
                true => weight[ci] / rest,
                false => 1.0 / (chunks.len() - ci) as f64,
            };
            let until = layer_deadline.share(frac, Duration::MAX);
            let targets = tree(&root, chunk, cfg, until, &mut stats);
            let b = &mut bounds[p];
            for t in &targets {
                let v = t.bound();
                let j = t.neuron;
                stats.targets += 1;
                let gained = if t.sign > 0.0 {
                    let g = v > b.lower[j] + GAIN;
                    b.lower[j] = b.lower[j].max(v);
                    g
                } else {
                    let g = -v < b.upper[j] - GAIN;
                    b.upper[j] = b.upper[j].min(-v);
                    g
                };
                stats.tightened += usize::from(gained);
                changed |= gained;
            }
            stats.stabilised += chunk.iter().filter(|&&j| !is_unstable(b, j)).count();
            report.phase("refine", stats.leaves, count_unstable(dual, bounds));
        }
        if changed {
            let rows_lower = |earlier: &[Bounds], i, c: &Array2<f64>| {
                alpha::optimise_at(dual, earlier, i, c, &acfg, deadline)
            };
            dual.rebound_from_by(bounds, p, &rows_lower, deadline);
        }
    }
    stats.unstable_after = count_unstable(dual, bounds);
    stats.time = t0.elapsed();
    stats
}

/// `l < 0 < u` for element `j`.
fn is_unstable(b: &Bounds, j: usize) -> bool {
    matches!(
        relu_phase(b.lower[j], b.upper[j]),
        ReluPhase::Unstable { .. }
    )
}

/// Unstable ReLUs over `bounds`.
fn count_unstable(dual: &DualNetwork, bounds: &[Bounds]) -> usize {
    let net = dual.network();
    net.nodes()
        .iter()
        .filter(|n| n.op == Op::Relu)
        .map(|n| {
            let b = &bounds[n.input().0];
            (0..b.len()).filter(|&j| is_unstable(b, j)).count()
        })
        .sum()
}

/// The unstable ReLUs of the activation nodes before `p` that are ancestors of it.
fn unstable_before(dual: &DualNetwork, bounds: &[Bounds], p: usize, anc: &[bool]) -> Vec<Neuron> {
    let net = dual.network();
    let mut out = Vec::new();
    for (i, n) in net.nodes()[..p].iter().enumerate() {
        if n.op != Op::Relu || !anc[i] {
            continue;
        }
        let b = &bounds[n.input().0];
        out.extend((0..b.len()).filter(|&j| is_unstable(b, j)).map(|j| Neuron {
            node: i as u32,
            neuron: j as u32,
        }));
    }
    out
}

/// The influence of each unstable neuron on the subproblems' rows at the root:
/// `Σ_rows |λ_j|·u(−l)/(u − l)` (`λ` of each row's optimised pass), indexed `[node][neuron]`.
pub(crate) fn influence(root: &Root, subs: &[Sub]) -> Vec<Vec<f64>> {
    let net = root.dual.network();
    let mut out: Vec<Vec<f64>> = net
        .nodes()
        .iter()
        .map(|n| match n.op {
            Op::Relu => vec![0.0; net.len_of(n.input())],
            _ => Vec::new(),
        })
        .collect();
    let nu = root.unstable.len();
    for sub in subs {
        let rows = sub.rhs.len();
        if sub.root.alpha.len() != rows * nu {
            continue;
        }
        let alpha: Vec<f64> = sub.root.alpha.iter().map(|&a| f64::from(a)).collect();
        let stack = Stack::new(
            root,
            sub,
            (0..rows).map(|r| (r, &[][..], &alpha[r * nu..(r + 1) * nu], &[][..])),
        );
        let pass = stack.pass(root);
        for n in &root.unstable {
            let (i, k) = (n.node as usize, n.neuron as usize);
            let lam = pass.act_lambda[i].as_ref().expect("λ at every activation");
            let b = &root.bounds[root.pre(n.node)];
            let (lo, hi) = (b.lower[k], b.upper[k]);
            let h = hi * -lo / (hi - lo);
            out[i][k] += (0..rows).map(|r| lam[[r, k]].abs() * h).sum::<f64>();
        }
    }
    out
}

/// Refines `bounds` (sound bounds of every node of `dual`'s network over a box) as the search
/// does at its root with `cfg.refine > 0` (see the module doc), ranking neurons by their
/// triangle height only (no objective). For tests and measurements: the result holds over the
/// same box and is never looser.
pub fn refine_bounds(
    dual: &DualNetwork,
    bounds: &mut [Bounds],
    cfg: &ReluSplitConfig,
    deadline: Deadline,
) -> RefineStats {
    let mut report = Reporter::new(None, 1);
    refine(dual, bounds, &[], cfg, deadline, &mut report)
}
