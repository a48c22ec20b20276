//! Bounds of many domains at once (batched β-CROWN): the objective rows of every domain are
//! stacked into one matrix, so each step is one backward pass of matrix-matrix products for all
//! of them, and only the activation steps are per row ([`crate::bounds::dual::RowSplits`]).
//!
//! Each row's bound `L(α, β)` is a sound lower bound for any slopes `α ∈ [0, 1]` and any
//! multipliers `β >= 0` (see [`crate::bounds::dual`]), so the optimiser below only decides how
//! tight it is: projected gradient ascent with Adam on both, from the values the domain
//! inherited, keeping each row's best bound (every iterate is sound, so their maximum is). The
//! gradients come from the relaxed network of the pass evaluated at each row's minimising input
//! corner (`ẑ`): `∂L/∂α_j = λ_j·ẑ_j` where `λ_j >= 0` (the lower line is used there, else 0),
//! and `∂L/∂β_s = −σ_s·(ẑ_s − t_s)` (the term `−β_s σ_s (z_s − t_s)` of the Lagrangian).
//! Rows whose domain is refuted (some row above 0) leave the batch at once; the steps stop
//! early when no row improves for [`PATIENCE`] steps.

use super::root::Root;
use super::slopes::{adam_slopes, SlopeIndex, ADAM_B1, ADAM_B2};
use super::sub::Sub;
use super::ReluSplitConfig;
use crate::bounds::alpha::relaxed_forward;
use crate::bounds::dual::{Pass, RowSplits, Slopes, Split};
use crate::bounds::relax::{SShape, Tangents};
use crate::deadline::Deadline;
use crate::ir::Op;
use ndarray::Array2;

/// One domain to bound: its splits, and the values it inherits.
pub(crate) struct Job {
    pub splits: Vec<Split>,
    /// Slopes per row over [`Root::unstable`] (`rows × unstable`, row-major).
    pub alpha: Vec<f32>,
    /// Multipliers per row over `splits` (`rows × splits`, row-major).
    pub beta: Vec<f32>,
    /// A sound lower bound of each row already known (the parent's): the result never goes
    /// below it.
    pub floor: Vec<f64>,
    /// The bound's progress along the domain's path (the search's bookkeeping; bounding
    /// ignores it).
    pub path: super::path::Path,
}

/// What bounding one [`Job`] gave.
pub(crate) struct Bounded {
    /// Sound lower bound of `c_s·y − rhs_s` for each row `s` over the domain (`>= floor`).
    pub lb: Vec<f64>,
    /// Some row is above 0: the domain holds no counterexample.
    pub refuted: bool,
    /// The slopes and multipliers of each row's best bound (for the children).
    pub alpha: Vec<f32>,
    pub beta: Vec<f32>,
}

/// The last pass of a batch, for branching and candidates: `rows[r] = (job, row)` for its rows.
pub(crate) struct Last {
    pub pass: Pass<f64>,
    pub rows: Vec<(usize, usize)>,
}

/// Steps without a better bound in any row before the optimisation stops.
const PATIENCE: usize = 4;

/// One row under optimisation.
struct Row {
    job: usize,
    row: usize,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    adam: [Vec<f64>; 4],
    best: f64,
    best_alpha: Vec<f64>,
    best_beta: Vec<f64>,
}

/// The matrices of one pass over some rows.
pub(crate) struct Stack {
    pub c: Array2<f64>,
    pub start: Vec<usize>,
    pub splits: Vec<Split>,
    pub beta: Vec<f64>,
    pub alphas: Vec<Option<Array2<f64>>>,
}

