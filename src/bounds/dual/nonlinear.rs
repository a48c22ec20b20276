//! The backward steps of the nonlinear ops other than ReLU ([`super::kernels::relu_back`]): the
//! element-wise curves (sigmoid, tanh, sign, square) through one lower and one upper line per
//! element, the product of two computed values through two planes, and softmax through its
//! groups' lines. The lines come from [`crate::bounds::relax`]; each kernel adds what bounds its
//! own rounding into `acc.err`, as the other kernels do (the argument is at each one).

use super::kernels::Acc;
use super::Real;
use crate::bounds::relax::{Lines, Planes, SoftmaxLines};
use crate::tolerances::gamma_dot;
use ndarray::{Array2, ArrayView2};

/// An element-wise curve `y_e = f(z_e)` with the lines `lines[e]`: where `λ_e >= 0` the lower
/// line (`λ_e·f(z_e) >= λ_e·(lo_a·z_e + lo_b)`), where `λ_e < 0` the upper one, so
/// `λ_z = λ·a` and `κ += λ·b`.
///
/// Rounding: the new `λ` is `fl(λ·fl(a))`, off by at most `γ_2·|λ||a|`, which moves `λ·z` by at
/// most that times `|z|max`; the f64 sum of the intercepts is off by at most `γ_n·Σ|λ||b|`. Both
/// are covered by `gamma_T(n + 2)·Σ|λ|·(|a|·|z|max + |b|)`. A zero `λ_e` takes no line (an
/// infinite intercept would make `0·∞`): it stays 0.
///
/// With `patch`, row `r` uses the lines `patch(r)` gives for some elements instead (a row's
/// split neurons, relaxed over their restricted interval, which lies inside `[l, u]`: `|z|max`
/// still bounds it).
pub(crate) fn lines_back<T: Real>(
    lam: &mut Array2<T>,
    lines: &[Lines],
    mag: &[f64],
    patch: Option<&dyn Fn(usize) -> Vec<(usize, Lines)>>,
    acc: &mut Acc,
) {
    let g = gamma_dot(lines.len() + 2, T::UNIT_ROUNDOFF);
    let mut row_lines = Vec::new();
    for (r, mut row) in lam.rows_mut().into_iter().enumerate() {
        let patched = patch.map(|p| p(r)).unwrap_or_default();
        let lines = if patched.is_empty() {
            lines
        } else {
            row_lines.clear();
            row_lines.extend_from_slice(lines);
            for (col, ln) in patched {
                row_lines[col] = ln;
            }
            &row_lines[..]
        };
        let (mut add, mut e) = (0.0, 0.0);
        for ((v, ln), &mg) in row.iter_mut().zip(lines).zip(mag) {
            let x = v.to_f64();
            if x == 0.0 {
                continue;
            }
            let (a, b) = if x >= 0.0 {
                (ln.lo_a, ln.lo_b)
            } else {
                (ln.up_a, ln.up_b)
            };
            e += x.abs() * (a.abs() * mg + b.abs());
            add += x * b;
            *v = *v * T::from_f64(a);
        }
        acc.kappa[r] += add;
        acc.kappa_mag[r] += add.abs();
        acc.err[r] += g * e;
    }
}

/// The product `z_e = x_e·y_e` with the planes `planes[e]`: where `λ_e >= 0` the lower plane
/// (`λ_e·z_e >= λ_e·(a·x_e + b·y_e + lo_c)`), where `λ_e < 0` the upper one, so `λ_x = λ·a`,
/// `λ_y = λ·b` and `κ += λ·c`. Rounding as in [`lines_back`], with
/// `|a|·|x|max + |b|·|y|max + |c|` per element. Returns `(λ_x, λ_y)`.
pub(crate) fn mul_back<T: Real>(
    lam: ArrayView2<T>,
    planes: &[Planes],
    mag_x: &[f64],
    mag_y: &[f64],
    acc: &mut Acc,
) -> (Array2<T>, Array2<T>) {
    let g = gamma_dot(planes.len() + 2, T::UNIT_ROUNDOFF);
    let mut lx = Array2::zeros(lam.raw_dim());
    let mut ly = Array2::zeros(lam.raw_dim());
    for (r, row) in lam.rows().into_iter().enumerate() {
        let (mut add, mut e) = (0.0, 0.0);
        for (k, (&v, p)) in row.iter().zip(planes).enumerate() {
            let x = v.to_f64();
            if x == 0.0 {
                continue;
            }
            let c = if x >= 0.0 { p.lo_c } else { p.up_c };
            e += x.abs() * (p.a.abs() * mag_x[k] + p.b.abs() * mag_y[k] + c.abs());
            add += x * c;
            lx[[r, k]] = v * T::from_f64(p.a);
            ly[[r, k]] = v * T::from_f64(p.b);
        }
        acc.kappa[r] += add;
        acc.kappa_mag[r] += add.abs();
        acc.err[r] += g * e;
    }
    (lx, ly)
}

