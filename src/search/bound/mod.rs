//! Batched sound bounds over many boxes of one [`Chain`]: a batch of `B` domains is a matrix
//! (`B × n` per layer), so every layer costs a few matrix products whatever `B` is.
//!
//! For each domain and each objective row `c·y − rhs` (`y` the network output) the kernels give
//! a sound lower bound over the domain's box, and (linear bounds) a linear form `a·x + k` with
//! `c·y(x) − rhs >= a·x + k` for every `x` in the box, in exact real arithmetic: the form is what
//! clipping, branching and the witness use.
//!
//! 1. [`interval_rows`]: interval bounds through every layer (exact on the first layer).
//! 2. [`linear_rows`]: layer by layer, the interval bounds of each pre-activation tightened by
//!    - forward linear bounds ([`forward`], DeepPoly/CROWN-forward in the `n₀` inputs: lower and
//!      upper linear forms of every neuron carried forward with the adaptive relaxation), and/or
//!    - backward linear bounds (CROWN, [`backward`]) of the neurons still unstable,
//!
//!    then the output rows by one backward CROWN pass over those bounds.
//!
//! Floating point: every number that bounds something carries its rounding error. Products are
//! padded by Higham's `γ_n` times the magnitude of their terms (written at each kernel); the
//! forward forms carry an explicit slack `ε` per neuron, the backward rows an error sum `err`,
//! both built from the same magnitudes (`|W|·|h|max + |b|` per layer and domain, which the
//! interval step computes anyway).
//!
//! The f32 evaluation (issue 15; VNN-COMP judges a counterexample by onnxruntime's f32 output):
//! at an f32 input `x̂` of the box, the f32 evaluation computes `ẑ_k = W_k·ĥ_{k−1} + b_k + r_k`,
//! `ĥ_k = relu(ẑ_k)` (ReLU is exact), with a residual `|r_k| <= R_k = ρ_k·(|W_k|·|ĥ_{k−1}| + |b_k|)`
//! per affine layer (`ρ_k` = [`Layer::f32`], derived in [`crate::bounds::f32_error`]). Every
//! bound here is a bound of this *perturbed* chain, over every `x` in the box and every
//! `|r_k| <= R_k` (the exact network is `r = 0`), with `R_k` taken over the perturbed bounds of
//! `ĥ_{k−1}` (`ρ_k·v`, `v` the interval step's magnitude, which is over them):
//! - interval steps widen `z` by `R_k` (so ReLUs are relaxed over bounds that hold for the f32
//!   values too, and a relaxation of `relu` over `[l, u]` covers `relu(ẑ)`);
//! - forward forms add `R_k` to the slack `ε` of layer `k` (the first layer's included);
//! - backward passes subtract `Σ_k |λ_k|·R_k` (`λ_k` the row's multiplier on `ẑ_k`: added to
//!   `err` with the f64 rounding at each affine step), and an intermediate row `±e_j` of layer
//!   `i` starts with its own `R_ij`.
//!
//! So a row bound `> 0` refutes the row for the exact network and for every f32 evaluation; the
//! forms `a·x + k` lie below the row for both, which keeps clipping and the Farkas combination
//! sound for both. The price is a per-layer term `~10^-7·|W|·|h|`, where an output-level slack
//! (`f32_error`'s, propagated by `|W|` through every layer) is orders of magnitude larger.

pub(crate) mod backward;

pub(crate) mod forward;

use super::chain::{Chain, Layer};
use crate::tolerances::{gamma, SUM_SLACK, UNDERFLOW_PAD};
use ndarray::{Array2, ArrayView2, Axis, Zip};

/// Objective rows for a batch: row `r` belongs to domain `dom[r]` and is `c[r]·y − rhs[r]`.
/// Rows are grouped by domain (non-decreasing `dom`).
pub(crate) struct Rows {
    pub dom: Vec<u32>,
    /// `R × n_out`.
    pub c: Array2<f64>,
    pub rhs: Vec<f64>,
}

/// Which bounds tighten the intermediate (pre-ReLU) layers of [`linear_rows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Intermediate {
    /// Forward linear bounds of every neuron.
    pub forward: bool,
    /// Backward linear bounds (CROWN) of the neurons still unstable.
    pub backward: bool,
    /// With both: the backward passes go back this many layers, then use the forward forms
    /// of the layer they reach (0: all the way to the input).
    pub depth: usize,
}

