//! Input-space branch and bound (see the module doc of [`crate::verify`]).

use super::{Bounder, Options};
use crate::attack::margin_and_gradient;
use crate::bounds::Method;
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Counterexample, Verdict};
use crate::search::Progress;
use crate::spec::Property;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Boxes processed in parallel per round.
const BATCH: usize = 32;

/// One box of one region, with the disjuncts not yet refuted on it.
struct Item {
    region: usize,
    lower: Vec<f64>,
    upper: Vec<f64>,
    open: Vec<usize>,
    depth: usize,
    /// The best lower bound of the open disjuncts on the parent box (`−∞` at a root): what
    /// progress reports as the worst bound still open.
    bound: f64,
}

enum Step {
    Refuted,
    Falsified(Box<Counterexample>),
    Split(Item, Item),
    /// At the depth limit, neither refuted nor falsified.
    Stuck,
    /// The deadline passed before the box was decided.
    Expired,
}

/// Time between two progress reports.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Runs branch and bound until every box is refuted, a counterexample is confirmed, or
/// `opts.deadline` passes (checked before every box and inside the bound engines). Reports
/// to `progress` after a batch, at most every [`PROGRESS_EVERY`]: boxes bounded and stored, the
/// worst bound of a stored box, and the share of the input volume refuted (a box at depth `d`
/// holds `2^−d` of its region's).
pub(super) fn search(
    net: &Network,
    prop: &Property,
    method: Method,
    opts: &Options,
    mut progress: Option<&mut (dyn FnMut(&Progress) + Send)>,
) -> Verdict {
    let t0 = Instant::now();
    let mut last_report = t0;
    let (mut done, mut decided) = (0u64, 0.0f64);
    let share = 1.0 / prop.regions.len().max(1) as f64;
    let bounder = Bounder::new(net, method);
    // Every box is split from its region's proof box (widened to cover the file's decimals).
    let mut stack: Vec<Item> = prop
        .regions
        .iter()
        .enumerate()
        .map(|(r, reg)| {
            let (lower, upper) = reg.proof_box();
            Item {
                region: r,
                lower,
                upper,
                open: (0..reg.disjuncts.len()).collect(),
                depth: 0,
                bound: f64::NEG_INFINITY,
            }
        })
        .collect();
    let mut stuck = 0usize;
    while !stack.is_empty() {
        if opts.deadline.expired() {
            return Verdict::Timeout;
        }
        let take = stack.len().min(BATCH);
        let batch: Vec<Item> = stack.split_off(stack.len() - take);
        let depths: Vec<usize> = batch.iter().map(|i| i.depth).collect();
        let steps: Vec<Step> = batch
            .into_par_iter()
            .map(|item| step(net, prop, &bounder, opts, item))
            .collect();
        done += take as u64;
        for (s, &d) in steps.iter().zip(&depths) {
            if matches!(s, Step::Refuted) {
                decided += share * 0.5f64.powi(d.min(1074) as i32);
            }
        }
        // A confirmed counterexample anywhere in the batch wins over the deadline.
        let mut expired = false;
        for s in steps {
            match s {
                Step::Refuted => {}
                Step::Falsified(cex) => return Verdict::Sat(cex),
                Step::Split(a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                Step::Stuck => stuck += 1,
                Step::Expired => expired = true,
            }
        }
        if expired {
            return Verdict::Timeout;
        }
        if let Some(p) = progress.as_mut() {
            if last_report.elapsed() >= PROGRESS_EVERY {
                last_report = Instant::now();
                let worst = stack.iter().map(|i| i.bound).fold(f64::INFINITY, f64::min);
                p(&Progress {
                    phase: "search",
                    done,
                    open: stack.len(),
                    worst: (worst.is_finite()).then_some(worst),
                    decided: decided.min(1.0),
                    closest: None,
                    rerooted: 0,
                    elapsed: t0.elapsed(),
                });
            }
        }
    }
    if stuck > 0 {
        Verdict::Unknown(format!(
            "{stuck} input boxes reached the split depth limit ({}) without being refuted or falsified",
            opts.max_depth
        ))
    } else {
        // `unsat` path (docs/soundness.md): every box of every region's proof box (widened for
        // the file's decimals) was refuted by `Bounder::lower_bounds` (sound in rounding, less
        // the f32 slack); the bisection points are floats inside their boxes, so the children
        // cover each box exactly.
        Verdict::Unsat
    }
}

/// Up to this many inputs, the split is chosen by trying every input (two interval passes each).
const SMART_SPLIT_MAX_INPUTS: usize = 32;

/// For each open disjunct of `item` over the box `[lower, upper]`: the best lower bound among
/// its constraints (the disjunct is refuted when it is `> 0`).
fn disjunct_bounds(
    prop: &Property,
    bounder: &Bounder,
    item: &Item,
    lower: &[f64],
    upper: &[f64],
    deadline: Deadline,
) -> Vec<f64> {
    let ds = &prop.regions[item.region].disjuncts;
    let cons: Vec<_> = item.open.iter().flat_map(|&d| &ds[d].constraints).collect();
    let lb = bounder.lower_bounds(lower, upper, &cons, deadline);
    let mut k = 0;
    item.open
        .iter()
        .map(|&d| {
            let n = ds[d].constraints.len();
            k += n;
            lb[k - n..k]
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

/// The input whose bisection most improves the worse child's closest-to-refuted disjunct
/// (ReluVal-style "smart" split, affordable for a handful of inputs). `None` when no input can
/// be split, or when `deadline` passes first.
fn best_split(
    prop: &Property,
    bounder: &Bounder,
    item: &Item,
    deadline: Deadline,
) -> Option<usize> {
    let closeness = |lo: &[f64], hi: &[f64]| {
        disjunct_bounds(prop, bounder, item, lo, hi, deadline)
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    };
    let mut best: Option<(usize, f64)> = None;
    for dim in 0..item.lower.len() {
        if deadline.expired() {
            return None;
        }
        let (l, u) = (item.lower[dim], item.upper[dim]);
        let mid = 0.5 * l + 0.5 * u;
        if !(l < mid && mid < u) {
            continue;
        }
        let mut hi = item.upper.clone();
        hi[dim] = mid;
        let left = closeness(&item.lower, &hi);
        let mut lo = item.lower.clone();
        lo[dim] = mid;
        let right = closeness(&lo, &item.upper);
        let v = left.min(right);
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((dim, v));
        }
    }
    best.map(|(d, _)| d)
}

/// The input with the largest width × |margin gradient|, or the widest when that is all zero.
fn gradient_split(score: &[f64], width: &[f64]) -> Option<usize> {
    let pick = |v: &[f64]| {
        (0..v.len())
            .filter(|&i| width[i] > 0.0)
            .max_by(|&a, &b| v[a].total_cmp(&v[b]))
    };
    pick(score)
        .filter(|&i| score[i] > 0.0)
        .or_else(|| pick(width))
}

fn step(net: &Network, prop: &Property, bounder: &Bounder, opts: &Options, mut item: Item) -> Step {
    let deadline = opts.deadline;
    if deadline.expired() {
        return Step::Expired;
    }
    let lb = disjunct_bounds(prop, bounder, &item, &item.lower, &item.upper, deadline);
    let mut k = 0;
    // A disjunct is refuted only by a bound `> 0`; `disjunct_bounds` folds from −∞ with
    // `f64::max`, which skips NaN, so no NaN reaches this comparison.
    item.open.retain(|_| {
        k += 1;
        lb[k - 1] <= 0.0
    });
    if item.open.is_empty() {
        return Step::Refuted;
    }
    item.bound = lb
        .iter()
        .copied()
        .filter(|&b| b <= 0.0)
        .fold(f64::INFINITY, f64::min);
    // Try the centre; the margin's gradient there also picks the split.
    let n = item.lower.len();
    let centre: Vec<f64> = (0..n)
        .map(|i| 0.5 * item.lower[i] + 0.5 * item.upper[i])
        .collect();
    let width: Vec<f64> = (0..n).map(|i| item.upper[i] - item.lower[i]).collect();
    let mut score = vec![0.0; n];
    for &d in &item.open {
        let disjunct = &prop.regions[item.region].disjuncts[d];
        let (m, g) = margin_and_gradient(net, disjunct, &centre);
        if m <= 0.0 {
            if let Some(cex) = confirm(net, prop, &centre) {
                return Step::Falsified(Box::new(cex));
            }
        }
        let gmax = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if gmax > 0.0 {
            (0..n).for_each(|i| score[i] += width[i] * g[i].abs() / gmax);
        }
    }
    if item.depth >= opts.max_depth {
        return Step::Stuck;
    }
    let dim = if n <= SMART_SPLIT_MAX_INPUTS {
        best_split(prop, bounder, &item, deadline)
    } else {
        gradient_split(&score, &width)
    };
    // Bounds cut short by the deadline are sound but may not refute, and a split chosen from
    // them is arbitrary: the box is left undecided.
    if deadline.expired() {
        return Step::Expired;
    }
    let Some(dim) = dim else { return Step::Stuck };
    let mid = centre[dim];
    if !(item.lower[dim] < mid && mid < item.upper[dim]) {
        return Step::Stuck; // the box cannot be split further in floating point
    }
    let mut left = Item {
        region: item.region,
        lower: item.lower.clone(),
        upper: item.upper.clone(),
        open: item.open.clone(),
        depth: item.depth + 1,
        bound: item.bound,
    };
    left.upper[dim] = mid;
    item.lower[dim] = mid;
    item.depth += 1;
    Step::Split(left, item)
}