impl Stack {
    /// The rows `(objective row, splits, slopes over unstable, multipliers)` stacked.
    pub fn new<'s>(
        root: &Root,
        sub: &Sub,
        rows: impl ExactSizeIterator<Item = (usize, &'s [Split], &'s [f64], &'s [f64])>,
    ) -> Self {
        let net = root.dual.network();
        let m = rows.len();
        let mut c = Array2::zeros((m, sub.c.ncols()));
        // ReLU slopes; with `root.tangents`, the tangent parameters of sigmoid and tanh nodes,
        // their neurons outside `root.curved` at their defaults.
        let mut alphas: Vec<Option<Array2<f64>>> = net
            .nodes()
            .iter()
            .map(|n| match (&n.op, SShape::of(&n.op)) {
                (Op::Relu, _) => Some(Array2::zeros((m, net.len_of(n.input())))),
                (_, Some(_)) if root.tangents => {
                    let b = &root.bounds[n.input().0];
                    let row: Vec<f64> = (b.lower.iter().zip(&b.upper))
                        .map(|(&l, &u)| SShape::default_alpha(l, u))
                        .collect();
                    Some(Array2::from_shape_fn((m, b.len()), |(_, k)| row[k]))
                }
                _ => None,
            })
            .collect();
        let (mut start, mut splits, mut beta) = (vec![0], Vec::new(), Vec::new());
        for (r, (s, sp, alpha, b)) in rows.enumerate() {
            c.row_mut(r).assign(&sub.c.row(s));
            for (n, &a) in root.unstable.iter().chain(&root.curved).zip(alpha) {
                if let Some(al) = &mut alphas[n.node as usize] {
                    al[[r, n.neuron as usize]] = a;
                }
            }
            splits.extend_from_slice(sp);
            beta.extend_from_slice(b);
            start.push(splits.len());
        }
        Stack {
            c,
            start,
            splits,
            beta,
            alphas,
        }
    }

    pub fn row_splits(&self) -> RowSplits<'_> {
        RowSplits {
            start: &self.start,
            splits: &self.splits,
            beta: &self.beta,
        }
    }

    /// One backward pass: sound lower bounds of the objective rows over each row's domain.
    pub fn pass(&self, root: &Root) -> Pass<f64> {
        root.dual.backward_split(
            &root.bounds,
            &root.scales,
            root.out,
            self.c.view(),
            Slopes::PerRow(&self.alphas),
            Some(self.row_splits()),
        )
    }
}

/// `lb(c·y) − rhs`, rounded down: the difference of two floats is exact to within half an ulp,
/// so one `next_down` keeps it a lower bound.
pub(crate) fn minus_rhs(lb: f64, rhs: f64) -> f64 {
    (lb - rhs).next_down()
}

