//! Per-node numbers a backward pass reads that depend only on the bounds (magnitudes, error
//! weights, f32 residuals, the fused input step's sums), computed once per set of bounds.

use super::DualNetwork;
use crate::bounds::interval::mid_rad;
use crate::bounds::sums::mat_sums;
use crate::bounds::Bounds;
use crate::ir::{Network, Op};
use std::sync::OnceLock;

/// Per-node numbers of a pass that depend only on the bounds, computed once per set of bounds
/// and shared by every pass over them (all rows of a layer, every slope iteration).
/// Valid only with the same `bounds` (or a longer one with the same prefix).
pub(crate) struct Scales {
    /// `|x_j|max = max(|l_j|, |u_j|)` of each node.
    mag: Vec<OnceLock<Vec<f64>>>,
    /// `|W|·|x_j|max + |b|` of each linear node `i = W x_j + b` (its step's error weight).
    lin: Vec<OnceLock<Vec<f64>>>,
    /// For an affine node reading the input box (`x = W x_0 + b`, `x_0 ∈ [m − r, m + r]`), what
    /// the fused last step needs (see [`super::pass`]): `b + W·m`, `|W|·r`, `|W|·|m| + |W·m| + |b|`, `r`.
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

impl DualNetwork<'_> {
    /// `max(|l|, |u|)` of node `j`'s bounds, computed once per `scales`.
    pub(super) fn mag<'s>(&self, scales: &'s Scales, bounds: &[Bounds], j: usize) -> &'s [f64] {
        scales.mag[j].get_or_init(|| {
            let b = &bounds[j];
            b.lower
                .iter()
                .zip(&b.upper)
                .map(|(l, u)| l.abs().max(u.abs()))
                .collect()
        })
    }

    /// The error weight `|W|·|x_j|max + |b|` of linear node `i` (input `j`).
    pub(super) fn lin<'s>(
        &self,
        scales: &'s Scales,
        bounds: &[Bounds],
        i: usize,
        j: usize,
    ) -> &'s [f64] {
        scales.lin[i].get_or_init(|| {
            let mag = self.mag(scales, bounds, j);
            match &self.net.nodes()[i].op {
                Op::Affine(a) => {
                    let [_, w_mag, _] = mat_sums(&a.weight, mag, mag, None);
                    w_mag
                        .iter()
                        .zip(&a.bias)
                        .map(|(v, b)| v + b.abs())
                        .collect()
                }
                Op::Conv(cv) => {
                    let hw = cv.out_chw[1] * cv.out_chw[2];
                    let lin = cv.linear(mag, true);
                    (0..cv.out_len())
                        .map(|o| lin[o] + cv.bias[o / hw].abs())
                        .collect()
                }
                Op::ScaleShift(s) => (0..mag.len())
                    .map(|c| s.scale[c].abs() * mag[c] + s.shift[c].abs())
                    .collect(),
                Op::Input
                | Op::Reshape
                | Op::Relu
                | Op::Sigmoid
                | Op::Tanh
                | Op::Sign
                | Op::Square
                | Op::Mul
                | Op::Softmax(_)
                | Op::Add
                | Op::Concat
                | Op::Gather { .. } => unreachable!("only linear nodes have an error weight"),
            }
        })
    }

    /// Node `i`'s f32 residual bound over the bounds of its inputs, computed once per `scales`
    /// (see [`DualNetwork::keeping_f32`]); empty where it is 0 (ReLU and the exact moves).
    pub(super) fn resid<'s>(&self, scales: &'s Scales, bounds: &[Bounds], i: usize) -> &'s [f64] {
        scales.resid[i].get_or_init(|| {
            let r = crate::bounds::f32_error::residual_with(self.net, i, bounds, self.f32_tight);
            match r.iter().any(|&v| v != 0.0) {
                true => r,
                false => Vec::new(),
            }
        })
    }

    /// The numbers the fused input step of affine node `i` (input node `j`, the network input)
    /// needs; see [`Scales`].
    pub(super) fn first<'s>(
        &self,
        scales: &'s Scales,
        bounds: &[Bounds],
        i: usize,
        j: usize,
    ) -> &'s [Vec<f64>; 4] {
        scales.first[i].get_or_init(|| {
            let Op::Affine(a) = &self.net.nodes()[i].op else {
                unreachable!("only affine nodes fuse with the input")
            };
            let (mid, rad) = mid_rad(&bounds[j]);
            let mid_abs: Vec<f64> = mid.iter().map(|m| m.abs()).collect();
            let [wm, wr, w_mid] = mat_sums(&a.weight, &mid, &rad, Some(&mid_abs));
            let bwm = wm.iter().zip(&a.bias).map(|(v, b)| v + b).collect();
            let wabs = (0..wm.len())
                .map(|k| w_mid[k] + wm[k].abs() + a.bias[k].abs())
                .collect();
            [bwm, wr, wabs, rad]
        })
    }
}
