//! How far an f32 evaluation of the network (onnxruntime's, in whatever summation order) can be
//! from the exact real-arithmetic value, over an input box: the slack a proof must keep so that
//! `unsat` also holds under the VNN-COMP convention, where a counterexample is an f32 input
//! whose onnxruntime output violates the property.
//!
//! For an input `x̂` (an f32 point of the box) let `x_j` be node `j`'s exact value and `x̂_j` the
//! f32-evaluated one; `e_j` bounds `|x̂_j − x_j|` element-wise, and `M_j = max(|l_j|, |u_j|)`
//! bounds `|x_j|` (the interval bounds of the box). With `u = 2^-24` (f32's unit roundoff),
//! `W̃ = fl32(W)` (`|W̃ − W| <= u·|W|`) and Higham's `γ_n = n·u/(1 − n·u)` (any summation
//! order, with or without fused multiply-adds):
//! - input: `e = 0` (the point itself is evaluated);
//! - affine / conv, `ŷ = fl(W̃·x̂ + b̃)`, `n` the fan-in: `ŷ = W·x̂ + b + r` with the
//!   *residual* `r = (fl(W̃·x̂ + b̃) − W̃·x̂ − b̃) + (W̃ − W)·x̂ + (b̃ − b)`,
//!   `|r| <= γ_{n+5}·(|W̃|·|x̂| + |b̃|) + u·(|W|·|x̂| + |b|) <= ρ_n·(|W|·|x̂| + |b|)` with
//!   `ρ_n = γ_{n+5}·(1+u) + u` ([`affine_residual`]); so `|ŷ − y| <= |W|·e + ρ_n·(|W|·(M + e) + |b|)`.
//!   The `+5` (instead of `+1`) allows four more roundings per output for the ops the importer
//!   folds into one (a `BatchNormalization` after a `Conv`, a `Sub` and a `Div` of constants),
//!   which onnxruntime computes one after the other. The searches (`crate::search::bound`,
//!   `crate::relusplit`) use the residual itself: the f32 evaluation is the exact network with
//!   a perturbation `|r| <= ρ_n·(|W|·|x̂|max + |b|)` added at every affine layer;
//! - scale-shift: the same with `n = 1` and `|W| = |s|`;
//! - ReLU: `e` (1-Lipschitz and exact), 0 where `u + e < 0` (both values are 0 there); reshape,
//!   concat, gather move `e` with the values;
//! - sigmoid, tanh: `e/4` and `e` (their Lipschitz constants) plus [`F32_ACTIVATION_ERROR`];
//! - add of `m` tensors: `Σ e_p + γ_{m−1}·Σ (M_p + e_p)`;
//! - sign: 0 where the box keeps its sign after the error or where the network widens the step
//!   by the input's error (every proof runs on [`proof_network`], whose engines then bound the
//!   f32 step themselves), else 2; square and product of two
//!   tensors: the first-order terms plus the product's rounding; softmax: half the group's
//!   largest error (its Lipschitz constant) plus the exponentials' and the sum's rounding.
//!
//! Underflow: the relative bounds above hold while no rounding falls below f32's normal range.
//! With gradual underflow (onnxruntime keeps subnormals by default) an addition whose result is
//! subnormal is exact, and any other rounding errs by at most `2^-150` more. In
//! `fl(W̃·x̂ + b̃)` the roundings that can are the `n` weights (`|W̃ − W| <= u·|W| + 2^-150`,
//! times `|x̂|`), the `n` products and the bias: at most `2^-150·(2n + 1)·(1 + max_j |x̂_j|)`
//! more, which [`underflow`] bounds; scale-shift is the case `n = 1`, and the product of two
//! tensors and the square add one rounding (`2^-150`). Every error and residual below adds it.
//!
//! The bounds themselves are computed in f64 (relative error far below 1e-9 for any network
//! certus can hold) and scaled by `1 + ERROR_SUM_PAD`.

use super::sums::mat_sums;
use super::Bounds;
use crate::ir::{Network, Op};
use crate::spec::{LinearConstraint, Property, Region};
use crate::tolerances::{
    gamma_dot, ERROR_SUM_PAD, F32_ACTIVATION_ERROR, F32_SUBNORMAL, F32_UNIT_ROUNDOFF,
    F64_UNIT_ROUNDOFF,
};
use std::borrow::Cow;

