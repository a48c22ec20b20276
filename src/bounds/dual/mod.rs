//! The dual network of Wong & Kolter (ICML 2018): sound linear bounds by one backward pass.
//!
//! To lower-bound `c·x_K` (node `K`'s value) over the input box, walk the network backwards
//! carrying a row vector `λ` (one row per objective) with `c·x_K = λ_j·x_j + κ` on the way:
//! - affine `x_i = W x_j + b`:  `λ_i·x_i = (λ_i W)·x_j + λ_i·b`;
//! - element-wise `x_i = s∘x_j + t`: `λ_j = λ_i∘s`, `κ += λ_i·t`;
//! - ReLU with pre-activation bounds `[l, u]`: active neurons pass `λ` through, inactive ones
//!   zero it; an unstable neuron uses the triangle relaxation (see [`super::relax`]): where
//!   `λ >= 0` the lower line `relu(z) >= α z` gives a lower bound of `λ·relu(z)`, where `λ < 0`
//!   the upper line `relu(z) <= s (z − l)`, adding `−λ s l` to `κ`. Wong–Kolter's dual network
//!   fixes `α = s = u/(u − l)`; any `α ∈ [0, 1]` is a valid dual point ([`Slopes`]);
//! - sigmoid/tanh, sign, square: the same with one lower and one upper line per element
//!   ([`super::relax::curve`]): the lower where `λ >= 0`, the upper where `λ < 0`;
//! - product `x_i = a ∘ b` of two nodes: per element one lower and one upper plane
//!   `α·a + β·b + c` ([`super::relax::mul_planes`]), chosen by the sign of `λ`, so `a` receives
//!   `λ∘α` and `b` receives `λ∘β`;
//! - softmax: per group, `λ` is first shifted by a constant `t` (`Σ_e y_e = 1`, so
//!   `λ·y = (λ − t)·y + t`), then each output takes its lower or upper line
//!   ([`super::relax::softmax_lines`]), which reads the whole group's input;
//! - `Add` `x_i = Σ_p x_{j_p}`: `λ_i·x_i = Σ_p λ_i·x_{j_p}`, so each input receives `λ_i`;
//!   `Concat` `x_i = [x_{j_1}; x_{j_2}; ...]`: input `p` receives its block of `λ_i`'s columns;
//!   `Gather` `x_i[e] = x_j[index_e]`: `λ_j[:, c] = Σ_{e: index_e = c} λ_i[:, e]` (scatter-add);
//!
//! On a DAG the pass keeps one `λ_j` per node and walks the nodes in reverse topological order
//! from `k`: the identity is `c·x_K = Σ_{j pending} λ_j·x_j + κ` over the nodes whose consumers
//! have all been processed, so a node is processed once, after every consumer has added its
//! coefficients into its `λ_j` (a node read by a residual shortcut and by its block gets the sum
//! of both). Nodes not on a path to `k` never receive a `λ` and cost nothing; a node with one
//! consumer takes that consumer's `λ` by move, with no copy and no addition.
//!
//! - split domains ([`RowSplits`], the ReLU-split search): row `r` may be bounded over only the
//!   inputs where some activation inputs satisfy `σ_s (z_s − t_s) >= 0` (`σ_s = ±1`; ReLU splits
//!   have `t_s = 0`). Each split neuron is relaxed over its restricted interval (`[max(l, t), u]`
//!   or `[l, min(u, t)]`: a split ReLU is exactly linear), and each split enters as a Lagrangian
//!   term: on the domain `c·x_K >= c·x_K − Σ_s β_s σ_s (z_s − t_s)` for any `β_s >= 0`, so the
//!   pass bounds the right-hand side: where the pass hands `λ` to node `j` (the input of a split
//!   activation), `λ_j[s] −= β_s σ_s` and `κ += Σ_s β_s σ_s t_s`. Every relaxation used holds on
//!   the domain, so the result is a lower bound of `c·x_K` over the domain's inputs for **any**
//!   `β >= 0` and any slopes `α ∈ [0, 1]`: the optimiser that picks them cannot make it unsound;
//! - at the input box `[m − r, m + r]`: `min λ·x = λ·m − |λ|·r`.
//!
//! The result, `κ + λ·m − |λ|·r`, is the dual objective `J(ν)` of the paper at the dual point
//! the pass constructs. Intermediate bounds `[l, u]` of every pre-activation node come from the
//! same pass run from that node with `c = ±e_j`, layer by layer, intersected with interval bounds.
//!
//! Floating point: the identity `c·x_K = λ_j·x_j + κ` only holds exactly in real arithmetic. Each
//! step's rounding error is bounded (Higham's `gamma(n)`, [`crate::tolerances::gamma_u`] with the
//! unit roundoff of the pass's arithmetic [`Real`]) by `gamma(n) · |λ_i| · (|W|·|x_j|max + |b|)`
//! where `|x_j|max = max(|l_j|, |u_j|)` comes from node `j`'s (sound) bounds; these terms are
//! summed into `err` and subtracted from the final bound, together with the error of summing `κ`
//! itself. Every accumulation `λ_j += λ_i` of a node with several consumers rounds once per
//! element, adding at most `u/(1 − u)·|fl(λ_j + λ_i)|·|x_j|max` (see `pass::accumulate`). So the
//! returned number is a lower bound of the exact real-arithmetic network's
//! `c·x_K`, whatever the rounding of `λ` was: `λ` may be held in f32 (twice the SIMD throughput;
//! the weights are rounded to f32 too, one more rounding per product), and the only price is a
//! larger `gamma`. `κ`, `err` and the input term are always summed in f64. Wide networks take
//! the last step, into the input box, in f32 with the error weighted by the box radius only
//! (see `kernels::input_affine`).
//!
//! Intermediate bounds are computed upper bound first: a neuron shown inactive (`u <= 0`) needs
//! no lower bound. Rows of `±e_j` skip the first product (a row of `W` each), all-zero columns of
//! `λ` (inactive neurons) are skipped in every product, and many rows split over both cores.

