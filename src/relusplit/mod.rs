//! ReLU-split branch and bound with optimised split multipliers (β-CROWN), for networks whose
//! input is too wide to split (MNIST's 784 pixels, CIFAR's 3072).
//!
//! Each (region, disjunct) pair of the property is a subproblem: a counterexample is an input of
//! the region's box whose output satisfies every row `c_s·y <= rhs_s` of the disjunct, so the
//! subproblem is refuted on a set of inputs as soon as one row's lower bound of `c_s·y − rhs_s`
//! is `> 0` there. A *domain* is the region's box restricted by a set of activation splits
//! (`z_j >= 0` or `z_j <= 0` for ReLUs, [`crate::bounds::dual::Split`]). The search is one loop
//! ([`bab::run`]): pop a batch of domains (last in, first out), split each on the neuron chosen
//! when it was bounded, bound all children at once ([`optimise`]: batched backward passes, the
//! rows of all children stacked into one matrix, with slopes `α` and multipliers `β`
//! optimised together), drop the refuted ones, decide fully split ones exactly ([`leaf`]),
//! evaluate each child's relaxation minimiser as a counterexample candidate, choose each
//! survivor's next split ([`branch`]: BaBSR scores or filtered smart branching) and push.
//!
//! Intermediate bounds are the root's ([`root`]: α-CROWN over every layer, optionally tightened
//! by LPs on the first layers, and optionally refined layer by layer by small branch and bounds
//! of their own, [`refine`]) for every domain, except the split neurons themselves, which
//! each row of a pass relaxes over its restricted interval. Soundness does not depend on any
//! choice made here: the dual network's pass is sound for any slopes in [0, 1] and any `β >= 0`
//! (see [`crate::bounds::dual`]), and every `sat` goes through [`confirm`].
//!
//! Every ingredient has a switch in [`ReluSplitConfig`], so that its effect can be measured.

mod bab;
mod branch;
mod curves;
mod leaf;
mod optimise;
mod path;
mod refine;
mod report;
mod root;
mod slopes;
mod sub;
mod switches;

use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Verdict};
use crate::spec::Property;
use report::Reporter;
use std::time::Duration;

pub use refine::{refine_bounds, RefineStats};

/// How the next neuron to split is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branching {
    /// The largest BaBSR score (the neuron's coefficient times its bias and intercept).
    Babsr,
    /// Filtered smart branching: the `k` best BaBSR and the `k` best intercept scores are
    /// bounded (both children each, one pass for all) and the best worse child wins.
    Kfsb { k: usize },
}