/// Per objective row: a sound lower bound, and the linear form `a·x + k` below the row.
pub(crate) struct RowBounds {
    /// With inherited bounds: each domain's final intermediate bounds, laid out as
    /// [`Chain::inherit_layout`] says, rounded outward to f32 (for its children).
    pub bounds: Option<Array2<f32>>,
    pub lb: Vec<f64>,
    /// `R × n₀`.
    pub a: Array2<f64>,
    pub k: Vec<f64>,
}

/// Bounds of one layer's pre-activations for every domain of the batch (`B × n`).
pub(crate) struct LayerBounds {
    pub lo: Array2<f64>,
    pub hi: Array2<f64>,
}

impl LayerBounds {
    /// Intersects with inherited bounds (columns `at..at + 2n` of `p`: `lo` then `hi`).
    fn intersect(&mut self, p: &ArrayView2<f32>, at: usize) {
        let n = self.lo.ncols();
        for d in 0..self.lo.nrows() {
            let (pl, ph) = (p.row(d), p.row(d));
            for j in 0..n {
                let (l, h) = (pl[at + j] as f64, ph[at + n + j] as f64);
                let (nl, nh) = (self.lo[[d, j]].max(l), self.hi[[d, j]].min(h));
                // Both are sound, so they overlap; keep our own if rounding says otherwise.
                if nl <= nh {
                    self.lo[[d, j]] = nl;
                    self.hi[[d, j]] = nh;
                }
            }
        }
    }

    /// Writes the bounds into columns `at..at + 2n` of `k`, rounded outward to f32.
    fn store(&self, k: &mut Array2<f32>, at: usize) {
        let n = self.lo.ncols();
        for d in 0..self.lo.nrows() {
            let mut row = k.row_mut(d);
            for j in 0..n {
                row[at + j] = f32_down(self.lo[[d, j]]);
                row[at + n + j] = f32_up(self.hi[[d, j]]);
            }
        }
    }

    /// The bounds of `relu` of these values (`relu` is monotone and exact in floating point).
    fn relu(&self) -> LayerBounds {
        LayerBounds {
            lo: self.lo.mapv(|v| v.max(0.0)),
            hi: self.hi.mapv(|v| v.max(0.0)),
        }
    }
}

/// `a` in row-major order (ndarray may return a product column-major when a dimension is 1).
pub(crate) fn standard(a: Array2<f64>) -> Array2<f64> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// The largest f32 `<= v` (NaN stays NaN, which intersecting ignores).
pub(crate) fn f32_down(v: f64) -> f32 {
    let f = v as f32;
    if (f as f64) > v {
        f.next_down()
    } else {
        f
    }
}

/// The smallest f32 `>= v`.
pub(crate) fn f32_up(v: f64) -> f32 {
    let f = v as f32;
    if (f as f64) < v {
        f.next_up()
    } else {
        f
    }
}

/// `max(|lo|, |hi|)` element-wise.
pub(crate) fn magnitude(lo: &Array2<f64>, hi: &Array2<f64>) -> Array2<f64> {
    let mut m = lo.mapv(f64::abs);
    Zip::from(&mut m)
        .and(hi)
        .for_each(|m, &h| *m = m.max(h.abs()));
    m
}