/// The shift `t` of one group's coefficients `lam` (see [`softmax_back`]): the weighted median of
/// the `λ_e` with weights `gap[e]`, which minimises `Σ_e |λ_e − t|·gap[e]`; 0 when every gap is 0.
fn weighted_median(lam: &[f64], gap: impl Fn(usize) -> f64) -> f64 {
    let total: f64 = (0..lam.len()).map(&gap).sum();
    if total.is_nan() || total <= 0.0 || lam.iter().any(|v| !v.is_finite()) {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..lam.len()).collect();
    order.sort_by(|&a, &b| lam[a].total_cmp(&lam[b]));
    let mut cum = 0.0;
    for &k in &order {
        cum += gap(k);
        if cum >= 0.5 * total {
            return lam[k];
        }
    }
    lam[order[order.len() - 1]]
}

/// Softmax, group by group (`groups[k]`: the group's element indices and their lines). Within a
/// group `Σ_e y_e = 1` exactly, so for any `t`, `λ·y = (λ − t)·y + t`: each row first shifts its
/// group's coefficients by the weighted median `t` of the `λ_e`, weighted by the bands' widths
/// (which minimises `Σ_e |λ_e − t|·gap_e`, what relaxing costs), then bounds each `λ'_e·y_e`
/// (`λ' = λ − t`) with output `e`'s lower line where `λ'_e >= 0`, its upper one otherwise:
/// `λ_x = λ'·slope` and `κ += t + Σ_e λ'_e·c_e`.
///
/// Rounding, per row: the shift `fl(λ_e − t)` is off by at most `u·|λ'_e|`, which moves `λ'·y` by
/// at most `u·Σ|λ'_e|` (`0 <= y_e <= 1`); `λ'·slope` runs in f64 and is rounded to `T` once, off
/// by at most `γ_{n+1}·Σ_e |λ'_e||A_ej|` in column `j`, which moves `λ_x·x` by that times
/// `|x_j|max`; the f64 sum into κ (all groups, `N` terms) by at most `γ_N·(Σ|t| + Σ|λ'_e c_e|)`.
/// All are covered by `gamma_T(N + 3)·Σ (|t| + Σ_e |λ'_e|·(Σ_j |A_ej|·|x_j|max + |c_e| + 1))`
/// with `N` the row's width plus its groups.
pub(crate) fn softmax_back<T: Real>(
    lam: ArrayView2<T>,
    groups: &[(Vec<usize>, SoftmaxLines)],
    mag: &[f64],
    acc: &mut Acc,
) -> Array2<T> {
    let width = lam.ncols();
    let g = gamma_dot(width + groups.len() + 3, T::UNIT_ROUNDOFF);
    let mut out = Array2::zeros(lam.raw_dim());
    let mut next = vec![0.0; width];
    for (r, row) in lam.rows().into_iter().enumerate() {
        next.iter_mut().for_each(|v| *v = 0.0);
        let (mut add, mut e) = (0.0, 0.0);
        for (idx, ln) in groups {
            let l: Vec<f64> = idx.iter().map(|&k| row[k].to_f64()).collect();
            if l.iter().all(|&v| v == 0.0) {
                continue;
            }
            let t = weighted_median(&l, |k| ln.gap(k));
            add += t;
            e += t.abs();
            for (k, &lk) in l.iter().enumerate() {
                let s = lk - t;
                if s == 0.0 {
                    continue;
                }
                let c = if s >= 0.0 { ln.lo_c[k] } else { ln.up_c[k] };
                add += s * c;
                let mut w = c.abs() + 1.0;
                for (jj, &j) in idx.iter().enumerate() {
                    let a = ln.slope[[k, jj]];
                    if a != 0.0 {
                        next[j] += s * a;
                        w += a.abs() * mag[j];
                    }
                }
                e += s.abs() * w;
            }
        }
        for (o, &v) in out.row_mut(r).iter_mut().zip(&next) {
            *o = T::from_f64(v);
        }
        acc.kappa[r] += add;
        acc.kappa_mag[r] += add.abs();
        acc.err[r] += g * e;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::weighted_median;

    #[test]
    fn weighted_median_minimises_the_weighted_distance() {
        let lam = [3.0, -1.0, 0.5, 2.0];
        let gap = [1.0, 1.0, 5.0, 1.0];
        let t = weighted_median(&lam, |k| gap[k]);
        assert_eq!(t, 0.5);
        let cost = |t: f64| (0..4).map(|k| (lam[k] - t).abs() * gap[k]).sum::<f64>();
        for s in [-1.0, 0.0, 0.4, 0.6, 2.0, 3.0] {
            assert!(cost(t) <= cost(s));
        }
        assert_eq!(weighted_median(&lam, |_| 0.0), 0.0);
    }
}