/// Settings of the ReLU-split search: one value passed down, every ingredient a switch.
/// `Default` is the measured best on mnistfc (see docs/results.md).
#[derive(Clone, Debug, PartialEq)]
pub struct ReluSplitConfig {
    /// Domains popped per batch (each gives two children, all bounded in one batch).
    pub batch: usize,
    /// α/β optimisation steps per batch of children (0: one pass with the inherited values).
    pub iterations: usize,
    /// `iterations` on networks with a convolution (their passes cost more, and kFSB's pass
    /// already bounds each child: 4 decides oval21's instances with ~10 % more children than 20
    /// in a third of the bounding time, docs/results.md).
    pub conv_iterations: usize,
    /// Adam step sizes for the slopes and the multipliers, and the per-step decay of both.
    pub lr_alpha: f64,
    pub lr_beta: f64,
    pub lr_decay: f64,
    /// Split multipliers (β); off bounds each domain with its split neurons' exact pieces only.
    pub beta: bool,
    /// Optimise where the tangent lines of sigmoid and tanh neurons touch (as the slopes of
    /// ReLUs), at the root's intermediate bounds and in every domain; off keeps CROWN's points.
    pub tangents: bool,
    pub branching: Branching,
    /// Children start from kFSB's bound of them (the pass that chose their split) where it is
    /// above their parent's, and those it refutes are never bounded again.
    pub kfsb_reuse: bool,
    /// α-CROWN iterations for the root's intermediate bounds and its output rows.
    pub root_iterations: usize,
    pub root_intermediate_iterations: usize,
    /// Tighten the first layers' root bounds by LPs when the network is small enough.
    pub root_lp: bool,
    /// Decide fully split domains exactly (the LP of their linear piece, then Z3).
    pub exact_leaves: bool,
    /// Evaluate each child's relaxation minimiser as a counterexample candidate.
    pub candidates: bool,
    /// Domains with fewer splits than this split a neuron of the first layer that still has
    /// unstable ones, and their children re-bound every later layer under their splits (a root
    /// of their own, [`root::Root::rebound`]) instead of keeping the intermediate bounds they
    /// inherited. 0: intermediate bounds are the subproblem root's for every domain.
    pub reroot_depth: usize,
    /// With `reroot_depth`: those domains split in the first layer with unstable neurons left
    /// (on: the first-layer rule; off: `branching` chooses, and the children re-bound the
    /// layers after whichever neuron it chose).
    pub reroot_first: bool,
    /// A domain whose bound (best row) has not risen by more than `reroot_stall_gain` of its
    /// distance to 0 over the last this many splits of its path gives its children roots of
    /// their own (as `reroot_depth`), and their paths count again from there; at most
    /// `reroot_stall_share` of the search's time goes to re-bounding. 0: off.
    pub reroot_stall: usize,
    pub reroot_stall_gain: f64,
    pub reroot_stall_share: f64,
    /// α-CROWN steps of each re-rooting's intermediate bounds (0: CROWN's adaptive slopes).
    pub reroot_iterations: usize,
    /// Share of the time left at the root spent refining the intermediate bounds by small
    /// branch and bounds over the earlier layers' neurons ([`refine`]; 0: off). On by default:
    /// +4 on mnistfc, +2 on mnistfc_2021 at `--timeout-scale 0.02` (docs/results.md); 0.6
    /// (with no leaf cap and `refine_decay` 0.5) decides 4 of 6 open mnistfc_2021 instances at
    /// 60 s against 2 for 0.3 with 32 leaves (docs/results.md).
    pub refine: f64,
    /// Most leaves of each refined bound's tree.
    pub refine_leaves: usize,
    /// When every bound of a batch stopped at `refine_leaves` with its share of the time left,
    /// the cap doubles (up to this many leaves) until that share is spent: longer timeouts
    /// refine more. At most `refine_leaves`: off. The default (2^20) is no cap: the trees grow
    /// until their share of the time is spent.
    pub refine_max_leaves: usize,
    /// With at least `refine_again_after` seconds left after the first refinement, a
    /// subproblem's search that has decided less than `refine_stall_decided` of its split tree
    /// after `refine_stall` of the time left stops, the root is refined again with
    /// `refine_again` of the time then left (from the refined bounds, its trees growing up to
    /// `refine_again_leaves` leaves, see `refine_max_leaves`) and the undecided subproblems
    /// start over (once). `refine_again` 0: off. On by default: decides 3 more of eran's
    /// mnist_relu_9_200 at 300 s (docs/results.md).
    pub refine_again: f64,
    pub refine_stall: f64,
    pub refine_stall_decided: f64,
    pub refine_again_after: f64,
    pub refine_again_leaves: usize,
    /// Most layers refined (the first ones with unstable neurons before them).
    pub refine_layers: usize,
    /// Refine the last ReLU layer too (off: its bounds only shape its own relaxation in the
    /// output rows, which the search's splits tighten; on by default: off loses 2 on
    /// mnistfc_2021 at `--timeout-scale 0.02` and gains none, docs/results.md).
    pub refine_last: bool,
    /// Weights of the refined layers' time shares: the `i`-th layer refined gets the share
    /// `1 / Σ_{k < n} decay^k` of the refinement time left when it starts (`n` layers left;
    /// 1: equal shares; below 1: more for the earlier layers, whose gains compound; 0.5 by
    /// default, see `refine`).
    pub refine_decay: f64,
    /// Share a layer's refinement time over its chunks of neurons by their influence on the
    /// output rows (`Σ |λ_j|·u(−l)/(u − l)`, at least 5 % of the mean chunk's) instead of
    /// equally.
    pub refine_weigh: bool,
    /// Refine only a neuron's bounds no more than this many times as far from 0 as its other
    /// bound (`tree` in `refine`: the far side moves the triangle's height `(far/near)²` times
    /// less). 0: both bounds always.
    pub refine_sides: f64,
    /// Weigh each layer's share of the refinement time by its unstable count too (see
    /// `refine_decay`).
    pub refine_by_size: bool,
    /// The first refinement takes `refine` of at most this many seconds of the time left (0:
    /// no cap): a long budget then refines briefly, searches, and refines again from there
    /// (`refine_again`) instead of spending `refine` of all of it first. 90 by default:
    /// refinement spends its whole share even when the root is refuted early; at 300 s this
    /// decides four instances in 55–59 s that took 180–270 s or timed out (docs/results.md).
    pub refine_first: f64,
    /// Refine on networks with a convolution too (off by default: on oval21's conv nets at
    /// `--timeout-scale 0.05` refinement took 5–10 s of 36 and lost deep img4510 and img4168,
    /// which the search decides without it; docs/results.md).
    pub refine_conv: bool,
    /// The f32 residual of affine and convolution nodes by the tighter dot-product bound
    /// (only terms that can be nonzero, the largest partial sum; `f32_error::residual`); off:
    /// `ρ_n·(|W|·M + |b|)`. On by default: +2 on oval21 at `--timeout-scale 0.05`
    /// (docs/results.md).
    pub f32_dots: bool,
    /// Give up (`unknown`) once this many domains are stored (a memory guard).
    pub max_domains: usize,
    /// Give up (`unknown`) once this many domains have been bounded in one subproblem.
    pub budget: u64,
}

