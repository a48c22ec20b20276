//! The sound bound: weak duality over the variable box, recomputed by us in f64 and padded.
//!
//! For `min c·x s.t. a_k·x (=, >=, <=) b_k, x ∈ [l, u]` and ANY multipliers `μ` with
//! `μ_k >= 0` on `>=` rows and `μ_k <= 0` on `<=` rows (any sign on equalities), every feasible
//! `x` has `μ_k·(a_k·x − b_k) >= 0`, so
//!
//! ```text
//! c·x >= c·x − Σ_k μ_k (a_k·x − b_k) = Σ_k μ_k b_k + r·x >= Σ_k μ_k b_k + Σ_v min(r_v l_v, r_v u_v)
//! ```
//!
//! with reduced costs `r_v = c_v − Σ_k μ_k a_kv`. The box makes this valid for every `μ`, dual
//! feasible or not: a solver's inaccurate `μ` only makes the bound looser, never wrong. The exact
//! network's values are feasible ([`super::model`]'s invariant), so the bound holds for them.
//!
//! Floating point (the `μ_k` are taken as the exact f64 values they are):
//! - `r̂_v = fl(r_v)`, a sum of `n_v` products, errs by at most
//!   `e_v = gamma(n_v)·(|c_v| + Σ_k |μ_k a_kv|) + n_v·2^-1074` (Higham's bound, plus the absolute
//!   error of products that underflow);
//! - `t(r) = min(r·l, r·u)` is Lipschitz in `r` with constant `m_v = max(|l_v|, |u_v|)`, so using
//!   `r̂_v` costs at most `e_v·m_v`;
//! - the final sum of the `N` products `μ_k b_k` and `r̂_v·(l_v or u_v)` errs by at most
//!   `gamma(N)·Σ|terms|` (underflow there is below UNDERFLOW_PAD).
//!
//! `gamma` is twice Higham's constant, which also covers the magnitudes `Σ|·|` being computed
//! in f64 themselves (each within `gamma` of its exact value). The pads and the products
//! `e_v·m_v` are summed in f64 too, so their total is scaled by `1 + gamma(terms)`; the
//! final subtraction is rounded down by `next_down`.

use super::model::{Model, Sense};
use crate::tolerances::{gamma, F64_SUBNORMAL, UNDERFLOW_PAD};

/// A multiplier clipped to the sign its row allows; a non-finite one becomes 0 (any multiplier
/// of the right sign is valid, 0 included).
fn clip(sense: Sense, mu: f64) -> f64 {
    let ok = match sense {
        Sense::Eq => mu.is_finite(),
        Sense::Ge => mu > 0.0 && mu.is_finite(),
        Sense::Le => mu < 0.0 && mu.is_finite(),
    };
    if ok {
        mu
    } else {
        0.0
    }
}

