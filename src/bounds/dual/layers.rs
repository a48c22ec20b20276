//! Intermediate bounds: every node's bounds over a box, layer by layer, each pre-activation
//! node tightened by backward passes from it (rows `±e_j`), and re-bounding after a split.

use super::{DualNetwork, RowsLower, Scales, Slopes};
use crate::bounds::Bounds;
use crate::deadline::Deadline;
use crate::ir::{NodeId, Op};
use ndarray::Array2;

/// Multiply-adds per chunk of intermediate-bound rows (see [`DualNetwork::all_bounds_by`]): the
/// granularity of the deadline inside a layer. About 0.1 s of one core on oval21's conv nets
/// (whose transposed convolutions run at well under a GMAC/s); chunks this large keep the
/// per-call overhead (the pass's bookkeeping) negligible.
const CHUNK_WORK: usize = 100_000_000;

impl DualNetwork<'_> {
    /// Bounds of every node over the box, pre-activation bounds tightened by the dual network
    /// (with lower slopes `slopes`, which must not be [`Slopes::PerRow`]). Past `deadline` the
    /// neurons not yet tightened keep their interval bounds (see [`DualNetwork::all_bounds_by`]).
    pub fn all_bounds(
        &self,
        lower: &[f64],
        upper: &[f64],
        slopes: Slopes,
        deadline: Deadline,
    ) -> Vec<Bounds> {
        self.all_bounds_scaled(lower, upper, slopes, &Scales::new(self.net), deadline)
    }

    /// [`DualNetwork::all_bounds`] and [`DualNetwork::output_lower`] of the rows `c` over them,
    /// sharing the per-node numbers ([`Scales`]) between the two.
    pub fn all_bounds_and_output(
        &self,
        lower: &[f64],
        upper: &[f64],
        c: &Array2<f64>,
        slopes: Slopes,
        deadline: Deadline,
    ) -> (Vec<Bounds>, Vec<f64>) {
        let scales = Scales::new(self.net);
        let all = self.all_bounds_scaled(lower, upper, slopes, &scales, deadline);
        let k = self.net.nodes().len() - 1;
        let out = self.rows_lower(&all, &scales, k, c, slopes);
        (all, out)
    }

    fn all_bounds_scaled(
        &self,
        lower: &[f64],
        upper: &[f64],
        slopes: Slopes,
        scales: &Scales,
        deadline: Deadline,
    ) -> Vec<Bounds> {
        let rows_lower =
            |earlier: &[Bounds], i, c: &Array2<f64>| self.rows_lower(earlier, scales, i, c, slopes);
        self.all_bounds_by(lower, upper, &rows_lower, deadline)
    }

    /// Bounds of every node, the pre-activation bounds tightened by `rows_lower(earlier, i, c)`:
    /// sound lower bounds of the rows of `c` applied to node `i`, given the bounds `earlier` of
    /// every node before it (so `all_bounds` is this with one fixed-slope backward pass, and
    /// optimised slopes plug in here too).
    ///
    /// The deadline: the rows of a layer go to `rows_lower` in chunks of bounded work, and
    /// `deadline` is checked before each. Past it, no further chunk is started: the neurons left
    /// keep their interval bounds (every node's bounds start as the interval step over the
    /// bounds before it, so they are sound; only looser), and so does every later layer. One
    /// pass over a big network (oval21's conv nets: seconds) thus stops within one chunk of the
    /// deadline and its caller's own check ends the search.
    pub fn all_bounds_by(
        &self,
        lower: &[f64],
        upper: &[f64],
        rows_lower: &RowsLower,
        deadline: Deadline,
    ) -> Vec<Bounds> {
        let n = self.net.nodes().len();
        let mut out: Vec<Bounds> = Vec::with_capacity(n);
        for i in 0..n {
            let mut b = match i {
                0 => Bounds {
                    lower: lower.to_vec(),
                    upper: upper.to_vec(),
                },
                _ => self.step(i, &out),
            };
            if self.feeds_activation[i] && self.after_nonlinearity[i] {
                self.tighten(i, &mut b, &out, rows_lower, deadline);
            }
            out.push(b);
        }
        out
    }

    /// Re-bounds every node after `from` given `bounds` (sound over some set of inputs, e.g.
    /// a domain whose split neurons' bounds were clamped to their halves): each node's new
    /// bounds are the interval step and one backward pass with `slopes` over the bounds before
    /// it, intersected with the bounds it had (all hold over that set, so their intersection
    /// does). Nodes up to `from` are kept. Past `deadline` the nodes left keep theirs.
    pub fn rebound_from(
        &self,
        bounds: &mut [Bounds],
        from: usize,
        slopes: Slopes,
        deadline: Deadline,
    ) {
        // The magnitudes the passes pad with are the new bounds' (computed on first use, once
        // the node they belong to is final).
        let scales = Scales::new(self.net);
        let rows_lower = |earlier: &[Bounds], i, c: &Array2<f64>| {
            self.rows_lower(earlier, &scales, i, c, slopes)
        };
        self.rebound_from_by(bounds, from, &rows_lower, deadline);
    }

    /// [`DualNetwork::rebound_from`] with the pre-activation bounds tightened by `rows_lower`
    /// (as in [`DualNetwork::all_bounds_by`]: optimised slopes plug in here), each node's new
    /// bounds intersected with those it had.
    pub fn rebound_from_by(
        &self,
        bounds: &mut [Bounds],
        from: usize,
        rows_lower: &RowsLower,
        deadline: Deadline,
    ) {
        for i in from + 1..self.net.nodes().len() {
            if deadline.expired() {
                return;
            }
            let mut b = self.step(i, &bounds[..i]);
            for e in 0..b.len() {
                b.lower[e] = b.lower[e].max(bounds[i].lower[e]);
                b.upper[e] = b.upper[e].min(bounds[i].upper[e]);
            }
            if self.feeds_activation[i] && self.after_nonlinearity[i] {
                self.tighten(i, &mut b, &bounds[..i], rows_lower, deadline);
            }
            bounds[i] = b;
        }
    }

    /// Tightens node `i`'s bounds `b` with the dual network from node `i`, for the neurons
    /// whose bounds matter: unstable ReLU inputs, every sigmoid/tanh input. Node `i` may have
    /// other consumers too (a residual shortcut); only its activations decide. Rows go in
    /// chunks ([`DualNetwork::chunk_rows`]); past `deadline` the rest keep the bounds in `b`.
    fn tighten(
        &self,
        i: usize,
        b: &mut Bounds,
        earlier: &[Bounds],
        rows_lower: &RowsLower,
        deadline: Deadline,
    ) {
        // Only unstable neurons' bounds matter to a ReLU; a sigmoid/tanh uses every bound.
        let nodes = self.net.nodes();
        let only_relu = self
            .net
            .consumers(NodeId(i))
            .iter()
            .map(|c| &nodes[c.0].op)
            .filter(|op| op.is_activation())
            .all(|op| *op == Op::Relu);
        let sel: Vec<usize> = (0..b.len())
            .filter(|&j| !only_relu || (b.lower[j] < 0.0 && b.upper[j] > 0.0))
            .collect();
        if sel.is_empty() {
            return;
        }
        let (chunk, n) = (self.chunk_rows(i), b.len());
        // Lower bounds of `sign·x_i[j]` for `j` in `sel`, chunk by chunk until the deadline;
        // the rows not reached are `None`.
        let signed = |sel: &[usize], sign: f64| -> Vec<Option<f64>> {
            let mut out = Vec::with_capacity(sel.len());
            for part in sel.chunks(chunk) {
                if deadline.expired() {
                    break;
                }
                out.extend(
                    rows_lower(earlier, i, &signed_units(n, part, sign))
                        .into_iter()
                        .map(Some),
                );
            }
            out.resize(sel.len(), None);
            out
        };
        if !only_relu {
            let lo = signed(&sel, 1.0);
            let hi = signed(&sel, -1.0);
            for (r, &j) in sel.iter().enumerate() {
                if let Some(v) = lo[r] {
                    b.lower[j] = b.lower[j].max(v);
                }
                if let Some(v) = hi[r] {
                    b.upper[j] = b.upper[j].min(-v);
                }
            }
            return;
        }
        // Upper bounds first: a neuron they show inactive (u <= 0) is zero whatever its lower
        // bound, so only the others get a lower-bound row (most of a deep layer is often
        // inactive).
        let hi = signed(&sel, -1.0);
        for (r, &j) in sel.iter().enumerate() {
            if let Some(v) = hi[r] {
                b.upper[j] = b.upper[j].min(-v);
            }
        }
        let sel: Vec<usize> = sel.into_iter().filter(|&j| b.upper[j] > 0.0).collect();
        if sel.is_empty() {
            return;
        }
        let lo = signed(&sel, 1.0);
        for (r, &j) in sel.iter().enumerate() {
            if let Some(v) = lo[r] {
                b.lower[j] = b.lower[j].max(v);
            }
        }
    }

    /// Rows of node `i`'s intermediate bounds per call of the pass: about [`CHUNK_WORK`]
    /// multiply-adds through the weights up to node `i` (at least 64 rows, so that products
    /// stay matrix-matrix and the rows still split over both cores).
    fn chunk_rows(&self, i: usize) -> usize {
        let w = self.weights_upto[i].max(1);
        (CHUNK_WORK / w).max(64)
    }
}

/// Rows `sign·e_j` (of width `n`) for each `j` in `sel`.
fn signed_units(n: usize, sel: &[usize], sign: f64) -> Array2<f64> {
    let mut c = Array2::zeros((sel.len(), n));
    for (r, &j) in sel.iter().enumerate() {
        c[[r, j]] = sign;
    }
    c
}