impl Default for ReluSplitConfig {
    fn default() -> Self {
        ReluSplitConfig {
            batch: 64,
            iterations: 20,
            conv_iterations: 4,
            lr_alpha: 0.1,
            lr_beta: 0.05,
            lr_decay: 0.98,
            beta: true,
            tangents: true,
            branching: Branching::Kfsb { k: 3 },
            kfsb_reuse: true,
            root_iterations: 50,
            root_intermediate_iterations: 6,
            root_lp: false,
            exact_leaves: true,
            candidates: true,
            reroot_depth: 0,
            reroot_first: false,
            reroot_stall: 0,
            reroot_stall_gain: 0.05,
            reroot_stall_share: 0.3,
            reroot_iterations: 0,
            refine: 0.6,
            refine_leaves: 32,
            refine_max_leaves: 1 << 20,
            refine_again: 0.9,
            refine_stall: 0.1,
            refine_stall_decided: 1.0,
            refine_again_after: 60.0,
            refine_again_leaves: 4096,
            refine_layers: usize::MAX,
            refine_last: true,
            refine_decay: 0.5,
            refine_weigh: false,
            refine_sides: 0.0,
            refine_by_size: false,
            refine_first: 90.0,
            refine_conv: false,
            f32_dots: true,
            max_domains: 1_000_000,
            budget: u64::MAX,
        }
    }
}

/// Counts of what the search did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Subproblems (region, disjunct), and those the root bound alone refuted.
    pub subproblems: usize,
    pub refuted_at_root: usize,
    /// Domains bounded (children), batches, and optimisation passes over them.
    pub domains: u64,
    pub batches: u64,
    pub passes: u64,
    /// Domains refuted by their bound, and fully split ones decided by the leaf LP.
    pub refuted: u64,
    pub leaves: u64,
    /// Of `refuted`: children refuted by kFSB's pass ([`ReluSplitConfig::kfsb_reuse`]).
    pub kfsb_refuted: u64,
    /// Most domains stored at once.
    pub max_open: usize,
    /// Time spent on the root bounds, and in the search loop; of the latter, in bounding the
    /// children (passes and optimiser steps) and in branching (scores and kFSB's pass).
    pub root_time: Duration,
    pub time: Duration,
    pub bound_time: Duration,
    pub branch_time: Duration,
    /// Domains given a root of their own ([`ReluSplitConfig::reroot_depth`],
    /// [`ReluSplitConfig::reroot_stall`]), and the time that took.
    pub rebounds: u64,
    pub rebound_time: Duration,
    /// Domains whose children were re-rooted because their bound stalled
    /// ([`ReluSplitConfig::reroot_stall`]), and the unstable neurons those new roots made
    /// stable (all re-rootings; the split neurons not counted).
    pub stall_reroots: u64,
    pub reroot_stabilised: u64,
    /// What the root refinement of intermediate bounds did ([`ReluSplitConfig::refine`]).
    pub refine: RefineStats,
}