/// `ρ_n = γ_{n+5}·(1 + u) + u` in f32 (`u = 2^-24`): an affine or convolution output with fan-in
/// `n`, evaluated in f32 (weights rounded to f32, any summation order, up to four folded ops)
/// at an f32 input `x̂`, is `W·x̂ + b + r` with `|r| <= ρ_n·(|W|·|x̂| + |b|)` (the module doc).
pub fn affine_residual(fan_in: usize) -> f64 {
    let u = F32_UNIT_ROUNDOFF;
    gamma_dot(fan_in + 5, u) * (1.0 + u) + u
}

/// The absolute error that underflow can add to an f32 dot product of fan-in `n` whose inputs
/// are at most `x_max` in magnitude (see the module doc): `F32_SUBNORMAL·(n + 1)·(1 + x_max)`
/// (`2^-149 = 2·2^-150` per weight, product and bias, which covers `2n + 1` roundings).
pub fn underflow(n: usize, x_max: f64) -> f64 {
    F32_SUBNORMAL * (n as f64 + 1.0) * (1.0 + x_max)
}

/// The largest element (0 for none).
fn max_of(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// Element-wise bounds on `|f32 evaluation − exact value|` of every node, for f32 inputs in the
/// box whose interval bounds (every node's) are `bounds`. Infinite where they are.
pub fn f32_errors(net: &Network, bounds: &[Bounds]) -> Vec<Vec<f64>> {
    let u = F32_UNIT_ROUNDOFF;
    let mag = |b: &Bounds| -> Vec<f64> {
        (b.lower.iter().zip(&b.upper))
            .map(|(l, h)| l.abs().max(h.abs()))
            .collect()
    };
    let mut errs: Vec<Vec<f64>> = Vec::with_capacity(net.nodes().len());
    for (i, node) in net.nodes().iter().enumerate() {
        let one = || node.inputs.first().map(|j| j.0).unwrap_or(0);
        let e: Vec<f64> = match &node.op {
            Op::Input => vec![0.0; bounds[i].len()],
            Op::Affine(a) => {
                let (m, e) = (mag(&bounds[one()]), &errs[one()]);
                let me: Vec<f64> = m.iter().zip(e).map(|(m, e)| m + e).collect();
                // |W|·e and |W|·(M + e) in one pass.
                let [_, we, wme] = mat_sums(&a.weight, &vec![0.0; e.len()], e, Some(&me));
                let r = affine_residual(a.weight.ncols());
                let uf = underflow(a.weight.ncols(), max_of(&me));
                (0..a.bias.len())
                    .map(|k| we[k] + r * (wme[k] + a.bias[k].abs()) + uf)
                    .collect()
            }
            Op::Conv(c) => {
                let (m, e) = (mag(&bounds[one()]), &errs[one()]);
                let me: Vec<f64> = m.iter().zip(e).map(|(m, e)| m + e).collect();
                let (we, wme) = (c.linear(e, true), c.linear(&me, true));
                let hw = c.out_chw[1] * c.out_chw[2];
                let r = affine_residual(c.fan_in());
                let uf = underflow(c.fan_in(), max_of(&me));
                (0..we.len())
                    .map(|k| we[k] + r * (wme[k] + c.bias[k / hw].abs()) + uf)
                    .collect()
            }
            Op::ScaleShift(s) => {
                let (m, e) = (mag(&bounds[one()]), &errs[one()]);
                let r = affine_residual(1);
                (0..e.len())
                    .map(|k| {
                        let (a, t) = (s.scale[k].abs(), s.shift[k].abs());
                        a * e[k] + r * (a * (m[k] + e[k]) + t) + underflow(1, m[k] + e[k])
                    })
                    .collect()
            }
            Op::Reshape => errs[one()].clone(),
            // Where `u + e < 0` both the exact and the f32 value are 0.
            Op::Relu => (errs[one()].iter().zip(&bounds[one()].upper))
                .map(|(&e, &u)| if u + e < 0.0 { 0.0 } else { e })
                .collect(),
            Op::Sigmoid => (errs[one()].iter())
                .map(|e| e / 4.0 + F32_ACTIVATION_ERROR)
                .collect(),
            Op::Tanh => (errs[one()].iter())
                .map(|e| e + F32_ACTIVATION_ERROR)
                .collect(),
            // Discontinuous at 0: no error where the box keeps the sign after the error, or
            // where the network widens the step by at least the input's error (the engines
            // then bound `sign(t)` for every `t` within `w` of the input, the f32 value's step
            // included: see `proof_network`); else up to 2 (−1 against 1).
            Op::Sign => {
                let (b, e) = (&bounds[one()], &errs[one()]);
                let w = net.sign_widening(i);
                (0..e.len())
                    .map(|k| {
                        let keeps = b.lower[k] - e[k] > 0.0 || b.upper[k] + e[k] < 0.0;
                        if keeps || w.is_some_and(|w| w[k] >= e[k]) {
                            0.0
                        } else {
                            2.0
                        }
                    })
                    .collect()
            }
            // |x̂² − x²| <= e·(2M + e), and the product's rounding.
            Op::Square => {
                let (m, e) = (mag(&bounds[one()]), &errs[one()]);
                let g = gamma_dot(6, u);
                (0..e.len())
                    .map(|k| e[k] * (2.0 * m[k] + e[k]) + g * (m[k] + e[k]).powi(2) + F32_SUBNORMAL)
                    .collect()
            }
            // |âb̂ − ab| <= (M_a + e_a)·e_b + M_b·e_a, and the product's rounding.
            Op::Mul => {
                let (ia, ib) = (node.inputs[0].0, node.inputs[1].0);
                let (ma, mb) = (mag(&bounds[ia]), mag(&bounds[ib]));
                let (ea, eb) = (&errs[ia], &errs[ib]);
                let g = gamma_dot(6, u);
                (0..ea.len())
                    .map(|k| {
                        (ma[k] + ea[k]) * eb[k]
                            + mb[k] * ea[k]
                            + g * (ma[k] + ea[k]) * (mb[k] + eb[k])
                            + F32_SUBNORMAL
                    })
                    .collect()
            }
            // Softmax is 1/2-Lipschitz from the ∞-norm to each output (the Jacobian's row sums
            // are `2·s_i·(1 − s_i)`), so an error `E` (the group's largest, plus the rounding of
            // subtracting the group's maximum, `γ_2·2M`) moves an output by `E/2`; the f32
            // computation adds, relative to outputs in [0, 1], the exponentials' error
            // (`F32_ACTIVATION_ERROR` relative, in numerator and sum) and `γ_{len+6}` for the
            // sum and the division.
            Op::Softmax(sm) => {
                let (m, e) = (mag(&bounds[one()]), &errs[one()]);
                let mut out = vec![0.0; e.len()];
                let g = gamma_dot(sm.len + 6, u);
                for group in sm.groups(e.len()) {
                    let mg = group.iter().map(|&k| m[k]).fold(0.0, f64::max);
                    let eg = group.iter().map(|&k| e[k]).fold(0.0, f64::max);
                    let v =
                        (eg + gamma_dot(2, u) * 2.0 * mg) / 2.0 + 2.0 * F32_ACTIVATION_ERROR + g;
                    group.iter().for_each(|&k| out[k] = v);
                }
                out
            }
            Op::Add => {
                let g = gamma_dot(node.inputs.len().saturating_sub(1), u);
                let mut out = vec![0.0; bounds[i].len()];
                for j in &node.inputs {
                    let m = mag(&bounds[j.0]);
                    for (k, o) in out.iter_mut().enumerate() {
                        *o += errs[j.0][k] + g * (m[k] + errs[j.0][k]);
                    }
                }
                out
            }
            Op::Concat => (node.inputs.iter())
                .flat_map(|j| errs[j.0].iter().copied())
                .collect(),
            Op::Gather { index } => index.iter().map(|&k| errs[one()][k]).collect(),
        };
        // NaN (∞ − ∞ never arises here: every term is non-negative) or ∞ stays ∞.
        let e = e
            .into_iter()
            .map(|v| {
                if v.is_nan() {
                    f64::INFINITY
                } else {
                    v * (1.0 + ERROR_SUM_PAD)
                }
            })
            .collect();
        errs.push(e);
    }
    errs
}

/// `net` as every proof should see it: each `Sign` node widened
/// ([`Network::set_sign_widening`]) by the f32 evaluation's error bound at its input over the
/// hull of `prop`'s regions' proof boxes, so that the engines' relaxations of the step cover
/// the step of the f32 value (exact away from 0, anything in `{−1, 0, 1}` within the error of
/// it) and [`f32_errors`] gives the step's output no error. Without it a `Sign` output near
/// its jump would carry the error 2 into every proof's slack, which the layers after it
/// amplify. Borrowed when the network has no `Sign`.
///
/// Each widening is computed after those of the `Sign` nodes before it, over interval bounds
/// that already use them (the values the engines bound are those of the widened network).
pub fn proof_network<'a>(net: &'a Network, prop: &Property) -> Cow<'a, Network> {
    let signs: Vec<usize> = (net.nodes().iter().enumerate())
        .filter(|(_, n)| matches!(n.op, Op::Sign))
        .map(|(i, _)| i)
        .collect();
    if signs.is_empty() || prop.regions.is_empty() {
        return Cow::Borrowed(net);
    }
    let n = net.input_len();
    let (mut lo, mut hi) = (vec![f64::INFINITY; n], vec![f64::NEG_INFINITY; n]);
    for r in &prop.regions {
        let (l, h) = r.proof_box();
        for k in 0..n.min(l.len()) {
            lo[k] = lo[k].min(l[k]);
            hi[k] = hi[k].max(h[k]);
        }
    }
    let mut proof = net.clone();
    for i in signs {
        let bounds = super::interval::interval_bounds(&proof, &lo, &hi);
        let errs = f32_errors(&proof, &bounds);
        let j = proof.nodes()[i].input().0;
        // Already padded and rounded up in `f32_errors`; NaN is no bound: ∞.
        let w = (errs[j].iter())
            .map(|&e| if e.is_nan() { f64::INFINITY } else { e })
            .collect();
        proof.set_sign_widening(i, w);
    }
    Cow::Owned(proof)
}

