//! Backward linear bounds (CROWN) for many rows of many domains at once.
//!
//! A row `λ` on the output of layer `i` (one row per objective, each belonging to a domain)
//! walks back to the input carrying `c·(...) = λ·h_i + κ` (the math of
//! [`crate::bounds::dual`], batched):
//! - ReLU `h = relu(z)` with bounds `[l, u]` of `z`: active neurons pass `λ`, inactive ones drop
//!   it; an unstable one takes `relu(z) >= α·z` where `λ >= 0` (the adaptive `α`: 1 if
//!   `u >= −l`, else 0) and `relu(z) <= s·(z − l)` where `λ < 0`, adding `−λ·s·l` to `κ`;
//! - affine `z = W·h + b`: `κ += λ·b`, `λ ← λ·W`: one matrix product for all rows of the batch;
//! - at the input `x ∈ [lo, hi]`: `row(x) >= λ·x + κ`, whose minimum over the box is the bound.
//!
//! Rounding (as in [`crate::bounds::dual`]): the affine step moves `λ·h` by at most
//! `γ·|λ|·(|W|·|h|max + |b|)` (the per-domain magnitudes of [`State::mags`]); the ReLU step by
//! at most `γ·|λ|·(|z|max + |s·l|)` on unstable neurons (one rounding of `λ·s`, the sum of
//! intercepts). These terms are summed into `err`, and `κ`'s own sum is padded by
//! `γ(steps + 2)·Σ|terms|`; the constant of the returned form is `κ` minus both.
//!
//! The f32 evaluation (see [`super`]): `λ·ẑ = λ·(W·ĥ + b) + λ·r >= λ·(W·ĥ + b) − |λ|·ρ·v`, so
//! each affine step also adds `ρ·Σ|λ|·v` to `err` (the same weight as its rounding), and the
//! ReLU steps relax over bounds that already hold for the f32 values.

use super::{form_min, standard, sub_err, LayerBounds, RowBounds, Rows};
use crate::bounds::relax::{relu_phase, ReluPhase};
use crate::search::chain::Chain;
use crate::tolerances::{gamma, gamma_dot, F64_UNIT_ROUNDOFF, UNDERFLOW_PAD};
use ndarray::{Array2, ArrayView2};

/// What a backward pass reads, per domain of the batch.
pub(crate) struct State<'a> {
    pub lo: ArrayView2<'a, f64>,
    pub hi: ArrayView2<'a, f64>,
    pub xmax: ArrayView2<'a, f64>,
    /// Per layer `i`: `|W_i|·|h_{i−1}|max + |b_i|` (`B × n_i`), over the final bounds.
    pub mags: Vec<Array2<f64>>,
    /// Per layer: its ReLU's relaxation (`None` without a ReLU).
    pub relax: Vec<Option<Relax>>,
    /// Per layer: the forward forms of its output (`None` without forward bounds).
    pub forms: Vec<Option<super::forward::Forms>>,
}

/// One ReLU layer's relaxation for every domain (`B × n` each): the multiplier of `λ >= 0`
/// (`pos`) and of `λ < 0` (`neg`), the intercept `−s·l` taken where `λ < 0`, and the error
/// weight `|z|max + |s·l|` of unstable neurons (0 elsewhere: those steps are exact).
pub(crate) struct Relax {
    pos: Array2<f64>,
    neg: Array2<f64>,
    icpt: Array2<f64>,
    ew: Array2<f64>,
}

impl Relax {
    /// The relaxation over the final bounds `b` of the ReLU's input.
    #[inline(always)]
    pub fn new(b: &LayerBounds) -> Relax {
        let dim = b.lo.raw_dim();
        let mut r = Relax {
            pos: Array2::ones(dim),
            neg: Array2::ones(dim),
            icpt: Array2::zeros(dim),
            ew: Array2::zeros(dim),
        };
        for ((d, j), &l) in b.lo.indexed_iter() {
            let u = b.hi[[d, j]];
            match relu_phase(l, u) {
                ReluPhase::Active => {}
                ReluPhase::Inactive => {
                    r.pos[[d, j]] = 0.0;
                    r.neg[[d, j]] = 0.0;
                }
                ReluPhase::Unstable { upper_slope: s } => {
                    r.pos[[d, j]] = if u >= -l { 1.0 } else { 0.0 };
                    r.neg[[d, j]] = s;
                    r.icpt[[d, j]] = -s * l;
                    r.ew[[d, j]] = l.abs().max(u.abs()) + (s * l).abs();
                }
            }
        }
        r
    }
}

