//! Which neuron a domain splits next: BaBSR scores from the last pass, optionally filtered by
//! bounding the children of the best candidates (kFSB). Only speed depends on these choices.

use super::optimise::{minus_rhs, Job, Last, Stack};
use super::root::{Neuron, Root};
use super::{Branching, ReluSplitConfig};
use crate::bounds::dual::Split;
use crate::ir::Op;

/// Scores below this are no information (a stable or irrelevant neuron).
const SCORE_FLOOR: f64 = 1e-4;

/// The next split of a job, whether its children re-bound the layers after it, and, when kFSB
/// bounded them, its two children's bounds from kFSB's pass (`[up, down]`, one per row, each
/// a sound lower bound of the row over the child's domain).
pub(crate) struct Choice {
    pub neuron: Neuron,
    pub reroot: bool,
    pub children: Option<[Vec<f64>; 2]>,
}

/// The next split of each job of `open` (`(index of the job in the last pass, job)`), none of
/// which is fully split, and whether its children re-bound the layers after it: a job with fewer
/// than `cfg.reroot_depth` splits splits in the first layer that has an unsplit unstable neuron
/// ([`first_layer`]); the others by `cfg.branching`.
pub(crate) fn choose(
    root: &Root,
    sub: &super::sub::Sub,
    open: &[(usize, &Job)],
    last: &Last,
    cfg: &ReluSplitConfig,
    passes: &mut u64,
) -> Vec<Choice> {
    let scored: Vec<Scores> = open
        .iter()
        .map(|&(j, job)| babsr(root, job, last, j))
        .collect();
    let early: Vec<Option<Neuron>> = open
        .iter()
        .zip(&scored)
        .map(|(&(_, job), sc)| {
            (job.splits.len() < cfg.reroot_depth && cfg.reroot_first)
                .then(|| first_layer(root, sc))
                .flatten()
        })
        .collect();
    let rest: Vec<usize> = (0..open.len()).filter(|&o| early[o].is_none()).collect();
    let rest_open: Vec<(usize, &Job)> = rest.iter().map(|&o| open[o]).collect();
    let rest_scored: Vec<&Scores> = rest.iter().map(|&o| &scored[o]).collect();
    let mut late = match cfg.branching {
        Branching::Babsr => rest_scored.iter().map(|s| (s.best(root), None)).collect(),
        Branching::Kfsb { k } => kfsb(root, sub, &rest_open, &rest_scored, (k, cfg.beta), passes),
    }
    .into_iter();
    early
        .into_iter()
        .zip(open)
        .map(|(e, &(_, job))| match e {
            Some(neuron) => Choice {
                neuron,
                reroot: true,
                children: None,
            },
            None => {
                let (neuron, children) = late.next().expect("one per job left");
                Choice {
                    neuron,
                    reroot: job.splits.len() < cfg.reroot_depth,
                    children,
                }
            }
        })
        .collect()
}

/// The unsplit neuron of the first layer that has any, with the best BaBSR score there, else
/// the largest triangle height `u·(−l)/(u − l)` (the relaxation's widest gap).
fn first_layer(root: &Root, sc: &Scores) -> Option<Neuron> {
    let first = (0..root.unstable.len()).find(|&u| sc.main[u].is_some())?;
    let node = root.unstable[first].node;
    let layer = (first..root.unstable.len())
        .take_while(|&u| root.unstable[u].node == node)
        .filter(|&u| sc.main[u].is_some());
    let height = |u: usize| {
        let n = root.unstable[u];
        let b = &root.bounds[root.pre(n.node)];
        let (l, h) = (b.lower[n.neuron as usize], b.upper[n.neuron as usize]);
        h * -l / (h - l)
    };
    let best = layer
        .map(|u| (u, sc.main[u].unwrap_or(0.0), height(u)))
        .max_by(|a, b| {
            let score = |x: &(usize, f64, f64)| if x.1 > SCORE_FLOOR { x.1 } else { 0.0 };
            score(a).total_cmp(&score(b)).then(a.2.total_cmp(&b.2))
        })?;
    Some(root.unstable[best.0])
}