mod kernels;
mod nonlinear;
mod pass;
mod real;

pub(crate) use kernels::par_rows_dot;
pub use real::Real;

use super::{interval::Interval, Bounds};
use crate::deadline::Deadline;
use crate::ir::{ConvRows, Network, NodeId, Op};
use crate::tolerances::{gamma_dot, ERROR_SUM_PAD, F64_UNIT_ROUNDOFF};
use ndarray::Array2;
use std::sync::OnceLock;

/// How the lower line `relu(z) >= α z` of unstable ReLUs is chosen.
#[derive(Clone, Copy, Debug)]
pub enum Slopes<'a> {
    /// `α = u/(u − l)`, parallel to the upper line (Wong & Kolter's dual network).
    WongKolter,
    /// `α = 1` if `u >= −l` else `0` (the smaller-area choice of CROWN/DeepPoly).
    Adaptive,
    /// Per objective row and neuron: `alphas[node][[row, neuron]]` for every ReLU node.
    PerRow(&'a [Option<Array2<f64>>]),
}

/// A split of one activation neuron (a domain of the ReLU-split search): the neuron's input `z`
/// (element `neuron` of the input of activation node `node`) restricted to `z >= point` (`up`)
/// or to `z <= point`. ReLU splits are at 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Split {
    pub node: u32,
    pub neuron: u32,
    pub point: f64,
    pub up: bool,
}

impl Split {
    /// `σ = ±1`: the split holds where `σ·(z − point) >= 0`.
    pub fn sign(&self) -> f64 {
        if self.up {
            1.0
        } else {
            -1.0
        }
    }

    /// The neuron's bounds `[l, u]` restricted by the split.
    pub fn restrict(&self, l: f64, u: f64) -> (f64, f64) {
        if self.up {
            (l.max(self.point), u)
        } else {
            (l, u.min(self.point))
        }
    }
}

/// Per-row domains of a pass (see the module doc): row `r` of the objective is bounded over the
/// inputs where every split of `splits[start[r]..start[r + 1]]` holds, with the multiplier
/// `beta[s] >= 0` of each (same indexing as `splits`).
#[derive(Clone, Copy, Debug)]
pub struct RowSplits<'a> {
    /// `rows + 1` offsets into `splits`, non-decreasing.
    pub start: &'a [usize],
    pub splits: &'a [Split],
    /// One multiplier per split, each `>= 0` (a negative one is used as 0).
    pub beta: &'a [f64],
}

