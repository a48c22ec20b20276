//! Softmax over one group `y_e = e^{x_e} / Σ_j e^{x_j}`: its exact range over a box, and linear
//! bounds of each output by the mean-value theorem.

use crate::bounds::round::{
    add_down, add_up, div_down, div_up, exp_down, exp_up, mul_down, mul_up, sub_down, sub_up,
};
use ndarray::Array2;

/// Sound bounds of every output of one softmax group over the box `x ∈ [l, u]`.
///
/// `y_e = 1 / (1 + Σ_{j≠e} e^{x_j − x_e})` increases with `x_e` and decreases with every other
/// `x_j`, so its range over the box is exactly `[1 / (1 + Σ_{j≠e} e^{u_j − l_e}),
/// 1 / (1 + Σ_{j≠e} e^{l_j − u_e})]`; both are evaluated with every operation rounded outward
/// (exponentials within [`crate::tolerances::EXP_REL_PAD`]) and clamped to `[0, 1]`. A group of
/// one is the constant 1. Costs `n²` exponentials per group of `n`.
pub fn softmax_interval(l: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = l.len();
    let (mut lo, mut hi) = (vec![1.0; n], vec![1.0; n]);
    if n == 1 {
        return (lo, hi);
    }
    for e in 0..n {
        let (mut s_up, mut s_down) = (0.0, 0.0);
        for j in (0..n).filter(|&j| j != e) {
            s_up = add_up(s_up, exp_up(sub_up(u[j], l[e])));
            s_down = add_down(s_down, exp_down(sub_down(l[j], u[e])));
        }
        lo[e] = div_down(1.0, add_up(1.0, s_up)).clamp(0.0, 1.0);
        hi[e] = div_up(1.0, add_down(1.0, s_down)).clamp(0.0, 1.0);
    }
    (lo, hi)
}

/// Linear bounds of one softmax group: for every `x` in the box and every output `e`,
/// `slope[e]·x + lo_c[e] <= y_e(x) <= slope[e]·x + up_c[e]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxLines {
    /// `n × n`: row `e` holds the coefficients of `x` in output `e`'s lines.
    pub slope: Array2<f64>,
    pub lo_c: Vec<f64>,
    pub up_c: Vec<f64>,
}

impl SoftmaxLines {
    /// The width `up_c − lo_c` of output `e`'s band (what choosing its lines costs a bound).
    pub fn gap(&self, e: usize) -> f64 {
        self.up_c[e] - self.lo_c[e]
    }
}

