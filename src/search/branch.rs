//! Branching: which inputs of a domain to bisect.
//!
//! - Longest edge: the widest input (α,β-CROWN's ACAS Xu default since 2022).
//! - `sb` (α,β-CROWN's input-split score): for input `j`,
//!   `max_s [ max(|a_sj|, τ)·(hi_j − lo_j)/2 + lb_s ]` over the rows `s` of the domain, with
//!   `a_s` the row's linear form: halving input `j` raises the row's linear bound by about
//!   `|a_sj|·(hi_j − lo_j)/2`, and the `lb_s` term prefers the row nearest to refutation
//!   (`lb_s > 0` refutes it), which suits conjunctions.
//!
//! Only inputs wider than one f32 step can be split (see [`midpoint`]).

/// The branching rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Branching {
    /// The widest input.
    LongestEdge,
    /// The `sb` score with floor `tau` on the coefficients.
    Sb { tau: f64 },
}

/// The midpoint of `[l, u]` when the interval is worth splitting: wider than the spacing of
/// f32 values at `max(|l|, |u|)`, and the midpoint strictly inside. A narrower interval holds
/// at most two f32 inputs, and the bounds keep the network's f32 evaluation slack, which does
/// not shrink with the box: bisecting further could run to f64's last bits without ever
/// refuting a box whose margin is an exact tie. Such a box is left `stuck` (an `unknown`).
pub(crate) fn midpoint(l: f64, u: f64) -> Option<f64> {
    let m = 0.5 * l + 0.5 * u;
    (u - l > f32_spacing(l.abs().max(u.abs())) && l < m && m < u).then_some(m)
}

/// The distance from `|x|` (as f32, rounded to nearest) to the next larger f32.
fn f32_spacing(x: f64) -> f64 {
    let f = x as f32;
    if !f.is_finite() {
        return f64::INFINITY;
    }
    (f32::from_bits(f.to_bits() + 1) - f) as f64
}

/// Up to `k` inputs to split, best first, written into `out` (empty when none can be split).
/// `forms` holds the domain's rows' linear coefficients (`rows × n`) when there are any, `lb`
/// the rows' bounds; `sb` falls back to the longest edge when no row has a finite bound.
pub(crate) fn choose(
    rule: Branching,
    lo: &[f64],
    hi: &[f64],
    forms: Option<&[f64]>,
    lb: &[f64],
    k: usize,
    out: &mut Vec<usize>,
) {
    let n = lo.len();
    out.clear();
    let mut scored: Vec<(f64, usize)> = Vec::with_capacity(n);
    for j in 0..n {
        if midpoint(lo[j], hi[j]).is_none() {
            continue;
        }
        let w = hi[j] - lo[j];
        let score = match (rule, forms) {
            (Branching::Sb { tau }, Some(a)) if lb.iter().any(|l| l.is_finite()) => lb
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .map(|(s, &l)| a[s * n + j].abs().max(tau) * w * 0.5 + l)
                .fold(f64::NEG_INFINITY, f64::max),
            _ => w,
        };
        scored.push((score, j));
    }
    // Best first; ties to the lower index (deterministic).
    scored.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    out.extend(scored.iter().take(k).map(|&(_, j)| j));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_split_below_f32_resolution() {
        assert_eq!(midpoint(0.0, 1.0), Some(0.5));
        assert!(midpoint(-1e-30, 1e-30).is_some());
        // One f32 step at 1.0 is 2^-23: an interval of half that is not split, twice is.
        let step = f32::EPSILON as f64;
        assert_eq!(midpoint(1.0, 1.0 + 0.5 * step), None);
        assert!(midpoint(1.0, 1.0 + 2.0 * step).is_some());
        assert_eq!(midpoint(-3.0, -3.0 + 1e-9), None);
        assert_eq!(midpoint(2.0, 2.0), None);
    }

    #[test]
    fn longest_edge_and_sb() {
        let (lo, hi) = ([0.0, 0.0, 0.0], [1.0, 2.0, 0.5]);
        let mut out = vec![];
        choose(Branching::LongestEdge, &lo, &hi, None, &[-1.0], 2, &mut out);
        assert_eq!(out, vec![1, 0]);
        // Row 0 (lb −5) wants input 2; row 1 (lb −0.1, nearest refutation) wants input 0.
        let a = [0.0, 0.0, 40.0, 1.0, 0.0, 0.0];
        choose(
            Branching::Sb { tau: 0.01 },
            &lo,
            &hi,
            Some(&a),
            &[-5.0, -0.1],
            1,
            &mut out,
        );
        assert_eq!(out, vec![2]);
        choose(
            Branching::Sb { tau: 0.01 },
            &lo,
            &hi,
            Some(&a),
            &[-20.0, -0.1],
            1,
            &mut out,
        );
        assert_eq!(out, vec![0]);
        // A point cannot be split.
        choose(
            Branching::LongestEdge,
            &[1.0],
            &[1.0],
            None,
            &[-1.0],
            1,
            &mut out,
        );
        assert!(out.is_empty());
    }
}
