//! The triangle-relaxation LP of a network over a box, solved by good_lp, sound in floating
//! point.
//!
//! Given sound bounds `[l, u]` of every node, the LP has one variable per element of every node
//! value that needs one (input; affine, conv and scale-shift outputs; unstable ReLU outputs and
//! the outputs of the other nonlinear ops), each boxed by its node's bounds, and ([`model`]):
//! - affine, conv, scale-shift: `y − W·x = b` (equalities);
//! - Reshape and stable ReLUs alias their input (active: the same variable; inactive: the
//!   constant 0);
//! - unstable ReLU (`l < 0 < u`): the triangle `ŷ >= 0, ŷ >= z, ŷ <= s·(z − l)`;
//! - sigmoid/tanh, sign, square: `lo_a·z + lo_b <= y <= up_a·z + up_b` ([`super::relax::curve`]);
//!   a square also gets the tangents at both ends of its input's box;
//! - product `z = x·y`: McCormick's four envelopes;
//! - softmax: each output between its lines ([`super::relax::softmax_lines`]), and each group's
//!   outputs summing to 1.
//!
//! Soundness: the solver's objective is never used. We keep the rows ourselves, read the
//! solver's dual values `μ`, and recompute a lower bound by Lagrangian (weak) duality over the
//! variable box in f64, padded for rounding ([`lagrangian`]); that bound is valid for any `μ`.
//! Solvers disagree on dual signs, so `μ` and `−μ` are both tried (and `0`, the plain box
//! bound) and the largest result is kept: each is valid.

mod lagrangian;
mod model;
mod solve;

use super::Bounds;
use crate::deadline::Deadline;
use crate::ir::{Network, NodeId, Op};
use model::Model;
use rayon::prelude::*;

/// Which LP backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Clarabel, pure Rust (interior point).
    #[default]
    Clarabel,
    /// HiGHS (simplex; needs the `highs` cargo feature).
    #[cfg(feature = "highs")]
    Highs,
}

/// The triangle LP relaxation of a network over a box, given sound bounds of every node.
pub struct TriangleLp {
    model: Model,
    /// The node whose value the objective reads.
    target: usize,
}

impl TriangleLp {
    /// `bounds[i]` are sound bounds of node i's value (e.g. from `DualNetwork::all_bounds` or
    /// `interval_bounds`); `bounds[0]` is the input box.
    pub fn new(net: &Network, bounds: &[Bounds]) -> Self {
        Self::up_to(net, bounds, net.nodes().len() - 1, false)
    }

    /// [`TriangleLp::new`] whose bound holds for every f32 evaluation of the network too: each
    /// node's f32 residual is a bounded variable ([`model::Model::build`]); `bounds` must hold
    /// for the f32 values (e.g. from [`crate::bounds::dual::DualNetwork::keeping_f32`]).
    pub fn keeping_f32(net: &Network, bounds: &[Bounds]) -> Self {
        Self::up_to(net, bounds, net.nodes().len() - 1, true)
    }

    /// The LP of nodes `0..=target` only, with the objective on node `target` (`f32`: see
    /// [`TriangleLp::keeping_f32`]).
    fn up_to(net: &Network, bounds: &[Bounds], target: usize, f32: bool) -> Self {
        assert!(bounds.len() > target, "bounds for every encoded node");
        TriangleLp {
            model: Model::build(net, bounds, target, f32),
            target,
        }
    }

    /// Number of LP variables and rows (box constraints not counted).
    pub fn size(&self) -> (usize, usize) {
        (self.model.lower.len(), self.model.rows.len())
    }

