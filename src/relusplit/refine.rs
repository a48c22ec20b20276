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
//! stable, at [`ReluSplitConfig::refine_leaves`] leaves, or at its share of the time. Then every
//! later node is re-bounded (interval step and α-CROWN over the refined bounds, intersected with
//! the bounds it had: [`DualNetwork::rebound_from_by`]), and the next layer is refined.

use super::optimise::Stack;
use super::report::Reporter;
use super::root::{Neuron, Root};
use super::sub::{RootRows, Sub};
use super::ReluSplitConfig;
use crate::bounds::alpha::{self, relaxed_forward, AlphaConfig};
use crate::bounds::dual::{DualNetwork, Scales, Split};
use crate::bounds::relax::{relu_phase, ReluPhase};
use crate::bounds::Bounds;
use crate::deadline::Deadline;
use crate::ir::{NodeId, Op};
use crate::spec::Disjunct;
use ndarray::Array2;
use std::time::{Duration, Instant};

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

/// Worst leaves of each target split per round.
const WIDTH: usize = 4;

/// α/β steps per round, and steps without a better bound in any row before a round stops.
const ITERATIONS: usize = 8;
const PATIENCE: usize = 3;

/// Adam's moment decay rates (the usual values).
const ADAM_B1: f64 = 0.9;
const ADAM_B2: f64 = 0.999;

/// A bound gain below this (absolute) does not count as tightening in [`RefineStats`].
const GAIN: f64 = 1e-9;

/// Branching scores at or below this are no information (a neuron the row does not see).
const SCORE_FLOOR: f64 = 1e-12;

/// One leaf of a target's tree.
#[derive(Clone)]
struct Leaf {
    splits: Vec<Split>,
    /// Slopes over the layer root's unstable neurons, multipliers over `splits`.
    alpha: Vec<f64>,
    beta: Vec<f64>,
    /// A sound lower bound of the target's row over the leaf's inputs.
    lb: f64,
    /// The neuron (index into the layer root's unstable list) its children split.
    next: Option<usize>,
}

/// One bound under refinement: row `sign·e_neuron` of the layer's pre-activation node.
struct Target {
    neuron: usize,
    sign: f64,
    leaves: Vec<Leaf>,
    done: bool,
}