/// Decides `prop` on `net` by ReLU splitting, until `deadline`. No attack is run here (see
/// [`crate::verify`], which attacks first); candidates met during the search are replayed.
pub fn search(
    net: &Network,
    prop: &Property,
    cfg: &ReluSplitConfig,
    deadline: Deadline,
    progress: Option<&mut (dyn FnMut(&crate::search::Progress) + Send)>,
) -> (Verdict, Stats) {
    let mut stats = Stats::default();
    let subproblems = prop.regions.iter().map(|r| r.disjuncts.len()).sum();
    let mut report = report::Reporter::new(progress, subproblems);
    // Every bound of the search holds for every f32 evaluation too (issue 15: VNN-COMP judges
    // a counterexample by onnxruntime's f32 output): the passes keep each node's f32 residual.
    let dual = match cfg.f32_dots {
        true => crate::bounds::dual::DualNetwork::keeping_f32(net),
        false => crate::bounds::dual::DualNetwork::keeping_f32_loose(net),
    };
    let conv = net
        .nodes()
        .iter()
        .any(|n| matches!(n.op, crate::ir::Op::Conv(_)));
    let cfg = &ReluSplitConfig {
        iterations: match conv {
            true => cfg.conv_iterations,
            false => cfg.iterations,
        },
        ..cfg.clone()
    };
    let mut unknown: Option<String> = None;
    for region in &prop.regions {
        report.phase("root", stats.domains, 0);
        let t = std::time::Instant::now();
        let mut root = root::Root::new(&dual, region, cfg, deadline);
        stats.root_time += t.elapsed();
        if deadline.expired() {
            return (Verdict::Timeout, stats);
        }
        // Each disjunct's rows, with their root bounds: the easiest (highest bound) first, so
        // that the hardest gets what time is left.
        let mut subs: Vec<sub::Sub> = region
            .disjuncts
            .iter()
            .map(|disjunct| sub::Sub::new(net, disjunct, root.bounds.last().expect("nodes")))
            .collect();
        stats.subproblems += subs.len();
        let root_lb = optimise::root_bounds(&root, &subs, cfg, deadline);
        for (s, lb) in subs.iter_mut().zip(root_lb) {
            s.root = lb;
        }
        report.phase_bound("root", 0, root.unstable.len(), worst(&subs));
        let mut tightened = false;
        let refine = cfg.refine > 0.0 && (cfg.refine_conv || !conv);
        if refine && subs.iter().any(|s| s.worst() <= 0.0) {
            let t = std::time::Instant::now();
            // `refine_first` > 0: the share of at most that many seconds (the rest of a long
            // budget goes to the search and to refining again); no cap with no time limit.
            let cap = match cfg.refine_first > 0.0 && deadline.remaining().is_some() {
                true => Duration::try_from_secs_f64(cfg.refine_first).unwrap_or(Duration::MAX),
                false => Duration::MAX,
            };
            let until = deadline.share(cfg.refine, cap);
            stats.refine = refine_root(
                &dual,
                &mut root,
                &mut subs,
                cfg,
                until,
                deadline,
                &mut report,
            );
            stats.root_time += t.elapsed();
            tightened = stats.refine.tightened > 0;
        }
        let drop_refuted = |subs: &mut Vec<sub::Sub>, stats: &mut Stats, report: &mut Reporter| {
            subs.retain(|s| {
                let refuted = s.root.lb.iter().any(|&v| v > 0.0);
                stats.refuted_at_root += usize::from(refuted);
                if refuted {
                    report.decide(0);
                }
                !refuted
            });
            subs.sort_by(|a, b| b.worst().total_cmp(&a.worst()));
        };
        drop_refuted(&mut subs, &mut stats, &mut report);
        // With a long budget left after a refinement that tightened something, a search that
        // has decided less than `refine_stall_decided` of its tree after `refine_stall` of the
        // time left stops, the root is refined again (`refine_again` of what is left then,
        // from the refined bounds) and the undecided subproblems start over.
        let again = cfg.refine > 0.0
            && cfg.refine_again > 0.0
            && tightened
            && deadline
                .remaining()
                .is_some_and(|r| r.as_secs_f64() >= cfg.refine_again_after);
        let mut limits = bab::Limits {
            deadline,
            stall: again.then(|| {
                let at = deadline.share(cfg.refine_stall, Duration::MAX);
                (at, cfg.refine_stall_decided)
            }),
        };
        let mut i = 0;
        let mut decided_before = report.decided;
        while i < subs.len() {
            let t = std::time::Instant::now();
            let out = bab::run(
                &root,
                &subs[i],
                cfg,
                limits,
                &mut stats,
                &mut report,
                &|x| confirm(net, prop, x),
            );
            stats.time += t.elapsed();
            match out {
                bab::Outcome::Refuted => decided_before = report.decided,
                bab::Outcome::Sat(cex) => return (Verdict::Sat(cex), stats),
                bab::Outcome::Stalled => {
                    // Refine again and start the rest over (once).
                    let t = std::time::Instant::now();
                    let left = deadline.share(cfg.refine_again, Duration::MAX);
                    subs.drain(..i);
                    report.decided = decided_before;
                    let cfg2 = ReluSplitConfig {
                        refine_max_leaves: cfg.refine_max_leaves.max(cfg.refine_again_leaves),
                        ..cfg.clone()
                    };
                    let r = refine_root(
                        &dual,
                        &mut root,
                        &mut subs,
                        &cfg2,
                        left,
                        deadline,
                        &mut report,
                    );
                    stats.root_time += t.elapsed();
                    stats.refine.add(&r);
                    drop_refuted(&mut subs, &mut stats, &mut report);
                    limits.stall = None;
                    i = 0;
                    continue;
                }
                bab::Outcome::Timeout => return (Verdict::Timeout, stats),
                bab::Outcome::Unknown(why) => {
                    unknown.get_or_insert(why);
                }
            }
            i += 1;
        }
    }
    match unknown {
        Some(why) => (Verdict::Unknown(why), stats),
        None => (Verdict::Unsat, stats),
    }
}