/// Linear bounds of one softmax group over the box `x ∈ [l, u]`, by the mean-value theorem.
///
/// With `m` the box's centre and `r` its radius (`|x − m| <= r`), for every `x` in the box
/// `y_e(x) = y_e(m) + J_e(ξ)·(x − m)` for some `ξ` on the segment, inside the box. The Jacobian of
/// softmax is `J_ej = y_e·(δ_ej − y_j)`, so over the box, with `y ∈ [yl, yu]`
/// ([`softmax_interval`]): `J_ee = t(1 − t)` for some `t ∈ [yl_e, yu_e]` (concave: its minimum at
/// an end, its maximum there or `1/4` at `t = 1/2`), and `J_ej = −y_e·y_j ∈ [−yu_e·yu_j,
/// −yl_e·yl_j]`. Taking the slope `A_ej` at the middle of each `J_ej`'s interval and `R_ej` its
/// radius, `|(J_e(ξ) − A_e)·(x − m)| <= Σ_j R_ej·r_j = D_e`, so
/// `A_e·x + y_e(m) − A_e·m − D_e <= y_e(x) <= A_e·x + y_e(m) − A_e·m + D_e`,
/// with `y_e(m)` enclosed by [`softmax_interval`] at the point `m`. Every sum is rounded outward
/// term by term, so the intercepts hold exactly with the f64 slopes.
///
/// Output `e` keeps these lines only when their band is narrower than its interval `[yl_e, yu_e]`
/// (on wide boxes the Jacobian's enclosure is loose); otherwise its lines are flat at `yl_e` and
/// `yu_e`. A non-finite box gives flat lines everywhere.
pub fn softmax_lines(l: &[f64], u: &[f64]) -> SoftmaxLines {
    let n = l.len();
    let (yl, yu) = softmax_interval(l, u);
    let mut out = SoftmaxLines {
        slope: Array2::zeros((n, n)),
        lo_c: yl.clone(),
        up_c: yu.clone(),
    };
    if n == 1 || !l.iter().chain(u).all(|v| v.is_finite()) {
        return out;
    }
    let m: Vec<f64> = l.iter().zip(u).map(|(&l, &u)| 0.5 * l + 0.5 * u).collect();
    let r: Vec<f64> = (0..n)
        .map(|j| sub_up(u[j], m[j]).max(sub_up(m[j], l[j])).max(0.0))
        .collect();
    let (ml, mu) = softmax_interval(&m, &m);
    // t(1 − t) rounded outward, for t in [0, 1].
    let f_down = |t: f64| sub_down(t, mul_up(t, t));
    let f_up = |t: f64| sub_up(t, mul_down(t, t));
    for e in 0..n {
        let (mut s_hi, mut s_lo, mut d) = (0.0, 0.0, 0.0);
        let mut row = vec![0.0; n];
        for j in 0..n {
            let (jl, ju) = if j == e {
                let hi = if yl[e] <= 0.5 && 0.5 <= yu[e] {
                    0.25
                } else {
                    f_up(yl[e]).max(f_up(yu[e]))
                };
                (f_down(yl[e]).min(f_down(yu[e])), hi)
            } else {
                (-mul_up(yu[e], yu[j]), -mul_down(yl[e], yl[j]))
            };
            let a = 0.5 * jl + 0.5 * ju;
            let rad = sub_up(ju, a).max(sub_up(a, jl)).max(0.0);
            row[j] = a;
            s_hi = add_up(s_hi, mul_up(a, m[j]));
            s_lo = add_down(s_lo, mul_down(a, m[j]));
            d = add_up(d, mul_up(rad, r[j]));
        }
        let lo_c = sub_down(sub_down(ml[e], s_hi), d);
        let up_c = add_up(sub_up(mu[e], s_lo), d);
        // Keep the lines when their band is narrower than the interval (and they are finite).
        if up_c - lo_c < yu[e] - yl[e] {
            out.slope.row_mut(e).assign(&ndarray::Array1::from(row));
            out.lo_c[e] = lo_c;
            out.up_c[e] = up_c;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Softmax of one group in f64, for the checks (a reference of its own).
    fn softmax(x: &[f64]) -> Vec<f64> {
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    #[test]
    fn interval_and_lines_contain_sampled_values() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for (n, width) in [(2, 0.1), (3, 1.0), (4, 0.01), (5, 4.0), (10, 0.3)] {
            let l: Vec<f64> = (0..n).map(|_| rnd() * 6.0 - 3.0).collect();
            let u: Vec<f64> = l.iter().map(|v| v + width * rnd()).collect();
            let (yl, yu) = softmax_interval(&l, &u);
            let lines = softmax_lines(&l, &u);
            for _ in 0..500 {
                let x: Vec<f64> = (0..n).map(|j| l[j] + (u[j] - l[j]) * rnd()).collect();
                let y = softmax(&x);
                for e in 0..n {
                    // (a margin for the reference's own f64 rounding)
                    assert!(yl[e] <= y[e] + 1e-15 && y[e] <= yu[e] + 1e-15);
                    let ax: f64 = (0..n).map(|j| lines.slope[[e, j]] * x[j]).sum();
                    assert!(ax + lines.lo_c[e] <= y[e] + 1e-12, "n {n} e {e}");
                    assert!(y[e] <= ax + lines.up_c[e] + 1e-12, "n {n} e {e}");
                }
            }
            // On narrow boxes the lines are much tighter than the interval.
            if width <= 0.1 {
                for e in 0..n {
                    assert!(lines.gap(e) <= yu[e] - yl[e], "n {n}");
                }
            }
        }
        assert_eq!(softmax_interval(&[5.0], &[7.0]), (vec![1.0], vec![1.0]));
    }
}