impl RowSplits<'_> {
    /// Row `r`'s splits at activation node `node`, with their multipliers.
    pub fn at(&self, r: usize, node: usize) -> impl Iterator<Item = (&Split, f64)> + '_ {
        let range = self.start[r]..self.start[r + 1];
        self.splits[range.clone()]
            .iter()
            .zip(&self.beta[range])
            .filter(move |(s, _)| s.node as usize == node)
            .map(|(s, &b)| (s, b.max(0.0)))
    }

    /// The bounds `[l, u]` of `neuron` at activation node `node` restricted by every split of
    /// row `r` on it (a sigmoid neuron may be split several times).
    pub fn restrict(&self, r: usize, node: usize, neuron: u32, l: f64, u: f64) -> (f64, f64) {
        self.at(r, node)
            .filter(|(s, _)| s.neuron == neuron)
            .fold((l, u), |(l, u), (s, _)| s.restrict(l, u))
    }
}

/// What one backward pass returns.
pub struct Pass<T> {
    /// Sound lower bound of each objective row.
    pub lower: Vec<f64>,
    /// For every nonlinear node ([`crate::ir::Op::is_activation`]): the `λ` arriving at it
    /// (before relaxation), whose signs say which line was used (for slope gradients). Kept
    /// only with [`Slopes::PerRow`].
    pub act_lambda: Vec<Option<Array2<T>>>,
    /// `λ` at the input (its signs pick the minimising corner). On [wide](DualNetwork::wide)
    /// networks, where it costs a conversion, it is kept only with [`Slopes::PerRow`] (else it
    /// has no columns).
    pub input_lambda: Array2<T>,
}

/// Networks with at least this many weights are [wide](DualNetwork::wide): their passes take the
/// last step into the input box in f32 (on image inputs the largest product of the pass; its
/// error is weighted by the box radius, so it costs almost nothing in tightness). Below it,
/// every product is f64.
const F32_MIN_WEIGHTS: usize = 100_000;

/// Multiply-adds per chunk of intermediate-bound rows (see [`DualNetwork::all_bounds_by`]): the
/// granularity of the deadline inside a layer. About 0.1 s of one core on oval21's conv nets
/// (whose transposed convolutions run at well under a GMAC/s); chunks this large keep the
/// per-call overhead (the pass's bookkeeping) negligible.
const CHUNK_WORK: usize = 100_000_000;

/// `rows_lower(earlier, i, c)`: sound lower bounds of the rows of `c` applied to node `i`, given
/// the bounds `earlier` of every node before it.
pub type RowsLower<'a> = dyn Fn(&[Bounds], usize, &Array2<f64>) -> Vec<f64> + 'a;

/// The dual network of one [`Network`], with what its passes reuse: per-node facts of the graph
/// and the f32 copies of the weights. Build it once per network and keep it (as
/// `verify::Bounder` does): every pass over any box shares the cache.
pub struct DualNetwork<'a> {
    net: &'a Network,
    ibp: Interval<'a>,
    /// `feeds_activation[j]`: node `j` is the input of an activation (its bounds matter).
    feeds_activation: Vec<bool>,
    /// `after_nonlinearity[j]`: some activation precedes node `j` (else interval bounds are tight).
    after_nonlinearity: Vec<bool>,
    /// Total weights of the linear layers (the cost of one pass per objective row).
    weights: usize,
    /// `weights_upto[i]`: the weights of the linear layers up to node `i` (the cost of one pass
    /// from node `i`, per row).
    weights_upto: Vec<usize>,
    /// For a `Gather` node, the largest number of its elements read from one input element
    /// (1 for a permutation or selection: its scatter-add is exact); 0 for other nodes.
    gather_repeats: Vec<usize>,
    /// `1 +` the relative pad on a pass's summed error bound (see [`ERROR_SUM_PAD`]).
    err_pad: f64,
    /// f32 copies of the affine weights, one slot per node, each made on first use (the input
    /// step of wide networks multiplies in f32) and shared by every pass on this network.
    weights_f32: Vec<OnceLock<Array2<f32>>>,
    /// Each convolution prepared for many rows ([`ConvRows`]; `None`: a transposed one, which
    /// takes the per-row loop), made on first use.
    conv_rows: Vec<OnceLock<Option<ConvRows>>>,
    /// Bounds hold for every f32 evaluation too ([`DualNetwork::keeping_f32`]).
    f32: bool,
}

