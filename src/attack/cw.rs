//! A Carlini–Wagner-style attack (IEEE S&P 2017) over a box: the smallest change that reaches
//! the bad case, found by gradient descent on a margin loss plus a distance penalty.

use super::goal::Goal;
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::tolerances::ADAM_EPSILON;

/// Settings of [`cw`].
#[derive(Clone, Debug)]
pub struct CwConfig {
    /// Adam steps per value of `c`.
    pub steps: usize,
    /// First weight `c` of the margin term; multiplied by `c_factor` after a round that found
    /// nothing, for `c_rounds` rounds (C&W's search for the smallest `c` that succeeds).
    pub c_start: f64,
    pub c_factor: f64,
    pub c_rounds: usize,
    /// Adam's step size, as a fraction of each input's box width.
    pub lr: f64,
    /// Confidence `κ`: the margin term stops pulling at `m = −κ`, so points end up strictly
    /// inside the bad case and survive the f32 replay.
    pub kappa: f64,
}

impl Default for CwConfig {
    fn default() -> Self {
        CwConfig {
            steps: 100,
            c_start: 0.1,
            c_factor: 10.0,
            c_rounds: 4,
            lr: 0.05,
            kappa: 1e-3,
        }
    }
}

/// Minimises `L(x) = c·max(m(x), −κ) + Σ_i ((x_i − s_i)/w_i)²` over the box with Adam
/// (projected after each step), where `s` is `goal.start` and `w_i` the box width (the distance
/// is measured in box widths, so inputs of different ranges weigh alike). The box replaces C&W's
/// tanh change of variables. Calls `found(x)` at every iterate with `m(x) <= 0` and returns as
/// soon as it answers true; returns the smallest margin seen.
pub fn cw(
    net: &Network,
    goal: &Goal,
    cfg: &CwConfig,
    deadline: Deadline,
    found: &mut dyn FnMut(&[f64]) -> bool,
) -> f64 {
    let n = goal.start.len();
    let (b1, b2) = (0.9, 0.999);
    let mut best = f64::INFINITY;
    let mut c = cfg.c_start;
    for _ in 0..cfg.c_rounds {
        let mut x = goal.start.clone();
        let (mut m1, mut m2) = (vec![0.0; n], vec![0.0; n]);
        for t in 1..=cfg.steps {
            if deadline.expired() {
                return best;
            }
            let (m, g) = goal.margin_and_gradient(net, &x);
            best = best.min(m);
            if m <= 0.0 && found(&x) {
                return m;
            }
            let active = m > -cfg.kappa;
            for i in 0..n {
                let w = goal.width(i);
                if w <= 0.0 {
                    continue;
                }
                // ∂L/∂x_i = c·∂m/∂x_i (while the margin term is active) + 2(x_i − s_i)/w_i².
                let gi =
                    if active { c * g[i] } else { 0.0 } + 2.0 * (x[i] - goal.start[i]) / (w * w);
                m1[i] = b1 * m1[i] + (1.0 - b1) * gi;
                m2[i] = b2 * m2[i] + (1.0 - b2) * gi * gi;
                let mh = m1[i] / (1.0 - f64::powi(b1, t as i32));
                let vh = m2[i] / (1.0 - f64::powi(b2, t as i32));
                x[i] -= cfg.lr * w * mh / (vh.sqrt() + ADAM_EPSILON);
            }
            goal.project(&mut x);
        }
        let m = goal.margin(net, &x);
        best = best.min(m);
        if m <= 0.0 && found(&x) {
            return m;
        }
        c *= cfg.c_factor;
    }
    best
}
