//! The trees of one layer's targets (see [`super`]): leaves, their batched bounding, branching.

use super::super::optimise::Stack;
use super::super::root::Root;
use super::super::slopes::{adam_slopes, SlopeIndex, ADAM_B1, ADAM_B2};
use super::super::sub::{RootRows, Sub};
use super::super::ReluSplitConfig;
use super::RefineStats;
use crate::bounds::alpha::relaxed_forward;
use crate::bounds::dual::Split;
use crate::deadline::Deadline;
use crate::spec::Disjunct;
use ndarray::Array2;

/// Worst leaves of each target split per round.
const WIDTH: usize = 4;

/// α/β steps per round, and steps without a better bound in any row before a round stops.
const ITERATIONS: usize = 8;
const PATIENCE: usize = 3;

/// Branching scores at or below this are no information (a neuron the row does not see).
const SCORE_FLOOR: f64 = 1e-12;

/// One leaf of a target's tree.
#[derive(Clone)]
pub(super) struct Leaf {
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
pub(super) struct Target {
    pub(super) neuron: usize,
    pub(super) sign: f64,
    leaves: Vec<Leaf>,
    done: bool,
    /// Not refined at all ([`ReluSplitConfig::refine_sides`]): its bound stays the root's.
    idle: bool,
}

impl Target {
    /// The target's bound: the smallest over its leaves (NaN counts as −∞).
    pub(super) fn bound(&self) -> f64 {
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

/// The trees of both bounds of each neuron of `chunk` (of `root.out`), grown until each target
/// is finished or `deadline` passes.
pub(super) fn tree(
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
            idle: false,
        })
        .collect();
    // With `refine_sides` = r > 0: a bound more than r times as far from 0 as its neuron's other
    // bound is left alone. The triangle's height `h = u·(−l)/(u − l)` has `∂h/∂u = l²/(u − l)²`
    // and `∂h/∂(−l) = u²/(u − l)²`: tightening the far side moves it `(far/near)²` times less
    // than the near side, which is also the side that can make the neuron stable.
    if cfg.refine_sides > 0.0 {
        for &j in chunk {
            let (up, down) = (b.upper[j], -b.lower[j]);
            for tg in targets.iter_mut().filter(|t| t.neuron == j) {
                let (mine, other) = match tg.sign > 0.0 {
                    true => (down, up),
                    false => (up, down),
                };
                tg.idle = mine > cfg.refine_sides * other;
                tg.done = tg.idle;
            }
        }
    }
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
        tg.done = tg.idle
            || stable[t]
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
    let index = SlopeIndex::new(root);
    let mut g = vec![0.0; nu];
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
            // A split neuron's gradient is 0: its slope, unused in the leaf, stays.
            index.gradients(&pass.act_lambda, &z, p, &l.splits, &mut g);
            adam_slopes(alpha, ma, va, &g, lr.0, (c1, c2));
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
