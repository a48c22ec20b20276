//! Many rows through one (forward) convolution at once, as matrix products: the bound engines
//! push hundreds of objective rows through a convolution per pass, and a loop over taps per row
//! costs ~10x a matrix product (im2col).
//!
//! For group `g` with output channels `O_g` and taps `t = (c, p, q)` (`K = C_g·kh·kw` of them),
//! the weight is the matrix `W_g[o, t]` (`O_g × K`, the weight array's own layout) and the
//! *patches* `idx[t, pix]` name the input element tap `t` of output pixel `pix` reads (or none,
//! in the padding). Then, for rows `r` stacked as columns `(r, pix)`:
//! - forward: `y[r, o, pix] = b[o] + Σ_t W_g[o, t]·X[t, (r, pix)]` with
//!   `X[t, (r, pix)] = x[r, idx[t, pix]]` (0 in the padding): one product `W_g·X`;
//! - transpose: `λ_in[r, i] = Σ_{(t, pix): idx[t, pix] = i} Σ_o W_g[o, t]·λ[r, o, pix]`: one
//!   product `G = W_gᵀ·L` with `L[o, (r, pix)] = λ[r, o, pix]`, then `G` scatter-added into the
//!   inputs (each sum starting from 0).
//!
//! Rounding (for the callers' error bounds): every term `w·λ` of an exact sum of the transpose
//! goes through one rounding of `w` to `T`, one product, at most `O_g − 1` additions in the
//! product and at most `O_g·hw` (the outputs of the group) in the scatter, so at most
//! `out_channels + out_len + 1` roundings in all; the terms of one input element are at most the
//! group's `O_g·hw <= out_len` products. The forward map is only used where its rounding does
//! not matter (values that steer gradients).

use super::{Conv2d, Scalar};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

/// A patch entry in the padding.
const PAD: u32 = u32::MAX;

/// Elements of one chunk's patch matrix (`K × rows·hw`): rows go through in chunks of about
/// this size (at least one row), which bounds the temporary memory (128 KiB in f64) and keeps
/// it in the core's cache. Measured on oval21's conv nets (search passes at `--jobs 1`, the
/// same work): 2^14 takes 15–25% less time than 2^20, and 2^16 sits between.
const CHUNK_ELEMENTS: usize = 1 << 14;

/// A forward convolution prepared for many rows (see the module doc).
#[derive(Clone, Debug)]
pub struct ConvRows {
    groups: usize,
    /// Output channels per group.
    co_g: usize,
    /// Output pixels per channel.
    hw: usize,
    /// Input elements per group (`C_g·H·W`): group `g` reads inputs shifted by `g` times this.
    in_g: usize,
    in_len: usize,
    /// `idx[t·hw + pix]`: group 0's input element of tap `t` at output pixel `pix`, or [`PAD`].
    idx: Vec<u32>,
    /// `W[o, t]` (`out_channels × K`).
    weight: Array2<f64>,
    bias: Vec<f64>,
}

impl ConvRows {
    /// The prepared form of `cv`; `None` for a transposed convolution or one too large to index
    /// with `u32`.
    pub fn new(cv: &Conv2d) -> Option<Self> {
        if cv.transposed || cv.in_len() >= PAD as usize {
            return None;
        }
        let (co, ci_g, kh, kw) = cv.weight.dim();
        let [_, h_out, w_out] = cv.out_chw;
        let [_, h_in, w_in] = cv.in_chw;
        let hw = h_out * w_out;
        let k = ci_g * kh * kw;
        let mut idx = vec![PAD; k * hw];
        for c in 0..ci_g {
            for p in 0..kh {
                for q in 0..kw {
                    let t = (c * kh + p) * kw + q;
                    for i in 0..h_out {
                        let Some(y) = cv.tap_row(i, p) else {
                            continue;
                        };
                        for j in 0..w_out {
                            if let Some(x) = cv.tap_col(j, q) {
                                idx[t * hw + i * w_out + j] = ((c * h_in + y) * w_in + x) as u32;
                            }
                        }
                    }
                }
            }
        }
        let weight = Array2::from_shape_vec((co, k), cv.weight.iter().copied().collect())
            .expect("weight [co, ci_g, kh, kw] is co × K");
        Some(ConvRows {
            groups: cv.groups,
            co_g: co / cv.groups,
            hw,
            in_g: ci_g * h_in * w_in,
            in_len: cv.in_len(),
            idx,
            weight,
            bias: cv.bias.to_vec(),
        })
    }

    fn taps(&self) -> usize {
        self.weight.ncols()
    }

    fn out_len(&self) -> usize {
        self.groups * self.co_g * self.hw
    }

    /// Rows per chunk (at least 1).
    fn chunk_rows(&self) -> usize {
        (CHUNK_ELEMENTS / (self.taps() * self.hw).max(1)).max(1)
    }

