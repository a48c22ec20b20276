//! The search loop of one subproblem (see the module doc of [`super`]).

use super::branch;
use super::curves;
use super::leaf::{self, Leaf};
use super::optimise::{self, Job, Last};
use super::path::Path;
use super::report::Reporter;
use super::root::{Neuron, Root};
use super::sub::Sub;
use super::{ReluSplitConfig, Stats};
use crate::bounds::dual::Split;
use crate::deadline::Deadline;
use crate::outcome::Counterexample;
use std::collections::HashSet;
use std::rc::Rc;

/// How a subproblem ended.
pub(crate) enum Outcome {
    Refuted,
    Sat(Box<Counterexample>),
    Timeout,
    Unknown(String),
    /// At the stall check of [`Limits`], too little of the tree was decided.
    Stalled,
}

/// When the search of one subproblem stops: its deadline, and optionally a stall check (at
/// the first deadline, a search that has decided less than the given share of its
/// subproblem's split tree stops with [`Outcome::Stalled`]; one that has goes on).
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub deadline: Deadline,
    pub stall: Option<(Deadline, f64)>,
}

/// A domain's bound: its best row's (any row above 0 refutes it).
fn best(lb: &[f64]) -> f64 {
    lb.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// A stored domain: its splits, what its children inherit, and the split chosen for it.
struct Domain<'a> {
    splits: Vec<Split>,
    alpha: Vec<f32>,
    beta: Vec<f32>,
    lb: Vec<f64>,
    path: Path,
    next: Neuron,
    /// Where `next` is split: 0 for a ReLU, see [`super::curves`] for sigmoid and tanh.
    point: f64,
    /// The root it was bounded over (`None`: the subproblem's), and whether its children get
    /// roots of their own, re-bounded under their splits ([`Root::rebound`]).
    root: Option<Rc<Root<'a>>>,
    reroot: bool,
    /// Its children's bounds from kFSB's pass (`[up, down]`, per row), if any.
    kids: Option<[Vec<f64>; 2]>,
}

/// Domains to bound together: all over one root (`None`: the subproblem's).
type Group<'a> = (Option<Rc<Root<'a>>>, Vec<Job>);