impl Target {
    /// The target's bound: the smallest over its leaves (NaN counts as −∞).
    fn bound(&self) -> f64 {
        self.leaves.iter().fold(f64::INFINITY, |m, l| {
            if l.lb >= m {
                m
            } else if l.lb.is_nan() {
                f64::NEG_INFINITY
            } else {
                l.lb
            }
        })
    }
}

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
        let rank = |j: usize| {
            let b = &bounds[p];
            let height = b.upper[j] * -b.lower[j] / (b.upper[j] - b.lower[j]);
            let infl = influence.get(relu).and_then(|v| v.get(j)).copied();
            (infl.unwrap_or(0.0), height)
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
        let weights: f64 = (0..left).map(|k| cfg.refine_decay.powi(k as i32)).sum();
        let layer_deadline = deadline.share(1.0 / weights, Duration::MAX);
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
        for (ci, chunk) in chunks.iter().enumerate() {
            if layer_deadline.expired() {
                break;
            }
            let until = layer_deadline.share(1.0 / (chunks.len() - ci) as f64, Duration::MAX);
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

/// The trees of both bounds of each neuron of `chunk` (of `root.out`), grown until each target
/// is finished or `deadline` passes.
fn tree(
    root: &Root,
    chunk: &[usize],
    cfg: &ReluSplitConfig,
    deadline: Deadline,
    stats: &mut RefineStats,
) -> Vec<Target> {
    let b = &root.bounds[root.out];
    let n = b.len();
    let alpha0: Vec<f64> = root.adaptive_alpha().into_iter().map(f64::from).collect();
    let mut targets: Vec<Target> = chunk
        .iter()
        .flat_map(|&j| [(j, -1.0), (j, 1.0)])
        .map(|(j, sign)| Target {
            neuron: j,
            sign,
            leaves: vec![Leaf {
                splits: Vec::new(),
                alpha: alpha0.clone(),
                beta: Vec::new(),
                lb: if sign > 0.0 { b.lower[j] } else { -b.upper[j] },
                next: None,
            }],
            done: false,
        })
        .collect();
    // Row `t` of `sub.c` is target `t`'s objective.
    let mut c = Array2::zeros((targets.len(), n));
    for (t, tg) in targets.iter().enumerate() {
        c[[t, tg.neuron]] = tg.sign;
    }
    let sub = Sub {
        c,
        rhs: vec![0.0; targets.len()],
        spec: Disjunct {
            constraints: Vec::new(),
        },
        root: RootRows::default(),
    };
    // The first round bounds the roots (for their slopes and their first split).
    let mut first = true;
    let mut cap = cfg.refine_leaves;
    loop {
        finish(&mut targets, cap);
        // Every target finished with time left: those stopped by the leaf cap grow on, up to
        // `refine_max_leaves` (only under a time limit: without one the cap is the budget).
        while targets.iter().all(|t| t.done)
            && cap < cfg.refine_max_leaves
            && deadline.remaining().is_some()
            && !deadline.expired()
        {
            cap = (cap * 2).min(cfg.refine_max_leaves);
            finish(&mut targets, cap);
        }
        let mut items: Vec<(usize, Leaf)> = Vec::new();
        for (t, tg) in targets.iter_mut().enumerate() {
            if tg.done {
                continue;
            }
            if first {
                items.extend(tg.leaves.drain(..).map(|l| (t, l)));
                continue;
            }
            // The worst splittable leaves below 0.
            tg.leaves.sort_by(|a, b| b.lb.total_cmp(&a.lb));
            let mut taken = 0;
            let mut keep = Vec::with_capacity(tg.leaves.len());
            while let Some(l) = tg.leaves.pop() {
                match l.next {
                    Some(u) if taken < WIDTH && l.lb < 0.0 => {
                        taken += 1;
                        items.extend(children(root, &l, u).map(|c| (t, c)));
                    }
                    _ => keep.push(l),
                }
            }
            tg.leaves = keep;
        }
        first = false;
        if items.is_empty() || deadline.expired() {
            // Children made but not bounded keep their parent's bound: put them back.
            for (t, l) in items {
                targets[t].leaves.push(l);
            }
            break;
        }
        let bounded = bound(root, &sub, &mut items, cfg, deadline);
        stats.passes += bounded;
        stats.leaves += items.len() as u64;
        for (t, l) in items {
            targets[t].leaves.push(l);
        }
    }
    targets
}

/// Marks the targets that need no more work: bound `>= 0` (stable), the other bound of the
/// same neuron `>= 0` (stable the other way), `leaves` leaves, or no leaf below 0 left to split.
/// Only the cap can change its mind (a larger `leaves` reopens a target stopped by it).
fn finish(targets: &mut [Target], leaves: usize) {
    let stable: Vec<bool> = targets.iter().map(|t| t.bound() >= 0.0).collect();
    for (t, tg) in targets.iter_mut().enumerate() {
        // Targets come in pairs (upper, lower) of one neuron.
        let other = t ^ 1;
        let splittable = tg.leaves.iter().any(|l| l.lb < 0.0 && l.next.is_some());
        let fresh = tg
            .leaves
            .iter()
            .all(|l| l.splits.is_empty() && l.next.is_none());
        tg.done = stable[t]
            || stable.get(other).copied().unwrap_or(false)
            || tg.leaves.len() >= leaves
            || (!fresh && !splittable);
    }
}

/// The two children of `l` on neuron `u` of the root's unstable list (`z >= 0`, `z <= 0`),
/// inheriting its slopes, multipliers (0 for the new split) and bound.
fn children(root: &Root, l: &Leaf, u: usize) -> [Leaf; 2] {
    let n = root.unstable[u];
    let child = |up: bool| {
        let mut splits = l.splits.clone();
        splits.push(Split {
            node: n.node,
            neuron: n.neuron,
            point: 0.0,
            up,
        });
        let mut beta = l.beta.clone();
        beta.push(0.0);
        Leaf {
            splits,
            alpha: l.alpha.clone(),
            beta,
            lb: l.lb,
            next: None,
        }
    };
    [child(true), child(false)]
}

/// Bounds every leaf of `items` (target row, leaf) with [`ITERATIONS`] Adam steps on its slopes
/// and multipliers (as [`super::optimise`]), keeping each leaf's best bound (never below the one
/// it has: the parent's), then sets each leaf's next split from the last pass. Returns the
/// passes made. Past `deadline` no further step is taken.
fn bound(
    root: &Root,
    sub: &Sub,
    items: &mut [(usize, Leaf)],
    cfg: &ReluSplitConfig,
    deadline: Deadline,
) -> u64 {
    let nu = root.unstable.len();
    let mut adam: Vec<[Vec<f64>; 4]> = items
        .iter()
        .map(|(_, l)| {
            let ns = l.splits.len();
            [vec![0.0; nu], vec![0.0; nu], vec![0.0; ns], vec![0.0; ns]]
        })
        .collect();
    let mut cur: Vec<(Vec<f64>, Vec<f64>)> = items
        .iter()
        .map(|(_, l)| (l.alpha.clone(), l.beta.clone()))
        .collect();
    let mut since_better = 0;
    let mut lr = (cfg.lr_alpha, cfg.lr_beta);
    let mut passes = 0;
    for it in 0..=ITERATIONS {
        let stack = Stack::new(
            root,
            sub,
            items
                .iter()
                .zip(&cur)
                .map(|((t, l), (a, b))| (*t, &l.splits[..], &a[..], &b[..])),
        );
        let pass = stack.pass(root);
        passes += 1;
        let mut better = false;
        for (p, (_, l)) in items.iter_mut().enumerate() {
            let v = pass.lower[p];
            if v > l.lb {
                better |= v > l.lb + 1e-4 * (1.0 + l.lb.abs());
                l.lb = v;
                l.alpha.clone_from(&cur[p].0);
                l.beta.clone_from(&cur[p].1);
            }
        }
        since_better = if better { 0 } else { since_better + 1 };
        let last = it == ITERATIONS || since_better >= PATIENCE || deadline.expired();
        if last {
            // Each leaf's next split: the unsplit neuron with the largest |λ|·u(−l)/(u − l).
            for (p, (_, l)) in items.iter_mut().enumerate() {
                l.next = branch(root, &pass.act_lambda, p, &l.splits);
            }
            break;
        }
        // One Adam step (the gradients of the module doc of `super::optimise`).
        let z = relaxed_forward(
            root.dual,
            &root.bounds,
            root.out,
            &pass,
            &stack.alphas,
            &root.anc,
            Some(stack.row_splits()),
        );
        let step = (it + 1) as i32;
        let (c1, c2) = (1.0 - ADAM_B1.powi(step), 1.0 - ADAM_B2.powi(step));
        let adam_step = |x: &mut f64, m: &mut f64, v: &mut f64, g: f64, lr: f64| {
            *m = ADAM_B1 * *m + (1.0 - ADAM_B1) * g;
            *v = ADAM_B2 * *v + (1.0 - ADAM_B2) * g * g;
            *x += lr * (*m / c1) / ((*v / c2).sqrt() + 1e-12);
        };
        for (p, (_, l)) in items.iter().enumerate() {
            let (alpha, beta) = &mut cur[p];
            let [ma, va, mb, vb] = &mut adam[p];
            for (u, n) in root.unstable.iter().enumerate() {
                if l.splits
                    .iter()
                    .any(|s| s.node == n.node && s.neuron == n.neuron)
                {
                    continue;
                }
                let (i, col) = (n.node as usize, n.neuron as usize);
                let lam = pass.act_lambda[i].as_ref().expect("λ at every activation")[[p, col]];
                let zv = z[root.pre(n.node)].as_ref().expect("pre-activations")[[p, col]];
                let g = if lam >= 0.0 { lam * zv } else { 0.0 };
                adam_step(&mut alpha[u], &mut ma[u], &mut va[u], g, lr.0);
                alpha[u] = alpha[u].clamp(0.0, 1.0);
            }
            if cfg.beta {
                for (s, split) in l.splits.iter().enumerate() {
                    let zv = z[root.pre(split.node)].as_ref().expect("pre-activations")
                        [[p, split.neuron as usize]];
                    let g = -split.sign() * (zv - split.point);
                    adam_step(&mut beta[s], &mut mb[s], &mut vb[s], g, lr.1);
                    beta[s] = beta[s].max(0.0);
                }
            }
        }
        lr = (lr.0 * cfg.lr_decay, lr.1 * cfg.lr_decay);
    }
    passes
}

/// The unsplit unstable neuron of row `p` with the largest `|λ|·u(−l)/(u − l)` (λ arriving at
/// its ReLU, `[l, u]` its root bounds: the gap of its triangle weighted by what the row sees of
/// it); `None` when every one is split or none is seen.
fn branch(
    root: &Root,
    act_lambda: &[Option<Array2<f64>>],
    p: usize,
    splits: &[Split],
) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (u, n) in root.unstable.iter().enumerate() {
        if splits
            .iter()
            .any(|s| s.node == n.node && s.neuron == n.neuron)
        {
            continue;
        }
        let (i, k) = (n.node as usize, n.neuron as usize);
        let lam = act_lambda[i].as_ref().expect("λ at every activation")[[p, k]];
        let b = &root.bounds[root.pre(n.node)];
        let (lo, hi) = (b.lower[k], b.upper[k]);
        let score = lam.abs() * hi * -lo / (hi - lo);
        if score > SCORE_FLOOR && best.is_none_or(|(_, s)| score > s) {
            best = Some((u, score));
        }
    }
    best.map(|(u, _)| u)
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