/// BaBSR's two scores per splittable neuron of one domain (`None` where it is split).
struct Scores {
    /// `|max(b·A·(s − 1), b·A·s) + min(A, 0)·t|`: the estimated gain of splitting (larger is
    /// better), with `A` the coefficient of the ReLU's output in the bound, `b` the bias of its
    /// input, `s = u/(u − l)` and `t = −s·l` the upper line's slope and intercept.
    main: Vec<Option<f64>>,
    /// `min(A, 0)·t`: the intercept the relaxation costs the bound (more negative is better).
    intercept: Vec<Option<f64>>,
}

impl Scores {
    /// The neuron with the best main score, else the best intercept score, else the first
    /// unsplit one.
    fn best(&self, root: &Root) -> Neuron {
        let arg = |v: &[Option<f64>], sign: f64| {
            (0..v.len())
                .filter_map(|u| v[u].map(|s| (u, sign * s)))
                .filter(|&(_, s)| s > SCORE_FLOOR)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(u, _)| u)
        };
        let u = arg(&self.main, 1.0)
            .or_else(|| arg(&self.intercept, -1.0))
            .or_else(|| self.main.iter().position(Option::is_some))
            .expect("a domain that is not fully split has an unsplit neuron");
        root.unstable[u]
    }

    /// The `k` best of each score (distinct neurons, main ones first).
    fn top(&self, k: usize) -> Vec<usize> {
        let pick = |v: &[Option<f64>], sign: f64, out: &mut Vec<usize>| {
            let mut idx: Vec<(usize, f64)> = (0..v.len())
                .filter_map(|u| v[u].map(|s| (u, sign * s)))
                .filter(|&(_, s)| s > SCORE_FLOOR)
                .collect();
            idx.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for (u, _) in idx.into_iter().take(k) {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        };
        let mut out = Vec::new();
        pick(&self.main, 1.0, &mut out);
        pick(&self.intercept, -1.0, &mut out);
        out
    }
}

/// The bias of element `k` of node `j` (0 when the node has none).
fn bias(root: &Root, j: usize, k: usize) -> f64 {
    match &root.dual.network().nodes()[j].op {
        Op::Affine(a) => a.bias[k],
        Op::Conv(c) => c.bias[k / (c.out_chw[1] * c.out_chw[2])],
        Op::ScaleShift(s) => s.shift[k],
        Op::Input
        | Op::Reshape
        | Op::Relu
        | Op::Sigmoid
        | Op::Tanh
        | Op::Add
        | Op::Concat
        | Op::Gather { .. }
        | Op::Sign
        | Op::Square
        | Op::Mul
        | Op::Softmax(_) => 0.0,
    }
}

/// BaBSR scores of job `j` from the last pass, averaged over the job's rows.
fn babsr(root: &Root, job: &Job, last: &Last, j: usize) -> Scores {
    let rows: Vec<usize> = (0..last.rows.len())
        .filter(|&p| last.rows[p].0 == j)
        .collect();
    let n = rows.len().max(1) as f64;
    let split = |nr: &Neuron| {
        job.splits
            .iter()
            .any(|s| s.node == nr.node && s.neuron == nr.neuron)
    };
    let mut main = Vec::with_capacity(root.unstable.len());
    let mut intercept = Vec::with_capacity(root.unstable.len());
    for nr in &root.unstable {
        if split(nr) {
            main.push(None);
            intercept.push(None);
            continue;
        }
        let (i, k) = (nr.node as usize, nr.neuron as usize);
        let pre = root.pre(nr.node);
        let (l, u) = (root.bounds[pre].lower[k], root.bounds[pre].upper[k]);
        let s = u / (u - l);
        let t = -s * l;
        let b = bias(root, pre, k);
        let lam = last.pass.act_lambda[i]
            .as_ref()
            .expect("λ at every activation");
        let (mut m, mut ic) = (0.0, 0.0);
        for &p in &rows {
            let a = lam[[p, k]];
            let icpt = a.min(0.0) * t;
            let ba = b * a;
            m += ((ba * (s - 1.0)).max(ba * s) + icpt).abs();
            ic += icpt;
        }
        main.push(Some(m / n));
        intercept.push(Some(ic / n));
    }
    Scores { main, intercept }
}

