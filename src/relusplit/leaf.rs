//! Complete leaves: a domain with every unstable ReLU split is one linear piece of the network
//! (each split neuron's bounds restricted to its half make every ReLU stable). The triangle LP
//! over those bounds is then exact: its sound bound refutes the domain, and its optimum is a
//! counterexample candidate. What the LP leaves open (a failed solve, typically an empty piece,
//! or an optimum that does not replay) goes to Z3 ([`crate::smt::decide_piece`]), whose `unsat`
//! over the reals is a proof. So the search never gives up for want of depth on ReLU networks.

use super::optimise::minus_rhs;
use super::root::Root;
use super::sub::Sub;
use crate::bounds::dual::Split;
use crate::bounds::lp::{Backend, TriangleLp};
use crate::deadline::Deadline;
use crate::outcome::Counterexample;
use crate::smt::{decide_piece, PieceOutcome};
use crate::spec::Disjunct;

/// What deciding a leaf said.
pub(crate) enum Leaf {
    /// Some row's sound LP bound is above 0, or Z3 proved the piece holds no counterexample.
    Refuted,
    Sat(Box<Counterexample>),
    /// Neither decided it (Z3's model did not replay, or Z3 gave up): nothing proved.
    Undecided,
}

/// Decides the fully split domain `splits` of `sub` (disjunct `disjunct`; see the module doc).
pub(crate) fn decide(
    root: &Root,
    sub: &Sub,
    disjunct: &Disjunct,
    splits: &[Split],
    deadline: Deadline,
    confirm: &dyn Fn(&[f64]) -> Option<Counterexample>,
) -> Leaf {
    let net = root.dual.network();
    let mut bounds = root.bounds.clone();
    for s in splits {
        let b = &mut bounds[root.pre(s.node)];
        let k = s.neuron as usize;
        let (l, u) = s.restrict(b.lower[k], b.upper[k]);
        if l > u {
            return Leaf::Refuted; // an empty interval: no input lies in the domain
        }
        (b.lower[k], b.upper[k]) = (l, u);
    }
    // The root's bounds hold for every f32 evaluation (`DualNetwork::keeping_f32`); so do the
    // LP's and Z3's pieces, whose every node's f32 residual is a bounded variable.
    let f32 = root.dual.keeps_f32();
    let lp = match f32 {
        true => TriangleLp::keeping_f32(net, &bounds),
        false => TriangleLp::new(net, &bounds),
    };
    let mut candidates = Vec::new();
    for r in 0..sub.rhs.len() {
        let (lb, x) = lp.lower_bound_and_input(&sub.c.row(r).to_vec(), Backend::default());
        if minus_rhs(lb, sub.rhs[r]) > 0.0 {
            return Leaf::Refuted;
        }
        candidates.extend(x);
    }
    for x in candidates {
        if let Some(cex) = confirm(&x) {
            return Leaf::Sat(Box::new(cex));
        }
    }
    match decide_piece(net, &bounds, splits, disjunct, deadline, f32) {
        PieceOutcome::Empty => Leaf::Refuted,
        PieceOutcome::Model(x) => match confirm(&x) {
            Some(cex) => Leaf::Sat(Box::new(cex)),
            None => Leaf::Undecided,
        },
        PieceOutcome::Unknown(_) => Leaf::Undecided,
    }
}