/// A sound lower bound of `min obj·x` over `model` (rows and box) from multipliers `mu` (one
/// per row, clipped first); `f64::NEG_INFINITY` when the arithmetic overflows or meets a NaN.
pub(crate) fn lagrangian_bound(model: &Model, obj: &[(usize, f64)], mu: &[f64]) -> f64 {
    assert_eq!(mu.len(), model.rows.len(), "one multiplier per row");
    let n = model.lower.len();
    // r_v, Σ |products| in r_v, and the number of non-zero products in r_v.
    let mut r = vec![0.0; n];
    let mut r_mag = vec![0.0; n];
    let mut r_cnt = vec![0usize; n];
    for &(v, c) in obj {
        r[v] += c;
        r_mag[v] += c.abs();
        r_cnt[v] += usize::from(c != 0.0);
    }
    let mut sum = 0.0;
    let mut sum_mag = 0.0;
    let mut n_terms = 0usize;
    for (row, &m) in model.rows.iter().zip(mu) {
        let m = clip(row.sense, m);
        if m == 0.0 {
            // Contributes exactly nothing (and never 0·∞).
            continue;
        }
        let p = m * row.rhs;
        sum += p;
        sum_mag += p.abs();
        n_terms += 1;
        for &(v, a) in &row.terms {
            let p = m * a;
            r[v] -= p;
            r_mag[v] += p.abs();
            r_cnt[v] += usize::from(a != 0.0);
        }
    }
    let mut pad = 0.0;
    for v in 0..n {
        if r_cnt[v] == 0 {
            // Every product in r_v is exactly 0, so r_v = 0 and the term is 0.
            continue;
        }
        let (l, u) = (model.lower[v], model.upper[v]);
        // min(r·l, r·u) for l <= u; written out so that a NaN propagates (f64::min would drop it).
        let t = if r[v] >= 0.0 { r[v] * l } else { r[v] * u };
        sum += t;
        sum_mag += t.abs();
        n_terms += 1;
        let e = gamma(r_cnt[v]) * r_mag[v] + r_cnt[v] as f64 * F64_SUBNORMAL;
        pad += e * l.abs().max(u.abs());
    }
    let pad = (pad + gamma(n_terms) * sum_mag) * (1.0 + gamma(n + n_terms + 2)) + UNDERFLOW_PAD;
    let v = (sum - pad).next_down();
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::Row;
    use super::*;
    use crate::attack::Rng;

    /// `min x + y` s.t. `x + y >= 1`, `x − y = 0.25`, `x, y ∈ [0, 2]`: the minimum is 1.
    fn toy() -> Model {
        Model {
            lower: vec![0.0, 0.0],
            upper: vec![2.0, 2.0],
            rows: vec![
                Row {
                    terms: vec![(0, 1.0), (1, 1.0)],
                    sense: Sense::Ge,
                    rhs: 1.0,
                },
                Row {
                    terms: vec![(0, 1.0), (1, -1.0)],
                    sense: Sense::Eq,
                    rhs: 0.25,
                },
            ],
            slots: vec![],
        }
    }

    #[test]
    fn exact_dual_gives_the_minimum() {
        let obj = [(0, 1.0), (1, 1.0)];
        let lb = lagrangian_bound(&toy(), &obj, &[1.0, 0.0]);
        assert!(lb <= 1.0 && lb > 1.0 - 1e-12, "{lb}");
    }

    #[test]
    fn bogus_duals_stay_below_the_minimum() {
        let obj = [(0, 1.0), (1, 1.0)];
        let model = toy();
        // All zeros: the box bound 0.
        assert!(lagrangian_bound(&model, &obj, &[0.0, 0.0]) <= 1.0);
        // Wrong sign on the >= row is clipped to 0; NaN and ∞ become 0.
        assert!(lagrangian_bound(&model, &obj, &[-5.0, 3.0]) <= 1.0);
        assert!(lagrangian_bound(&model, &obj, &[f64::NAN, f64::INFINITY]) <= 1.0);
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let mu = [rng.uniform() * 8.0 - 4.0, rng.uniform() * 8.0 - 4.0];
            let lb = lagrangian_bound(&model, &obj, &mu);
            assert!(lb <= 1.0, "{mu:?} gave {lb}");
        }
    }

    /// Random LPs whose minimum we know from a feasible point: no multipliers may exceed it.
    #[test]
    fn random_multipliers_never_exceed_a_feasible_value() {
        let mut rng = Rng::new(11);
        for _ in 0..200 {
            let n = 4;
            let x: Vec<f64> = (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            let mut rows = Vec::new();
            for k in 0..3 {
                let terms: Vec<(usize, f64)> =
                    (0..n).map(|v| (v, rng.uniform() * 2.0 - 1.0)).collect();
                let ax: f64 = terms.iter().map(|&(v, a)| a * x[v]).sum();
                // rhs chosen so x satisfies the row with a little room (exact equality is not
                // representable in general, so equalities are not drawn here).
                let (sense, rhs) = if k % 2 == 0 {
                    (Sense::Ge, ax - 1e-9)
                } else {
                    (Sense::Le, ax + 1e-9)
                };
                rows.push(Row { terms, sense, rhs });
            }
            let model = Model {
                lower: vec![-1.0; n],
                upper: vec![1.0; n],
                rows,
                slots: vec![],
            };
            let obj: Vec<(usize, f64)> = (0..n).map(|v| (v, rng.uniform() * 2.0 - 1.0)).collect();
            let cx: f64 = obj.iter().map(|&(v, c)| c * x[v]).sum();
            let mu: Vec<f64> = (0..3).map(|_| rng.uniform() * 6.0 - 3.0).collect();
            assert!(lagrangian_bound(&model, &obj, &mu) <= cx + 1e-12);
        }
    }
}
