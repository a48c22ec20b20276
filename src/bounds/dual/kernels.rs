//! The hot loops of a backward pass, generic over its arithmetic [`Real`]. Each kernel returns
//! (or adds into `err`) what bounds its own rounding error; the argument is in the module doc of
//! [`super`] and at each kernel.

use super::{Real, RowSplits};
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

    /// The f32 residual of the node `λ` multiplies ([`DualNetwork::keeping_f32`]): its f32 value
    /// is `x_i = f_i(inputs) + r` with `|r| <= R` (`bounds::f32_error::residual`), so
    /// `λ·x_i >= λ·f_i(inputs) − |λ|·R`: `err += |λ|·R` (an f64 sum of non-negative terms,
    /// covered by the pass's `err_pad` with the rest of `err`).
    ///
    /// [`DualNetwork::keeping_f32`]: super::DualNetwork::keeping_f32
    pub fn residual<T: Real>(&mut self, lam: ArrayView2<T>, r: &[f64]) {
        for (i, row) in lam.rows().into_iter().enumerate() {
            let [_, e, _] = sums(row.as_slice().expect("row-major λ"), r, r, None);
            self.err[i] += e;
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

/// Row `r`'s splits at one activation node: the pass's [`RowSplits`], the node, and the global
/// index of the pass's first row (a pass may run on a slice of the rows).
#[derive(Clone, Copy)]
pub(crate) struct SplitsAt<'a> {
    pub rows: RowSplits<'a>,
    pub node: usize,
    pub r0: usize,
}

/// The ReLU step of the pass (see the module doc of [`super`]) over pre-activation bounds `xb`
/// and magnitudes `mag`: `α` for `λ >= 0` (per row from `per_row` if given, else `alpha0`), the
/// upper line for `λ < 0`, whose intercept adds `−λ·s·l` to `κ`. A row's split neurons
/// (`splits`) are relaxed over their restricted bounds instead (a ReLU split at 0 is active or
/// inactive: exact).
///
/// Rounding: the new `λ` is `fl(λ·slope)`, off by at most one rounding of `|λ|·slope <= |λ|·1`
/// (α) or `|λ|·s` (the upper line), which moves `λ·z` by at most `u·|λ|·(|z|max + |s·l|)`; the
/// f64 sum of the intercepts is off by at most `gamma(n)·Σ|λ||s·l|`. Both are covered by
/// `gamma_T(n + 2)·|λ|·(mag + |s·l|)` per unstable neuron (a restricted interval lies inside
/// `[l, u]`, so `mag` still bounds it).
pub(crate) fn relu_back<T: Real>(
    lam: &mut Array2<T>,
    xb: &Bounds,
    mag: &[f64],
    alpha0: impl Fn(f64, f64, f64) -> f64,
    per_row: Option<ArrayView2<f64>>,
    splits: Option<SplitsAt>,
    acc: &mut Acc,
) {
    let n = lam.ncols();
    // Per column: the multiplier for λ >= 0 and for λ < 0, the intercept coefficient −s·l (for
    // λ < 0) and the error weight; unstable columns listed in `unstable`.
    let (mut pos, mut neg) = (vec![T::one(); n], vec![T::one(); n]);
    let (mut icpt, mut ew) = (vec![0.0; n], vec![0.0; n]);
    let mut unstable = Vec::new();
    let column = |l: f64, u: f64, m: f64| match relu_phase(l, u) {
        ReluPhase::Active => (T::one(), T::one(), 0.0, 0.0, false),
        ReluPhase::Inactive => (T::zero(), T::zero(), 0.0, 0.0, false),
        ReluPhase::Unstable { upper_slope: s } => (
            T::from_f64(alpha0(l, u, s)),
            T::from_f64(s),
            -s * l,
            m + (s * l).abs(),
            true,
        ),
    };
    for col in 0..n {
        let c = column(xb.lower[col], xb.upper[col], mag[col]);
        (pos[col], neg[col], icpt[col], ew[col]) = (c.0, c.1, c.2, c.3);
        if c.4 {
            unstable.push(col);
        }
    }
    let g = crate::tolerances::gamma_dot(n + 2, T::UNIT_ROUNDOFF);
    let mut pos_r = pos.clone();
    // Per-row copies, patched at a row's split neurons and restored after it.
    let (mut neg_r, mut icpt_r, mut ew_r) = match splits {
        Some(_) => (neg.clone(), icpt.clone(), ew.clone()),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    let mut patched = Vec::new();
    for (r, mut row) in lam.rows_mut().into_iter().enumerate() {
        if let Some(a) = per_row {
            let a = a.row(r);
            for &col in &unstable {
                pos_r[col] = T::from_f64(a[col].clamp(0.0, 1.0));
            }
        }
        let row = row.as_slice_mut().expect("row-major λ");
        let [add, e] = match splits {
            None => scale_by_sign_sums(row, &pos_r, &neg, &icpt, &ew),
            Some(sp) => {
                for (s, _) in sp.rows.at(sp.r0 + r, sp.node) {
                    let col = s.neuron as usize;
                    let (l, u) = sp.rows.restrict(
                        sp.r0 + r,
                        sp.node,
                        s.neuron,
                        xb.lower[col],
                        xb.upper[col],
                    );
                    let c = column(l, u, mag[col]);
                    let a = match (c.4, per_row) {
                        (true, Some(a)) => T::from_f64(a[[r, col]].clamp(0.0, 1.0)),
                        _ => c.0,
                    };
                    (pos_r[col], neg_r[col], icpt_r[col], ew_r[col]) = (a, c.1, c.2, c.3);
                    patched.push(col);
                }
                let sums = scale_by_sign_sums(row, &pos_r, &neg_r, &icpt_r, &ew_r);
                // (The next row sets its own α on unstable columns again.)
                for col in patched.drain(..) {
                    pos_r[col] = pos[col];
                    (neg_r[col], icpt_r[col], ew_r[col]) = (neg[col], icpt[col], ew[col]);
                }
                sums
            }
        };
        acc.kappa[r] += add;
        acc.kappa_mag[r] += add.abs();
        acc.err[r] += g * e;
    }
}

/// The split multipliers at one activation's input (see the module doc of [`super`]): for
/// each split `s` of row `r` at this node, `λ[r, neuron] −= β_s σ_s` and `κ_r += Σ_s β_s σ_s t_s`.
///
/// Rounding: `β_s` is first rounded to `T`; that rounded value (still `>= 0`) is the multiplier
/// used, in `λ` and in `κ` alike. The subtraction rounds once, `fl(a − b) = (a − b)(1 + δ)`, so
/// the new `λ` is off by at most `u/(1 − u)·|fl(λ − βσ)|` (plus [`Real::UNDERFLOW`]), which moves
/// `λ·z` by at most that times `|z|max`; the f64 sum of the `k` constants is off by at most
/// `γ(k + 1)·Σ|β t|`. Returns true when some constant was added to `κ` (one more addition for
/// its own pad).
pub(crate) fn split_multipliers<T: Real>(
    lam: &mut Array2<T>,
    sp: SplitsAt,
    mag: &[f64],
    acc: &mut Acc,
) -> bool {
    let g1 = crate::tolerances::gamma_dot(1, T::UNIT_ROUNDOFF);
    let mut any_constant = false;
    for (r, mut row) in lam.rows_mut().into_iter().enumerate() {
        let (mut add, mut add_mag, mut k, mut e) = (0.0, 0.0, 0usize, 0.0);
        for (s, beta) in sp.rows.at(sp.r0 + r, sp.node) {
            let b = T::from_f64(beta);
            if b == T::zero() {
                continue;
            }
            let col = s.neuron as usize;
            let sb = if s.up { b } else { T::zero() - b };
            let v = row[col] - sb;
            row[col] = v;
            e += g1 * v.to_f64().abs() * mag[col] + T::UNDERFLOW * mag[col];
            if s.point != 0.0 {
                let c = sb.to_f64() * s.point;
                add += c;
                add_mag += c.abs();
                k += 1;
            }
        }
        if k > 0 {
            e += crate::tolerances::gamma(k + 1) * add_mag;
            acc.kappa[r] += add;
            acc.kappa_mag[r] += add.abs();
            any_constant = true;
        }
        acc.err[r] += e;
    }
    any_constant
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
