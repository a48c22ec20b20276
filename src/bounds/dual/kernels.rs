//! The hot loops of a backward pass, generic over its arithmetic [`Real`]. Each kernel returns
//! (or adds into `err`) what bounds its own rounding error; the argument is in the module doc of
//! [`super`] and at each kernel.

use super::Real;
use crate::bounds::relax::{relu_phase, ReluPhase};
use crate::bounds::sums::{scale_by_sign_sums, sums};
use crate::bounds::Bounds;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, Axis};

/// `λ·W` for the rows of `λ`.
///
/// - With `objective` (`λ` is still the pass's objective, so often `±e_j` rows), rows with at
///   most one nonzero are a scaled row of `W` each: no product at all.
/// - Columns of `λ` that are zero in every row (inactive ReLUs, pruned neurons) are skipped.
/// - Large products split their rows over both cores.
///
/// Either way every output element is a sum of at most `W.nrows()` products, so the error bound
/// of a length-`W.nrows()` dot product holds for it.
pub(crate) fn affine_back<T: Real>(
    lam: ArrayView2<T>,
    w: ArrayView2<T>,
    objective: bool,
) -> Array2<T> {
    if let Some(hits) = objective.then(|| one_hot_rows(&lam)).flatten() {
        let mut out = Array2::zeros((lam.nrows(), w.ncols()));
        for (mut row, hit) in out.rows_mut().into_iter().zip(hits) {
            if let Some((j, v)) = hit {
                row.zip_mut_with(&w.row(j), |o, &x| *o = x * v);
            }
        }
        return out;
    }
    // A column is live when some row has a nonzero there (a NaN counts): OR of the bits
    // without the sign, which vectorises.
    let mut bits = vec![0u64; lam.ncols()];
    for row in lam.rows() {
        let row = row.to_slice().expect("row-major λ");
        for (b, &v) in bits.iter_mut().zip(row) {
            *b |= v.abs_bits();
        }
    }
    let live: Vec<usize> = (0..lam.ncols()).filter(|&j| bits[j] != 0).collect();
    if live.len() * 4 < lam.ncols() * 3 {
        let mut lam_c = Array2::zeros((lam.nrows(), live.len()));
        for (mut out, row) in lam_c.rows_mut().into_iter().zip(lam.rows()) {
            for (o, &j) in out.iter_mut().zip(&live) {
                *o = row[j];
            }
        }
        let w_c = w.select(Axis(0), &live);
        par_rows_dot(lam_c.view(), w_c.view())
    } else {
        par_rows_dot(lam, w)
    }
}

/// For each row of `λ`, its one nonzero `(column, value)` (or `None` for a zero row); `None`
/// overall as soon as some row has two nonzeros.
fn one_hot_rows<T: Real>(lam: &ArrayView2<T>) -> Option<Vec<Option<(usize, T)>>> {
    let mut hits = Vec::with_capacity(lam.nrows());
    for row in lam.rows() {
        let mut hit = None;
        for (j, &v) in row.iter().enumerate() {
            if v != T::zero() {
                if hit.is_some() {
                    return None;
                }
                hit = Some((j, v));
            }
        }
        hits.push(hit);
    }
    Some(hits)
}

/// `a·b`, splitting the rows of `a` over both cores when the product is large and the caller is
/// not already one of several parallel tasks (a rayon worker: nesting only adds overhead).
pub(crate) fn par_rows_dot<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>) -> Array2<T> {
    let m = a.nrows();
    let nested = rayon::current_thread_index().is_some();
    if nested || m < 64 || m * a.ncols() * b.ncols() < 4_000_000 {
        return a.dot(&b);
    }
    let mut out = Array2::zeros((m, b.ncols()));
    let (top, bottom) = a.split_at(Axis(0), m / 2);
    let (mut out_top, mut out_bottom) = out.view_mut().split_at(Axis(0), m / 2);
    let one = T::one();
    rayon::join(
        || general_mat_mul(one, &top, &b, T::zero(), &mut out_top),
        || general_mat_mul(one, &bottom, &b, T::zero(), &mut out_bottom),
    );
    out
}