/// The slack of a constraint `a·y <= b`: `Σ_k |a_k|·e_k` (the f32 evaluation's error at the
/// output) plus `u·(|b| + Σ_k |a_k|·max|y_k|)` for the file's decimals (`a` and `b` are the
/// nearest f64, within `u = 2^-53` relative of the exact decimals), `y`'s bounds `out`. A sum
/// of non-negative terms, scaled by `1 + ERROR_SUM_PAD` and rounded up.
pub fn constraint_slack(c: &LinearConstraint, out_err: &[f64], out: &Bounds) -> f64 {
    let m = |k: usize| out.lower[k].abs().max(out.upper[k].abs());
    let dec: f64 = c.rhs.abs() + c.coeffs.iter().map(|&(k, a)| a.abs() * m(k)).sum::<f64>();
    let s: f64 = c
        .coeffs
        .iter()
        .map(|&(k, a)| a.abs() * out_err[k])
        .sum::<f64>()
        + F64_UNIT_ROUNDOFF * dec;
    if s.is_nan() {
        return f64::INFINITY;
    }
    (s * (1.0 + ERROR_SUM_PAD)).next_up()
}

/// The right-hand side a proof must refute for the constraint `c` (`a·y <= b`): `b` plus the
/// constraint's [`constraint_slack`] over the output errors `out_err` and bounds `out`, rounded
/// up. A sound lower bound of `a·y − proof_rhs > 0` over a box shows that neither the exact
/// network nor any f32 evaluation of it meets `c` there.
pub fn proof_rhs(c: &LinearConstraint, out_err: &[f64], out: &Bounds) -> f64 {
    (c.rhs + constraint_slack(c, out_err, out)).next_up()
}