/// Bounds every job of `jobs` (domains of subproblem `sub`), with `iterations` optimisation
/// steps (0: one pass with the inherited values). Returns each job's result and the last pass.
/// Past `deadline` no further step is taken (the bounds so far are sound).
pub(crate) fn bound(
    root: &Root,
    sub: &Sub,
    jobs: &[Job],
    iterations: usize,
    cfg: &ReluSplitConfig,
    deadline: Deadline,
    passes: &mut u64,
) -> (Vec<Bounded>, Last) {
    let nu = root.alpha_len();
    let k = sub.rhs.len();
    let mut rows: Vec<Row> = Vec::with_capacity(jobs.len() * k);
    for (j, job) in jobs.iter().enumerate() {
        let ns = job.splits.len();
        for s in 0..k {
            let alpha: Vec<f64> = job.alpha[s * nu..(s + 1) * nu]
                .iter()
                .map(|&a| f64::from(a))
                .collect();
            let beta: Vec<f64> = match cfg.beta {
                true => job.beta[s * ns..(s + 1) * ns]
                    .iter()
                    .map(|&b| f64::from(b))
                    .collect(),
                false => vec![0.0; ns],
            };
            rows.push(Row {
                job: j,
                row: s,
                adam: [vec![0.0; nu], vec![0.0; nu], vec![0.0; ns], vec![0.0; ns]],
                best: job.floor[s],
                best_alpha: alpha.clone(),
                best_beta: beta.clone(),
                alpha,
                beta,
            });
        }
    }
    let mut refuted = vec![false; jobs.len()];
    let mut active: Vec<usize> = (0..rows.len()).collect();
    let mut since_better = 0;
    // `beta` off: the multipliers stay 0 (no step moves them).
    let mut lr = (cfg.lr_alpha, if cfg.beta { cfg.lr_beta } else { 0.0 });
    let last = 'steps: {
        for it in 0..=iterations {
            let stack = Stack::new(
                root,
                sub,
                active.iter().map(|&a| {
                    let r = &rows[a];
                    let sp: &[Split] = &jobs[r.job].splits;
                    (r.row, sp, &r.alpha[..], &r.beta[..])
                }),
            );
            let pass = stack.pass(root);
            *passes += 1;
            let mut better = false;
            for (p, &a) in active.iter().enumerate() {
                let r = &mut rows[a];
                let v = minus_rhs(pass.lower[p], sub.rhs[r.row]);
                if v > r.best {
                    better |= v > r.best + IMPROVEMENT * (1.0 + r.best.abs());
                    r.best = v;
                    r.best_alpha.clone_from(&r.alpha);
                    r.best_beta.clone_from(&r.beta);
                }
                if r.best > 0.0 {
                    refuted[r.job] = true;
                }
            }
            since_better = if better { 0 } else { since_better + 1 };
            let done = it == iterations
                || since_better >= PATIENCE
                || deadline.expired()
                || active.iter().all(|&a| refuted[rows[a].job]);
            if done {
                break 'steps Last {
                    rows: active.iter().map(|&a| (rows[a].job, rows[a].row)).collect(),
                    pass,
                };
            }
            step(root, &stack, &pass, &active, &mut rows, it, lr);
            lr = (lr.0 * cfg.lr_decay, lr.1 * cfg.lr_decay);
            // Rows of refuted domains leave the batch.
            active.retain(|&a| !refuted[rows[a].job]);
        }
        unreachable!("the last step breaks")
    };
    let results = jobs
        .iter()
        .enumerate()
        .map(|(j, job)| {
            let mine = &rows[j * k..(j + 1) * k];
            let ns = job.splits.len();
            let mut alpha = Vec::with_capacity(k * nu);
            let mut beta = Vec::with_capacity(k * ns);
            for r in mine {
                alpha.extend(r.best_alpha.iter().map(|&a| a as f32));
                beta.extend(r.best_beta.iter().map(|&b| b as f32));
            }
            Bounded {
                lb: mine.iter().map(|r| r.best).collect(),
                refuted: refuted[j],
                alpha,
                beta,
            }
        })
        .collect();
    (results, last)
}

/// A better bound counts as progress (for [`PATIENCE`]) when it gains this much relative to
/// `1 + |bound|`.
const IMPROVEMENT: f64 = 1e-4;

