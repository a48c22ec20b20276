//! Products: the square `z²` (convex: the chord above, a tangent below) and the product `x·y`
//! of two computed values (two planes between McCormick's envelopes).
//!
//! Both are computed with directed rounding ([`crate::bounds::round`]) so that every line holds
//! exactly, in real arithmetic, with the f64 coefficients it returns: the LP's rows and the dual
//! network take them as they are.

use super::Lines;
use crate::bounds::round::{mul_down, mul_interval, mul_up, sub_down, sub_up, up};

/// Sound linear bounds of `z²` on `z ∈ [l, u]`, both lines with the slope `a = fl(l + u)`:
/// - upper, the chord: `g(z) = z² − a·z` is convex, so on `[l, u]` it is at most
///   `max(g(l), g(u))` (exactly `−l·u` when `a = l + u`): `z² <= a·z + max(g(l), g(u))`;
/// - lower, the tangent at the midpoint: for every real `z`, `z² − a·z >= −a²/4` (the minimum
///   of the parabola, at `z = a/2`): `z² >= a·z − a²/4`, valid beyond `[l, u]` too.
///
/// Their gap is `(u − l)²/4` at most. Rounding: `g` is evaluated upward at both ends and `a²/4`
/// upward (as `(|a|/2 rounded up)²` rounded up), so both intercepts are outward. A non-finite
/// interval gets `0 <= z² <= ∞`.
pub fn square_lines(l: f64, u: f64) -> Lines {
    if !(l.is_finite() && u.is_finite() && l <= u) {
        return Lines {
            lo_a: 0.0,
            lo_b: 0.0,
            up_a: 0.0,
            up_b: f64::INFINITY,
        };
    }
    let a = l + u;
    let g_up = |z: f64| sub_up(mul_up(z, z), mul_down(a, z));
    let half = up(0.5 * a.abs());
    Lines {
        lo_a: a,
        lo_b: -mul_up(half, half),
        up_a: a,
        up_b: g_up(l).max(g_up(u)),
    }
}

/// The tangent of `z²` at `t`: `z² >= 2t·z − t²` for every real `z` (`(z − t)² >= 0`), as
/// `(slope, intercept)` with the slope exact (doubling is exact) and the intercept rounded down.
pub fn square_tangent(t: f64) -> (f64, f64) {
    (2.0 * t, -mul_up(t, t))
}

/// Two planes around `x·y`: `a·x + b·y + lo_c <= x·y <= a·x + b·y + up_c` on the box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Planes {
    pub a: f64,
    pub b: f64,
    pub lo_c: f64,
    pub up_c: f64,
}

/// Sound planes around `x·y` for `x ∈ [xl, xu]`, `y ∈ [yl, yu]`.
///
/// McCormick's envelopes are two lower planes (`(x − xl)(y − yl) >= 0`, `(xu − x)(yu − y) >= 0`)
/// and two upper ones; their averages share the slopes `a = (yl + yu)/2`, `b = (xl + xu)/2`.
/// Any slopes give valid planes once the intercepts are right: `h(x, y) = x·y − a·x − b·y` is
/// bilinear, so its extremes over the box are at the four corners, and
/// `lo_c = min h(corner)`, `up_c = max h(corner)` (evaluated with outward rounding). With the
/// midpoint slopes, `h = (x − mx)(y − my) − mx·my`, so the two planes are `±rx·ry` around
/// `mx·my`: the band is `2·rx·ry` wide everywhere, half the worst gap of a single McCormick
/// plane. Non-finite bounds give flat planes at the interval bounds of the product.
pub fn mul_planes(xl: f64, xu: f64, yl: f64, yu: f64) -> Planes {
    if ![xl, xu, yl, yu].iter().all(|v| v.is_finite()) {
        let (lo_c, up_c) = mul_interval(xl, xu, yl, yu);
        return Planes {
            a: 0.0,
            b: 0.0,
            lo_c,
            up_c,
        };
    }
    let a = 0.5 * yl + 0.5 * yu;
    let b = 0.5 * xl + 0.5 * xu;
    let h_up = |x: f64, y: f64| sub_up(sub_up(mul_up(x, y), mul_down(a, x)), mul_down(b, y));
    let h_down = |x: f64, y: f64| sub_down(sub_down(mul_down(x, y), mul_up(a, x)), mul_up(b, y));
    let corners = [(xl, yl), (xl, yu), (xu, yl), (xu, yu)];
    Planes {
        a,
        b,
        lo_c: (corners.iter())
            .map(|&(x, y)| h_down(x, y))
            .fold(f64::INFINITY, f64::min),
        up_c: (corners.iter())
            .map(|&(x, y)| h_up(x, y))
            .fold(f64::NEG_INFINITY, f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_lines_bound_the_parabola() {
        for (l, u) in [
            (-1.0, 2.0),
            (0.1, 0.3),
            (-3.0, -2.5),
            (0.0, 0.0),
            (-1e-3, 1e-3),
        ] {
            let ln = square_lines(l, u);
            for k in 0..=100 {
                let z = l + (u - l) * k as f64 / 100.0;
                assert!(ln.lo_a * z + ln.lo_b <= z * z, "[{l}, {u}] at {z}");
                assert!(z * z <= ln.up_a * z + ln.up_b, "[{l}, {u}] at {z}");
            }
            // The gap is (u − l)²/4, up to rounding.
            assert!(ln.up_b - ln.lo_b <= (u - l) * (u - l) / 4.0 + 1e-12);
        }
        let (a, b) = square_tangent(0.5);
        assert_eq!(a, 1.0);
        assert!(b <= -0.25 && b > -0.25 - 1e-15);
    }

    #[test]
    fn planes_bound_the_product() {
        for (xl, xu, yl, yu) in [
            (-1.0, 2.0, 0.5, 3.0),
            (-2.0, -1.0, -1.0, 1.0),
            (0.0, 0.0, 1.0, 5.0),
        ] {
            let p = mul_planes(xl, xu, yl, yu);
            for i in 0..=20 {
                for j in 0..=20 {
                    let x = xl + (xu - xl) * i as f64 / 20.0;
                    let y = yl + (yu - yl) * j as f64 / 20.0;
                    let plane = p.a * x + p.b * y;
                    assert!(plane + p.lo_c <= x * y + 1e-12 && x * y <= plane + p.up_c + 1e-12);
                }
            }
            // The band is 2·rx·ry wide.
            let (rx, ry) = ((xu - xl) / 2.0, (yu - yl) / 2.0);
            assert!((p.up_c - p.lo_c - 2.0 * rx * ry).abs() < 1e-12, "{p:?}");
        }
        assert_eq!(mul_planes(0.0, f64::INFINITY, 1.0, 2.0).up_c, f64::INFINITY);
    }
}
