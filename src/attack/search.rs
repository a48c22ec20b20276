//! Collecting counterexamples for testers: one attack method against every disjunct of every
//! region, from the box centre (or a given start) and then random starts, keeping every distinct
//! point that [`confirm`] replays; `lbfgs` instead keeps the nearest ones to the start.

use super::cw::{cw, CwConfig};
use super::fgsm::fgsm;
use super::goal::{pgd_goal, Goal};
use super::jsma::{jsma, JsmaConfig};
use super::lbfgs::{lbfgs, LbfgsConfig};
use super::{PgdConfig, Rng};
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Counterexample};
use crate::spec::{Property, Region};
use std::collections::HashSet;

/// The attack methods of `certus attack`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackMethod {
    /// Fast gradient sign method: one step to the box face.
    Fgsm,
    /// Projected gradient descent: signed steps of decaying size.
    #[default]
    Pgd,
    /// Carlini–Wagner-style: margin loss plus a distance penalty, Adam steps.
    Cw,
    /// Jacobian saliency map: greedy changes of single inputs to the box faces.
    Jsma,
    /// Szegedy et al.'s box-constrained L-BFGS with a line search over the distance weight:
    /// the smallest perturbation of the start that reaches the bad case (deterministic: one run
    /// per disjunct, no random restarts).
    Lbfgs,
}

/// Settings of [`find_counterexamples`].
#[derive(Clone, Debug)]
pub struct SearchOptions {
    pub method: AttackMethod,
    /// Stop after this many distinct counterexamples.
    pub count: usize,
    /// Random starts after the box centre, per disjunct.
    pub restarts: usize,
    pub seed: u64,
    /// The point attacks start from in the first round (instead of each region's box centre,
    /// projected onto the box), and that `lbfgs` measures perturbations from: a labelled
    /// input, for a robustness property around it.
    pub start: Option<Vec<f64>>,
    pub pgd: PgdConfig,
    pub cw: CwConfig,
    pub jsma: JsmaConfig,
    pub lbfgs: LbfgsConfig,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            method: AttackMethod::default(),
            count: 1,
            restarts: 10,
            seed: 0,
            start: None,
            pgd: PgdConfig::default(),
            cw: CwConfig::default(),
            jsma: JsmaConfig::default(),
            lbfgs: LbfgsConfig::default(),
        }
    }
}

/// The first round's start in `region`: `start` projected onto its box, or the box centre.
pub fn start_point(region: &Region, start: Option<&[f64]>) -> Vec<f64> {
    let goal = Goal::new(region, &[]);
    match start {
        Some(s) => goal.with_start(s.to_vec()).start,
        None => goal.start,
    }
}

/// The L2 and L∞ distances between `x` and `s`.
pub fn distances(x: &[f64], s: &[f64]) -> (f64, f64) {
    let d = x.iter().zip(s).map(|(a, b)| (a - b).abs());
    let (sq, max) = d.fold((0.0, 0.0f64), |(q, m), v| (q + v * v, m.max(v)));
    (sq.sqrt(), max)
}

/// Runs `opts.method` against each disjunct of each region of `prop` (which must fit `net`),
/// round by round: first from the box centre (or `opts.start`), then from `opts.restarts`
/// random starts. Every hit goes through [`confirm`]; distinct confirmed points (compared bit for
/// bit) are returned in the order found, at most `opts.count`, stopping early at `deadline`.
/// `lbfgs` runs once per disjunct from the first round's start (it is deterministic) and returns
/// the `opts.count` nearest to that start (plain L2), nearest first.
pub fn find_counterexamples(
    net: &Network,
    prop: &Property,
    opts: &SearchOptions,
    deadline: Deadline,
) -> Vec<Counterexample> {
    let mut rng = Rng::new(opts.seed);
    let mut seen: HashSet<Vec<u64>> = HashSet::new();
    let mut out = Vec::new();
    let minimal = opts.method == AttackMethod::Lbfgs;
    let rounds = if minimal { 0 } else { opts.restarts };
    for round in 0..=rounds {
        for region in &prop.regions {
            for d in 0..region.disjuncts.len() {
                if (out.len() >= opts.count && !minimal) || deadline.expired() {
                    return out;
                }
                let mut goal = Goal::disjunct(region, d);
                if let (0, Some(s)) = (round, &opts.start) {
                    goal = goal.with_start(s.clone());
                } else if round > 0 {
                    let x = (0..goal.start.len())
                        .map(|i| goal.lower[i] + rng.uniform() * goal.width(i))
                        .collect();
                    goal = goal.with_start(x);
                }
                let mut found = |x: &[f64]| match confirm(net, prop, x) {
                    Some(c) => {
                        if seen.insert(c.input.iter().map(|v| v.to_bits()).collect()) {
                            out.push(c);
                        }
                        true
                    }
                    None => false,
                };
                match opts.method {
                    AttackMethod::Fgsm => {
                        fgsm(net, &goal, &mut found);
                    }
                    AttackMethod::Pgd => {
                        pgd_goal(net, &goal, &opts.pgd, deadline, &mut found);
                    }
                    AttackMethod::Cw => {
                        cw(net, &goal, &opts.cw, deadline, &mut found);
                    }
                    AttackMethod::Jsma => {
                        jsma(net, &goal, &opts.jsma, deadline, &mut found);
                    }
                    AttackMethod::Lbfgs => {
                        let mut replays = |x: &[f64]| confirm(net, prop, x).is_some();
                        if let Some(x) = lbfgs(net, &goal, &opts.lbfgs, deadline, &mut replays) {
                            found(&x);
                        }
                    }
                }
            }
        }
    }
    if minimal {
        // Nearest first, from the start each region's goal had.
        let from = |c: &Counterexample| {
            let s = start_point(&prop.regions[c.region], opts.start.as_deref());
            distances(&c.input, &s).0
        };
        out.sort_by(|a, b| from(a).total_cmp(&from(b)));
    }
    out.truncate(opts.count);
    out
}