/// The accumulators of one pass, one entry per objective row, all in f64.
pub(crate) struct Acc {
    /// `κ`: the constant collected so far.
    pub kappa: Vec<f64>,
    /// `Σ |terms added to κ|`, for the error of summing `κ` itself.
    pub kappa_mag: Vec<f64>,
    /// The accumulated rounding-error bound.
    pub err: Vec<f64>,
}

impl Acc {
    pub fn new(m: usize) -> Self {
        Acc {
            kappa: vec![0.0; m],
            kappa_mag: vec![0.0; m],
            err: vec![0.0; m],
        }
    }

    /// One linear step `x_i = W x_j + b` (or its element-wise/convolution form):
    /// `κ += λ_i·b`, and `err += g · |λ_i|·v` with `v = |W|·|x_j|max + |b|` and `g` the error
    /// factor of the step's products. The f64 sum `λ_i·b` has error at most
    /// `gamma(n)·|λ_i|·|b| <= g·|λ_i|·v`, so the same term covers it.
    pub fn linear<T: Real>(&mut self, lam: ArrayView2<T>, b: &[f64], v: &[f64], g: f64) {
        for (r, row) in lam.rows().into_iter().enumerate() {
            let [add, e, _] = sums(row.as_slice().expect("row-major λ"), b, v, None);
            self.kappa[r] += add;
            self.kappa_mag[r] += add.abs();
            self.err[r] += g * e;
        }
    }

    /// Adds the underflow allowance of one step producing a new `λ` of the width of `mag`:
    /// each element may be off by up to `(n + 2)·T::UNDERFLOW` beyond its relative error bound
    /// (one absolute error per operation of its dot product), which moves `λ·x` by at most that
    /// times `Σ |x|max`.
    pub fn underflow<T: Real>(&mut self, n: usize, mag: &[f64]) {
        let pad = (n + 2) as f64 * T::UNDERFLOW * mag.iter().sum::<f64>();
        self.err.iter_mut().for_each(|e| *e += pad);
    }
}

/// The ReLU step of the pass (see the module doc of [`super`]) over pre-activation bounds `xb`
/// and magnitudes `mag`: `α` for `λ >= 0` (per row from `per_row` if given, else `alpha0`), the
/// upper line for `λ < 0`, whose intercept adds `−λ·s·l` to `κ`.
///
/// Rounding: the new `λ` is `fl(λ·slope)`, off by at most one rounding of `|λ|·slope <= |λ|·1`
/// (α) or `|λ|·s` (the upper line), which moves `λ·z` by at most `u·|λ|·(|z|max + |s·l|)`; the
/// f64 sum of the intercepts is off by at most `gamma(n)·Σ|λ||s·l|`. Both are covered by
/// `gamma_T(n + 2)·|λ|·(mag + |s·l|)` per unstable neuron.
pub(crate) fn relu_back<T: Real>(
    lam: &mut Array2<T>,
    xb: &Bounds,
    mag: &[f64],
    alpha0: impl Fn(f64, f64, f64) -> f64,
    per_row: Option<ArrayView2<f64>>,
    acc: &mut Acc,
) {
    let n = lam.ncols();
    // Per column: the multiplier for λ >= 0 and for λ < 0, the intercept coefficient −s·l (for
    // λ < 0) and the error weight; unstable columns listed in `unstable`.
    let (mut pos, mut neg) = (vec![T::one(); n], vec![T::one(); n]);
    let (mut icpt, mut ew) = (vec![0.0; n], vec![0.0; n]);
    let mut unstable = Vec::new();
    for col in 0..n {
        let (l, u) = (xb.lower[col], xb.upper[col]);
        match relu_phase(l, u) {
            ReluPhase::Active => {}
            ReluPhase::Inactive => {
                pos[col] = T::zero();
                neg[col] = T::zero();
            }
            ReluPhase::Unstable { upper_slope: s } => {
                pos[col] = T::from_f64(alpha0(l, u, s));
                neg[col] = T::from_f64(s);
                icpt[col] = -s * l;
                ew[col] = mag[col] + (s * l).abs();
                unstable.push(col);
            }
        }
    }
    let g = crate::tolerances::gamma_dot(n + 2, T::UNIT_ROUNDOFF);
    let mut pos_r = pos.clone();
    for (r, mut row) in lam.rows_mut().into_iter().enumerate() {
        if let Some(a) = per_row {
            let a = a.row(r);
            for &col in &unstable {
                pos_r[col] = T::from_f64(a[col].clamp(0.0, 1.0));
            }
        }
        let row = row.as_slice_mut().expect("row-major λ");
        let [add, e] = scale_by_sign_sums(row, &pos_r, &neg, &icpt, &ew);
        acc.kappa[r] += add;
        acc.kappa_mag[r] += add.abs();
        acc.err[r] += g * e;
    }
}