/// Interval step through `z = W·h + b` for `h ∈ [lo, hi]` (each `B × n_in`), in centre/radius
/// form: with `h ∈ [m − r, m + r]`, `z ∈ [W·m + b − |W|·r, W·m + b + |W|·r]`. The centre is
/// `l/2 + u/2` and the radius `max(u − m, m − l)` rounded up, so `[m − r, m + r] ⊇ [l, u]`
/// exactly. Padded by `γ(n_in + 1)·(|W|·(|m| + r) + |b|)`, which bounds the rounding of
/// `W·m + b`, `|W|·r` and the final additions (Higham; `γ` here is doubled, see
/// [`crate::tolerances::gamma`]).
///
/// The f32 evaluation (see the module doc) adds a residual `|r| <= ρ·(|W|·|h|max + |b|)` to
/// `z`: the bounds are widened by `ρ·v` too, so they hold for the f32 values as well when
/// `[lo, hi]` does.
///
/// Also returns that magnitude `v = |W|·(|m| + r) + |b| >= |W|·|h|max + |b|`: the weight of
/// this layer's rounding error and of its f32 residual in every pass over the same bounds.
#[inline(always)]
pub(crate) fn interval_step(
    layer: &Layer,
    lo: &Array2<f64>,
    hi: &Array2<f64>,
) -> (LayerBounds, Array2<f64>) {
    let mut mid = lo.clone();
    let mut rad = lo.clone();
    Zip::from(&mut mid)
        .and(&mut rad)
        .and(lo)
        .and(hi)
        .for_each(|m, r, &l, &u| {
            if l == u {
                *m = l;
                *r = 0.0;
            } else {
                *m = 0.5 * l + 0.5 * u;
                *r = (u - *m).max(*m - l).next_up();
            }
        });
    let b = lo.nrows();
    let mut c = mid.dot(&layer.w.t());
    // One product for |W|·r and |W|·|m|: [r; |m|]·|W|ᵀ.
    let mut stacked = ndarray::concatenate(Axis(0), &[rad.view(), mid.view()]).expect("same width");
    stacked
        .slice_mut(ndarray::s![b.., ..])
        .mapv_inplace(f64::abs);
    let both = stacked.dot(&layer.w_abs_t);
    let (r, m_abs) = both.view().split_at(Axis(0), b);
    let mut mag = Array2::zeros(c.raw_dim());
    let mut out_lo = Array2::zeros(c.raw_dim());
    // f64 rounding of this step and the f32 residual, both weighted by `v`.
    let g = layer.gamma + layer.f32;
    for d in 0..b {
        let (c_d, r_d, ma_d) = (c.row_mut(d), r.row(d), m_abs.row(d));
        let mut mag_d = mag.row_mut(d);
        let mut lo_d = out_lo.row_mut(d);
        let bias = layer.b.iter().zip(&layer.b_abs);
        for (j, (cz, (&bj, &bj_abs))) in c_d.into_iter().zip(bias).enumerate() {
            let v = ma_d[j] + r_d[j] + bj_abs;
            let centre = *cz + bj;
            let pad = g * v + UNDERFLOW_PAD;
            mag_d[j] = v;
            lo_d[j] = centre - r_d[j] - pad;
            *cz = centre + r_d[j] + pad;
        }
    }
    // `c` now holds the upper bounds.
    (LayerBounds { lo: out_lo, hi: c }, mag)
}

/// Sound lower bound of `c·y − rhs` over `y ∈ [lo, hi]`: `Σ c_k·(lo_k if c_k > 0 else hi_k) − rhs`,
/// padded by `γ(n + 1)·(Σ |c_k|·|y_k|max + |rhs|)` for its rounding.
pub(crate) fn interval_row(
    c: ndarray::ArrayView1<f64>,
    rhs: f64,
    lo: ndarray::ArrayView1<f64>,
    hi: ndarray::ArrayView1<f64>,
) -> f64 {
    let (mut sum, mut mag) = (-rhs, rhs.abs());
    for ((&ck, &l), &u) in c.iter().zip(lo).zip(hi) {
        if ck != 0.0 {
            let v = if ck > 0.0 { ck * l } else { ck * u };
            sum += v;
            mag += ck.abs() * l.abs().max(u.abs());
        }
    }
    let v = sum - gamma(c.len() + 1) * mag - UNDERFLOW_PAD;
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

/// Interval bounds of every row: the cheap first filter (`lo`, `hi`: the boxes, `B × n₀`).
pub(crate) fn interval_rows(
    chain: &Chain,
    lo: ArrayView2<f64>,
    hi: ArrayView2<f64>,
    rows: &Rows,
) -> Vec<f64> {
    let (mut l, mut h) = (lo.to_owned(), hi.to_owned());
    for layer in &chain.layers {
        let (b, _) = interval_step(layer, &l, &h);
        let b = if layer.relu { b.relu() } else { b };
        l = b.lo;
        h = b.hi;
    }
    (0..rows.dom.len())
        .map(|r| {
            let d = rows.dom[r] as usize;
            interval_row(rows.c.row(r), rows.rhs[r], l.row(d), h.row(d))
        })
        .collect()
}

/// Linear bounds of every row (see the module doc): the intermediate layers tightened as
/// `inter` says, then one backward pass for the rows. Each row's bound is also floored by the
/// interval bound over the tightened output bounds.
pub(crate) fn linear_rows(
    chain: &Chain,
    lo: ArrayView2<f64>,
    hi: ArrayView2<f64>,
    rows: &Rows,
    inter: Intermediate,
    parent: Option<ArrayView2<f32>>,
) -> RowBounds {
    #[cfg(target_arch = "x86_64")]
    if super::simd::avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { linear_rows_avx2(chain, lo, hi, rows, inter, parent) };
    }
    linear_rows_impl(chain, lo, hi, rows, inter, parent)
}

