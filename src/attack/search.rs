//! Collecting counterexamples for testers: one attack method against every disjunct of every
//! region, from the box centre and then random starts, keeping every distinct point that
//! [`confirm`] replays.

use super::cw::{cw, CwConfig};
use super::fgsm::fgsm;
use super::goal::{pgd_goal, Goal};
use super::jsma::{jsma, JsmaConfig};
use super::{PgdConfig, Rng};
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Counterexample};
use crate::spec::Property;
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
    pub pgd: PgdConfig,
    pub cw: CwConfig,
    pub jsma: JsmaConfig,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            method: AttackMethod::default(),
            count: 1,
            restarts: 10,
            seed: 0,
            pgd: PgdConfig::default(),
            cw: CwConfig::default(),
            jsma: JsmaConfig::default(),
        }
    }
}

/// Runs `opts.method` against each disjunct of each region of `prop` (which must fit `net`),
/// round by round: first from the box centre, then from `opts.restarts` random starts. Every hit
/// goes through [`confirm`]; distinct confirmed points (compared bit for bit) are returned in the
/// order found, at most `opts.count`, stopping early at `deadline`.
pub fn find_counterexamples(
    net: &Network,
    prop: &Property,
    opts: &SearchOptions,
    deadline: Deadline,
) -> Vec<Counterexample> {
    let mut rng = Rng::new(opts.seed);
    let mut seen: HashSet<Vec<u64>> = HashSet::new();
    let mut out = Vec::new();
    for round in 0..=opts.restarts {
        for region in &prop.regions {
            for d in 0..region.disjuncts.len() {
                if out.len() >= opts.count || deadline.expired() {
                    return out;
                }
                let mut goal = Goal::disjunct(region, d);
                if round > 0 {
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
                }
            }
        }
    }
    out.truncate(opts.count);
    out
}
