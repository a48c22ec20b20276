//! Vectorised f64 reductions shared by the bound engines. Every error bound used with them
//! (Higham's `gamma`) holds for any summation order, so they keep [`LANES`] partial sums over
//! fixed-size chunks (explicit AVX2 where the CPU has it).

use crate::ir::Scalar;
use ndarray::Array2;

/// Partial sums per reduction.
const LANES: usize = 8;

/// The element types a summed row may hold: f64, or f32 (widened to f64 exactly).
pub trait Lane: Scalar {
    /// Four elements from `p` widened to f64.
    ///
    /// # Safety
    /// `p..p+4` must be readable, and the CPU must have AVX.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load4(p: *const Self) -> std::arch::x86_64::__m256d;
    /// Stores four f64 at `p`, rounded to `Self` (to nearest).
    ///
    /// # Safety
    /// `p..p+4` must be writable, and the CPU must have AVX.
    #[cfg(target_arch = "x86_64")]
    unsafe fn store4(p: *mut Self, v: std::arch::x86_64::__m256d);
}

impl Lane for f64 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load4(p: *const f64) -> std::arch::x86_64::__m256d {
        // SAFETY: the caller guarantees four readable elements and AVX.
        unsafe { std::arch::x86_64::_mm256_loadu_pd(p) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn store4(p: *mut f64, v: std::arch::x86_64::__m256d) {
        // SAFETY: the caller guarantees four writable elements and AVX.
        unsafe { std::arch::x86_64::_mm256_storeu_pd(p, v) }
    }
}

impl Lane for f32 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load4(p: *const f32) -> std::arch::x86_64::__m256d {
        use std::arch::x86_64::{_mm256_cvtps_pd, _mm_loadu_ps};
        // SAFETY: the caller guarantees four readable elements and AVX.
        unsafe { _mm256_cvtps_pd(_mm_loadu_ps(p)) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn store4(p: *mut f32, v: std::arch::x86_64::__m256d) {
        use std::arch::x86_64::{_mm256_cvtpd_ps, _mm_storeu_ps};
        // SAFETY: the caller guarantees four writable elements and AVX.
        unsafe { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)) }
    }
}

/// `[Σ l·a, Σ |l|·b, Σ |l|·c]` over a row `l` (the last 0 without `c`), in f64.
/// `a`, `b` and `c` must be at least as long as `l`.
/// With AVX2 and FMA (checked at run time) the sums run four lanes wide with two partial sums
/// per lane; elsewhere [`LANES`] scalar partial sums. Both are orders of the same sums, and FMA
/// rounds once where multiply-then-add rounds twice, so the `gamma` bounds of callers hold.
pub(crate) fn sums<T: Lane>(row: &[T], a: &[f64], b: &[f64], c: Option<&[f64]>) -> [f64; 3] {
    let n = row.len();
    assert!(a.len() >= n && b.len() >= n && c.is_none_or(|c| c.len() >= n));
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above); lengths checked above.
        return unsafe {
            match c {
                Some(c) => sums_avx2::<T, true>(row, a, b, c),
                None => sums_avx2::<T, false>(row, a, b, b),
            }
        };
    }
    match c {
        Some(c) => sums_impl::<T, true>(row, a, b, c),
        None => sums_impl::<T, false>(row, a, b, b),
    }
}

/// Whether the CPU has AVX2 and FMA, which the explicit kernels need (checked at run time).
#[cfg(target_arch = "x86_64")]
fn avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// The sum of the four lanes of `v`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn hsum(v: std::arch::x86_64::__m256d) -> f64 {
    let mut lanes = [0.0; 4];
    // SAFETY: `lanes` holds four f64; AVX is enabled on this function.
    unsafe { std::arch::x86_64::_mm256_storeu_pd(lanes.as_mut_ptr(), v) };
    lanes.iter().sum()
}

/// # Safety
/// AVX2 and FMA present; `a`, `b`, `c` at least as long as `row`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sums_avx2<T: Lane, const C: bool>(
    row: &[T],
    a: &[f64],
    b: &[f64],
    c: &[f64],
) -> [f64; 3] {
    use std::arch::x86_64::*;
    let n = row.len();
    let body = n - n % 8;
    let sign = _mm256_set1_pd(-0.0);
    let mut s = [[_mm256_setzero_pd(); 2]; 3];
    for i in (0..body).step_by(8) {
        for (h, j) in [i, i + 4].into_iter().enumerate() {
            // SAFETY: j + 4 <= body <= n <= every length.
            unsafe {
                let x = T::load4(row.as_ptr().add(j));
                let ax = _mm256_andnot_pd(sign, x);
                s[0][h] = _mm256_fmadd_pd(x, _mm256_loadu_pd(a.as_ptr().add(j)), s[0][h]);
                s[1][h] = _mm256_fmadd_pd(ax, _mm256_loadu_pd(b.as_ptr().add(j)), s[1][h]);
                if C {
                    s[2][h] = _mm256_fmadd_pd(ax, _mm256_loadu_pd(c.as_ptr().add(j)), s[2][h]);
                }
            }
        }
    }
    let out = s.map(|[p, q]| hsum(_mm256_add_pd(p, q)));
    let tail = sums_impl::<T, C>(&row[body..], &a[body..n], &b[body..n], &c[body..n]);
    [out[0] + tail[0], out[1] + tail[1], out[2] + tail[2]]
}

