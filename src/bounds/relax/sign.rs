//! The step `sign(z)` (−1, 0 or 1): constant when its input's sign is fixed, otherwise one lower
//! and one upper line, each either the box or a line through the jump.

use super::Lines;
use crate::bounds::round::{add_up, div_down, mul_up, sub_down};

/// `sign(z)` as the IR defines it: −1, 0, 1 (0 for ±0; NaN stays NaN).
fn sign(z: f64) -> f64 {
    if z > 0.0 {
        1.0
    } else if z < 0.0 {
        -1.0
    } else {
        z
    }
}

/// Sound linear bounds of `sign(z)` on `z ∈ [l, u]`.
///
/// - `l > 0`, `u < 0`, or `l = u = 0`: the constant `sign`.
/// - Otherwise `l <= 0 <= u`. Write `top = 1` if `u > 0` else `0` (the value right of the jump)
///   and `bottom = −1` if `l < 0` else `0` (left of it). The convex hull of the graph is bounded
///   above by `min(top, top + (top + 1)·z/(−l))` and below by `max(bottom, bottom + (1 −
///   bottom)·z/u)`; one line each is kept:
///   - upper: the box `y <= top`, or (when `l < 0`) the line `y <= top + a·z` through `(l, −1)`
///     and `(0, top)`: valid for every slope `a ∈ [0, (top + 1)/(−l)]` (at `z = l` it is
///     `>= −1`, on `[l, 0)` above `−1`, at and right of 0 at least `top`). It has the smaller
///     area above the hull when `u < −l` (area `u²/(−l)` against the box's `−l`), CROWN's choice
///     for a ReLU;
///   - lower: symmetrically `y >= bottom`, or `y >= bottom + b·z` with `b ∈ [0, (1 − bottom)/u]`,
///     kept when `−l < u`.
///
///   Floating point: the intercepts are exact (−1, 0, 1) and each slope is rounded down
///   ([`div_down`], then at least 0), which keeps it inside its valid range: no pad is needed.
pub fn sign_lines(l: f64, u: f64) -> Lines {
    let flat = |lo: f64, hi: f64| Lines {
        lo_a: 0.0,
        lo_b: lo,
        up_a: 0.0,
        up_b: hi,
    };
    // NaN or crossed bounds: the range of sign.
    if l.is_nan() || u.is_nan() || l > u {
        return flat(-1.0, 1.0);
    }
    if l > 0.0 || u < 0.0 || (l == 0.0 && u == 0.0) {
        return flat(sign(l), sign(u));
    }
    let top = if u > 0.0 { 1.0 } else { 0.0 };
    let bottom = if l < 0.0 { -1.0 } else { 0.0 };
    let (up_a, up_b) = if l < 0.0 && u < -l {
        (div_down(top + 1.0, -l).max(0.0), top)
    } else {
        (0.0, top)
    };
    let (lo_a, lo_b) = if u > 0.0 && -l < u {
        (div_down(1.0 - bottom, u).max(0.0), bottom)
    } else {
        (0.0, bottom)
    };
    Lines {
        lo_a,
        lo_b,
        up_a,
        up_b,
    }
}

/// Sound linear bounds, for `z ∈ [l, u]`, of `sign(t)` for every `t` within `w` of `z` (the
/// step of a value that may differ from `z` by `w >= 0`, such as an f32 evaluation's: see
/// `Network::set_sign_widening`).
///
/// `sign` is non-decreasing, so `sign(z − w) <= sign(t) <= sign(z + w)`. Take the lines
/// `lo_a·s + lo_b <= sign(s) <= up_a·s + up_b` of [`sign_lines`] on `[l − w, u + w]` (which
/// holds `z − w`, `z + w` and every `t`), with slopes `>= 0`: then
/// `sign(t) >= lo_a·(z − w) + lo_b = lo_a·z + (lo_b − lo_a·w)` and
/// `sign(t) <= up_a·(z + w) + up_b = up_a·z + (up_b + up_a·w)`. Away from 0 (`l − w > 0` or
/// `u + w < 0`) the lines are the constant `sign(z)`, exactly as without widening.
///
/// Floating point: `l − w` rounded down and `u + w` up (the interval only grows); the
/// intercepts' shifts `lo_a·w`, `up_a·w` rounded up and subtracted (added) rounding down (up).
/// A zero slope shifts nothing (so an infinite `w` makes no NaN).
pub fn sign_lines_widened(l: f64, u: f64, w: f64) -> Lines {
    if w.is_nan() {
        return sign_lines(f64::NAN, f64::NAN);
    }
    if w <= 0.0 {
        return sign_lines(l, u);
    }
    let mut ln = sign_lines(sub_down(l, w), add_up(u, w));
    if ln.lo_a > 0.0 {
        ln.lo_b = sub_down(ln.lo_b, mul_up(ln.lo_a, w));
    }
    if ln.up_a > 0.0 {
        ln.up_b = add_up(ln.up_b, mul_up(ln.up_a, w));
    }
    ln
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The widened lines bound `sign(t)` for every `t` within `w` of each `z` of the interval.
    #[test]
    fn widened_lines_bound_the_step_of_every_nearby_value() {
        let ends = [-3.0, -0.3, -1e-9, 0.0, 1e-9, 0.1, 2.0];
        for &w in &[1e-9, 1e-3, 0.5] {
            for &l in &ends {
                for &u in ends.iter().filter(|&&u| u >= l) {
                    let ln = sign_lines_widened(l, u, w);
                    for k in 0..=100 {
                        let z = l + (u - l) * k as f64 / 100.0;
                        for t in [z - w, z, z + w, 0.0]
                            .into_iter()
                            .filter(|t| (t - z).abs() <= w)
                        {
                            let y = sign(t);
                            assert!(
                                ln.lo_a * z + ln.lo_b <= y,
                                "[{l}, {u}] ±{w}: lower at {z}, {t}"
                            );
                            assert!(
                                y <= ln.up_a * z + ln.up_b,
                                "[{l}, {u}] ±{w}: upper at {z}, {t}"
                            );
                        }
                    }
                }
            }
        }
        // Far from 0 the widening changes nothing.
        assert_eq!(sign_lines_widened(0.5, 2.0, 0.1), sign_lines(0.5, 2.0));
    }

    /// The lines bound `sign` at many points of many intervals, the jump included.
    #[test]
    fn lines_bound_the_step_everywhere() {
        let ends = [-3.0, -1.0, -0.3, -1e-300, 0.0, 1e-300, 0.1, 0.7, 2.0, 1e300];
        for &l in &ends {
            for &u in ends.iter().filter(|&&u| u >= l) {
                let ln = sign_lines(l, u);
                for k in 0..=200 {
                    let z = l + (u - l) * k as f64 / 200.0;
                    for z in [z, 0.0, -0.0].into_iter().filter(|z| (l..=u).contains(z)) {
                        let y = sign(z);
                        assert!(ln.lo_a * z + ln.lo_b <= y, "[{l}, {u}] lower at {z}");
                        assert!(y <= ln.up_a * z + ln.up_b, "[{l}, {u}] upper at {z}");
                    }
                }
            }
        }
        // Mostly negative: the upper line through the jump, the lower box.
        // (the slope 2/2 rounded down: just below 1).
        let ln = sign_lines(-2.0, 1.0);
        assert!(ln.up_a < 1.0 && ln.up_a > 1.0 - 1e-15, "{ln:?}");
        assert_eq!((ln.up_b, ln.lo_a, ln.lo_b), (1.0, 0.0, -1.0));
    }
}