/// One row of kFSB's pass: `(open job, objective row, splits, slopes, multipliers)`.
type Item = (usize, usize, Vec<Split>, Vec<f64>, Vec<f64>);

/// kFSB: for each job, both children of each of its top candidates bounded by one pass (the
/// job's slopes and multipliers, 0 for the new split) for all jobs at once; the candidate whose
/// worse child is best wins (a child's value is its best row; `with_beta` off: multipliers 0
/// throughout, as [`ReluSplitConfig::beta`]). With the winner, its children's
/// bounds per row (`[up, down]`; sound: any slopes in [0, 1] and multipliers `>= 0` are).
fn kfsb(
    root: &Root,
    sub: &super::sub::Sub,
    open: &[(usize, &Job)],
    scored: &[&Scores],
    (k, with_beta): (usize, bool),
    passes: &mut u64,
) -> Vec<(Neuron, Option<[Vec<f64>; 2]>)> {
    let nu = root.alpha_len();
    let rows = sub.rhs.len();
    let cands: Vec<Vec<usize>> = scored.iter().map(|s| s.top(k)).collect();
    // Every (job, candidate, side, row) as one row of one pass.
    let mut items: Vec<Item> = Vec::new();
    for (o, (&(_, job), cs)) in open.iter().zip(&cands).enumerate() {
        let ns = job.splits.len();
        for &u in cs {
            let nr = root.unstable[u];
            for up in [true, false] {
                let mut splits = job.splits.clone();
                splits.push(Split {
                    node: nr.node,
                    neuron: nr.neuron,
                    point: 0.0,
                    up,
                });
                for r in 0..rows {
                    let alpha = job.alpha[r * nu..(r + 1) * nu]
                        .iter()
                        .map(|&a| f64::from(a))
                        .collect();
                    let mut beta: Vec<f64> = job.beta[r * ns..(r + 1) * ns]
                        .iter()
                        .map(|&b| if with_beta { f64::from(b) } else { 0.0 })
                        .collect();
                    beta.push(0.0);
                    items.push((o, r, splits.clone(), alpha, beta));
                }
            }
        }
    }
    if items.is_empty() {
        return scored.iter().map(|s| (s.best(root), None)).collect();
    }
    let stack = Stack::new(
        root,
        sub,
        items
            .iter()
            .map(|(_, r, sp, a, b)| (*r, &sp[..], &a[..], &b[..])),
    );
    let pass = stack.pass(root);
    *passes += 1;
    let mut at = 0;
    open.iter()
        .zip(&cands)
        .zip(scored)
        .map(|((_, cs), sc)| {
            let mut best: Option<(usize, f64, [Vec<f64>; 2])> = None;
            for &u in cs {
                let mut side = [f64::NEG_INFINITY; 2];
                let mut lbs = [Vec::with_capacity(rows), Vec::with_capacity(rows)];
                for (v, lb) in side.iter_mut().zip(&mut lbs) {
                    for r in 0..rows {
                        let x = minus_rhs(pass.lower[at], sub.rhs[r]);
                        *v = v.max(x);
                        lb.push(x);
                        at += 1;
                    }
                }
                let v = side[0].min(side[1]);
                if best.as_ref().is_none_or(|(_, b, _)| v > *b) {
                    best = Some((u, v, lbs));
                }
            }
            best.map_or_else(
                || (sc.best(root), None),
                |(u, _, lbs)| (root.unstable[u], Some(lbs)),
            )
        })
        .collect()
}
