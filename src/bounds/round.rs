//! Directed rounding on top of round-to-nearest, for the relaxations that must hold exactly with
//! their f64 coefficients.
//!
//! Every basic f64 operation (`+ − × ÷`) is correctly rounded: its result lies within half an ulp
//! of the exact value of its (f64) operands, so one step of `next_up` (`next_down`) from it is at
//! or above (below) that exact value, in the normal and the subnormal range alike, and `±∞` stays
//! where it is. Chaining these is interval arithmetic: an upper bound computed only with the
//! `*_up` functions on upper bounds of its operands (and lower bounds where an operand is
//! subtracted) holds for the exact real value. A NaN (`∞ − ∞`, `0 · ∞`) becomes the loosest
//! bound: `+∞` up, `−∞` down.

use crate::tolerances::{EXP_REL_PAD, UNDERFLOW_PAD};

/// The next f64 at or above the exact value `v` was rounded from.
pub(crate) fn up(v: f64) -> f64 {
    if v.is_nan() {
        f64::INFINITY
    } else {
        v.next_up()
    }
}

/// The next f64 at or below the exact value `v` was rounded from.
pub(crate) fn down(v: f64) -> f64 {
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v.next_down()
    }
}

/// `a + b` rounded up.
pub(crate) fn add_up(a: f64, b: f64) -> f64 {
    up(a + b)
}

/// `a + b` rounded down.
pub(crate) fn add_down(a: f64, b: f64) -> f64 {
    down(a + b)
}

/// `a − b` rounded up.
pub(crate) fn sub_up(a: f64, b: f64) -> f64 {
    up(a - b)
}

/// `a − b` rounded down.
pub(crate) fn sub_down(a: f64, b: f64) -> f64 {
    down(a - b)
}

/// `a · b` rounded up (whatever the signs).
pub(crate) fn mul_up(a: f64, b: f64) -> f64 {
    up(a * b)
}

/// `a · b` rounded down.
pub(crate) fn mul_down(a: f64, b: f64) -> f64 {
    down(a * b)
}

/// `a / b` rounded up.
pub(crate) fn div_up(a: f64, b: f64) -> f64 {
    up(a / b)
}

/// `a / b` rounded down.
pub(crate) fn div_down(a: f64, b: f64) -> f64 {
    down(a / b)
}

/// An upper bound of `e^x`. libm's `exp` is not correctly rounded but within a few ulps, far
/// inside [`EXP_REL_PAD`] relative in the normal range; below it (a subnormal or flushed
/// result) the absolute [`UNDERFLOW_PAD`] covers the error. Each step only rounds upward.
pub(crate) fn exp_up(x: f64) -> f64 {
    if x.is_nan() {
        return f64::INFINITY;
    }
    add_up(mul_up(x.exp(), 1.0 + EXP_REL_PAD), UNDERFLOW_PAD)
}

/// A lower bound of `e^x` (at least 0), as [`exp_up`].
pub(crate) fn exp_down(x: f64) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    sub_down(mul_down(x.exp(), 1.0 - EXP_REL_PAD), UNDERFLOW_PAD).max(0.0)
}

/// Sound bounds of `x·y` for `x ∈ [xl, xu]`, `y ∈ [yl, yu]`: the extremes of a product over a box
/// are at its corners.
pub(crate) fn mul_interval(xl: f64, xu: f64, yl: f64, yu: f64) -> (f64, f64) {
    let corners = [(xl, yl), (xl, yu), (xu, yl), (xu, yu)];
    let lo = corners
        .iter()
        .map(|&(a, b)| mul_down(a, b))
        .fold(f64::INFINITY, f64::min);
    let hi = corners
        .iter()
        .map(|&(a, b)| mul_up(a, b))
        .fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directed_results_bracket_the_exact_value() {
        // 0.1 + 0.2: the exact sum of the two doubles lies strictly between the bounds.
        let (a, b) = (0.1, 0.2);
        assert!(add_down(a, b) < a + b && a + b < add_up(a, b));
        // 1/3 and e^1.
        assert!(div_down(1.0, 3.0) < 1.0 / 3.0 && 1.0 / 3.0 < div_up(1.0, 3.0));
        assert!(exp_down(1.0) < std::f64::consts::E && std::f64::consts::E < exp_up(1.0));
        // Far below the smallest subnormal: 0 below, a positive number above.
        assert_eq!(exp_down(-800.0), 0.0);
        assert!(exp_up(-800.0) > 0.0);
        // NaNs become the loosest bounds; infinities stay.
        assert_eq!(mul_up(0.0, f64::INFINITY), f64::INFINITY);
        assert_eq!(mul_down(0.0, f64::INFINITY), f64::NEG_INFINITY);
        assert_eq!(add_up(f64::INFINITY, 1.0), f64::INFINITY);
        let (lo, hi) = mul_interval(-2.0, 3.0, -1.0, 4.0);
        assert!(lo <= -8.0 && hi >= 12.0 && lo > -8.0001 && hi < 12.0001);
    }
}