/// Rows on the way back.
struct Pass {
    dom: Vec<u32>,
    /// `R × n`: `λ` on the current layer's output.
    lam: Array2<f64>,
    kappa: Vec<f64>,
    /// `Σ |terms added to κ|`.
    kmag: Vec<f64>,
    err: Vec<f64>,
}

/// Runs `p` (rows on the output of layer `start`) back through layers `start..=stop`, then to
/// the input through the forward forms of layer `stop − 1`'s output when `stop > 0`; the rows'
/// bounds and forms.
fn run(chain: &Chain, start: usize, stop: usize, mut p: Pass, st: &State) -> RowBounds {
    let mut steps = 0;
    for i in (stop..=start).rev() {
        let layer = &chain.layers[i];
        if let Some(rx) = &st.relax[i] {
            let g = gamma_dot(layer.n_out() + 2, F64_UNIT_ROUNDOFF);
            for (r, mut row) in p.lam.rows_mut().into_iter().enumerate() {
                let d = p.dom[r] as usize;
                let row = row.as_slice_mut().expect("row-major λ");
                let [add, e] = relu_row(
                    row,
                    rx.pos.row(d).as_slice().expect("contiguous"),
                    rx.neg.row(d).as_slice().expect("contiguous"),
                    rx.icpt.row(d).as_slice().expect("contiguous"),
                    rx.ew.row(d).as_slice().expect("contiguous"),
                );
                p.kappa[r] += add;
                p.kmag[r] += add.abs();
                p.err[r] += g * e;
            }
        }
        let mags = &st.mags[i];
        // The products' f64 rounding and the layer's f32 residual `|λ|·ρ·v` (see `super`).
        let g = layer.gamma_back + layer.f32;
        let bias = layer.b.as_slice().expect("contiguous");
        for (r, row) in p.lam.rows().into_iter().enumerate() {
            let d = p.dom[r] as usize;
            let row = row.as_slice().expect("row-major λ");
            let [add, e] = dot_and_abs_dot(row, bias, mags.row(d).as_slice().expect("contiguous"));
            p.kappa[r] += add;
            p.kmag[r] += add.abs();
            p.err[r] += g * e;
        }
        p.lam = standard(p.lam.dot(&layer.w));
        steps += 1;
    }
    if stop > 0 {
        let forms = st.forms[stop - 1]
            .as_ref()
            .expect("forms of every layer when truncating");
        let mut a = Array2::zeros((p.dom.len(), st.lo.ncols()));
        for (r, row) in p.lam.rows().into_iter().enumerate() {
            let d = p.dom[r] as usize;
            let out = a.row_mut(r).into_slice().expect("row-major");
            let (k, slack) = forms.pull(d, row.as_slice().expect("row-major λ"), out);
            p.kappa[r] += k;
            p.kmag[r] += k.abs();
            p.err[r] += slack;
        }
        p.lam = a;
        steps += 1;
    }
    let rows = p.dom.len();
    let mut out = RowBounds {
        bounds: None,
        lb: vec![0.0; rows],
        k: vec![0.0; rows],
        a: p.lam,
    };
    for r in 0..rows {
        let d = p.dom[r] as usize;
        let pad = p.err[r] + gamma(steps + 2) * p.kmag[r] + UNDERFLOW_PAD;
        let k = sub_err(p.kappa[r], pad);
        out.k[r] = k;
        let a = out.a.row(r);
        out.lb[r] = form_min(
            a.as_slice().expect("row-major"),
            k,
            st.lo.row(d).as_slice().expect("contiguous"),
            st.hi.row(d).as_slice().expect("contiguous"),
            st.xmax.row(d).as_slice().expect("contiguous"),
        );
    }
    out
}