    /// `W ⊛ x + b` for every row of `x` (weights and bias rounded to `T`).
    pub fn forward_rows<T: Scalar>(&self, x: ArrayView2<T>) -> Array2<T> {
        let x = x.as_standard_layout();
        let mut out = Array2::zeros((x.nrows(), self.out_len()));
        let w = self.weight.mapv(T::from_f64);
        self.by_chunks(x.view(), out.view_mut(), |x, out| {
            self.forward_chunk(&w, x, out)
        });
        out
    }

    /// `Wᵀ λ` (the transpose, no bias) for every row of `λ` (weights rounded to `T`; the
    /// rounding is bounded in the module doc).
    pub fn transpose_rows<T: Scalar>(&self, lam: ArrayView2<T>) -> Array2<T> {
        let lam = lam.as_standard_layout();
        let mut out = Array2::zeros((lam.nrows(), self.in_len));
        let w = self.weight.mapv(T::from_f64);
        self.by_chunks(lam.view(), out.view_mut(), |lam, out| {
            self.transpose_chunk(&w, lam, out)
        });
        out
    }

    /// Runs `f` on matching chunks of rows of `a` and `out`, on both cores when there are
    /// several chunks and the caller is not already a parallel task.
    fn by_chunks<T: Scalar>(
        &self,
        a: ArrayView2<T>,
        mut out: ArrayViewMut2<T>,
        f: impl Fn(ArrayView2<T>, ArrayViewMut2<T>) + Sync,
    ) {
        let rows = self.chunk_rows();
        let m = a.nrows();
        if m <= rows || rayon::current_thread_index().is_some() {
            for (a, out) in a
                .axis_chunks_iter(Axis(0), rows)
                .zip(out.axis_chunks_iter_mut(Axis(0), rows))
            {
                f(a, out);
            }
            return;
        }
        // Two halves, each in chunks: one per core.
        let h = m / 2;
        let (a0, a1) = a.split_at(Axis(0), h);
        let (o0, o1) = out.view_mut().split_at(Axis(0), h);
        let half = |a: ArrayView2<T>, mut out: ArrayViewMut2<T>| {
            for (a, out) in a
                .axis_chunks_iter(Axis(0), rows)
                .zip(out.axis_chunks_iter_mut(Axis(0), rows))
            {
                f(a, out);
            }
        };
        rayon::join(|| half(a0, o0), || half(a1, o1));
    }

    fn forward_chunk<T: Scalar>(&self, w: &Array2<T>, x: ArrayView2<T>, mut out: ArrayViewMut2<T>) {
        let (m, hw, k) = (x.nrows(), self.hw, self.taps());
        let mut cols = Array2::<T>::zeros((k, m * hw));
        let mut y = Array2::<T>::zeros((self.co_g, m * hw));
        for g in 0..self.groups {
            let off = g * self.in_g;
            for (t, mut col) in cols.rows_mut().into_iter().enumerate() {
                let col = col.as_slice_mut().expect("row-major");
                let idx = &self.idx[t * hw..(t + 1) * hw];
                for (r, xr) in x.rows().into_iter().enumerate() {
                    let xr = xr.as_slice().expect("row-major rows");
                    for (c, &i) in col[r * hw..(r + 1) * hw].iter_mut().zip(idx) {
                        *c = if i == PAD {
                            T::zero()
                        } else {
                            xr[off + i as usize]
                        };
                    }
                }
            }
            let wg = w.slice(ndarray::s![g * self.co_g..(g + 1) * self.co_g, ..]);
            general_mat_mul(T::one(), &wg, &cols, T::zero(), &mut y);
            for o in 0..self.co_g {
                let oc = g * self.co_g + o;
                let b = T::from_f64(self.bias[oc]);
                let yo = y.row(o);
                let yo = yo.as_slice().expect("row-major");
                for r in 0..m {
                    let mut orow = out.row_mut(r);
                    let dst = &mut orow.as_slice_mut().expect("row-major")[oc * hw..(oc + 1) * hw];
                    for (d, &v) in dst.iter_mut().zip(&yo[r * hw..(r + 1) * hw]) {
                        *d = v + b;
                    }
                }
            }
        }
    }

