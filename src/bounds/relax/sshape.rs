//! The lines of the S-shaped activations (sigmoid, tanh): CROWN's chords and tangents, with
//! the tangent points that any slope optimiser may move within their valid ranges
//! ([`SShape::tangents`], [`SShape::lines_at`]).

use super::Lines;
use crate::ir::Scalar;
use crate::tolerances::{ACTIVATION_PAD, SSHAPE_MIN_WIDTH};

/// Which S-shaped activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SShape {
    Sigmoid,
    Tanh,
}

impl SShape {
    /// The function ([`Scalar::sigmoid`] or tanh).
    pub fn f(self, z: f64) -> f64 {
        match self {
            SShape::Sigmoid => z.sigmoid(),
            SShape::Tanh => Scalar::tanh(z),
        }
    }

    /// Its derivative.
    pub fn df(self, z: f64) -> f64 {
        match self {
            SShape::Sigmoid => z.sigmoid_derivative(),
            SShape::Tanh => z.tanh_derivative(),
        }
    }

    /// Sound linear bounds on `[l, u]`. Sigmoid and tanh are convex on `z <= 0` and concave
    /// on `z >= 0`, with the derivative largest at 0:
    /// - `u <= 0` (convex): the chord is above, the tangent at the midpoint below;
    /// - `l >= 0` (concave): the chord is below, the tangent at the midpoint above;
    /// - otherwise (CROWN's lines, Zhang et al. 2018) the upper line is the chord when the
    ///   chord lies above `f`, else the tangent at the point `d ∈ (0, u)` whose tangent passes
    ///   through `(l, f(l))` ([`SShape::upper_tangent_point`]); the lower line likewise the
    ///   chord or the tangent at `d' ∈ (l, 0)` through `(u, f(u))`.
    ///
    /// Why the crossing case holds: with `t` the tangent at `d >= 0`, `t − f` is `>= 0` on
    /// `[0, u]` (f concave there) and concave on `[l, 0]` (a line less a convex function), so it
    /// is `>= 0` on `[l, 0]` as soon as it is at both ends: at 0 by concavity on `[0, d]`, at `l`
    /// when `h(d) = f(d) + f'(d)·(l − d) − f(l) >= 0`. `h` increases with `d` (its derivative
    /// is `f''(d)·(l − d) >= 0` for `d >= 0`), `h(0) <= 0`, so every `d` at or right of the root
    /// gives a valid line; the chord is valid exactly when the root is at or right of `u`
    /// (`h(u) <= 0`). The lower line is the mirror image.
    ///
    /// libm's `exp`/`tanh` and the rounding of slopes and intercepts are covered by padding both
    /// intercepts outward by `ACTIVATION_PAD · (1 + max(|l|, |u|))` (the lines' error grows with
    /// `|z|` because a rounded slope is multiplied by it).
    pub fn lines(self, l: f64, u: f64) -> Lines {
        self.lines_at(l, u, &self.tangents(l, u), Self::default_alpha(l, u))
    }

    /// Where the tangent lines of [`SShape::lines`] may touch on `[l, u]` (see [`Tangents`]).
    pub fn tangents(self, l: f64, u: f64) -> Tangents {
        let none = Tangents { lo: None, up: None };
        if u - l <= SSHAPE_MIN_WIDTH || (u - l).is_nan() {
            none
        } else if u <= 0.0 {
            Tangents {
                lo: Some((l, u)),
                up: None,
            }
        } else if l >= 0.0 {
            Tangents {
                lo: None,
                up: Some((l, u)),
            }
        } else {
            Tangents {
                lo: self.lower_tangent_point(l, u).map(|d| (d, l)),
                up: self.upper_tangent_point(l, u).map(|d| (d, u)),
            }
        }
    }

    /// The tangent parameter of [`SShape::lines`]: the midpoint (`0.5`) on a convex or concave
    /// interval, CROWN's tangent through the far end (`0`) on one that crosses 0.
    pub fn default_alpha(l: f64, u: f64) -> f64 {
        if l < 0.0 && 0.0 < u {
            0.0
        } else {
            0.5
        }
    }

    /// The lines of [`SShape::lines`] with each tangent line touching at `a + α·(b − a)` of its
    /// range `(a, b)` in `t` (which must be `self.tangents(l, u)`), `α` clamped to `[0, 1]`:
    /// every such point gives a sound line (see [`Tangents`]), so `α` is free for an optimiser.
    /// Lines that are not tangents (chords, or constants on a tiny interval) ignore `α`.
    pub fn lines_at(self, l: f64, u: f64, t: &Tangents, alpha: f64) -> Lines {
        let pad = ACTIVATION_PAD * (1.0 + l.abs().max(u.abs()));
        let (fl, fu) = (self.f(l), self.f(u));
        let (lo_a, lo_b, up_a, up_b) = if u - l <= SSHAPE_MIN_WIDTH || (u - l).is_nan() {
            (0.0, fl.min(fu), 0.0, fl.max(fu))
        } else {
            let chord = (fu - fl) / (u - l);
            let line = |range: Option<(f64, f64)>| match range {
                Some(r) => self.tangent(Tangents::point(r, alpha)),
                None => (chord, fl - chord * l),
            };
            let (lo_a, lo_b) = line(t.lo);
            let (up_a, up_b) = line(t.up);
            (lo_a, lo_b, up_a, up_b)
        };
        Lines {
            lo_a,
            lo_b: lo_b - pad,
            up_a,
            up_b: up_b + pad,
        }
    }