/// `region` with every constraint `a·y <= b` of its bad case loosened to `a·y <= b + slack`
/// ([`constraint_slack`] over the output errors `out_err` and bounds `out`, the sum rounded up): a proof that
/// the loosened bad case is unreachable over the reals shows that no f32 evaluation reaches
/// the original one.
pub fn loosen(region: &Region, out_err: &[f64], out: &Bounds) -> Region {
    let mut r = region.clone();
    for c in r
        .disjuncts
        .iter_mut()
        .flat_map(|d| d.constraints.iter_mut())
    {
        c.rhs = proof_rhs(c, out_err, out);
    }
    r
}

/// Element-wise bounds `R` on node `i`'s f32 *residual*, given sound bounds `bounds` of the f32
/// values of its inputs (every node before `i`): an f32 evaluation computes
/// `x̂_i = f_i(x̂_inputs) + r` with `|r| <= R` (`f_i` the op in exact arithmetic, applied to the
/// f32 values of its inputs). The terms are those of [`f32_errors`] with the inputs' errors set
/// to 0 and `M` the magnitudes of the f32 values: affine and convolution `ρ_n·(|W|·M + |b|)`
/// ([`affine_residual`]) or the tighter bound of [`DotSums::residual`] where it is smaller
/// (it counts only the terms that can be nonzero and the largest partial sum), scale-shift `ρ_1·(|s|·M + |t|)`, sigmoid and tanh
/// [`F32_ACTIVATION_ERROR`], square `γ_6·M²`, product `γ_6·M_a·M_b`, add `γ_{m−1}·Σ M_p`,
/// softmax `γ_2·M + 2·F32_ACTIVATION_ERROR + γ_{len+6}`; ReLU, reshape, concat, gather and sign
/// are exact on their f32 inputs (0); each rounding that can underflow adds its [`underflow`]
/// term (module doc). Scaled by `1 + ERROR_SUM_PAD`; NaN becomes `∞`.
///
/// The ReLU-split search ([`crate::bounds::dual::DualNetwork::keeping_f32`]) bounds the network
/// with these perturbations at every node, so that its bounds hold for every f32 evaluation.
pub fn residual(net: &Network, i: usize, bounds: &[Bounds]) -> Vec<f64> {
    residual_with(net, i, bounds, true)
}