/// The input box `[m − r, m + r]`: per row, `λ·m − |λ|·r` (the minimum of `λ·x` over the box)
/// and `|λ|·(|m| + r)` (what its f64 rounding error is relative to).
pub(crate) fn input_term<T: Real>(lam: ArrayView2<T>, mid: &[f64], rad: &[f64]) -> Vec<(f64, f64)> {
    let mid_abs: Vec<f64> = mid.iter().map(|m| m.abs()).collect();
    lam.rows()
        .into_iter()
        .map(|row| {
            let row = row.as_slice().expect("row-major λ");
            let [lm, lr, lmabs] = sums(row, mid, rad, Some(&mid_abs));
            (lm - lr, lmabs + lr)
        })
        .collect()
}

/// The last affine step `x_1 = W x_0 + b` fused with the input box `x_0 ∈ [m − r, m + r]`, for
/// wide networks: `min λ·(W x_0 + b) = λ·(b + W m) − |λ W|·r`. The first term is an f64 sum over
/// the f64 vector `b + W m`; `λ W` enters only through `|λ W|·r`, so it is taken in f32 as
/// `P = fl32(fl32(λ)·fl32(W))` (half the cost of the pass's largest product on image inputs),
/// with `|λ W| <= |P| + g32·|λ|·|W|` elementwise (`g32 = γ_{n+2}` in f32), so
/// `|λ W|·r <= |P|·r + g32·|λ|·(|W|·r)`: the f32 error is weighted by the radius, not by `|x_0|`.
/// The f64 rounding of `W m`, of the sums and of `b + W m` is at most
/// `gamma(n_in + n + 4)·(|λ|·(|W||m| + |W m| + |b|) + |P|·r)`. `under` bounds underflow in `P`.
///
/// Per row: `[value, error bound, magnitude]` (the magnitude for the error of adding it to κ).
#[allow(clippy::too_many_arguments)]
pub(crate) fn input_affine<T: Real>(
    lam: ArrayView2<T>,
    p: &Array2<f32>,
    bwm: &[f64],
    wr: &[f64],
    wabs: &[f64],
    rad: &[f64],
    g32: f64,
    under: f64,
) -> Vec<[f64; 3]> {
    let g64 = crate::tolerances::gamma(lam.ncols() + p.ncols() + 4);
    lam.rows()
        .into_iter()
        .zip(p.rows())
        .map(|(l, p)| {
            let l = l.as_slice().expect("row-major λ");
            let [lbwm, lwr, lwabs] = sums(l, bwm, wr, Some(wabs));
            let [_, pr, _] = sums(p.as_slice().expect("row-major"), rad, rad, None);
            let mag = lwabs + pr;
            [lbwm - pr, g32 * lwr + g64 * mag + under, mag]
        })
        .collect()
}