/// Runs the search on `sub` until it is refuted, a candidate is confirmed (`confirm` returns
/// the counterexample), the store is full, `limits`' deadline passes, or its stall check stops
/// it.
pub(crate) fn run<'a>(
    base: &Root<'a>,
    sub: &Sub,
    cfg: &ReluSplitConfig,
    limits: Limits,
    stats: &mut Stats,
    report: &mut Reporter,
    confirm: &dyn Fn(&[f64]) -> Option<Counterexample>,
) -> Outcome {
    let Limits {
        deadline,
        mut stall,
    } = limits;
    let start = report.decided;
    let first = Job {
        splits: Vec::new(),
        alpha: sub.root.alpha.clone(),
        beta: Vec::new(),
        floor: sub.root.lb.clone(),
        path: Path::default(),
    };
    // Stall-triggered re-rooting spends at most `reroot_stall_share` of this search's time.
    let (t0, rebound0) = (std::time::Instant::now(), stats.rebound_time);
    let mut stack: Vec<Domain<'a>> = Vec::new();
    let (mut undecided, mut bounded) = (0u64, 0u64);
    // A network without unstable ReLUs but with sigmoid/tanh neurons splits those: never a
    // fully split domain (no exact leaf), so the search is not complete.
    let curved = base.unstable.is_empty() && !base.curved.is_empty();
    let mut exhausted = 0u64;
    let mut seen = HashSet::new();
    let mut groups: Vec<Group<'a>> = vec![(None, vec![first])];
    // The root's slopes are optimised already: one pass gives what branching needs.
    let mut iterations = 0;
    loop {
        for (group_root, jobs) in std::mem::take(&mut groups) {
            let root: &Root = group_root.as_deref().unwrap_or(base);
            let t = std::time::Instant::now();
            let (results, last) = optimise::bound(
                root,
                sub,
                &jobs,
                iterations,
                cfg,
                deadline,
                &mut stats.passes,
            );
            stats.bound_time += t.elapsed();
            stats.batches += 1;
            stats.domains += jobs.len() as u64;
            bounded += jobs.len() as u64;
            if cfg.candidates {
                if let Some(cex) = candidates(root, &last, &results, confirm, &mut seen) {
                    return Outcome::Sat(cex);
                }
            }
            let mut open: Vec<(usize, Job, Vec<f64>)> = Vec::new();
            for (j, (job, b)) in jobs.into_iter().zip(results).enumerate() {
                if b.refuted {
                    stats.refuted += 1;
                    report.decide(job.splits.len());
                    continue;
                }
                let job = Job {
                    alpha: b.alpha,
                    beta: b.beta,
                    path: job.path.step(best(&b.lb), cfg.reroot_stall_gain),
                    ..job
                };
                if !curved && unsplit(root, &job.splits) == 0 {
                    stats.leaves += 1;
                    match cfg
                        .exact_leaves
                        .then(|| leaf::decide(root, sub, &sub.spec, &job.splits, deadline, confirm))
                    {
                        Some(Leaf::Refuted) => {
                            report.decide(job.splits.len());
                            continue;
                        }
                        Some(Leaf::Sat(cex)) => return Outcome::Sat(cex),
                        Some(Leaf::Undecided) | None => {
                            undecided += 1;
                            continue;
                        }
                    }
                }
                open.push((j, job, b.lb));
            }
            if open.is_empty() {
                continue;
            }
            if deadline.expired() {
                return Outcome::Timeout;
            }
            let decided: Vec<(usize, &Job)> = open.iter().map(|(j, job, _)| (*j, job)).collect();
            let t = std::time::Instant::now();
            type Next = Option<(Neuron, f64, bool, Option<[Vec<f64>; 2]>)>;
            let next: Vec<Next> = match curved {
                true => curves::choose(root, &decided, &last)
                    .into_iter()
                    .zip(&decided)
                    .map(|(n, (_, job))| {
                        n.map(|(n, p)| (n, p, job.splits.len() < cfg.reroot_depth, None))
                    })
                    .collect(),
                false => branch::choose(root, sub, &decided, &last, cfg, &mut stats.passes)
                    .into_iter()
                    .map(|c| Some((c.neuron, 0.0, c.reroot, c.children)))
                    .collect(),
            };
            stats.branch_time += t.elapsed();
            for ((_, job, lb), next) in open.into_iter().zip(next) {
                let Some((next, point, mut reroot, kids)) = next else {
                    // Nothing left worth splitting: undecided, so the subproblem cannot be
                    // refuted any more.
                    exhausted += 1;
                    continue;
                };
                // A domain whose bound has not risen over its last `reroot_stall` splits gives
                // its children roots of their own, within the time share.
                let stalled = cfg.reroot_stall > 0 && job.path.flat >= cfg.reroot_stall;
                let share = || {
                    (stats.rebound_time - rebound0).as_secs_f64()
                        <= cfg.reroot_stall_share * t0.elapsed().as_secs_f64()
                };
                if !reroot && stalled && share() {
                    reroot = true;
                    stats.stall_reroots += 1;
                }
                stack.push(Domain {
                    splits: job.splits,
                    alpha: job.alpha,
                    beta: job.beta,
                    lb,
                    path: job.path,
                    next,
                    point,
                    root: group_root.clone(),
                    reroot,
                    kids: kids.filter(|_| cfg.kfsb_reuse),
                });
            }
        }
        iterations = cfg.iterations;
        stats.max_open = stats.max_open.max(stack.len());
        if stack.is_empty() || exhausted > 0 {
            break;
        }
        // A domain's bound is its best row's; the search's worst is the lowest of those.
        report.tick(stats.domains, stats.rebounds, stack.len(), || {
            Some(
                stack
                    .iter()
                    .map(|d| best(&d.lb))
                    .fold(f64::INFINITY, f64::min),
            )
        });
        if deadline.expired() {
            return Outcome::Timeout;
        }
        if let Some((at, min)) = stall {
            if at.expired() {
                if report.decided - start < min * report.share {
                    return Outcome::Stalled;
                }
                stall = None;
            }
        }
        if bounded >= cfg.budget {
            return Outcome::Unknown(format!(
                "{bounded} domains bounded (the budget); the search gave up"
            ));
        }
        if stack.len() > cfg.max_domains {
            return Outcome::Unknown(format!(
                "more than {} domains stored (the limit); the search gave up",
                cfg.max_domains
            ));
        }
        // The batch: domains from the top of the stack that share its root.
        let top = stack.last().and_then(|d| d.root.clone());
        let same = |d: &Domain| match (&d.root, &top) {
            (None, None) => true,
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            _ => false,
        };
        let take = stack
            .iter()
            .rev()
            .take(cfg.batch)
            .take_while(|d| same(d))
            .count();
        let mut plain = Vec::new();
        // A child whose floor (kFSB's bound of it) is above 0 is refuted already.
        let refuted = |child: &Job, stats: &mut Stats, report: &mut Reporter| {
            let r = child.floor.iter().any(|&v| v > 0.0);
            if r {
                stats.refuted += 1;
                stats.kfsb_refuted += 1;
                report.decide(child.splits.len());
            }
            r
        };
        for d in stack.split_off(stack.len() - take) {
            if !d.reroot {
                for child in children(d) {
                    if !refuted(&child, stats, report) {
                        plain.push(child);
                    }
                }
                continue;
            }
            let parent_rc = d.root.clone();
            let parent: &Root = parent_rc.as_deref().unwrap_or(base);
            let parent_alpha = d.alpha.clone();
            let rows = d.lb.len();
            for mut child in children(d) {
                if refuted(&child, stats, report) {
                    continue;
                }
                // Sound for the child's domain and its descendants only: `parent`'s bounds hold
                // wherever the parent's splits do (a subset of the child's), the child's split
                // neurons are clamped to their halves, and the later nodes' new bounds hold
                // where those clamps do, intersected with `parent`'s (`Root::rebound`).
                let t = std::time::Instant::now();
                let rebound = parent.rebound(&child.splits, cfg.reroot_iterations, deadline);
                stats.rebound_time += t.elapsed();
                stats.rebounds += 1;
                let Some(r) = rebound else {
                    // No input satisfies the child's splits.
                    stats.refuted += 1;
                    report.decide(child.splits.len());
                    continue;
                };
                // Neurons the new root made stable, the child's split ones not counted.
                let split = child.splits.iter().filter(|s| {
                    let key = (s.node, s.neuron);
                    (parent.unstable)
                        .binary_search_by(|n| (n.node, n.neuron).cmp(&key))
                        .is_ok()
                });
                let gone = parent.unstable.len() - r.unstable.len();
                stats.reroot_stabilised += gone.saturating_sub(split.count()) as u64;
                child.alpha = parent.alpha_for(&r, &parent_alpha, rows);
                groups.push((Some(Rc::new(r)), vec![child]));
            }
        }
        if !plain.is_empty() {
            groups.push((top, plain));
        }
    }
    match (undecided, exhausted) {
        (0, 0) => Outcome::Refuted,
        (0, n) => Outcome::Unknown(format!(
            "{n} domains with no sigmoid/tanh neuron left worth splitting (the search is not \
             complete on them)"
        )),
        (n, _) => Outcome::Unknown(format!(
            "{n} fully split domains that the leaf LP could not decide"
        )),
    }
}