/// The portable form: [`LANES`] partial sums over fixed-size chunks.
fn sums_impl<T: Scalar, const C: bool>(row: &[T], a: &[f64], b: &[f64], c: &[f64]) -> [f64; 3] {
    let n = row.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    let body = n - n % LANES;
    let mut s = [[0.0; LANES]; 3];
    for i in (0..body).step_by(LANES) {
        for k in 0..LANES {
            let x = row[i + k].to_f64();
            s[0][k] += x * a[i + k];
            s[1][k] += x.abs() * b[i + k];
            if C {
                s[2][k] += x.abs() * c[i + k];
            }
        }
    }
    let mut out = [0.0; 3];
    for i in body..n {
        let x = row[i].to_f64();
        out[0] += x * a[i];
        out[1] += x.abs() * b[i];
        if C {
            out[2] += x.abs() * c[i];
        }
    }
    for (o, s) in out.iter_mut().zip(&s) {
        *o += s.iter().sum::<f64>();
    }
    out
}

/// The sign-dependent scaling of an activation step, with its two sums: for each `i`,
/// `row[i] *= if row[i] >= 0 { pos[i] } else { neg[i] }` (a NaN takes `neg`), and over the old
/// values `[Σ min(row_i, 0)·a_i, Σ |row_i|·b_i]` in f64 (`min` ignores a NaN; `|NaN|` makes the
/// second sum NaN). The scaling rounds once in `T`: in f32 the f64 product of two f32 is exact,
/// so rounding it to f32 gives the f32 product. All slices as long as `row`.
pub(crate) fn scale_by_sign_sums<T: Lane>(
    row: &mut [T],
    pos: &[T],
    neg: &[T],
    a: &[f64],
    b: &[f64],
) -> [f64; 2] {
    let n = row.len();
    assert!(pos.len() == n && neg.len() == n && a.len() == n && b.len() == n);
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above); lengths checked above.
        return unsafe { scale_by_sign_sums_avx2(row, pos, neg, a, b) };
    }
    scale_by_sign_sums_impl(row, pos, neg, a, b)
}

/// # Safety
/// AVX2 and FMA present; all slices as long as `row`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scale_by_sign_sums_avx2<T: Lane>(
    row: &mut [T],
    pos: &[T],
    neg: &[T],
    a: &[f64],
    b: &[f64],
) -> [f64; 2] {
    use std::arch::x86_64::*;
    let n = row.len();
    let body = n - n % 4;
    let (zero, sign) = (_mm256_setzero_pd(), _mm256_set1_pd(-0.0));
    let (mut s0, mut s1) = (zero, zero);
    for j in (0..body).step_by(4) {
        // SAFETY: j + 4 <= body <= n == every length.
        unsafe {
            let x = T::load4(row.as_ptr().add(j));
            // MINPD returns its second operand when either is NaN: min(NaN, 0) = 0.
            let x_neg = _mm256_min_pd(x, zero);
            s0 = _mm256_fmadd_pd(x_neg, _mm256_loadu_pd(a.as_ptr().add(j)), s0);
            s1 = _mm256_fmadd_pd(
                _mm256_andnot_pd(sign, x),
                _mm256_loadu_pd(b.as_ptr().add(j)),
                s1,
            );
            let nonneg = _mm256_cmp_pd::<_CMP_GE_OQ>(x, zero);
            let (p, q) = (T::load4(pos.as_ptr().add(j)), T::load4(neg.as_ptr().add(j)));
            let f = _mm256_blendv_pd(q, p, nonneg);
            T::store4(row.as_mut_ptr().add(j), _mm256_mul_pd(x, f));
        }
    }
    let out = [hsum(s0), hsum(s1)];
    let t = scale_by_sign_sums_impl(
        &mut row[body..],
        &pos[body..],
        &neg[body..],
        &a[body..],
        &b[body..],
    );
    [out[0] + t[0], out[1] + t[1]]
}