/// [`residual`], with `tight` off: affine and convolution nodes always take `ρ_n·(|W|·M + |b|)`
/// (the chain kernels' residual, `crate::search::chain`), for comparing with them and for
/// measuring what [`DotSums::residual`] gains.
pub fn residual_with(net: &Network, i: usize, bounds: &[Bounds], tight: bool) -> Vec<f64> {
    let u = F32_UNIT_ROUNDOFF;
    let node = &net.nodes()[i];
    let mag = |j: usize| -> Vec<f64> {
        let b = &bounds[j];
        (b.lower.iter().zip(&b.upper))
            .map(|(l, h)| l.abs().max(h.abs()))
            .collect()
    };
    let one = || node.inputs.first().map(|j| j.0).unwrap_or(0);
    let len = || net.len_of(crate::ir::NodeId(i));
    let r: Vec<f64> = match &node.op {
        Op::Input | Op::Reshape | Op::Relu | Op::Concat | Op::Gather { .. } | Op::Sign => {
            vec![0.0; len()]
        }
        Op::Affine(a) => {
            let b = &bounds[one()];
            let mut sums = vec![DotSums::default(); a.bias.len()];
            for (k, row) in a.weight.rows().into_iter().enumerate() {
                for (j, &w) in row.iter().enumerate() {
                    sums[k].add(w, b.lower[j], b.upper[j]);
                }
            }
            let n = a.weight.ncols();
            let uf = underflow(n, max_of(&mag(one())));
            (sums.iter().zip(&a.bias))
                .map(|(s, &bias)| s.residual(n, bias, tight) + uf)
                .collect()
        }
        Op::Conv(c) => {
            let b = &bounds[one()];
            let mut sums = vec![DotSums::default(); c.out_len()];
            c.for_each_tap(|o, j, w| sums[o].add(w, b.lower[j], b.upper[j]));
            let hw = c.out_chw[1] * c.out_chw[2];
            let n = c.fan_in();
            let uf = underflow(n, max_of(&mag(one())));
            (0..sums.len())
                .map(|k| sums[k].residual(n, c.bias[k / hw], tight) + uf)
                .collect()
        }
        Op::ScaleShift(s) => {
            let m = mag(one());
            let r = affine_residual(1);
            (0..m.len())
                .map(|k| r * (s.scale[k].abs() * m[k] + s.shift[k].abs()) + underflow(1, m[k]))
                .collect()
        }
        Op::Sigmoid | Op::Tanh => vec![F32_ACTIVATION_ERROR; len()],
        Op::Square => {
            let g = gamma_dot(6, u);
            (mag(one()).iter())
                .map(|m| g * m * m + F32_SUBNORMAL)
                .collect()
        }
        Op::Mul => {
            let (ma, mb) = (mag(node.inputs[0].0), mag(node.inputs[1].0));
            let g = gamma_dot(6, u);
            (ma.iter().zip(&mb))
                .map(|(a, b)| g * a * b + F32_SUBNORMAL)
                .collect()
        }
        Op::Softmax(sm) => {
            let m = mag(one());
            let mut out = vec![0.0; m.len()];
            let g = gamma_dot(sm.len + 6, u);
            for group in sm.groups(m.len()) {
                let mg = group.iter().map(|&k| m[k]).fold(0.0, f64::max);
                let v = gamma_dot(2, u) * mg + 2.0 * F32_ACTIVATION_ERROR + g;
                group.iter().for_each(|&k| out[k] = v);
            }
            out
        }
        Op::Add => {
            let g = gamma_dot(node.inputs.len().saturating_sub(1), u);
            let mut out = vec![0.0; len()];
            for j in &node.inputs {
                for (o, m) in out.iter_mut().zip(mag(j.0)) {
                    *o += g * m;
                }
            }
            out
        }
    };
    r.into_iter()
        .map(|v| {
            if v.is_nan() {
                f64::INFINITY
            } else {
                v * (1.0 + ERROR_SUM_PAD)
            }
        })
        .collect()
}