/// Per-node numbers of a pass that depend only on the bounds, computed once per set of bounds
/// and shared by every pass over them (all rows of a layer, every slope iteration).
/// Valid only with the same `bounds` (or a longer one with the same prefix).
pub(crate) struct Scales {
    /// `|x_j|max = max(|l_j|, |u_j|)` of each node.
    mag: Vec<OnceLock<Vec<f64>>>,
    /// `|W|·|x_j|max + |b|` of each linear node `i = W x_j + b` (its step's error weight).
    lin: Vec<OnceLock<Vec<f64>>>,
    /// For an affine node reading the input box (`x = W x_0 + b`, `x_0 ∈ [m − r, m + r]`), what
    /// the fused last step needs (see [`pass`]): `b + W·m`, `|W|·r`, `|W|·|m| + |W·m| + |b|`, `r`.
    first: Vec<OnceLock<[Vec<f64>; 4]>>,
    /// The f32 residual bound of each node ([`crate::bounds::f32_error::residual`]), with
    /// [`DualNetwork::keeping_f32`].
    resid: Vec<OnceLock<Vec<f64>>>,
}

impl Scales {
    pub(crate) fn new(net: &Network) -> Self {
        let n = net.nodes().len();
        Scales {
            mag: (0..n).map(|_| OnceLock::new()).collect(),
            lin: (0..n).map(|_| OnceLock::new()).collect(),
            first: (0..n).map(|_| OnceLock::new()).collect(),
            resid: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl<'a> DualNetwork<'a> {
    /// Prepares the dual network of `net`.
    pub fn new(net: &'a Network) -> Self {
        let nodes = net.nodes();
        let mut feeds_activation = vec![false; nodes.len()];
        let mut after_nonlinearity = vec![false; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for &NodeId(j) in &n.inputs {
                if n.op.is_activation() {
                    feeds_activation[j] = true;
                }
                after_nonlinearity[i] |= after_nonlinearity[j] || nodes[j].op.is_activation();
            }
        }
        let gather_repeats = nodes
            .iter()
            .map(|n| match &n.op {
                Op::Gather { index } => {
                    let mut count = vec![0usize; net.len_of(n.input())];
                    index.iter().for_each(|&e| count[e] += 1);
                    count.into_iter().max().unwrap_or(0)
                }
                Op::Input
                | Op::Affine(_)
                | Op::Conv(_)
                | Op::ScaleShift(_)
                | Op::Reshape
                | Op::Relu
                | Op::Sigmoid
                | Op::Tanh
                | Op::Sign
                | Op::Square
                | Op::Mul
                | Op::Softmax(_)
                | Op::Add
                | Op::Concat => 0,
            })
            .collect();
        // The longest chain of additions behind one row's error bound: a row's width (its sums)
        // plus one addition per step, plus a few for the products and the final terms.
        let widest = nodes
            .iter()
            .map(|n| crate::ir::numel(&n.shape))
            .max()
            .unwrap_or(0);
        let err_pad =
            1.0 + ERROR_SUM_PAD.max(gamma_dot(widest + nodes.len() + 8, F64_UNIT_ROUNDOFF));
        let layer_weights: Vec<usize> = nodes
            .iter()
            .map(|n| match &n.op {
                Op::Affine(a) => a.weight.len(),
                Op::Conv(c) => c.fan_in() * c.out_len(),
                _ => 0,
            })
            .collect();
        let weights_upto = layer_weights
            .iter()
            .scan(0usize, |sum, w| {
                *sum += w;
                Some(*sum)
            })
            .collect();
        let weights = layer_weights.iter().sum();
        DualNetwork {
            net,
            ibp: Interval::new(net),
            feeds_activation,
            after_nonlinearity,
            weights,
            weights_upto,
            gather_repeats,
            err_pad,
            weights_f32: nodes.iter().map(|_| OnceLock::new()).collect(),
            conv_rows: nodes.iter().map(|_| OnceLock::new()).collect(),
            f32: false,
        }
    }

    /// The dual network of `net` whose bounds hold for every f32 evaluation of it too (in any
    /// summation order; VNN-COMP judges a counterexample by onnxruntime's f32 output), not only
    /// for the exact one. The f32 evaluation is the exact network with a perturbation at every
    /// node, `x̂_i = f_i(x̂_inputs) + r_i`, `|r_i| <= R_i` ([`crate::bounds::f32_error::residual`]
    /// over the bounds of the inputs); every bound is then a bound of this perturbed network
    /// for every such `r` (`r = 0`: the exact network):
    /// - each node's interval step is widened by `R_i` ([`DualNetwork::step`]), so every
    ///   relaxation is taken over bounds that hold for the f32 values;
    /// - each pass subtracts `Σ_i |λ_i|·R_i` (`λ_i` the row's coefficients of node `i` when the
    ///   pass reaches it: `λ_i·x̂_i >= λ_i·f_i(x̂_inputs) − |λ_i|·R_i`), the objective node's own
    ///   residual included.
    ///
    /// The ReLU-split search bounds with it (issue 15): the residuals are small per layer
    /// (`~10^-7` of `|W|·|x|max + |b|`), where a slack at the output, propagated by `|W|`
    /// through every layer, is not.
    pub fn keeping_f32(net: &'a Network) -> Self {
        DualNetwork {
            f32: true,
            ..Self::new(net)
        }
    }

    /// True when the bounds hold for every f32 evaluation ([`DualNetwork::keeping_f32`]).
    pub fn keeps_f32(&self) -> bool {
        self.f32
    }

    /// Interval bounds of every node over the box `[lower, upper]`, each node's step
    /// [`DualNetwork::step`] (widened by its f32 residual with [`DualNetwork::keeping_f32`]).
    pub fn interval_all(&self, lower: &[f64], upper: &[f64]) -> Vec<Bounds> {
        let mut out: Vec<Bounds> = Vec::with_capacity(self.net.nodes().len());
        out.push(Bounds {
            lower: lower.to_vec(),
            upper: upper.to_vec(),
        });
        for i in 1..self.net.nodes().len() {
            let b = self.step(i, &out);
            out.push(b);
        }
        out
    }

    /// Node `i`'s interval step over the bounds `earlier` of the nodes before it, widened by its
    /// f32 residual ([`DualNetwork::keeping_f32`]; each end rounded outward).
    pub fn step(&self, i: usize, earlier: &[Bounds]) -> Bounds {
        let mut b = self.ibp.step(i, earlier);
        if self.f32 {
            let r = crate::bounds::f32_error::residual(self.net, i, earlier);
            for (e, &r) in r.iter().enumerate() {
                if r > 0.0 {
                    b.lower[e] = (b.lower[e] - r).next_down();
                    b.upper[e] = (b.upper[e] + r).next_up();
                }
            }
        }
        b
    }

    /// Affine node `i`'s weights rounded to f32 (computed on first use, then cached).
    ///
    /// # Panics
    /// If node `i` is not [`Op::Affine`].
    pub fn weight_f32(&self, i: usize) -> &Array2<f32> {
        self.weights_f32[i].get_or_init(|| match &self.net.nodes()[i].op {
            Op::Affine(a) => a.weight.mapv(|v| v as f32),
            op => panic!("node {i} is {}, not an affine layer", op.name()),
        })
    }

    /// Convolution node `i` prepared for many rows (made on first use, then cached); `None` for
    /// a transposed convolution or a node that is not a convolution.
    pub(crate) fn conv_rows(&self, i: usize) -> Option<&ConvRows> {
        let init = || match &self.net.nodes()[i].op {
            Op::Conv(cv) => ConvRows::new(cv),
            _ => None,
        };
        self.conv_rows[i].get_or_init(init).as_ref()
    }

    /// The network.
    pub fn network(&self) -> &'a Network {
        self.net
    }

    /// The interval propagation the dual network starts from.
    pub fn interval(&self) -> &Interval<'a> {
        &self.ibp
    }

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

    /// True when passes take their input step in f32 (see [`F32_MIN_WEIGHTS`]).
    pub fn wide(&self) -> bool {
        self.weights >= F32_MIN_WEIGHTS
    }

    /// Sound lower bounds of the rows of `c` applied to node `k` (`bounds`: those of every node
    /// before `k`), `λ` held in f64: f32 passes measured ~12% faster on mnistfc 256x6 but 1.2%
    /// looser (mean output width 147.98 against 146.25), so f32 is kept to the input step.
    pub(crate) fn rows_lower(
        &self,
        bounds: &[Bounds],
        scales: &Scales,
        k: usize,
        c: &Array2<f64>,
        slopes: Slopes,
    ) -> Vec<f64> {
        self.backward_with::<f64>(bounds, scales, k, c.view(), slopes)
            .lower
    }

    /// Sound lower bounds of the rows of `c` applied to the network output, given the bounds
    /// of every node from [`DualNetwork::all_bounds`].
    pub fn output_lower(&self, bounds: &[Bounds], c: &Array2<f64>, slopes: Slopes) -> Vec<f64> {
        let k = self.net.nodes().len() - 1;
        self.rows_lower(bounds, &Scales::new(self.net), k, c, slopes)
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
