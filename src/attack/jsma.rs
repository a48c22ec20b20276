//! A Jacobian-based saliency map attack (Papernot et al., EuroS&P 2016) over a box: change few
//! inputs, each all the way to a face of the box.

use super::goal::Goal;
use crate::deadline::Deadline;
use crate::ir::Network;

/// Settings of [`jsma`].
#[derive(Clone, Debug)]
pub struct JsmaConfig {
    /// At most this fraction of the inputs may be changed (JSMA's distortion budget `γ`).
    pub max_frac: f64,
}

impl Default for JsmaConfig {
    fn default() -> Self {
        JsmaConfig { max_frac: 0.25 }
    }
}

/// Greedy saliency: at each step take the margin's gradient `g` and move the one unchanged input
/// with the largest saliency `|g_i|·room_i` to the face of the box that lowers the margin (`l_i`
/// when `g_i > 0`, `u_i` when `g_i < 0`; `room_i` is the distance to that face). JSMA's saliency
/// map weighs the target class's gradient against the others'; the margin of a disjunct already
/// is that difference (`y_other − y_label` for a robustness property), so one gradient serves.
/// Calls `found(x)` when `m(x) <= 0` and returns as soon as it answers true; returns the
/// smallest margin seen.
pub fn jsma(
    net: &Network,
    goal: &Goal,
    cfg: &JsmaConfig,
    deadline: Deadline,
    found: &mut dyn FnMut(&[f64]) -> bool,
) -> f64 {
    let n = goal.start.len();
    let budget = ((n as f64 * cfg.max_frac).ceil() as usize).clamp(1, n.max(1));
    let mut x = goal.start.clone();
    let mut changed = vec![false; n];
    let mut best = f64::INFINITY;
    for _ in 0..=budget {
        if deadline.expired() {
            break;
        }
        let (m, g) = goal.margin_and_gradient(net, &x);
        best = best.min(m);
        if m <= 0.0 && found(&x) {
            return m;
        }
        let pick = (0..n)
            .filter(|&i| !changed[i] && g[i] != 0.0)
            .map(|i| {
                let room = if g[i] > 0.0 {
                    x[i] - goal.lower[i]
                } else {
                    goal.upper[i] - x[i]
                };
                (i, g[i].abs() * room)
            })
            .filter(|&(_, s)| s > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((i, _)) = pick else { break };
        x[i] = if g[i] > 0.0 {
            goal.lower[i]
        } else {
            goal.upper[i]
        };
        changed[i] = true;
    }
    best
}