/// What the residual of one dot product `ŷ = fl(Σ_j w̃_j·x̂_j + b̃)` depends on, summed over
/// its terms with each `x̂_j` in `[l_j, u_j]` (see [`DotSums::residual`]).
#[derive(Clone, Copy, Default)]
struct DotSums {
    /// `A = Σ|w_j|·max(|l_j|, |u_j|)`: the magnitudes of the terms.
    mag: f64,
    /// `P = Σ max(0, w_j·x_j)` and `N = Σ max(0, −w_j·x_j)` at their largest over the box:
    /// every sum of a subset of the terms lies in `[−N, P]`.
    pos: f64,
    neg: f64,
    /// Terms that can be nonzero (`w_j ≠ 0` and `[l_j, u_j] ≠ [0, 0]`).
    nonzero: usize,
}

impl DotSums {
    /// Adds the term `w·x`, `x ∈ [l, u]`.
    fn add(&mut self, w: f64, l: f64, u: f64) {
        if w == 0.0 || (l == 0.0 && u == 0.0) {
            // An exact zero product: adding it rounds nothing.
            return;
        }
        let (up, lm) = (u.max(0.0), (-l).max(0.0));
        let (wp, wm) = (w.max(0.0), (-w).max(0.0));
        self.mag += w.abs() * l.abs().max(u.abs());
        self.pos += wp * up + wm * lm;
        self.neg += wp * lm + wm * up;
        self.nonzero += 1;
    }