/// How many of `root`'s unstable neurons `splits` leaves unsplit (0: one linear piece).
fn unsplit(root: &Root, splits: &[Split]) -> usize {
    root.unstable
        .iter()
        .filter(|n| {
            !splits
                .iter()
                .any(|s| s.node == n.node && s.neuron == n.neuron)
        })
        .count()
}

/// The two children of `d`: its splits plus `z >= p` or `z <= p` on its chosen neuron (`p` its
/// point: 0 for a ReLU), each inheriting its slopes, its multipliers (0 for the new split) and
/// its bound, or kFSB's bound of the child where that is higher (both are sound lower bounds of
/// the row over the child's domain, so their maximum is; kFSB bounded the same split with
/// `p = 0`, the only point of a ReLU split). Its path too, started over at its bound when the
/// children get roots of their own.
fn children(d: Domain) -> [Job; 2] {
    let rows = d.lb.len();
    let path = match d.reroot {
        true => Path::anchored(best(&d.lb)),
        false => d.path,
    };
    let ns = d.splits.len();
    let mut beta = Vec::with_capacity(rows * (ns + 1));
    for r in 0..rows {
        beta.extend_from_slice(&d.beta[r * ns..(r + 1) * ns]);
        beta.push(0.0);
    }
    let child = |up: bool| {
        let mut floor = d.lb.clone();
        if let Some(kids) = &d.kids {
            let kid = &kids[usize::from(!up)];
            for (f, &k) in floor.iter_mut().zip(kid) {
                *f = f.max(k);
            }
        }
        let mut splits = d.splits.clone();
        splits.push(Split {
            node: d.next.node,
            neuron: d.next.neuron,
            point: d.point,
            up,
        });
        Job {
            splits,
            alpha: d.alpha.clone(),
            beta: beta.clone(),
            floor,
            path,
        }
    };
    [child(true), child(false)]
}

/// Corners already replayed in one search ([`candidates`]): each as its bits (1: the upper end
/// of the input), cleared when it holds this many.
const SEEN_MAX: usize = 1 << 16;

/// Evaluates the input corner that minimises each row of the last pass (the relaxation's
/// optimum) on the network, for the domains not refuted; the first that `confirm` accepts.
/// A corner in `seen` was replayed before (`confirm` is deterministic, and it was not
/// accepted), so it is skipped: siblings and children often share their parent's corner.
fn candidates(
    root: &Root,
    last: &Last,
    results: &[optimise::Bounded],
    confirm: &dyn Fn(&[f64]) -> Option<Counterexample>,
    seen: &mut HashSet<Vec<u64>>,
) -> Option<Box<Counterexample>> {
    let lam = &last.pass.input_lambda;
    if lam.ncols() == 0 {
        return None;
    }
    let (lo, hi) = (&root.bounds[0].lower, &root.bounds[0].upper);
    for (p, &(job, _)) in last.rows.iter().enumerate() {
        if results[job].refuted {
            continue;
        }
        let row = lam.row(p);
        let mut bits = vec![0u64; lo.len().div_ceil(64)];
        for i in 0..lo.len() {
            if row[i] < 0.0 || row[i].is_nan() {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        if seen.contains(&bits) {
            continue;
        }
        let x: Vec<f64> = (0..lo.len())
            .map(|i| if row[i] >= 0.0 { lo[i] } else { hi[i] })
            .collect();
        if let Some(cex) = confirm(&x) {
            return Some(Box::new(cex));
        }
        if seen.len() >= SEEN_MAX {
            seen.clear();
        }
        seen.insert(bits);
    }
    None
}
