//! 2-D convolution geometry, its forward map and its transpose (for gradients and the dual
//! network). Data is `[C, H, W]` row-major; the batch dimension (always 1) is ignored.
//!
//! One type holds both directions ONNX has: `Conv` (grouped or not) and `ConvTranspose`. Every
//! engine reads a convolution only through [`Conv2d::for_each_tap`] (or the maps built on it), so
//! the geometry of both lives here and nowhere else.

use super::Scalar;
use ndarray::{Array1, Array4};

/// A convolution `y = W ⊛ x + b`, with `x` read as 0 outside the image (zero padding).
///
/// - Forward (ONNX `Conv`), weight `[out_channels, in_channels / groups, kh, kw]`:
///   `y[o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · x[g·C_g + c, i·s_h + p·d_h − pad_top,
///   j·s_w + q·d_w − pad_left]`, where output channel `o` is in group `g = o / (out_channels /
///   groups)` and reads the `C_g = in_channels / groups` input channels of that group.
/// - Transposed (ONNX `ConvTranspose`), weight `[in_channels, out_channels / groups, kh, kw]`:
///   every input pixel `x[c, a, b]` adds `W[c, o', p, q] · x[c, a, b]` to
///   `y[g·O_g + o', a·s_h + p·d_h − pad_top, b·s_w + q·d_w − pad_left]` (those inside the output),
///   where `c` is in group `g = c / (in_channels / groups)` and `O_g = out_channels / groups`;
///   the output size is set by the importer (`output_padding`, `output_shape`). It is the
///   transpose of the forward convolution with the same weight, stride, padding and dilation.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// Forward: `[out_channels, in_channels / groups, kh, kw]`; transposed:
    /// `[in_channels, out_channels / groups, kh, kw]`.
    pub weight: Array4<f64>,
    /// Length `out_channels`.
    pub bias: Array1<f64>,
    /// `[stride_h, stride_w]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]` (a transposed convolution crops its output by them; its
    /// bottom and right are already counted in `out_chw`).
    pub pads: [usize; 4],
    /// `[dilation_h, dilation_w]`.
    pub dilation: [usize; 2],
    /// Channel groups (1: every output reads every input channel).
    pub groups: usize,
    /// True for a transposed convolution (ONNX `ConvTranspose`).
    pub transposed: bool,
    /// Input `[C, H, W]`.
    pub in_chw: [usize; 3],
    /// Output `[C, H, W]`, derived from the rest by the constructors.
    pub out_chw: [usize; 3],
}

impl Conv2d {
    /// Builds a forward convolution of one group and derives its output size; `None` when the
    /// kernel does not fit.
    pub fn new(
        weight: Array4<f64>,
        bias: Array1<f64>,
        stride: [usize; 2],
        pads: [usize; 4],
        dilation: [usize; 2],
        in_chw: [usize; 3],
    ) -> Option<Self> {
        Self::grouped(weight, bias, stride, pads, dilation, in_chw, 1)
    }

    /// Builds a forward convolution of `groups` channel groups (weight
    /// `[out_channels, in_channels / groups, kh, kw]`); `None` when the channels do not divide
    /// into the groups or the kernel does not fit.
    pub fn grouped(
        weight: Array4<f64>,
        bias: Array1<f64>,
        stride: [usize; 2],
        pads: [usize; 4],
        dilation: [usize; 2],
        in_chw: [usize; 3],
        groups: usize,
    ) -> Option<Self> {
        let (co, ci_g, kh, kw) = weight.dim();
        if groups == 0
            || ci_g.checked_mul(groups)? != in_chw[0]
            || co % groups != 0
            || bias.len() != co
            || stride.contains(&0)
            || dilation.contains(&0)
        {
            return None;
        }
        let span_h = dilation[0].checked_mul(kh.checked_sub(1)?)? + 1;
        let span_w = dilation[1].checked_mul(kw.checked_sub(1)?)? + 1;
        let h = (in_chw[1] + pads[0] + pads[2]).checked_sub(span_h)? / stride[0] + 1;
        let w = (in_chw[2] + pads[1] + pads[3]).checked_sub(span_w)? / stride[1] + 1;
        Some(Conv2d {
            weight,
            bias,
            stride,
            pads,
            dilation,
            groups,
            transposed: false,
            in_chw,
            out_chw: [co, h, w],
        })
    }

    /// Builds a transposed convolution (weight `[in_channels, out_channels / groups, kh, kw]`)
    /// with the output height and width `out_hw`; `pads[0]`, `pads[1]` shift the output (ONNX's
    /// begin pads). `None` when the channels do not divide into the groups or a size is 0.
    #[allow(clippy::too_many_arguments)]
    pub fn transposed(
        weight: Array4<f64>,
        bias: Array1<f64>,
        stride: [usize; 2],
        pads: [usize; 4],
        dilation: [usize; 2],
        in_chw: [usize; 3],
        out_hw: [usize; 2],
        groups: usize,
    ) -> Option<Self> {
        let (ci, co_g, kh, kw) = weight.dim();
        let co = co_g.checked_mul(groups)?;
        if groups == 0
            || ci != in_chw[0]
            || ci % groups != 0
            || bias.len() != co
            || stride.contains(&0)
            || dilation.contains(&0)
            || kh == 0
            || kw == 0
            || out_hw.contains(&0)
        {
            return None;
        }
        Some(Conv2d {
            weight,
            bias,
            stride,
            pads,
            dilation,
            groups,
            transposed: true,
            in_chw,
            out_chw: [co, out_hw[0], out_hw[1]],
        })
    }

