//! The fast gradient sign method (Goodfellow et al., ICLR 2015), over a box.

use super::goal::{descent_sign, Goal};
use crate::ir::Network;

/// One signed gradient step from `goal.start` all the way to the box face the margin's gradient
/// points away from: `x_i = l_i` where `∂m/∂x_i > 0`, `u_i` where `< 0`, `start_i` where 0. For
/// an ε-box around an image this is the classic `x − ε·sign(∇m)`, clipped. Calls `found(x)`
/// when `m(x) <= 0`; returns `m(x)`.
pub fn fgsm(net: &Network, goal: &Goal, found: &mut dyn FnMut(&[f64]) -> bool) -> f64 {
    let g = goal.margin_and_gradient(net, &goal.start).1;
    let x: Vec<f64> = (0..g.len())
        .map(|i| match descent_sign(g[i]) {
            s if s < 0.0 => goal.lower[i],
            s if s > 0.0 => goal.upper[i],
            _ => goal.start[i],
        })
        .collect();
    let m = goal.margin(net, &x);
    if m <= 0.0 {
        found(&x);
    }
    m
}
