//! DLV's realisation queries: is there an input of the box whose activation at a layer lies in a
//! grid cell? One Z3 thread per layer holds the exact encoding up to that layer; each query is
//! one push/pop of the cell's bounds. DLV itself (the `dlv` module) sees only [`Realiser`],
//! [`Cell`] and [`Realised`].

use super::worker::Worker;
use super::{check, encode, model_point, Check};
use crate::bounds::Bounds;
use crate::deadline::Deadline;
use crate::ir::Network;
use std::sync::Arc;
use z3::Solver;

/// A grid cell: `(dimension, low, high)` for every feature dimension.
pub type Cell = Vec<(usize, f64, f64)>;

/// A realisation query's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Realised {
    /// An input of the box whose activation lies in the cell (Z3's model, rounded to f64; not
    /// yet replayed).
    Input(Vec<f64>),
    /// No input of the box realises the cell.
    Unrealisable,
    /// Z3 timed out or gave up.
    Undecided,
}

/// A Z3 thread holding the exact encoding of the box and the network up to one node,
/// answering "is there an input whose activation at that node lies in this cell?".
pub struct Realiser(Worker<Cell, Realised>);

impl Realiser {
    /// Starts the thread for node `node`, with `bounds` the sound bounds of every node over the
    /// box (their input entry is the box the encoding uses). `None` when the encoding fails or
    /// is not built by `deadline` (plus [`super::GRACE`]).
    pub fn start(
        net: &Arc<Network>,
        bounds: &Arc<Vec<Bounds>>,
        node: usize,
        deadline: Deadline,
    ) -> Option<Realiser> {
        let (net, bounds) = (Arc::clone(net), Arc::clone(bounds));
        Worker::start(
            deadline,
            move || {
                let solver = Solver::new();
                let enc = encode::encode(&net, &bounds, node, &solver, false).ok()?;
                Some((solver, enc))
            },
            move |(solver, enc), cell: Cell, deadline| {
                let val = enc.values[node].as_ref().expect("the layer is encoded");
                solver.push();
                for (p, lo, hi) in cell {
                    solver.assert(val[p].ge(encode::exact(lo)));
                    solver.assert(val[p].le(encode::exact(hi)));
                }
                let answer = match check(solver, deadline) {
                    Check::Sat(m) => {
                        model_point(&m, &enc.x).map_or(Realised::Undecided, Realised::Input)
                    }
                    Check::Unsat => Realised::Unrealisable,
                    Check::Timeout | Check::Unknown(_) => Realised::Undecided,
                };
                solver.pop(1);
                answer
            },
        )
        .map(Realiser)
    }

    /// Asks one query; `None` when the answer is not there by `deadline` (plus
    /// [`super::GRACE`]): the thread is then stuck, drop this realiser and start another.
    pub fn ask(&self, cell: Cell, deadline: Deadline) -> Option<Realised> {
        self.0.ask(cell, deadline)
    }
}