    /// A bound on `|r|`, `r = fl(Σ w̃_j·x̂_j + b̃) − (Σ w_j·x̂_j + b)` (any summation order or
    /// tree, fused multiply-adds or not), never larger than `ρ_n·(A + |b|)`
    /// ([`affine_residual`], `n` the fan-in). The computed sum is a tree whose `m` leaves are
    /// the terms that can be nonzero (an exact zero adds no rounding), rounded products
    /// `p̂_j = fl(w̃_j·x̂_j)` and `b̃`, with `|p̂_j − w_j·x̂_j| <= (2u + u²)·|w_j·x̂_j|` and
    /// `|b̃ − b| <= u·|b|`. Each of its at most `m − 1` additions, plus up to four folded ops
    /// (as [`affine_residual`]'s `+5`), rounds its exact result `s_v` by `|δ_v| <= u`, and
    /// `s_v` is a subset sum of the leaves plus the errors below it: `|s_v| <= (1 + u)²·S +
    /// γ_m·(1 + u)²·(A + |b|)` with `S = max(P + b⁺, N + b⁻)` (Higham's bound for the
    /// subtree). So `|r| <= (2u + u²)·A + u·|b| + (m + 3)·u·(1 + u)²·(S + γ_m·(A + |b|))`.
    /// For large fan-ins this is `(n/m)·(A + |b|)/S` times smaller than `ρ_n·(A + |b|)`:
    /// inactive ReLUs feed exact zeros, and mixed signs keep partial sums small.
    /// With `tight` off: `ρ_n·(A + |b|)` itself.
    fn residual(&self, n: usize, bias: f64, tight: bool) -> f64 {
        let u = F32_UNIT_ROUNDOFF;
        let old = affine_residual(n) * (self.mag + bias.abs());
        if !tight {
            return old;
        }
        let m = self.nonzero + usize::from(bias != 0.0);
        if m == 0 {
            // Every leaf an exact zero: the f32 value is 0, as the exact one.
            return 0.0;
        }
        let s = (self.pos + bias.max(0.0)).max(self.neg + (-bias).max(0.0));
        let big = (1.0 + u) * (1.0 + u);
        let g = gamma_dot(m, u);
        let new = (2.0 * u + u * u) * self.mag
            + u * bias.abs()
            + (m + 3) as f64 * u * big * (s + g * (self.mag + bias.abs()));
        new.min(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::Rng;

    /// The f32 sum of `terms` (products rounded to f32, then summed) in the order `order`.
    fn f32_sum(w: &[f32], x: &[f32], b: f32, order: &[usize]) -> f64 {
        let mut s = b;
        for &j in order {
            s += w[j] * x[j];
        }
        f64::from(s)
    }

    /// Products below f32's normal range (weights `~1e-25` that f32 rounds, inputs `~1e-20`:
    /// products `~1e-45`, a few subnormal steps) err by up to half a step each, far beyond any
    /// relative bound; with [`underflow`] added, both residuals hold again (and would not
    /// without it: the check below fails with the term removed).
    #[test]
    fn underflowing_products_stay_inside_the_residual() {
        let mut rng = Rng::new(149);
        let mut needed = 0;
        for case in 0..200 {
            let n = 1 + case % 40;
            let w: Vec<f64> = (0..n)
                .map(|_| (rng.uniform() * 2.0 - 1.0) * 1e-25)
                .collect();
            let x: Vec<f32> = (0..n).map(|_| (rng.uniform() * 1e-20) as f32).collect();
            let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            let mut sums = DotSums::default();
            for j in 0..n {
                let v = f64::from(x[j]);
                sums.add(w[j], v, v);
            }
            let xmax = x.iter().map(|&v| f64::from(v)).fold(0.0, f64::max);
            let exact: f64 = (0..n).map(|j| w[j] * f64::from(x[j])).sum();
            let got = f32_sum(&w32, &x, 0.0, &(0..n).collect::<Vec<_>>());
            for tight in [true, false] {
                let r = sums.residual(n, 0.0, tight);
                let d = (got - exact).abs();
                needed += usize::from(d > r);
                assert!(
                    d <= r + underflow(n, xmax),
                    "case {case}: {d:e} > {r:e} + underflow"
                );
            }
        }
        assert!(needed > 100, "{needed}");
    }

    /// The tighter dot-product residual holds for f32 sums in several orders (forward, reverse,
    /// positive terms first: the largest partial sums), with inactive-ReLU zeros among the
    /// inputs and mixed signs, and is never above the general bound `ρ_n·(A + |b|)`.
    #[test]
    fn dot_residual_holds_in_every_sampled_order_and_is_tighter() {
        let mut rng = Rng::new(2026);
        let mut tighter = 0;
        for case in 0..200 {
            let n = 1 + case * 7 % 300;
            let w: Vec<f32> = (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) as f32).collect();
            // A third of the inputs are exact zeros (inactive ReLUs), the rest scaled by 1 + case.
            let x: Vec<f32> = (0..n)
                .map(|j| match j % 3 {
                    0 => 0.0,
                    _ => ((rng.uniform() * 2.0 - 0.5) * (1.0 + case as f64)) as f32,
                })
                .collect();
            let b = (rng.uniform() - 0.5) as f32;
            let mut sums = DotSums::default();
            for j in 0..n {
                let v = f64::from(x[j]);
                sums.add(f64::from(w[j]), v, v);
            }
            let r = sums.residual(n, f64::from(b), true);
            assert_eq!(
                sums.residual(n, f64::from(b), false),
                affine_residual(n) * (sums.mag + f64::from(b).abs())
            );
            let old = affine_residual(n) * (sums.mag + f64::from(b).abs());
            assert!(r <= old);
            tighter += usize::from(r < 0.5 * old);
            let exact: f64 = (0..n)
                .map(|j| f64::from(w[j]) * f64::from(x[j]))
                .sum::<f64>()
                + f64::from(b);
            let fwd: Vec<usize> = (0..n).collect();
            let rev: Vec<usize> = (0..n).rev().collect();
            let mut pos_first = fwd.clone();
            pos_first.sort_by(|&i, &j| (w[j] * x[j]).total_cmp(&(w[i] * x[i])));
            for order in [&fwd, &rev, &pos_first] {
                let got = f32_sum(&w, &x, b, order);
                // The exact f64 sum's own rounding is far below the bound's margin.
                assert!(
                    (got - exact).abs() <= r,
                    "case {case}: |{got} − {exact}| > {r}"
                );
            }
        }
        assert!(tighter > 100, "{tighter}");
    }
}
