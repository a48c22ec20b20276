//! 2-D convolution geometry, its forward map and its transpose (for gradients and the dual
//! network). Data is `[C, H, W]` row-major; the batch dimension (always 1) is ignored.

use super::Scalar;
use ndarray::{Array1, Array4};

/// `y[o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · x[c, i·s_h + p·d_h − pad_top, j·s_w + q·d_w − pad_left]`,
/// with `x` read as 0 outside the image (zero padding). Group 1 only.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// `[out_channels, in_channels, kernel_h, kernel_w]`.
    pub weight: Array4<f64>,
    /// Length `out_channels`.
    pub bias: Array1<f64>,
    /// `[stride_h, stride_w]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// `[dilation_h, dilation_w]`.
    pub dilation: [usize; 2],
    /// Input `[C, H, W]`.
    pub in_chw: [usize; 3],
    /// Output `[C, H, W]`, derived from the rest by [`Conv2d::new`].
    pub out_chw: [usize; 3],
}

impl Conv2d {
    /// Builds a convolution and derives its output size; `None` when the kernel does not fit.
    pub fn new(
        weight: Array4<f64>,
        bias: Array1<f64>,
        stride: [usize; 2],
        pads: [usize; 4],
        dilation: [usize; 2],
        in_chw: [usize; 3],
    ) -> Option<Self> {
        let (co, ci, kh, kw) = weight.dim();
        if ci != in_chw[0] || bias.len() != co || stride.contains(&0) || dilation.contains(&0) {
            return None;
        }
        let span_h = dilation[0] * (kh.checked_sub(1)?) + 1;
        let span_w = dilation[1] * (kw.checked_sub(1)?) + 1;
        let h = (in_chw[1] + pads[0] + pads[2]).checked_sub(span_h)? / stride[0] + 1;
        let w = (in_chw[2] + pads[1] + pads[3]).checked_sub(span_w)? / stride[1] + 1;
        Some(Conv2d {
            weight,
            bias,
            stride,
            pads,
            dilation,
            in_chw,
            out_chw: [co, h, w],
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
    pub fn for_each_tap(&self, mut f: impl FnMut(usize, usize, f64)) {
        let [ci_n, h_in, w_in] = self.in_chw;
        let [co_n, h_out, w_out] = self.out_chw;
        let (_, _, kh, kw) = self.weight.dim();
        for o in 0..co_n {
            for i in 0..h_out {
                for j in 0..w_out {
                    let out = (o * h_out + i) * w_out + j;
                    for c in 0..ci_n {
                        for p in 0..kh {
                            let y = (i * self.stride[0] + p * self.dilation[0]) as isize
                                - self.pads[0] as isize;
                            if y < 0 || y >= h_in as isize {
                                continue;
                            }
                            for q in 0..kw {
                                let x = (j * self.stride[1] + q * self.dilation[1]) as isize
                                    - self.pads[1] as isize;
                                if x < 0 || x >= w_in as isize {
                                    continue;
                                }
                                let inp = (c * h_in + y as usize) * w_in + x as usize;
                                f(out, inp, self.weight[[o, c, p, q]]);
                            }
                        }
                    }
                }
            }
        }
    }

    /// `W * x + b` in the arithmetic of `T` (weights rounded to `T`).
    pub fn forward<T: Scalar>(&self, x: &[T]) -> Vec<T> {
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

    /// The transpose `Wᵀ g` (no bias), mapping an output-sized vector to an input-sized one.
    pub fn transpose(&self, g: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0; self.in_len()];
        self.for_each_tap(|o, i, w| x[i] += w * g[o]);
        x
    }

    /// Number of taps of the longest output's dot product, for rounding-error bounds.
    pub fn fan_in(&self) -> usize {
        let (_, ci, kh, kw) = self.weight.dim();
        ci * kh * kw
    }
}