/// Refines `root`'s intermediate bounds until `until` ([`refine::refine`], ranking neurons by
/// their influence on `subs`' rows) and, if any bound tightened, rebuilds the root over them and
/// re-bounds `subs`' root rows, keeping each row's better bound (both are sound).
fn refine_root<'a>(
    dual: &'a crate::bounds::dual::DualNetwork<'a>,
    root: &mut root::Root<'a>,
    subs: &mut [sub::Sub],
    cfg: &ReluSplitConfig,
    until: Deadline,
    deadline: Deadline,
    report: &mut Reporter,
) -> RefineStats {
    let influence = refine::influence(root, subs);
    let mut bounds = root.bounds.clone();
    let r = refine::refine(dual, &mut bounds, &influence, cfg, until, report);
    // Nothing tightened (e.g. no layer to refine): the root and its rows stand.
    if r.tightened > 0 {
        *root = root::Root::with_bounds(dual, bounds, cfg.tangents);
        let root_lb = optimise::root_bounds(root, subs, cfg, deadline);
        for (s, lb) in subs.iter_mut().zip(root_lb) {
            // The slopes go with the new root.
            let best = s.root.lb.iter().zip(&lb.lb).map(|(a, b)| a.max(*b));
            s.root.lb = best.collect();
            s.root.alpha = lb.alpha;
        }
    }
    report.phase_bound("refined", r.leaves, r.unstable_after, worst(subs));
    r
}

/// The lowest of the subproblems' best root bounds.
fn worst(subs: &[sub::Sub]) -> f64 {
    subs.iter()
        .map(sub::Sub::worst)
        .fold(f64::INFINITY, f64::min)
}
