//! Pieces of a ReLU network decided exactly: the leaves of the ReLU-split search
//! (`crate::relusplit` above), where every unstable ReLU has been split, so that the network is
//! one linear function on the inputs where the splits hold. An LP solver's claim that such a
//! piece is empty is no proof; Z3's `unsat` over the reals is.

use super::encode::{self, exact};
use super::{check, model_point, Check};
use crate::bounds::dual::Split;
use crate::bounds::Bounds;
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::spec::Disjunct;
use z3::ast::Bool;
use z3::Solver;

/// What Z3 said about one piece.
#[derive(Clone, Debug, PartialEq)]
pub enum PieceOutcome {
    /// No input of the piece reaches the bad case (a proof over the reals).
    Empty,
    /// Z3's model, rounded to f64: a counterexample candidate only (it must be replayed).
    Model(Vec<f64>),
    /// No answer (Z3's reason, or the deadline).
    Unknown(String),
}

/// Decides whether an input of the box `[bounds[0].lower, bounds[0].upper]` where every split
/// of `splits` holds (each split's neuron `z` is the input of its activation node, `z >= point`
/// or `z <= point`) makes every constraint of `disjunct` hold. `bounds` must be sound bounds of
/// every node over those inputs (they fix the stable ReLUs; a split neuron's interval restricted
/// to its half); the splits themselves are asserted, so unsplit unstable ReLUs are encoded
/// exactly too. Z3 runs on a thread of its own (a fresh context), abandoned at `deadline`
/// plus [`super::GRACE`].
///
/// With `f32` the piece is that of the f32 evaluations too (every node's f32 residual a bounded
/// variable, see `encode::encode`; the splits on the f32 values, `bounds` holding for them):
/// `Empty` then says that neither the exact network nor any f32 evaluation reaches the bad case
/// on the piece.
pub fn decide_piece(
    net: &Network,
    bounds: &[Bounds],
    splits: &[Split],
    disjunct: &Disjunct,
    deadline: Deadline,
    f32: bool,
) -> PieceOutcome {
    if deadline.expired() {
        return PieceOutcome::Unknown("the deadline passed".into());
    }
    let (net, bounds, splits, disjunct) = (
        net.clone(),
        bounds.to_vec(),
        splits.to_vec(),
        disjunct.clone(),
    );
    super::worker::bounded(deadline, move || {
        piece(&net, &bounds, &splits, &disjunct, deadline, f32)
    })
    .unwrap_or_else(|lost| PieceOutcome::Unknown(format!("z3: {lost:?}")))
}

/// [`decide_piece`] on the calling thread.
fn piece(
    net: &Network,
    bounds: &[Bounds],
    splits: &[Split],
    disjunct: &Disjunct,
    deadline: Deadline,
    f32: bool,
) -> PieceOutcome {
    let last = net.nodes().len() - 1;
    if let Some(why) = super::unsupported(net, last) {
        return PieceOutcome::Unknown(why);
    }
    let solver = Solver::new();
    let enc = match encode::encode(net, bounds, last, &solver, f32) {
        Ok(e) => e,
        Err(why) => return PieceOutcome::Unknown(why),
    };
    for s in splits {
        let j = net.nodes()[s.node as usize].input().0;
        let Some(z) = enc.values[j].as_ref().map(|v| v[s.neuron as usize].clone()) else {
            continue; // a neuron off the path to the output: it cannot matter
        };
        solver.assert(if s.up {
            z.ge(exact(s.point))
        } else {
            z.le(exact(s.point))
        });
    }
    let y = enc.values[last].clone().expect("the output is encoded");
    let cs: Vec<Bool> = disjunct
        .constraints
        .iter()
        .map(|c| encode::constraint(c, &y, 0.0))
        .collect();
    solver.assert(Bool::and(&cs));
    match check(&solver, deadline) {
        Check::Unsat => PieceOutcome::Empty,
        Check::Sat(m) => match model_point(&m, &enc.x) {
            Some(x) => PieceOutcome::Model(x),
            None => PieceOutcome::Unknown("z3's model has no value for an input".into()),
        },
        Check::Timeout => PieceOutcome::Unknown("the deadline passed".into()),
        Check::Unknown(why) => PieceOutcome::Unknown(why),
    }
}