/// [`linear_rows`] compiled for AVX2, so that the element-wise loops inlined into it vectorise
/// four lanes wide.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn linear_rows_avx2(
    chain: &Chain,
    lo: ArrayView2<f64>,
    hi: ArrayView2<f64>,
    rows: &Rows,
    inter: Intermediate,
    parent: Option<ArrayView2<f32>>,
) -> RowBounds {
    linear_rows_impl(chain, lo, hi, rows, inter, parent)
}

#[inline(always)]
fn linear_rows_impl(
    chain: &Chain,
    lo: ArrayView2<f64>,
    hi: ArrayView2<f64>,
    rows: &Rows,
    inter: Intermediate,
    parent: Option<ArrayView2<f32>>,
) -> RowBounds {
    let n_layers = chain.layers.len();
    let xmax = magnitude(&lo.to_owned(), &hi.to_owned());
    let mut state = backward::State {
        lo,
        hi,
        xmax: xmax.view(),
        mags: Vec::with_capacity(n_layers),
        relax: Vec::with_capacity(n_layers),
        forms: Vec::with_capacity(n_layers),
    };
    let (offsets, stride) = chain.inherit_layout();
    let mut kept = parent.map(|_| Array2::<f32>::zeros((lo.nrows(), stride)));
    let (mut hlo, mut hhi) = (lo.to_owned(), hi.to_owned());
    for (i, layer) in chain.layers.iter().enumerate() {
        let (mut b, mag) = interval_step(layer, &hlo, &hhi);
        state.mags.push(mag);
        if let (Some(p), Some(at)) = (&parent, offsets[i]) {
            b.intersect(p, at);
        }
        let mut forms = None;
        if inter.forward {
            let mag = &state.mags[i];
            let f = match state.forms.last() {
                Some(Some(h)) => h.affine(layer, &xmax, mag),
                _ => forward::Forms::first(layer, lo.nrows(), chain.n_in, &xmax, mag),
            };
            f.tighten(&mut b, lo, hi);
            forms = Some(f);
        }
        if !layer.relu {
            // A linear layer's output passes on as it is (rare: two affine layers in a row).
            state.relax.push(None);
            state.forms.push(forms.take());
            hlo = b.lo;
            hhi = b.hi;
            continue;
        }
        if inter.backward && i > 0 {
            let depth = if inter.forward { inter.depth } else { 0 };
            backward::tighten(chain, i, &mut b, &state, depth);
        }
        if let (Some(k), Some(at)) = (&mut kept, offsets[i]) {
            b.store(k, at);
        }
        state.relax.push(Some(backward::Relax::new(&b)));
        state.forms.push(forms.take().map(|f| f.relu(&b, &xmax)));
        let hb = b.relu();
        hlo = hb.lo;
        hhi = hb.hi;
    }
    // The output bounds (intervals over the tightened layers) give a floor for each row.
    let floor: Vec<f64> = (0..rows.dom.len())
        .map(|r| {
            let d = rows.dom[r] as usize;
            interval_row(rows.c.row(r), rows.rhs[r], hlo.row(d), hhi.row(d))
        })
        .collect();
    let mut out = backward::objective_rows(chain, rows, &state);
    out.bounds = kept;
    for (v, f) in out.lb.iter_mut().zip(floor) {
        *v = v.max(f);
    }
    out
}

/// `(v − err)` rounded down, with `err` enlarged by [`SUM_SLACK`] for the rounding of the
/// non-negative sums that formed it: a sound lower bound when `v` is exact and `err` bounds the
/// error of everything else.
pub(crate) fn sub_err(v: f64, err: f64) -> f64 {
    let r = (v - err * SUM_SLACK).next_down();
    if r.is_nan() {
        f64::NEG_INFINITY
    } else {
        r
    }
}

/// Sound lower bound of `a·x + k` over the box `[lo, hi]`: `Σ min(a_m·lo_m, a_m·hi_m) + k`,
/// padded by `γ(n + 2)·(Σ |a_m|·|x_m|max + |k|)` (the rounding of `n` products and `n + 1`
/// additions).
pub(crate) fn form_min(a: &[f64], k: f64, lo: &[f64], hi: &[f64], xmax: &[f64]) -> f64 {
    let (mut sum, mut mag) = (k, k.abs());
    for m in 0..a.len() {
        let (p, q) = (a[m] * lo[m], a[m] * hi[m]);
        sum += p.min(q);
        mag += a[m].abs() * xmax[m];
    }
    sub_err(sum, gamma(a.len() + 2) * mag + UNDERFLOW_PAD)
}

#[cfg(test)]
mod tests;
