//! Forward linear bounds (DeepPoly/CROWN-forward) in the `n₀` inputs, batched over domains.
//!
//! Every neuron `h_j` of a layer carries two linear forms in the input, a centre `C_j` and a
//! half-width `D_j`, and one slack `ε_j`: for every `x` in the domain's box (exact real
//! arithmetic, the forms' float coefficients read exactly),
//!
//! ```text
//!     C_j(x) − D_j(x) − ε_j  <=  h_j(x)  <=  C_j(x) + D_j(x) + ε_j,   C_j(x) = Σ_m C_jm·x_m + C_j0.
//! ```
//!
//! - Affine `z = W·h + b`: with `L = C − D`, `U = C + D`, the lower bound `W⁺L + W⁻U + b` is
//!   `W·C − |W|·D + b` and the upper `W·C + |W|·D + b`: so `C' = W·C + b`, `D' = |W|·D`,
//!   `ε' = |W|·ε`, two products where carrying `L` and `U` takes four. Their rounding moves the
//!   coefficients by at most `γ·(|W||C| + |b|)` and `γ·|W||D|`, which moves the forms by at
//!   most `γ·(|W|·(M_C + M_D) + |b|)` over the box (`M_F = Σ_m |F_m|·|x_m|max + |F_0|`, a
//!   form's magnitude): added to the slack.
//! - ReLU with sound bounds `[l, u]` of `z`: active neurons keep their forms, inactive ones
//!   become 0; an unstable one takes the lower form `α·(C − D)` (the adaptive `α`: 1 if
//!   `u >= −l`, else 0; `relu(z) >= α·z`) and the upper form `s·(C + D − l)` (`s >= u/(u − l)`
//!   rounded up, `relu(z) <= s·(z − l)` on `[l, u]`), re-centred: `C ← (lower + upper)/2`,
//!   `D ← (upper − lower)/2`. The slack becomes `max(α, s)·ε` plus the rounding of these few
//!   operations per coefficient, at most `γ₆·((1 + s)·(M_C + M_D) + s·|l|)`.
//!
//! - The f32 residual of an affine layer (see [`super`]), `|r| <= R = ρ·(|W|·|h|max + |b|)`, is
//!   one more perturbation of `z`: `ε' += R`, with `R = ρ·v` from the interval step's magnitude
//!   `v` over the same (final) bounds of `h`.
//!
//! The first layer's forms are the weights themselves (exact), with the slack `R` alone.

use super::{standard, sub_err, LayerBounds};
use crate::bounds::relax::{relu_phase, ReluPhase};
use crate::search::chain::Layer;
use crate::tolerances::{gamma, SUM_SLACK, UNDERFLOW_PAD};
use ndarray::{s, Array2, ArrayView2, Axis};

/// The forms of one layer for every domain of a batch.
pub(crate) struct Forms {
    n0: usize,
    /// `(B·(n₀ + 1)) × n`: row `d·(n₀+1) + m` holds domain `d`'s coefficients of `x_m`
    /// (`m < n₀`) or constants (`m = n₀`).
    c: Array2<f64>,
    /// The half-widths, laid out like `c`.
    d: Array2<f64>,
    /// `B × n`: the slack of each neuron.
    eps: Array2<f64>,
    /// `B × n`: `M_C + M_D` of each neuron over its domain's box.
    mag: Array2<f64>,
}

impl Forms {
    /// The first layer `z = W·x + b`: `C_j = W_j·x + b_j`, `D = 0`, exactly; `ε = ρ·v` for the
    /// f32 residual (`v`: the interval step's magnitudes, `B × n`).
    pub fn first(layer: &Layer, b: usize, n0: usize, xmax: &Array2<f64>, v: &Array2<f64>) -> Forms {
        let n = layer.n_out();
        let mut block = Array2::zeros((n0 + 1, n));
        block.slice_mut(s![..n0, ..]).assign(&layer.w.t());
        block.row_mut(n0).assign(&layer.b);
        let views = vec![block.view(); b];
        let mut f = Forms {
            n0,
            c: ndarray::concatenate(Axis(0), &views).expect("same width"),
            d: Array2::zeros((b * (n0 + 1), n)),
            eps: v.mapv(|v| (layer.f32 * v + UNDERFLOW_PAD) * SUM_SLACK),
            mag: Array2::zeros((b, n)),
        };
        f.mag = f.magnitudes(xmax);
        f
    }