    /// `f''`: `σ'·(1 − 2σ)` for the sigmoid, `−2·tanh·tanh'` for tanh (for slope gradients).
    pub fn d2f(self, z: f64) -> f64 {
        match self {
            SShape::Sigmoid => z.sigmoid_derivative() * (1.0 - 2.0 * z.sigmoid()),
            SShape::Tanh => -2.0 * Scalar::tanh(z) * z.tanh_derivative(),
        }
    }

    /// The S-shape of a sigmoid or tanh op.
    pub fn of(op: &crate::ir::Op) -> Option<SShape> {
        use crate::ir::Op;
        match op {
            Op::Sigmoid => Some(SShape::Sigmoid),
            Op::Tanh => Some(SShape::Tanh),
            Op::Input
            | Op::Affine(_)
            | Op::Conv(_)
            | Op::ScaleShift(_)
            | Op::Reshape
            | Op::Relu => None,
            Op::Sign | Op::Square | Op::Add | Op::Concat | Op::Gather { .. } | Op::Mul => None,
            Op::Softmax(_) => None,
        }
    }
}

/// The ranges of points where the tangent lines of an S-shape may touch on `[l, u]`, each
/// `(a, b)` read as the segment from `a` (the default end when the interval crosses 0) to `b`:
/// - `u <= 0` (convex): the lower line is the tangent at any point of `[l, u]`;
/// - `l >= 0` (concave): the upper line likewise;
/// - crossing 0: the upper line at any point of `[d, u]`, `d` the point whose tangent passes
///   through `(l, f(l))` (every point right of it gives a line above `f` on `[l, u]`, see
///   [`SShape::lines`]; `None` when the chord is used), the lower at any point of `[l, d']`.
///
/// `None` also for the constant lines of an interval narrower than `SSHAPE_MIN_WIDTH`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tangents {
    pub lo: Option<(f64, f64)>,
    pub up: Option<(f64, f64)>,
}

impl Tangents {
    /// The point `a + α·(b − a)` of the range `(a, b)`, `α` clamped to `[0, 1]` and the result
    /// to the range (its rounding may step past an end by an ulp).
    pub fn point((a, b): (f64, f64), alpha: f64) -> f64 {
        let t = a + alpha.clamp(0.0, 1.0) * (b - a);
        t.clamp(a.min(b), a.max(b))
    }

    /// The range of the line a pass uses where `λ >= 0` (the lower) or `λ < 0` (the upper).
    pub fn used(&self, lambda_nonneg: bool) -> Option<(f64, f64)> {
        if lambda_nonneg {
            self.lo
        } else {
            self.up
        }
    }
}

impl SShape {
    /// The tangent line at `d`: `(f'(d), f(d) − f'(d)·d)`.
    pub fn tangent(self, d: f64) -> (f64, f64) {
        let a = self.df(d);
        (a, self.f(d) - a * d)
    }

    /// For `l < 0 < u`: `None` when the chord of `[l, u]` lies above `f` there, else a point
    /// `d ∈ (0, u]` whose tangent lies above `f` on `[l, u]`: at or right of the root of
    /// `h(d) = f(d) + f'(d)·(l − d) − f(l)` (see [`SShape::lines`]), found by bisection on
    /// `[0, u]` keeping the right end where `h >= 0`. A computed `h` may be off by a few ulps of
    /// `f(l)`, so the line may pass below `f(l)` by that much: `ACTIVATION_PAD` covers it.
    pub fn upper_tangent_point(self, l: f64, u: f64) -> Option<f64> {
        let h = |d: f64| self.f(d) + self.df(d) * (l - d) - self.f(l);
        if h(u) <= 0.0 {
            return None;
        }
        let (mut lo, mut hi) = (0.0, u);
        for _ in 0..TANGENT_BISECTIONS {
            let mid = 0.5 * (lo + hi);
            if h(mid) >= 0.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi)
    }

    /// The mirror image of [`SShape::upper_tangent_point`] for the lower line: `None` when the
    /// chord lies below `f` on `[l, u]`, else a point `d ∈ [l, 0)` at or left of the root of
    /// `h(d) = f(d) + f'(d)·(u − d) − f(u)` (`h` increases with `d` on `d <= 0`, `h(0) >= 0`;
    /// the tangent is below `f` on `[l, u]` where `h(d) <= 0`), keeping the left end.
    pub fn lower_tangent_point(self, l: f64, u: f64) -> Option<f64> {
        let h = |d: f64| self.f(d) + self.df(d) * (u - d) - self.f(u);
        if h(l) >= 0.0 {
            return None;
        }
        let (mut lo, mut hi) = (l, 0.0);
        for _ in 0..TANGENT_BISECTIONS {
            let mid = 0.5 * (lo + hi);
            if h(mid) <= 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }
}

/// Bisection steps for a tangent point: the bracket shrinks to `2^-40` of its width, far below
/// what changes a bound (the line is valid at either end's side, whatever the count).
const TANGENT_BISECTIONS: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::Rng;