/// One Adam step on the slopes and multipliers of the `active` rows, from the gradients of
/// `pass` (see the module doc).
fn step(
    root: &Root,
    stack: &Stack,
    pass: &Pass<f64>,
    active: &[usize],
    rows: &mut [Row],
    it: usize,
    (lr_a, lr_b): (f64, f64),
) {
    let z = relaxed_forward(
        root.dual,
        &root.bounds,
        root.out,
        pass,
        &stack.alphas,
        &root.anc,
        Some(stack.row_splits()),
    );
    let net = root.dual.network();
    let index = SlopeIndex::new(root);
    let t = (it + 1) as i32;
    let (c1, c2) = (1.0 - ADAM_B1.powi(t), 1.0 - ADAM_B2.powi(t));
    let adam = |x: &mut f64, m: &mut f64, v: &mut f64, g: f64, lr: f64| {
        *m = ADAM_B1 * *m + (1.0 - ADAM_B1) * g;
        *v = ADAM_B2 * *v + (1.0 - ADAM_B2) * g * g;
        *x += lr * (*m / c1) / ((*v / c2).sqrt() + 1e-12);
    };
    // The tangent ranges over the root's intervals (a row's split neurons take their own).
    let root_tangents: Vec<Tangents> = (root.curved.iter().filter(|_| root.tangents))
        .map(|n| {
            let sh = SShape::of(&net.nodes()[n.node as usize].op).expect("a sigmoid or tanh");
            let pre = &root.bounds[root.pre(n.node)];
            let k = n.neuron as usize;
            sh.tangents(pre.lower[k], pre.upper[k])
        })
        .collect();
    let nr = root.unstable.len();
    let mut g = vec![0.0; nr];
    for (p, &a) in active.iter().enumerate() {
        let r = &mut rows[a];
        let sp = stack.row_splits();
        let splits = &sp.splits[sp.start[p]..sp.start[p + 1]];
        let [ma, va, mb, vb] = &mut r.adam;
        // The ReLU slopes (a split neuron is stable in this row: gradient 0, its slope stays).
        index.gradients(&pass.act_lambda, &z, p, splits, &mut g);
        adam_slopes(&mut r.alpha[..nr], ma, va, &g, lr_a, (c1, c2));
        // Tangent parameters: the line at `ẑ` moves with its touching point `t` by
        // `λ·f''(t)·(ẑ − t)`, and `t` with the parameter by the range's length (see
        // `bounds::alpha`), over the neuron's interval in this row's domain.
        for (c, (n, tn)) in root.curved.iter().zip(&root_tangents).enumerate() {
            let (i, col) = (n.node as usize, n.neuron as usize);
            let sh = SShape::of(&net.nodes()[i].op).expect("a sigmoid or tanh");
            let mine = (splits.iter()).filter(|s| s.node == n.node && s.neuron == n.neuron);
            let tn = match mine.clone().next() {
                None => *tn,
                Some(_) => {
                    let pre = &root.bounds[root.pre(n.node)];
                    let (l, u) = mine.fold((pre.lower[col], pre.upper[col]), |(l, u), s| {
                        s.restrict(l, u)
                    });
                    sh.tangents(l, u)
                }
            };
            let lam = pass.act_lambda[i].as_ref().expect("λ at every activation")[[p, col]];
            let Some(range) = tn.used(lam >= 0.0) else {
                continue;
            };
            let zv = z[root.pre(n.node)].as_ref().expect("pre-activations")[[p, col]];
            let t = Tangents::point(range, r.alpha[nr + c]);
            let g = lam * sh.d2f(t) * (zv - t) * (range.1 - range.0);
            let u = nr + c;
            adam(&mut r.alpha[u], &mut ma[u], &mut va[u], g, lr_a);
            r.alpha[u] = r.alpha[u].clamp(0.0, 1.0);
        }
        for (s, split) in splits.iter().enumerate() {
            if r.beta.is_empty() {
                break;
            }
            let zv = z[root.pre(split.node)].as_ref().expect("pre-activations")
                [[p, split.neuron as usize]];
            let g = -split.sign() * (zv - split.point);
            adam(&mut r.beta[s], &mut mb[s], &mut vb[s], g, lr_b);
            r.beta[s] = r.beta[s].max(0.0);
        }
    }
}

/// Each subproblem's root rows: α optimised from the adaptive slopes (`cfg.root_iterations`
/// steps), no splits.
pub(crate) fn root_bounds(
    root: &Root,
    subs: &[Sub],
    cfg: &ReluSplitConfig,
    deadline: Deadline,
) -> Vec<super::sub::RootRows> {
    let alpha = root.adaptive_alpha();
    subs.iter()
        .map(|sub| {
            let k = sub.rhs.len();
            let job = Job {
                splits: Vec::new(),
                alpha: alpha.repeat(k),
                beta: Vec::new(),
                floor: vec![f64::NEG_INFINITY; k],
                path: super::path::Path::default(),
            };
            let mut passes = 0;
            let (mut out, _) = bound(
                root,
                sub,
                std::slice::from_ref(&job),
                cfg.root_iterations,
                cfg,
                deadline,
                &mut passes,
            );
            let b = out.pop().expect("one job");
            super::sub::RootRows {
                lb: b.lb,
                alpha: b.alpha,
            }
        })
        .collect()
}