    fn domains(&self) -> usize {
        self.eps.nrows()
    }

    /// `M_C + M_D` of every neuron (`B × n`).
    #[inline(always)]
    fn magnitudes(&self, xmax: &Array2<f64>) -> Array2<f64> {
        let n0 = self.n0;
        let n = self.eps.ncols();
        let (c, d) = (slice(&self.c), slice(&self.d));
        let mut mag = Array2::zeros(self.eps.raw_dim());
        let out = mag.as_slice_mut().expect("contiguous");
        for dom in 0..self.domains() {
            let o = &mut out[dom * n..(dom + 1) * n];
            for m in 0..=n0 {
                let w = if m == n0 { 1.0 } else { xmax[[dom, m]] };
                let at = (dom * (n0 + 1) + m) * n;
                let (cr, dr) = (&c[at..at + n], &d[at..at + n]);
                for j in 0..n {
                    o[j] += (cr[j].abs() + dr[j].abs()) * w;
                }
            }
        }
        mag
    }

    /// The forms of `z = W·h + b` from those of `h` (see the module doc); `v`: the interval
    /// step's magnitudes `|W|·|h|max + |b|` (`B × n`), the weight of the f32 residual.
    #[inline(always)]
    pub fn affine(&self, layer: &Layer, xmax: &Array2<f64>, v: &Array2<f64>) -> Forms {
        let n0 = self.n0;
        let mag = &self.mag;
        let mut c = standard(self.c.dot(&layer.w.t()));
        let d = standard(self.d.dot(&layer.w_abs_t));
        for dom in 0..self.domains() {
            let mut konst = c.row_mut(dom * (n0 + 1) + n0);
            konst += &layer.b;
        }
        // ε' = |W|·(ε + γ·(M_C + M_D)) + γ·|b| + ρ·v (the f32 residual), enlarged by
        // SUM_SLACK for the rounding of these non-negative sums.
        let g = layer.gamma;
        let mut e = self.eps.clone();
        e.zip_mut_with(mag, |e, &m| *e += g * m);
        let mut eps = e.dot(&layer.w_abs_t);
        let rho = layer.f32;
        for (mut row, v) in eps.rows_mut().into_iter().zip(v.rows()) {
            row.zip_mut_with(&layer.b_abs, |e, &b| *e += g * b);
            row.zip_mut_with(&v, |e, &v| *e = (*e + rho * v + UNDERFLOW_PAD) * SUM_SLACK);
        }
        let mut f = Forms {
            n0,
            c,
            d,
            mag: Array2::zeros(eps.raw_dim()),
            eps,
        };
        f.mag = f.magnitudes(xmax);
        f
    }

    /// Tightens `b` (the interval bounds of this layer) with the forms' extremes over each box:
    /// `min (C − D)(x) − ε` and `max (C + D)(x) + ε`. The coefficients of `C ∓ D` round once
    /// each and the sums `n₀ + 1` times: within `γ(n₀ + 3)·(M_C + M_D)` together.
    #[inline(always)]
    pub fn tighten(&self, b: &mut LayerBounds, lo: ArrayView2<f64>, hi: ArrayView2<f64>) {
        let n0 = self.n0;
        let n = self.eps.ncols();
        let g = gamma(n0 + 3);
        let mag = &self.mag;
        let (c, d) = (slice(&self.c), slice(&self.d));
        let (mut low, mut up) = (vec![0.0; n], vec![0.0; n]);
        for dom in 0..self.domains() {
            let at = (dom * (n0 + 1) + n0) * n;
            for j in 0..n {
                low[j] = c[at + j] - d[at + j];
                up[j] = c[at + j] + d[at + j];
            }
            for m in 0..n0 {
                let (l, h) = (lo[[dom, m]], hi[[dom, m]]);
                let at = (dom * (n0 + 1) + m) * n;
                let (cr, dr) = (&c[at..at + n], &d[at..at + n]);
                for j in 0..n {
                    let lf = cr[j] - dr[j];
                    let uf = cr[j] + dr[j];
                    low[j] += (lf * l).min(lf * h);
                    up[j] += (uf * l).max(uf * h);
                }
            }
            let (mut bl, mut bh) = (b.lo.row_mut(dom), b.hi.row_mut(dom));
            for j in 0..n {
                let slack = (self.eps[[dom, j]] + g * mag[[dom, j]] + UNDERFLOW_PAD) * SUM_SLACK;
                bl[j] = bl[j].max(sub_err(low[j], slack));
                bh[j] = bh[j].min(-sub_err(-up[j], slack));
            }
        }
    }

