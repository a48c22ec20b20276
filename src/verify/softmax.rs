//! A network whose output is a softmax, with a property that only compares outputs of one
//! softmax group, is decided on the softmax's input (the logits).
//!
//! Within a group, `y_i = e^{x_i}/S` and `y_j = e^{x_j}/S` share the denominator `S > 0`, and the
//! exponential is strictly increasing, so `y_i <= y_j ⇔ x_i <= x_j`: a constraint
//! `a·y_i − a·y_j <= 0` (`a ≠ 0`) holds exactly when `a·x_i − a·x_j <= 0` does, for the exact
//! real network. The property, unchanged (the softmax keeps each element's flattened index),
//! is then a property of the logits network, the prefix of the network up to the softmax's
//! input: no relaxation of the softmax at all, and every engine applies (the SMT engine has no
//! exact encoding of the exponential). Its `unsat` is the answer; its counterexamples are
//! replayed on the whole network before they count.

use crate::ir::{Network, Op};
use crate::outcome::{confirm, Verdict};
use crate::spec::{LinearConstraint, Property};

/// The logits network of `net` when its output is a softmax (behind reshapes only) and every
/// constraint of `prop` compares two outputs of one group (`a·y_i − a·y_j <= 0`); else `None`.
pub(super) fn logits_network(net: &Network, prop: &Property) -> Option<Network> {
    let nodes = net.nodes();
    let mut k = nodes.len() - 1;
    while nodes[k].op == Op::Reshape {
        k = nodes[k].input().0;
    }
    let Op::Softmax(sm) = &nodes[k].op else {
        return None;
    };
    let n = net.len_of(nodes[k].input());
    let mut group = vec![0; n];
    for (g, elems) in sm.groups(n).enumerate() {
        elems.into_iter().for_each(|e| group[e] = g);
    }
    let compares = |c: &LinearConstraint| {
        c.rhs == 0.0
            && match c.coeffs.as_slice() {
                &[(i, a), (j, b)] => a != 0.0 && a.is_finite() && b == -a && group[i] == group[j],
                _ => false,
            }
    };
    let all = prop
        .regions
        .iter()
        .flat_map(|r| &r.disjuncts)
        .flat_map(|d| &d.constraints)
        .all(compares);
    if !all {
        return None;
    }
    Network::new(nodes[..=nodes[k].input().0].to_vec()).ok()
}

/// The verdict on `net` from the verdict `on_logits` on its logits network: `unsat` and the
/// others carry over; a counterexample counts only once it replays on `net` itself (in f32 and
/// f64: the rounding of the softmax could in principle break a tie the logits had).
pub(super) fn back_through(net: &Network, prop: &Property, on_logits: Verdict) -> Verdict {
    match on_logits {
        Verdict::Sat(cex) => match confirm(net, prop, &cex.input) {
            Some(c) => Verdict::Sat(Box::new(c)),
            None => Verdict::Unknown(
                "a counterexample found on the softmax's input does not replay through the \
                 softmax"
                    .into(),
            ),
        },
        v => v,
    }
}
