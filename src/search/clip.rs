//! Box contraction ("clipping"): a counterexample in a domain must satisfy every row of its
//! subproblem, `row_s(x) <= 0`, and each row lies above its linear form, `row_s(x) >= a_s·x + k_s`,
//! so it satisfies `a_s·x + k_s <= 0` too. For one input `j` that reads
//!
//! ```text
//!     a_sj·x_j <= −k_s − Σ_{m≠j} a_sm·x_m <= −k_s − R_sj,   R_sj = Σ_{m≠j} min(a_sm·lo_m, a_sm·hi_m),
//! ```
//!
//! so `x_j <= (−k_s − R_sj)/a_sj` when `a_sj > 0` and `x_j >= (−k_s − R_sj)/a_sj` when
//! `a_sj < 0` (nnenum's LP contraction and α,β-CROWN's `clip`, in closed form). A box that empties
//! holds no counterexample. Rows are applied one after the other, each over the box the previous
//! ones left (the forms hold on any sub-box).
//!
//! Rounding: the new face must lie outside the exact one. `t = −k − R` is computed with error at
//! most `γ(n + 2)·(|k| + Σ_m |a_m|·|x_m|max)`, added to `t` (so `t` is an upper bound of the exact
//! numerator); dividing rounds once more, undone by one `next_up` (`a > 0`: an upper face) or
//! `next_down` (`a < 0`, where `t/a` decreases in `t`: a lower face).

use crate::tolerances::{gamma, SUM_SLACK, UNDERFLOW_PAD};