    /// The forms of `relu(z)` from those of `z` and its (sound, final) bounds `b`: per neuron
    /// `C' = p·C + q·D − t`, `D' = q·C + p·D − t` with `p = (α + s)/2`, `q = (s − α)/2` and
    /// `t = s·l/2` on the constant (active: `p = 1, q = 0`; inactive: all 0), which is the
    /// module doc's re-centring written per row.
    #[inline(always)]
    pub fn relu(mut self, b: &LayerBounds, xmax: &Array2<f64>) -> Forms {
        let n0 = self.n0;
        let n = self.eps.ncols();
        let g = gamma(6);
        let mag = std::mem::take(&mut self.mag);
        let (mut p, mut q, mut t) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for dom in 0..self.domains() {
            for j in 0..n {
                let (l, u) = (b.lo[[dom, j]], b.hi[[dom, j]]);
                (p[j], q[j], t[j]) = match relu_phase(l, u) {
                    ReluPhase::Active => (1.0, 0.0, 0.0),
                    ReluPhase::Inactive => {
                        self.eps[[dom, j]] = 0.0;
                        (0.0, 0.0, 0.0)
                    }
                    ReluPhase::Unstable { upper_slope: sl } => {
                        let alpha = if u >= -l { 1.0 } else { 0.0 };
                        let e = &mut self.eps[[dom, j]];
                        let round = g * ((1.0 + sl) * mag[[dom, j]] + sl * l.abs());
                        *e = (sl.max(1.0) * *e + round + UNDERFLOW_PAD) * SUM_SLACK;
                        (0.5 * (alpha + sl), 0.5 * (sl - alpha), 0.5 * sl * l)
                    }
                };
            }
            let (c, d) = (slice_mut(&mut self.c), slice_mut(&mut self.d));
            for m in 0..=n0 {
                let at = (dom * (n0 + 1) + m) * n;
                let (cr, dr) = (&mut c[at..at + n], &mut d[at..at + n]);
                for j in 0..n {
                    let (cv, dv) = (cr[j], dr[j]);
                    cr[j] = p[j] * cv + q[j] * dv;
                    dr[j] = q[j] * cv + p[j] * dv;
                }
                if m == n0 {
                    for j in 0..n {
                        cr[j] -= t[j];
                        dr[j] -= t[j];
                    }
                }
            }
        }
        self.mag = self.magnitudes(xmax);
        self
    }

    /// A lower bound of `λ·h` (this layer's values `h`, domain `d`) as a form in the input:
    /// `λ·h >= a·x + k − slack` on the box, with `a_m = Σ_j λ_j·C_jm − |λ_j|·D_jm` (and the
    /// same for `k`; `λ⁺·(C − D) + λ⁻·(C + D)`) and `slack = Σ_j |λ_j|·ε_j` plus the rounding of
    /// those sums, at most `γ(2n + 1)·Σ_j |λ_j|·(M_C + M_D)_j` over the box.
    pub fn pull(&self, dom: usize, lam: &[f64], a: &mut [f64]) -> (f64, f64) {
        let n0 = self.n0;
        let n = lam.len();
        let (c, d) = (slice(&self.c), slice(&self.d));
        let (mut slack, mut round) = (0.0, 0.0);
        // Column `m` of the forms (`m = n₀`: the constants).
        let column = |m: usize| {
            let at = (dom * (n0 + 1) + m) * n;
            let (cr, dr) = (&c[at..at + n], &d[at..at + n]);
            let mut v = 0.0;
            for j in 0..n {
                v += lam[j] * cr[j] - lam[j].abs() * dr[j];
            }
            v
        };
        for (m, am) in a.iter_mut().enumerate().take(n0) {
            *am = column(m);
        }
        let k = column(n0);
        let (eps, mag) = (self.eps.row(dom), self.mag.row(dom));
        for j in 0..n {
            slack += lam[j].abs() * eps[j];
            round += lam[j].abs() * mag[j];
        }
        (k, slack + gamma(2 * n + 1) * round)
    }
}

fn slice(a: &Array2<f64>) -> &[f64] {
    a.as_slice().expect("standard layout")
}

fn slice_mut(a: &mut Array2<f64>) -> &mut [f64] {
    a.as_slice_mut().expect("standard layout")
}