/// The portable form of [`scale_by_sign_sums`].
fn scale_by_sign_sums_impl<T: Scalar>(
    row: &mut [T],
    pos: &[T],
    neg: &[T],
    a: &[f64],
    b: &[f64],
) -> [f64; 2] {
    let mut out = [0.0; 2];
    for (((v, &p), &q), (&a, &b)) in row.iter_mut().zip(pos).zip(neg).zip(a.iter().zip(b)) {
        let x = v.to_f64();
        out[0] += x.min(0.0) * a;
        out[1] += x.abs() * b;
        *v = *v * if *v >= T::zero() { p } else { q };
    }
    out
}

/// [`sums`] of every row of `w`: `[w·a, |w|·b, |w|·c]`.
pub(crate) fn mat_sums(w: &Array2<f64>, a: &[f64], b: &[f64], c: Option<&[f64]>) -> [Vec<f64>; 3] {
    let mut out: [Vec<f64>; 3] = Default::default();
    for row in w.rows() {
        let s = sums(row.as_slice().expect("row-major weights"), a, b, c);
        for (o, v) in out.iter_mut().zip(s) {
            o.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The f64 reference sums, in order.
    fn reference(row: &[f64], a: &[f64], b: &[f64]) -> [f64; 3] {
        let mut s = [0.0; 3];
        for ((x, a), b) in row.iter().zip(a).zip(b) {
            s[0] += x * a;
            s[1] += x.abs() * b;
            s[2] += x.min(0.0) * a;
        }
        s
    }

    fn close(x: f64, y: f64, mag: f64) -> bool {
        (x - y).abs() <= 1e-12 * (1.0 + mag)
    }

    proptest! {
        /// The dispatched (AVX2 where present) and portable kernels agree with plain sums up to
        /// summation order, for every length (the tails), in f64 and f32.
        #[test]
        fn kernels_match_plain_sums(row in prop::collection::vec(-10.0f64..10.0, 0..40)) {
            let n = row.len();
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos().abs()).collect();
            let [s0, s1, s2] = reference(&row, &a, &b);
            let mag: f64 = row.iter().map(|x| x.abs()).sum();
            let d = sums(&row, &a, &b, Some(&b));
            prop_assert!(close(d[0], s0, mag) && close(d[1], s1, mag) && close(d[2], s1, mag));
            let p = sums_impl::<f64, false>(&row, &a, &b, &b);
            prop_assert!(close(p[0], s0, mag) && close(p[1], s1, mag) && p[2] == 0.0);
            let row32: Vec<f32> = row.iter().map(|&v| v as f32).collect();
            let wide: Vec<f64> = row32.iter().map(|&v| f64::from(v)).collect();
            let r32 = reference(&wide, &a, &b);
            let d32 = sums(&row32, &a, &b, None);
            prop_assert!(close(d32[0], r32[0], mag) && close(d32[1], r32[1], mag));

            let (pos, neg): (Vec<f64>, Vec<f64>) = (0..n).map(|i| (i as f64 * 0.1, -0.5)).unzip();
            let mut scaled = row.clone();
            let [t0, t1] = scale_by_sign_sums(&mut scaled, &pos, &neg, &a, &b);
            prop_assert!(close(t0, s2, mag) && close(t1, s1, mag));
            for ((x, y), (p, q)) in row.iter().zip(&scaled).zip(pos.iter().zip(&neg)) {
                prop_assert_eq!(*y, if *x >= 0.0 { x * p } else { x * q });
            }
            let (pos32, neg32): (Vec<f32>, Vec<f32>) =
                pos.iter().zip(&neg).map(|(&p, &q)| (p as f32, q as f32)).unzip();
            let mut scaled32 = row32.clone();
            scale_by_sign_sums(&mut scaled32, &pos32, &neg32, &a, &b);
            for ((x, y), (p, q)) in row32.iter().zip(&scaled32).zip(pos32.iter().zip(&neg32)) {
                // One f32 rounding of the exact product, as the f32 multiplication gives.
                prop_assert_eq!(*y, if *x >= 0.0 { x * p } else { x * q });
            }
        }
    }

    /// A NaN takes the `neg` multiplier, adds nothing to the first sum and makes the second NaN
    /// (so a bound built on it is discarded, never trusted).
    #[test]
    fn nan_in_a_row() {
        let mut row = vec![1.0, f64::NAN, -2.0, 3.0, 0.5];
        let ones = vec![1.0; 5];
        let [s0, s1] = scale_by_sign_sums(&mut row, &ones, &[2.0; 5], &ones, &ones);
        assert_eq!(s0, -2.0);
        assert!(s1.is_nan());
        assert!(row[1].is_nan());
        assert_eq!(row[2], -4.0);
    }
}