    fn transpose_chunk<T: Scalar>(
        &self,
        w: &Array2<T>,
        lam: ArrayView2<T>,
        mut out: ArrayViewMut2<T>,
    ) {
        let (m, hw, k) = (lam.nrows(), self.hw, self.taps());
        let mut l = Array2::<T>::zeros((self.co_g, m * hw));
        let mut gm = Array2::<T>::zeros((k, m * hw));
        for g in 0..self.groups {
            let off = g * self.in_g;
            for (o, mut lo) in l.rows_mut().into_iter().enumerate() {
                let oc = g * self.co_g + o;
                let lo = lo.as_slice_mut().expect("row-major");
                for (r, lr) in lam.rows().into_iter().enumerate() {
                    let lr = lr.as_slice().expect("row-major rows");
                    lo[r * hw..(r + 1) * hw].copy_from_slice(&lr[oc * hw..(oc + 1) * hw]);
                }
            }
            let wg = w.slice(ndarray::s![g * self.co_g..(g + 1) * self.co_g, ..]);
            general_mat_mul(T::one(), &wg.t(), &l, T::zero(), &mut gm);
            for (t, gt) in gm.rows().into_iter().enumerate() {
                let gt = gt.as_slice().expect("row-major");
                let idx = &self.idx[t * hw..(t + 1) * hw];
                for r in 0..m {
                    let mut orow = out.row_mut(r);
                    let dst = orow.as_slice_mut().expect("row-major");
                    for (&i, &v) in idx.iter().zip(&gt[r * hw..(r + 1) * hw]) {
                        if i != PAD {
                            let d = &mut dst[off + i as usize];
                            *d = *d + v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConvRows;
    use crate::ir::Conv2d;
    use ndarray::{Array1, Array2, Array4};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
    }

    /// The batched maps agree with the per-row loops over taps, over strides, paddings,
    /// dilations, groups and row counts that cross a chunk (odd channel counts included).
    #[test]
    fn rows_match_the_tap_loops() {
        for (groups, stride, pads, dil, chw, co, rows) in [
            (1, [1, 1], [0, 0, 0, 0], [1, 1], [3, 5, 6], 4, 3),
            (1, [2, 2], [1, 1, 1, 1], [1, 1], [3, 8, 8], 8, 70),
            (2, [2, 1], [0, 1, 2, 1], [1, 2], [4, 7, 9], 6, 5),
            (1, [1, 2], [2, 0, 1, 3], [2, 1], [2, 6, 5], 3, 300),
        ] {
            let ci_g = chw[0] / groups;
            let w = Array4::from_shape_fn((co, ci_g, 3, 2), |(a, b, c, d)| {
                ((a * 7 + b * 3 + c * 2 + d) % 11) as f64 * 0.25 - 1.3
            });
            let bias = Array1::from_shape_fn(co, |o| o as f64 * 0.5 - 1.0);
            let cv = Conv2d::grouped(w, bias, stride, pads, dil, chw, groups).unwrap();
            let cr = ConvRows::new(&cv).unwrap();
            let x = Array2::from_shape_fn((rows, cv.in_len()), |(r, k)| {
                ((r * 13 + k * 5) % 17) as f64 - 8.0
            });
            let y = cr.forward_rows(x.view());
            let g = Array2::from_shape_fn((rows, cv.out_len()), |(r, k)| {
                ((r * 3 + k * 7) % 13) as f64 - 6.0
            });
            let t = cr.transpose_rows(g.view());
            // The tap loop's forward map and transpose, row by row.
            let hw = cv.out_chw[1] * cv.out_chw[2];
            let tap_forward = |x: &[f64]| {
                let mut y: Vec<f64> = (0..cv.out_len()).map(|o| cv.bias[o / hw]).collect();
                cv.for_each_tap(|o, i, w| y[o] += w * x[i]);
                y
            };
            let tap_transpose = |g: &[f64]| {
                let mut x = vec![0.0; cv.in_len()];
                cv.for_each_tap(|o, i, w| x[i] += w * g[o]);
                x
            };
            for r in 0..rows {
                let want = tap_forward(x.row(r).as_slice().unwrap());
                assert!(
                    want.iter().zip(y.row(r)).all(|(&a, &b)| close(a, b)),
                    "{chw:?}"
                );
                let want = tap_transpose(g.row(r).as_slice().unwrap());
                assert!(
                    want.iter().zip(t.row(r)).all(|(&a, &b)| close(a, b)),
                    "{chw:?}"
                );
            }
            // One row (`Conv2d::forward`, `transpose`) is the same map.
            assert_eq!(
                cv.forward::<f64>(x.row(0).as_slice().unwrap()),
                y.row(0).to_vec()
            );
            assert_eq!(
                cv.transpose(g.row(0).as_slice().unwrap()),
                t.row(0).to_vec()
            );
            // f32 too (weights rounded), loosely.
            let t32 = cr.transpose_rows(g.mapv(|v| v as f32).view());
            let want = tap_transpose(g.row(0).as_slice().unwrap());
            assert!(want
                .iter()
                .zip(t32.row(0))
                .all(|(&a, &b)| (a - f64::from(b)).abs() <= 1e-4 * (1.0 + a.abs())));
        }
    }

    #[test]
    fn transposed_convolutions_keep_the_tap_loops() {
        let w = Array4::from_elem((2, 2, 2, 2), 1.0);
        let cv = Conv2d::transposed(
            w,
            Array1::zeros(2),
            [1, 1],
            [0; 4],
            [1, 1],
            [2, 3, 3],
            [4, 4],
            1,
        )
        .unwrap();
        assert!(ConvRows::new(&cv).is_none());
    }
}
