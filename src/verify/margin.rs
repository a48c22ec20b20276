//! How thin a counterexample's margin is, and a nearby point with a safer one (see
//! `docs/soundness.md`, "Thin margins"): `confirm` replays in certus's own f32 summation order,
//! which onnxruntime need not share.

use crate::attack::margin_and_gradient;
use crate::bounds::f32_error::{constraint_slack, f32_errors};
use crate::bounds::interval::interval_bounds;
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Counterexample};
use crate::spec::Property;

/// Signed-gradient step sizes (shares of each input's box width) and steps per size that
/// [`safer`] tries; candidates only, each replayed by `confirm`.
const STEP_FRACS: [f64; 3] = [1e-6, 1e-4, 1e-2];
const STEPS: usize = 20;

/// `max_k (a_k·y − b_k + s_k)` over the violated disjunct's constraints, with `y` the f64
/// output and `s_k` the constraint's f32 evaluation-error bound at the point
/// ([`crate::bounds::f32_error`] over the one-point box): `<= 0` means that every f32
/// evaluation of the network at this input, in any summation order, violates the property
/// too. The returned pair is that value and the largest `s_k`.
pub fn robust_margin(net: &Network, prop: &Property, cex: &Counterexample) -> (f64, f64) {
    let x = &cex.input;
    let bounds = interval_bounds(net, x, x);
    let err = f32_errors(net, &bounds).pop().expect("a network has nodes");
    let out = bounds.last().expect("a network has nodes");
    let d = &prop.regions[cex.region].disjuncts[cex.disjunct];
    let (mut worst, mut slack) = (f64::NEG_INFINITY, 0.0f64);
    for c in &d.constraints {
        let s = constraint_slack(c, &err, out);
        let ay: f64 = c.coeffs.iter().map(|&(k, a)| a * cex.output_f64[k]).sum();
        worst = worst.max(ay - c.rhs + s);
        slack = slack.max(s);
    }
    (worst, slack)
}

/// When `cex`'s [`robust_margin`] is not `<= 0` (another evaluator may disagree), looks for a
/// nearby counterexample whose robust margin is: signed-gradient steps on the violated
/// disjunct's margin from `cex`'s input, inside the box, each replayed by `confirm`. Returns
/// the replayed counterexample with the smallest robust margin found (`cex` itself when
/// nothing better turns up) and that margin, until `deadline`.
pub fn safer(
    net: &Network,
    prop: &Property,
    cex: &Counterexample,
    deadline: Deadline,
) -> (Counterexample, f64) {
    let mut best = (cex.clone(), robust_margin(net, prop, cex).0);
    if best.1 <= 0.0 {
        return best;
    }
    let region = &prop.regions[cex.region];
    let d = &region.disjuncts[cex.disjunct];
    for frac in STEP_FRACS {
        let mut p = cex.input.clone();
        for _ in 0..STEPS {
            if deadline.expired() {
                return best;
            }
            let (_, g) = margin_and_gradient(net, d, &p);
            for (i, v) in p.iter_mut().enumerate() {
                let w = region.upper[i] - region.lower[i];
                let s = if g[i] == 0.0 { 0.0 } else { g[i].signum() };
                *v = (*v - s * frac * w).clamp(region.lower[i], region.upper[i]);
            }
            if let Some(c) = confirm(net, prop, &p) {
                let m = robust_margin(net, prop, &c).0;
                if m < best.1 {
                    best = (c, m);
                }
            }
        }
        if best.1 <= 0.0 {
            return best;
        }
    }
    best
}