    /// Flattened input length.
    pub fn in_len(&self) -> usize {
        self.in_chw.iter().product()
    }

    /// Flattened output length.
    pub fn out_len(&self) -> usize {
        self.out_chw.iter().product()
    }

    /// Calls `f(out_index, in_index, weight)` for every (output, input, kernel tap) triple that
    /// lies inside the image. Forward, transpose and absolute-value maps are all this loop.
    #[inline]
    pub fn for_each_tap(&self, f: impl FnMut(usize, usize, f64)) {
        if self.transposed {
            self.for_each_tap_transposed(f)
        } else {
            self.for_each_tap_forward(f)
        }
    }

    #[inline]
    fn for_each_tap_forward(&self, mut f: impl FnMut(usize, usize, f64)) {
        let [_, h_in, w_in] = self.in_chw;
        let [co_n, h_out, w_out] = self.out_chw;
        let (_, ci_g, kh, kw) = self.weight.dim();
        let co_g = co_n / self.groups;
        for o in 0..co_n {
            let c0 = (o / co_g) * ci_g;
            for i in 0..h_out {
                for j in 0..w_out {
                    let out = (o * h_out + i) * w_out + j;
                    for c in 0..ci_g {
                        for p in 0..kh {
                            let Some(y) = self.tap_row(i, p) else {
                                continue;
                            };
                            for q in 0..kw {
                                let Some(x) = self.tap_col(j, q) else {
                                    continue;
                                };
                                let inp = ((c0 + c) * h_in + y) * w_in + x;
                                f(out, inp, self.weight[[o, c, p, q]]);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The input row that kernel row `p` of output row `i` reads (forward), or `None` in the
    /// padding.
    #[inline]
    pub(crate) fn tap_row(&self, i: usize, p: usize) -> Option<usize> {
        let y = (i * self.stride[0] + p * self.dilation[0]).checked_sub(self.pads[0])?;
        (y < self.in_chw[1]).then_some(y)
    }

    /// The input column that kernel column `q` of output column `j` reads (forward), or `None`
    /// in the padding.
    #[inline]
    pub(crate) fn tap_col(&self, j: usize, q: usize) -> Option<usize> {
        let x = (j * self.stride[1] + q * self.dilation[1]).checked_sub(self.pads[1])?;
        (x < self.in_chw[2]).then_some(x)
    }

    #[inline]
    fn for_each_tap_transposed(&self, mut f: impl FnMut(usize, usize, f64)) {
        let [ci_n, h_in, w_in] = self.in_chw;
        let [_, h_out, w_out] = self.out_chw;
        let (_, co_g, kh, kw) = self.weight.dim();
        let ci_g = ci_n / self.groups;
        for c in 0..ci_n {
            let o0 = (c / ci_g) * co_g;
            for a in 0..h_in {
                for b in 0..w_in {
                    let inp = (c * h_in + a) * w_in + b;
                    for o in 0..co_g {
                        for p in 0..kh {
                            let y = (a * self.stride[0] + p * self.dilation[0]) as isize
                                - self.pads[0] as isize;
                            if y < 0 || y >= h_out as isize {
                                continue;
                            }
                            for q in 0..kw {
                                let x = (b * self.stride[1] + q * self.dilation[1]) as isize
                                    - self.pads[1] as isize;
                                if x < 0 || x >= w_out as isize {
                                    continue;
                                }
                                let out = ((o0 + o) * h_out + y as usize) * w_out + x as usize;
                                f(out, inp, self.weight[[c, o, p, q]]);
                            }
                        }
                    }
                }
            }
        }
    }

    /// `W * x + b` in the arithmetic of `T` (weights rounded to `T`): one matrix product
    /// ([`super::ConvRows`]) for a forward convolution, the tap loop for a transposed one.
    pub fn forward<T: Scalar>(&self, x: &[T]) -> Vec<T> {
        if let Some(cr) = super::ConvRows::new(self) {
            let x = ndarray::ArrayView2::from_shape((1, x.len()), x).expect("one row");
            return cr.forward_rows(x).into_iter().collect();
        }
        let hw = self.out_chw[1] * self.out_chw[2];
        let mut y: Vec<T> = (0..self.out_len())
            .map(|k| T::from_f64(self.bias[k / hw]))
            .collect();
        self.for_each_tap(|o, i, w| y[o] = y[o] + T::from_f64(w) * x[i]);
        y
    }

    /// `W * x` without the bias, with `|W|` instead of `W` when `abs` (interval radii).
    pub fn linear(&self, x: &[f64], abs: bool) -> Vec<f64> {
        let mut y = vec![0.0; self.out_len()];
        self.for_each_tap(|o, i, w| y[o] += if abs { w.abs() } else { w } * x[i]);
        y
    }

    /// The transpose `Wᵀ g` (no bias), mapping an output-sized vector to an input-sized one
    /// (as [`Conv2d::forward`]: a matrix product where it applies).
    pub fn transpose(&self, g: &[f64]) -> Vec<f64> {
        if let Some(cr) = super::ConvRows::new(self) {
            let g = ndarray::ArrayView2::from_shape((1, g.len()), g).expect("one row");
            return cr.transpose_rows(g).into_iter().collect();
        }
        let mut x = vec![0.0; self.in_len()];
        self.for_each_tap(|o, i, w| x[i] += w * g[o]);
        x
    }

    /// An upper bound on the number of taps of any output's dot product, for rounding-error
    /// bounds: one group's input channels times the kernel (a transposed convolution's output
    /// meets at most that many).
    pub fn fan_in(&self) -> usize {
        let (c0, c1, kh, kw) = self.weight.dim();
        let per_group = if self.transposed {
            c0 / self.groups
        } else {
            c1
        };
        per_group * kh * kw
    }

    /// Multiplies every weight that output channel `o` reads by `s` (folding a per-channel
    /// scale into the convolution; the bias is the caller's).
    pub fn scale_output_channel(&mut self, o: usize, s: f64) {
        if self.transposed {
            let co_g = self.out_chw[0] / self.groups;
            let ci_g = self.in_chw[0] / self.groups;
            let g = o / co_g;
            for c in g * ci_g..(g + 1) * ci_g {
                self.weight
                    .slice_mut(ndarray::s![c, o % co_g, .., ..])
                    .mapv_inplace(|w| w * s);
            }
        } else {
            self.weight
                .slice_mut(ndarray::s![o, .., .., ..])
                .mapv_inplace(|w| w * s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Conv2d;
    use ndarray::{Array1, Array4};

    fn weights(dim: (usize, usize, usize, usize)) -> Array4<f64> {
        Array4::from_shape_fn(dim, |(a, b, c, d)| {
            (a * 7 + b * 3 + c * 2 + d) as f64 * 0.25 - 1.5
        })
    }

    /// A transposed convolution is the transpose of the forward one with the same weight and
    /// geometry: `⟨T x, g⟩ = ⟨x, F g⟩` for the forward map `F` from T's output to its input.
    #[test]
    fn transposed_is_the_adjoint_of_forward() {
        for (groups, stride, pads, dil) in [
            (1, [1, 1], [0, 0, 0, 0], [1, 1]),
            (1, [2, 2], [1, 0, 1, 0], [1, 1]),
            (2, [2, 1], [0, 1, 0, 1], [1, 2]),
        ] {
            // F: [4, 6, 7] -> [4, oh, ow], weight [4, 4 / groups, 3, 2].
            let w = weights((4, 4 / groups, 3, 2));
            let fwd = Conv2d::grouped(
                w.clone(),
                Array1::zeros(4),
                stride,
                pads,
                dil,
                [4, 6, 7],
                groups,
            )
            .unwrap();
            // The transposed map of a forward conv with weight [co, ci/g, ..] takes co channels
            // to ci channels, so its weight is laid out [in = co, out/g = ci/g, ..]: the same.
            let [co, oh, ow] = fwd.out_chw;
            let tr = Conv2d::transposed(
                w,
                Array1::zeros(4),
                stride,
                pads,
                dil,
                [co, oh, ow],
                [6, 7],
                groups,
            )
            .unwrap();
            let x: Vec<f64> = (0..tr.in_len())
                .map(|k| ((k * 5) % 9) as f64 - 4.0)
                .collect();
            let g: Vec<f64> = (0..tr.out_len())
                .map(|k| ((k * 3) % 7) as f64 - 3.0)
                .collect();
            let lhs: f64 = tr
                .linear(&x, false)
                .iter()
                .zip(&g)
                .map(|(a, b)| a * b)
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(fwd.linear(&g, false))
                .map(|(a, b)| a * b)
                .sum();
            assert_eq!(lhs, rhs, "groups {groups}, stride {stride:?}");
        }
    }

    /// Two groups: each half of the outputs reads only its half of the input channels.
    #[test]
    fn groups_read_their_own_channels() {
        let w = Array4::from_elem((2, 1, 1, 1), 1.0);
        let c = Conv2d::grouped(w, Array1::zeros(2), [1, 1], [0; 4], [1, 1], [2, 1, 2], 2).unwrap();
        assert_eq!(c.forward(&[1.0, 2.0, 30.0, 40.0]), [1.0, 2.0, 30.0, 40.0]);
        assert_eq!(c.fan_in(), 1);
    }
}
