//! The `complete` certifier: one `alpha` pass first, then the complete verifier between that
//! radius and the attack's.
//!
//! 1. The `alpha` radius ([`super::boundary`] over one α-CROWN pass per ε) is where it starts:
//!    the complete radius is never below it.
//! 2. The upper end is the attack radius (a replayed counterexample there: nothing at or above
//!    it can be proved), or `eps_max` when the attack found none (asked first: certified
//!    there, the radius is `eps_max`).
//! 3. The bracket `[lo, hi]` is bisected with [`verify_with`] ([`Engine::Auto`]: the ReLU-split
//!    search of [`crate::relusplit`] on image networks, the input-split search on
//!    low-dimensional ones; no attack of its own, the attack already ran), each query over the
//!    widened ε-box ([`Preprocess::eps_box`]) with an even share of the time left for the
//!    bisection steps still needed. `unsat` raises `lo`; a `sat` whose counterexample replays on
//!    the plain box at that ε lowers `hi` *and* is a counterexample there (the caller may lower
//!    the attack radius with it); `timeout`/`unknown` lowers `hi` only for the search (a smaller
//!    ε is easier), never as an attack claim. The radius only ever rises: it is the largest ε
//!    proved.

use super::{boundary, Preprocess, RadiusOptions, Sample};
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Counterexample, Verdict};
use crate::spec::{LinearConstraint, Property};
use crate::verify::{verify_with, Bounder, Engine, Options};

/// What the complete certifier found on one input.
pub(super) struct Found {
    /// The largest ε proved (by the `alpha` pass or the search).
    pub radius: f64,
    /// The `alpha` pass's radius, where the search started.
    pub alpha_radius: f64,
    /// Questions asked: `alpha` passes, then searches.
    pub queries: usize,
    /// Searches that proved, found a counterexample, ran out of time (or stayed `unknown`).
    pub proved: usize,
    pub refuted: usize,
    pub open: usize,
    /// The smallest ε at which a search found a counterexample that replays on the plain box.
    pub counterexample: Option<(f64, Counterexample)>,
    /// The attack radius it was given (the upper end).
    pub attack: Option<f64>,
}

impl Found {
    /// How the radius was obtained, for the reports.
    pub fn how(&self) -> String {
        let searches = self.proved + self.refuted + self.open;
        let from = if self.radius > self.alpha_radius {
            "raised by the complete search"
        } else if searches == 0 {
            "the alpha pass's radius (within the tolerance of the upper end, or out of time)"
        } else {
            "the alpha pass's radius (the searches proved no more)"
        };
        let upper = match (&self.counterexample, self.attack) {
            (Some((e, _)), Some(a)) => format!("; a search's counterexample at {e} (attack: {a})"),
            (Some((e, _)), None) => format!("; a search's counterexample at {e} (attack: none)"),
            (None, Some(a)) => format!("; upper end the attack radius {a}"),
            (None, None) => String::new(),
        };
        format!(
            "{from}: alpha pass {}, then {searches} searches ({} proved, {} counterexample, {} \
             timeout/unknown){upper}",
            self.alpha_radius, self.proved, self.refuted, self.open
        )
    }
}

/// Bisection steps from a bracket of width `w` down to `tol` (at least 1).
fn steps(w: f64, tol: f64) -> f64 {
    (w / tol).log2().ceil().max(1.0)
}

/// The complete radius of `sample` (correctly classified) by `until`; `attack` is the attack
/// radius, if any.
pub(super) fn radius(
    net: &Network,
    alpha: &Bounder,
    sample: &Sample,
    pre: &Preprocess,
    opts: &RadiusOptions,
    attack: Option<f64>,
    until: Deadline,
) -> Found {
    let n_out = net.output_len();
    let label = sample.label;
    let mut queries = 0;
    // 1. One alpha pass per ε, exactly as the `alpha` certifier asks (the same ε, so the same
    //    radius: the complete one is never below it).
    let (alpha_radius, _) = boundary(&opts.eps_grid, opts.eps_max, opts.tolerance, |eps| {
        if until.expired() {
            return None;
        }
        queries += 1;
        let (lo, hi) = pre.eps_box(&sample.pixels, eps, true);
        let prop = Property::robustness(lo, hi, label, n_out);
        let region = &prop.regions[0];
        let cons: Vec<&LinearConstraint> =
            region.disjuncts.iter().map(|d| &d.constraints[0]).collect();
        let lb = alpha.lower_bounds(&region.lower, &region.upper, &cons, until);
        Some(lb.iter().all(|&v| v > 0.0))
    });
    let mut found = Found {
        radius: alpha_radius,
        alpha_radius,
        queries,
        proved: 0,
        refuted: 0,
        open: 0,
        counterexample: None,
        attack,
    };
    // 2.-3. The search between the alpha radius and the upper end.
    let mut lo = alpha_radius;
    let mut hi = attack.map_or(opts.eps_max, |a| a.min(opts.eps_max));
    if attack.is_none() && lo < hi {
        // No counterexample up to eps_max: perhaps the whole range is provable.
        let share = 1.0 / (1.0 + steps(hi - lo, opts.tolerance));
        if ask(
            net,
            sample,
            label,
            pre,
            hi,
            until.share(share, until_cap()),
            &mut found,
        ) {
            lo = hi;
        }
    }
    while hi - lo > opts.tolerance && !until.expired() {
        let mid = 0.5 * (lo + hi);
        if !(lo < mid && mid < hi) {
            break;
        }
        let share = 1.0 / steps(hi - lo, opts.tolerance);
        let q = until.share(share, until_cap());
        match ask(net, sample, label, pre, mid, q, &mut found) {
            true => lo = mid,
            false => hi = mid,
        }
    }
    found.radius = lo;
    found
}

/// Without a limit, each search gets at most this long (the bisection must end).
fn until_cap() -> std::time::Duration {
    std::time::Duration::from_secs(60)
}

/// Asks the complete verifier whether `label` is robust at `eps` by `deadline`: true when
/// proved; records the answer (and a counterexample that replays on the plain box) in `found`.
fn ask(
    net: &Network,
    sample: &Sample,
    label: usize,
    pre: &Preprocess,
    eps: f64,
    deadline: Deadline,
    found: &mut Found,
) -> bool {
    found.queries += 1;
    let n_out = net.output_len();
    let (lo, hi) = pre.eps_box(&sample.pixels, eps, true);
    let prop = Property::robustness(lo, hi, label, n_out);
    let opts = Options {
        deadline,
        engine: Engine::Auto,
        // The radius's own attack already ran at every ε of its bisection.
        attack_share: 0.0,
        ..Options::default()
    };
    match verify_with(net, &prop, &opts, None).0 {
        Verdict::Unsat => {
            found.proved += 1;
            true
        }
        Verdict::Sat(c) => {
            // The search ran on the widened box: keep the point only if it lies in the plain
            // one (replayed there), as the attack's are.
            let (lo, hi) = pre.eps_box(&sample.pixels, eps, false);
            let plain = Property::robustness(lo, hi, label, n_out);
            match confirm(net, &plain, &c.input) {
                Some(c) => {
                    found.refuted += 1;
                    if found.counterexample.as_ref().is_none_or(|b| eps < b.0) {
                        found.counterexample = Some((eps, c));
                    }
                }
                None => found.open += 1,
            }
            false
        }
        Verdict::Timeout | Verdict::Unknown(_) => {
            found.open += 1;
            false
        }
    }
}