    /// Sound lower bound of `Σ c_j · y_j` over the relaxation, y = network output (flattened);
    /// `f64::NEG_INFINITY` if the solver fails (or the bounds are not all finite).
    pub fn lower_bound(&self, c: &[f64], backend: Backend) -> f64 {
        if !self.model.is_finite() {
            return f64::NEG_INFINITY;
        }
        let obj = self.model.objective(self.target, c);
        let Some(mu) = solve::duals(&self.model, &obj, backend) else {
            return f64::NEG_INFINITY;
        };
        let neg: Vec<f64> = mu.iter().map(|m| -m).collect();
        let zero = vec![0.0; mu.len()];
        [mu, neg, zero]
            .iter()
            .map(|m| lagrangian::lagrangian_bound(&self.model, &obj, m))
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// [`TriangleLp::lower_bound`], and the solver's optimum restricted to the network input:
    /// a counterexample candidate only (it must be replayed), `None` when the solve fails.
    pub fn lower_bound_and_input(&self, c: &[f64], backend: Backend) -> (f64, Option<Vec<f64>>) {
        if !self.model.is_finite() {
            return (f64::NEG_INFINITY, None);
        }
        let obj = self.model.objective(self.target, c);
        let Some((mu, values)) = solve::solve(&self.model, &obj, backend) else {
            return (f64::NEG_INFINITY, None);
        };
        let neg: Vec<f64> = mu.iter().map(|m| -m).collect();
        let zero = vec![0.0; mu.len()];
        let lb = [mu, neg, zero]
            .iter()
            .map(|m| lagrangian::lagrangian_bound(&self.model, &obj, m))
            .fold(f64::NEG_INFINITY, f64::max);
        let input = self.model.slots[0]
            .iter()
            .map(|s| match s {
                model::Slot::Var(v) => values[*v],
                model::Slot::Zero => 0.0,
            })
            .collect();
        (lb, Some(input))
    }

    /// Sound lower and upper bounds of element `j` of the target node (the upper bound is
    /// minus a lower bound of `−y_j`).
    fn element_bounds(&self, j: usize, backend: Backend) -> (f64, f64) {
        let mut c = vec![0.0; self.model.slots[self.target].len()];
        c[j] = 1.0;
        let lo = self.lower_bound(&c, backend);
        c[j] = -1.0;
        let hi = -self.lower_bound(&c, backend);
        (lo, hi)
    }
}

/// Output bounds (lower and upper of every output) by 2·n_out LPs; optionally (`retighten`)
/// first re-tighten every unstable ReLU's pre-activation bounds by LPs layer by layer (min and
/// max of each), rebuilding the relaxation with the tighter bounds.
///
/// Every result is intersected with the bounds it started from (both are sound).
pub fn output_bounds(
    net: &Network,
    bounds: &[Bounds],
    backend: Backend,
    retighten: bool,
) -> Bounds {
    let mut b = bounds.to_vec();
    if retighten {
        retighten_relu_inputs(net, &mut b, backend, Deadline::NONE, false);
    }
    let last = net.nodes().len() - 1;
    tighten_node(
        &TriangleLp::up_to(net, &b, last, false),
        &mut b[last],
        0..net.output_len(),
        backend,
        Deadline::NONE,
    );
    b.pop().expect("a network has nodes")
}

/// For each node feeding a ReLU, in order: min and max of each unstable neuron by the LP of the
/// nodes up to it (built with the bounds tightened so far), then the ReLU outputs' bounds.
/// Past `deadline` no further model is built or solved; the bounds so far are kept (all sound).
/// With `f32` the LPs keep every node's f32 residual ([`TriangleLp::keeping_f32`]), so bounds
/// that held for every f32 evaluation still do.
pub fn retighten_relu_inputs(
    net: &Network,
    b: &mut [Bounds],
    backend: Backend,
    deadline: Deadline,
    f32: bool,
) {
    let nodes = net.nodes();
    for i in 0..nodes.len() {
        let relus: Vec<usize> = net
            .consumers(NodeId(i))
            .iter()
            .filter(|k| nodes[k.0].op == Op::Relu)
            .map(|k| k.0)
            .collect();
        // A linear op straight on the input box: the LP is the interval bound already.
        let on_box = nodes[i].inputs == [NodeId(0)]
            && matches!(nodes[i].op, Op::Affine(_) | Op::Conv(_) | Op::ScaleShift(_));
        if relus.is_empty() || on_box || i == 0 {
            continue;
        }
        if deadline.expired() {
            return;
        }
        let unstable: Vec<usize> = (0..b[i].len())
            .filter(|&e| b[i].lower[e] < 0.0 && b[i].upper[e] > 0.0)
            .collect();
        if unstable.is_empty() {
            continue;
        }
        let lp = TriangleLp::up_to(net, b, i, f32);
        tighten_node(&lp, &mut b[i], unstable, backend, deadline);
        // relu is monotone: relu(z) ∈ [max(l, 0), max(u, 0)].
        let (zl, zu) = (b[i].lower.clone(), b[i].upper.clone());
        for k in relus {
            let out = &mut b[k];
            for e in 0..out.len() {
                out.lower[e] = out.lower[e].max(zl[e].max(0.0));
                out.upper[e] = out.upper[e].min(zu[e].max(0.0));
            }
        }
    }
}

/// Intersects elements `elems` of `b` (the target node's bounds) with their LP bounds, the LPs
/// solved in parallel; elements not started by `deadline` keep their bounds.
fn tighten_node(
    lp: &TriangleLp,
    b: &mut Bounds,
    elems: impl IntoParallelIterator<Item = usize>,
    backend: Backend,
    deadline: Deadline,
) {
    let found: Vec<(usize, (f64, f64))> = elems
        .into_par_iter()
        .filter(|_| !deadline.expired())
        .map(|e| (e, lp.element_bounds(e, backend)))
        .collect();
    for (e, (lo, hi)) in found {
        b.lower[e] = b.lower[e].max(lo);
        b.upper[e] = b.upper[e].min(hi);
    }
}