    /// Sampled soundness of the S-shapes' lines, in f64 and against the f32 evaluation too:
    /// `lo(z) <= f(z) <= up(z)` at both ends, 0, the tangent points and random points of many
    /// intervals (crossing 0 or not, narrow and wide), for the default tangent points and for
    /// any tangent parameter in [0, 1].
    #[test]
    fn sshape_lines_hold_at_sampled_points() {
        let mut rng = Rng::new(7);
        for shape in [SShape::Sigmoid, SShape::Tanh] {
            for case in 0..4000 {
                let scale = [0.01, 1.0, 5.0, 40.0][case % 4];
                let a = (rng.uniform() * 2.0 - 1.0) * scale;
                let b = (rng.uniform() * 2.0 - 1.0) * scale;
                let (l, u) = (a.min(b), a.max(b));
                // The default lines, and those of a random tangent parameter (any is sound).
                let alpha = [SShape::default_alpha(l, u), rng.uniform(), 0.0, 1.0][case % 4];
                let ln = shape.lines_at(l, u, &shape.tangents(l, u), alpha);
                let mut zs = vec![l, u, 0.0_f64.clamp(l, u), 0.5 * (l + u)];
                if l < 0.0 && 0.0 < u {
                    zs.extend(shape.upper_tangent_point(l, u));
                    zs.extend(shape.lower_tangent_point(l, u));
                }
                zs.extend((0..50).map(|_| l + (u - l) * rng.uniform()));
                for z in zs {
                    let f = shape.f(z);
                    let f32v = match shape {
                        SShape::Sigmoid => (z as f32).sigmoid() as f64,
                        SShape::Tanh => Scalar::tanh(z as f32) as f64,
                    };
                    let (lo, up) = (ln.lo_a * z + ln.lo_b, ln.up_a * z + ln.up_b);
                    assert!(
                        lo <= f && f <= up,
                        "{shape:?} [{l}, {u}] at {z}: {lo} {f} {up}"
                    );
                    // The f32 value of f at the f32 argument differs by its own rounding;
                    // compare the lines at that argument, within f32's error of the value.
                    let z32 = z as f32 as f64;
                    if (l..=u).contains(&z32) {
                        let tol = 4.0 * f32::EPSILON as f64;
                        assert!(ln.lo_a * z32 + ln.lo_b <= f32v + tol);
                        assert!(f32v <= ln.up_a * z32 + ln.up_b + tol);
                    }
                }
            }
        }
    }

    /// The crossing case's lines are tighter than the parallel lines of slope
    /// `min(f'(l), f'(u))` they replace, and the tangent points sit inside the interval.
    #[test]
    fn crossing_lines_are_the_tangents_through_the_far_end() {
        let s = SShape::Sigmoid;
        let (l, u) = (-2.0, 3.0);
        let d = s.upper_tangent_point(l, u).unwrap();
        assert!(0.0 < d && d < u);
        let (a, b) = s.tangent(d);
        assert!(
            (a * l + b - s.f(l)).abs() < 1e-9,
            "passes through (l, f(l))"
        );
        let ln = s.lines(l, u);
        let gap = |z: f64| (ln.up_a - ln.lo_a) * z + (ln.up_b - ln.lo_b);
        let a0 = s.df(l).min(s.df(u));
        let old_gap = (s.f(u) - a0 * u) - (s.f(l) - a0 * l);
        assert!(
            gap(l).max(gap(u)) < 0.5 * old_gap,
            "{} vs {old_gap}",
            gap(l).max(gap(u))
        );
        // Mostly on the convex side the chord is above; mostly on the concave side, below.
        assert_eq!(s.upper_tangent_point(-3.0, 0.1), None);
        assert_eq!(s.lower_tangent_point(-0.1, 3.0), None);
        assert!(s.upper_tangent_point(-0.1, 0.1).is_some());
        // The tangent parameter moves the touching point over its range; `lines` is its
        // default.
        let t = s.tangents(l, u);
        assert_eq!(t.up, Some((d, u)));
        assert_eq!(s.lines(l, u), s.lines_at(l, u, &t, 0.0));
        let far = s.lines_at(l, u, &t, 1.0);
        assert!((far.up_a - s.df(u)).abs() < 1e-15, "tangent at u");
    }

    /// `d2f` is the derivative of `df` (central differences).
    #[test]
    fn second_derivatives_match_differences() {
        for shape in [SShape::Sigmoid, SShape::Tanh] {
            for z in [-3.0, -0.7, 0.0, 0.4, 2.5] {
                let h = 1e-5;
                let fd = (shape.df(z + h) - shape.df(z - h)) / (2.0 * h);
                assert!((shape.d2f(z) - fd).abs() < 1e-8, "{shape:?} at {z}");
            }
        }
    }
}