/// The objective rows through the whole chain.
pub(crate) fn objective_rows(chain: &Chain, rows: &Rows, st: &State) -> RowBounds {
    let p = Pass {
        dom: rows.dom.clone(),
        lam: rows.c.clone(),
        kappa: rows.rhs.iter().map(|v| -v).collect(),
        kmag: rows.rhs.iter().map(|v| v.abs()).collect(),
        err: vec![0.0; rows.dom.len()],
    };
    run(chain, chain.layers.len() - 1, 0, p, st)
}

/// Tightens the bounds `b` of layer `i`'s pre-activations (`i > 0`) by backward passes from the
/// neurons still unstable: upper bounds first (`−e_j`), then lower bounds of those the upper
/// bound leaves unstable. The first step, `±e_j·(W h + b) = ±W_j·h ± b_j`, is exact.
/// With `depth > 0` the passes go back `depth` layers and finish through the forward forms.
pub(crate) fn tighten(chain: &Chain, i: usize, b: &mut LayerBounds, st: &State, depth: usize) {
    let layer = &chain.layers[i];
    for sign in [-1.0, 1.0] {
        let sel: Vec<(usize, usize)> =
            b.lo.indexed_iter()
                .filter(|&((d, j), &l)| l < 0.0 && b.hi[[d, j]] > 0.0)
                .map(|(ix, _)| ix)
                .collect();
        if sel.is_empty() {
            return;
        }
        let mut lam = Array2::zeros((sel.len(), layer.n_in()));
        for (r, &(_, j)) in sel.iter().enumerate() {
            lam.row_mut(r).assign(&layer.w.row(j));
            if sign < 0.0 {
                lam.row_mut(r).mapv_inplace(|v| -v);
            }
        }
        let p = Pass {
            dom: sel.iter().map(|&(d, _)| d as u32).collect(),
            lam,
            kappa: sel.iter().map(|&(_, j)| sign * layer.b[j]).collect(),
            kmag: sel.iter().map(|&(_, j)| layer.b[j].abs()).collect(),
            // The f32 residual of `z_j` itself, `ρ·v_j` (the first step is exact otherwise).
            err: (sel.iter())
                .map(|&(d, j)| layer.f32 * st.mags[i][[d, j]])
                .collect(),
        };
        let stop = if depth > 0 {
            i.saturating_sub(depth)
        } else {
            0
        };
        let out = run(chain, i - 1, stop, p, st);
        for (r, &(d, j)) in sel.iter().enumerate() {
            if sign < 0.0 {
                b.hi[[d, j]] = b.hi[[d, j]].min(-out.lb[r]);
            } else {
                b.lo[[d, j]] = b.lo[[d, j]].max(out.lb[r]);
            }
        }
    }
}

/// Partial sums per reduction: independent accumulators let the loops vectorise (every error
/// bound here holds for any summation order).
const LANES: usize = 8;

/// The ReLU step on one row `λ` (see the module doc), in place: returns `[Σ min(λ,0)·icpt,
/// Σ |λ|·ew]`. A NaN in `λ` reaches the error sum (`|NaN|·ew` is NaN even where `ew = 0`), so
/// the row's bound becomes `−inf` rather than silently losing it.
#[inline(always)]
fn relu_row(row: &mut [f64], pos: &[f64], neg: &[f64], icpt: &[f64], ew: &[f64]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    if crate::search::simd::avx2_fma() {
        // SAFETY: AVX2 checked just above.
        return unsafe { relu_row_avx2(row, pos, neg, icpt, ew) };
    }
    let n = row.len();
    let (pos, neg, icpt, ew) = (&pos[..n], &neg[..n], &icpt[..n], &ew[..n]);
    let mut add = [0.0; LANES];
    let mut e = [0.0; LANES];
    for j in 0..n {
        let v = row[j];
        let (vp, vn) = if v > 0.0 { (v, 0.0) } else { (0.0, v) };
        row[j] = vp * pos[j] + vn * neg[j];
        add[j % LANES] += vn * icpt[j];
        e[j % LANES] += v.abs() * ew[j];
    }
    [add.iter().sum(), e.iter().sum()]
}

