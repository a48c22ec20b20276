//! General activation splitting, for sigmoid and tanh neurons (eran's sigmoid networks).
//!
//! A sigmoid's relaxation over its input interval `[l, u]` is a pair of lines
//! ([`crate::bounds::relax::curve`]) whose gap shrinks with the interval (quadratically in its
//! width where the curve is convex or concave). Splitting the neuron's input at a point `p`
//! gives two domains, `z <= p` and `z >= p`, that together cover the parent; each row of a pass
//! relaxes the split neuron over its restricted interval and carries the split as a Lagrangian
//! term (`β`), exactly as a ReLU split at 0 (the dual network's pass is sound for any point, see
//! [`crate::bounds::dual::Split`]). A neuron may be split again in a child, at a point of its
//! restricted interval.
//!
//! The point: 0 when it lies well inside `[l, u]` (each half is then convex or concave, where
//! the relaxation is a chord and a tangent), else the midpoint. The neuron: the largest score
//! `Σ_rows |λ_j|·gap_j`, with `λ_j` the coefficient of the neuron's output in the row's last
//! pass and `gap_j` the largest vertical distance between its two lines over its interval (at
//! the ends or the midpoint, where the lines' difference, linear, is largest): an estimate of
//! what its relaxation costs the bound, as BaBSR's score is for a ReLU.
//!
//! No domain is ever fully split, so the search is not complete: when every neuron's interval
//! is narrower than [`MIN_WIDTH`] (or no score is informative) the domain stays undecided and
//! the subproblem ends `unknown`; `unsat` only when every domain was refuted by its bound.

use super::optimise::{Job, Last};
use super::root::{Neuron, Root, MIN_WIDTH};
use crate::bounds::relax::curve;

/// Scores at or below this carry no information (a neuron the rows do not depend on; a
/// saturated neuron's small gap still counts).
const SCORE_FLOOR: f64 = 0.0;

/// 0 is the split point when it lies at least this share of the interval's width from both
/// ends.
const ZERO_MARGIN: f64 = 0.05;

/// The split point of an interval `[l, u]` (see the module doc).
pub(crate) fn point(l: f64, u: f64) -> f64 {
    let margin = ZERO_MARGIN * (u - l);
    if l + margin < 0.0 && 0.0 < u - margin {
        0.0
    } else {
        0.5 * (l + u)
    }
}

/// The next split of each job of `open` (`(index of the job in the last pass, job)`): a
/// neuron of `root.curved` and its point, or `None` when nothing is left worth splitting.
pub(crate) fn choose(
    root: &Root,
    open: &[(usize, &Job)],
    last: &Last,
) -> Vec<Option<(Neuron, f64)>> {
    let net = root.dual.network();
    open.iter()
        .map(|&(j, job)| {
            let rows: Vec<usize> = (0..last.rows.len())
                .filter(|&p| last.rows[p].0 == j)
                .collect();
            let mut best: Option<(f64, Neuron, f64)> = None;
            for &nr in &root.curved {
                let (i, k) = (nr.node as usize, nr.neuron as usize);
                let pre = &root.bounds[root.pre(nr.node)];
                // The neuron's interval in this domain: the root's, restricted by its splits.
                let (l, u) = job
                    .splits
                    .iter()
                    .filter(|s| s.node == nr.node && s.neuron == nr.neuron)
                    .fold((pre.lower[k], pre.upper[k]), |(l, u), s| s.restrict(l, u));
                if u - l < MIN_WIDTH || l.is_nan() || u.is_nan() {
                    continue;
                }
                let f = curve(&net.nodes()[i].op).expect("a sigmoid or tanh");
                let ln = f(l, u);
                let gap = [l, 0.5 * (l + u), u]
                    .iter()
                    .map(|&z| (ln.up_a - ln.lo_a) * z + (ln.up_b - ln.lo_b))
                    .fold(0.0, f64::max);
                let lam = last.pass.act_lambda[i]
                    .as_ref()
                    .expect("λ at every activation");
                let score: f64 = rows.iter().map(|&p| lam[[p, k]].abs() * gap).sum();
                if score > SCORE_FLOOR && best.is_none_or(|b| score > b.0) {
                    best = Some((score, nr, point(l, u)));
                }
            }
            best.map(|(_, nr, p)| (nr, p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_zero_inside_else_the_midpoint() {
        assert_eq!(point(-1.0, 5.0), 0.0);
        assert_eq!(point(1.0, 3.0), 2.0);
        // 0 too near an end: the midpoint.
        assert_eq!(point(-0.01, 1.99), 0.99);
    }
}