/// Contracts the box `[lo, hi]` with the forms `(a_s, k_s)` (row `s` is `a[s·n..(s+1)·n]`).
/// Returns false when the box empties (no counterexample in it).
pub(crate) fn clip(lo: &mut [f64], hi: &mut [f64], a: &[f64], k: &[f64]) -> bool {
    let n = lo.len();
    let g = gamma(n + 2);
    let mut mins = vec![0.0; n];
    for (s, &ks) in k.iter().enumerate() {
        if !ks.is_finite() {
            continue;
        }
        let a = &a[s * n..(s + 1) * n];
        // Σ_m min(a_m lo_m, a_m hi_m) and the magnitude of its terms.
        let (mut total, mut mag) = (0.0, ks.abs());
        for m in 0..n {
            mins[m] = (a[m] * lo[m]).min(a[m] * hi[m]);
            total += mins[m];
            mag += a[m].abs() * lo[m].abs().max(hi[m].abs());
        }
        let pad = (g * mag + UNDERFLOW_PAD) * SUM_SLACK;
        // The row is refuted on this box outright: k + Σ min > 0 (padded).
        if ks + total - pad > 0.0 {
            return false;
        }
        for j in 0..n {
            if a[j] == 0.0 {
                continue;
            }
            // −k − R_j = −k − (total − mins[j]), rounded up by the pad. `total` and `mins` are
            // over the box before this row: a superset of the current one, so `R_j` is smaller
            // and the face looser, still valid.
            let t = -ks - (total - mins[j]) + pad;
            let q = t / a[j];
            if a[j] > 0.0 {
                let v = q.next_up();
                if v < hi[j] {
                    hi[j] = v;
                }
            } else {
                let v = q.next_down();
                if v > lo[j] {
                    lo[j] = v;
                }
            }
            if lo[j].partial_cmp(&hi[j]).is_none_or(|o| o.is_gt()) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contracts_and_refutes() {
        // x0 + x1 − 1.5 <= 0 on [0,1]²: x0 <= 1.5 (no change).
        let (mut lo, mut hi) = (vec![0.0, 0.0], vec![1.0, 1.0]);
        assert!(clip(&mut lo, &mut hi, &[1.0, 1.0], &[-1.5]));
        assert_eq!(hi, vec![1.0, 1.0]);
        // x0 + x1 − 0.5 <= 0: x0 <= 0.5, x1 <= 0.5 (just above, for rounding).
        assert!(clip(&mut lo, &mut hi, &[1.0, 1.0], &[-0.5]));
        assert!(hi[0] >= 0.5 && hi[0] < 0.5 + 1e-12 && hi[1] >= 0.5 && hi[1] < 0.5 + 1e-12);
        // −x0 + 0.25 <= 0: x0 >= 0.25 (just below).
        assert!(clip(&mut lo, &mut hi, &[-1.0, 0.0], &[0.25]));
        assert!(lo[0] <= 0.25 && lo[0] > 0.25 - 1e-12);
        // x0 + 0.6 <= 0 has no solution with x0 >= 0.25: refuted.
        assert!(!clip(&mut lo, &mut hi, &[1.0, 0.0], &[0.6]));
    }

    #[test]
    fn infinite_constant_is_skipped() {
        let (mut lo, mut hi) = (vec![0.0], vec![1.0]);
        assert!(clip(&mut lo, &mut hi, &[1.0], &[f64::NEG_INFINITY]));
        assert_eq!((lo[0], hi[0]), (0.0, 1.0));
    }
}

/// `min over the box of Σ_s μ_s·(a_s·x + k_s)` (in floating point, not padded: for the search
/// of `μ` only).
fn combined_min(mu: &[f64], lo: &[f64], hi: &[f64], a: &[f64], k: &[f64]) -> f64 {
    let n = lo.len();
    let mut v: f64 = mu.iter().zip(k).map(|(m, k)| m * k).sum();
    for j in 0..n {
        let c: f64 = (0..mu.len()).map(|s| mu[s] * a[s * n + j]).sum();
        v += (c * lo[j]).min(c * hi[j]);
    }
    v
}

/// Refutes a box with a non-negative combination of its rows' forms (Farkas): if
/// `Σ_s μ_s·(a_s·x + k_s) > 0` on the whole box for some `μ >= 0`, no `x` of the box has every
/// `a_s·x + k_s <= 0`, so no counterexample is in it; this is exact for the forms (by LP duality
/// the best `μ` gives `min_box max_s (a_s·x + k_s)`), where per-row bounds and clipping only
/// see one row at a time. `μ` is searched by exponentiated gradient on the simplex, then exact
/// line searches along pairs of rows (the combination is concave and piecewise linear in `μ`,
/// with breakpoints where a coefficient changes sign); any `μ` found is checked soundly: the combined form's
/// coefficients round with error at most `γ(r + 1)·Σ_s μ_s·|a_s|`, which moves it by at most
/// `γ(r + 1)·Σ_s μ_s·(Σ_m |a_sm|·|x_m|max + |k_s|)` over the box, subtracted from its minimum.
/// Returns true when refuted. `witness` receives the average of the minimising corners of the
/// gradient steps, an approximation of the point `argmin_box max_s (a_s·x + k_s)` (exact in the
/// limit: this is fictitious play on the min-max problem), the best candidate counterexample
/// the forms know of when several rows must hold at once.
pub(crate) fn farkas(lo: &[f64], hi: &[f64], a: &[f64], k: &[f64], witness: &mut Vec<f64>) -> bool {
    let (n, r) = (lo.len(), k.len());
    witness.clear();
    if r < 2 || k.iter().any(|v| !v.is_finite()) {
        return false;
    }
    // Exponentiated gradient on the simplex (the combination is concave in μ; a supergradient
    // at μ is `k_s + a_s·x*`, with `x*` the corner minimising the combined form), keeping the
    // best μ seen; then exact line searches along pairs of rows to polish it.
    let mut mu = vec![1.0 / r as f64; r];
    let mut best_mu = mu.clone();
    let mut val = combined_min(&mu, lo, hi, a, k);
    let mut xs = vec![0.0; n];
    let mut grad = vec![0.0; r];
    witness.resize(n, 0.0);
    let mut steps = 0.0;
    for it in 0..40 {
        for j in 0..n {
            let c: f64 = (0..r).map(|q| mu[q] * a[q * n + j]).sum();
            xs[j] = if c > 0.0 {
                lo[j]
            } else if c < 0.0 {
                hi[j]
            } else {
                0.5 * lo[j] + 0.5 * hi[j]
            };
            witness[j] += xs[j];
        }
        steps += 1.0;
        let mut scale = 0.0f64;
        for s in 0..r {
            grad[s] = k[s] + (0..n).map(|j| a[s * n + j] * xs[j]).sum::<f64>();
            scale = scale.max(grad[s].abs());
        }
        if scale == 0.0 || !scale.is_finite() {
            break;
        }
        let eta = 2.0 / (scale * (1.0 + it as f64).sqrt());
        let top = grad.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for s in 0..r {
            mu[s] *= (eta * (grad[s] - top)).exp();
            total += mu[s];
        }
        mu.iter_mut().for_each(|m| *m /= total);
        let v = combined_min(&mu, lo, hi, a, k);
        if v > val {
            val = v;
            best_mu.copy_from_slice(&mu);
        }
        if val > 0.0 {
            break;
        }
    }
    let mut mu = best_mu;
    let mut cand = Vec::with_capacity(n + 2);
    for _sweep in 0..2 {
        if val > 0.0 {
            break;
        }
        let before = val;
        for s in 0..r {
            for t in 0..r {
                if s == t || mu[s] == 0.0 {
                    continue;
                }
                // Move θ ∈ (0, μ_s] of weight from row s to row t; breakpoints where the
                // coefficient c_j + θ·(a_tj − a_sj) crosses 0.
                cand.clear();
                cand.push(mu[s]);
                for j in 0..n {
                    let c: f64 = (0..r).map(|q| mu[q] * a[q * n + j]).sum();
                    let dc = a[t * n + j] - a[s * n + j];
                    if dc != 0.0 {
                        let th = -c / dc;
                        if th > 0.0 && th < mu[s] {
                            cand.push(th);
                        }
                    }
                }
                for &th in &cand {
                    let mut m2 = mu.clone();
                    m2[s] -= th;
                    m2[t] += th;
                    let v = combined_min(&m2, lo, hi, a, k);
                    if v > val {
                        val = v;
                        mu = m2;
                    }
                }
            }
        }
        if val <= before {
            break;
        }
    }
    if steps > 0.0 {
        witness
            .iter_mut()
            .enumerate()
            .for_each(|(j, w)| *w = (*w / steps).clamp(lo[j], hi[j]));
    }
    if val <= 0.0 {
        return false;
    }
    // Sound check of the combination.
    let mut ca = vec![0.0; n];
    let (mut ck, mut mag) = (0.0, 0.0);
    for s in 0..r {
        ck += mu[s] * k[s];
        mag += mu[s] * k[s].abs();
        for j in 0..n {
            ca[j] += mu[s] * a[s * n + j];
            mag += mu[s] * a[s * n + j].abs() * lo[j].abs().max(hi[j].abs());
        }
    }
    let xmax: Vec<f64> = lo
        .iter()
        .zip(hi)
        .map(|(l, h)| l.abs().max(h.abs()))
        .collect();
    let pad = (gamma(r + 1) * mag + UNDERFLOW_PAD) * SUM_SLACK;
    crate::search::bound::form_min(&ca, ck, lo, hi, &xmax) - pad > 0.0
}

#[cfg(test)]
mod farkas_tests {
    use super::*;

    #[test]
    fn two_rows_refute_together() {
        // x − 0.1 <= 0 and −x − 0.1 + 0.25 <= 0 on [−1, 1]: each row alone has min < 0, but
        // x <= 0.1 and x >= 0.15 cannot both hold: the sum is 0.05 > 0 everywhere.
        let (lo, hi) = ([-1.0], [1.0]);
        let (a, k) = ([1.0, -1.0], [-0.1, 0.15]);
        let mut w = vec![];
        assert!(farkas(&lo, &hi, &a, &k, &mut w));
        // x <= 0.1 and x >= 0.05 can: not refuted, and the witness is close to that interval.
        assert!(!farkas(&lo, &hi, &a, &[-0.1, 0.05], &mut w));
        assert!(w[0] > 0.0 && w[0] < 0.2, "{w:?}");
    }

    #[test]
    fn three_rows_in_two_dimensions() {
        // x <= 0.2, y <= 0.2, x + y >= 0.5 on [0,1]²: infeasible (0.2 + 0.2 < 0.5).
        let (lo, hi) = ([0.0, 0.0], [1.0, 1.0]);
        let a = [1.0, 0.0, 0.0, 1.0, -1.0, -1.0];
        let k = [-0.2, -0.2, 0.5];
        let mut w = vec![];
        assert!(farkas(&lo, &hi, &a, &k, &mut w));
        // With x + y >= 0.4 it is feasible (x = y = 0.2).
        assert!(!farkas(&lo, &hi, &a, &[-0.2, -0.2, 0.4], &mut w));
    }
}