/// [`relu_row`] four lanes wide.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn relu_row_avx2(
    row: &mut [f64],
    pos: &[f64],
    neg: &[f64],
    icpt: &[f64],
    ew: &[f64],
) -> [f64; 2] {
    use std::arch::x86_64::*;
    let n = row.len();
    assert!(pos.len() >= n && neg.len() >= n && icpt.len() >= n && ew.len() >= n);
    let zero = _mm256_setzero_pd();
    let sign = _mm256_set1_pd(-0.0);
    let (mut add, mut e) = (zero, zero);
    let full = n / 4 * 4;
    let mut j = 0;
    while j < full {
        // SAFETY: j + 4 <= n for every slice (asserted lengths).
        unsafe {
            let v = _mm256_loadu_pd(row.as_ptr().add(j));
            let vp = _mm256_max_pd(v, zero);
            let vn = _mm256_min_pd(v, zero);
            let out = _mm256_add_pd(
                _mm256_mul_pd(vp, _mm256_loadu_pd(pos.as_ptr().add(j))),
                _mm256_mul_pd(vn, _mm256_loadu_pd(neg.as_ptr().add(j))),
            );
            _mm256_storeu_pd(row.as_mut_ptr().add(j), out);
            add = _mm256_add_pd(
                add,
                _mm256_mul_pd(vn, _mm256_loadu_pd(icpt.as_ptr().add(j))),
            );
            let abs = _mm256_andnot_pd(sign, v);
            e = _mm256_add_pd(e, _mm256_mul_pd(abs, _mm256_loadu_pd(ew.as_ptr().add(j))));
        }
        j += 4;
    }
    let (mut a, mut b) = (hsum(add), hsum(e));
    for j in full..n {
        let v = row[j];
        let (vp, vn) = if v > 0.0 { (v, 0.0) } else { (0.0, v) };
        row[j] = vp * pos[j] + vn * neg[j];
        a += vn * icpt[j];
        b += v.abs() * ew[j];
    }
    [a, b]
}

/// The sum of the four lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hsum(v: std::arch::x86_64::__m256d) -> f64 {
    let mut lanes = [0.0; 4];
    // SAFETY: `lanes` holds four f64; AVX is enabled on this function.
    unsafe { std::arch::x86_64::_mm256_storeu_pd(lanes.as_mut_ptr(), v) };
    lanes.iter().sum()
}

/// `[Σ λ·b, Σ |λ|·m]` over one row.
#[inline(always)]
fn dot_and_abs_dot(row: &[f64], b: &[f64], m: &[f64]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    if crate::search::simd::avx2_fma() {
        // SAFETY: AVX2 checked just above.
        return unsafe { dot_and_abs_dot_avx2(row, b, m) };
    }
    let n = row.len();
    let (b, m) = (&b[..n], &m[..n]);
    let mut add = [0.0; LANES];
    let mut e = [0.0; LANES];
    for j in 0..n {
        add[j % LANES] += row[j] * b[j];
        e[j % LANES] += row[j].abs() * m[j];
    }
    [add.iter().sum(), e.iter().sum()]
}

/// [`dot_and_abs_dot`] four lanes wide.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_and_abs_dot_avx2(row: &[f64], b: &[f64], m: &[f64]) -> [f64; 2] {
    use std::arch::x86_64::*;
    let n = row.len();
    assert!(b.len() >= n && m.len() >= n);
    let sign = _mm256_set1_pd(-0.0);
    let (mut add, mut e) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let full = n / 4 * 4;
    let mut j = 0;
    while j < full {
        // SAFETY: j + 4 <= n for every slice (asserted lengths).
        unsafe {
            let v = _mm256_loadu_pd(row.as_ptr().add(j));
            add = _mm256_add_pd(add, _mm256_mul_pd(v, _mm256_loadu_pd(b.as_ptr().add(j))));
            let abs = _mm256_andnot_pd(sign, v);
            e = _mm256_add_pd(e, _mm256_mul_pd(abs, _mm256_loadu_pd(m.as_ptr().add(j))));
        }
        j += 4;
    }
    let (mut a, mut s) = (hsum(add), hsum(e));
    for j in full..n {
        a += row[j] * b[j];
        s += row[j].abs() * m[j];
    }
    [a, s]
}
