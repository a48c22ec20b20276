//! Vectorised f64 reductions shared by the bound engines. Every error bound used with them
//! (Higham's `gamma`) holds for any summation order, so they keep [`LANES`] partial sums over
//! fixed-size chunks, which is what lets the compiler vectorise them.

use crate::ir::Scalar;
use ndarray::Array2;

/// Partial sums per reduction.
const LANES: usize = 8;

/// `[Σ l·a, Σ |l|·b, Σ |l|·c]` over a row `l` (the last 0 without `c`), in f64.
/// Compiled twice: for the baseline target and, where the CPU has it (checked at run time), for
/// AVX2, whose sixteen 256-bit registers hold all the partial sums.
pub(crate) fn sums<T: Scalar>(row: &[T], a: &[f64], b: &[f64], c: Option<&[f64]>) -> [f64; 3] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { sums_avx2(row, a, b, c) };
    }
    match c {
        Some(c) => sums_impl::<T, true>(row, a, b, c),
        None => sums_impl::<T, false>(row, a, b, b),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sums_avx2<T: Scalar>(row: &[T], a: &[f64], b: &[f64], c: Option<&[f64]>) -> [f64; 3] {
    match c {
        Some(c) => sums_impl::<T, true>(row, a, b, c),
        None => sums_impl::<T, false>(row, a, b, b),
    }
}

#[inline(always)]
fn sums_impl<T: Scalar, const C: bool>(row: &[T], a: &[f64], b: &[f64], c: &[f64]) -> [f64; 3] {
    let mut s = [[0.0; LANES]; 3];
    let (rc, ac, bc, cc) = (
        row.chunks_exact(LANES),
        a.chunks_exact(LANES),
        b.chunks_exact(LANES),
        c.chunks_exact(LANES),
    );
    let mut out = [0.0; 3];
    let rest = rc.remainder().iter().zip(ac.remainder());
    for ((l, a), (b, c)) in rest.zip(bc.remainder().iter().zip(cc.remainder())) {
        let x = l.to_f64();
        out[0] += x * a;
        out[1] += x.abs() * b;
        if C {
            out[2] += x.abs() * c;
        }
    }
    for ((l, a), (b, c)) in rc.zip(ac).zip(bc.zip(cc)) {
        let l: &[T; LANES] = l.try_into().expect("chunk");
        let x: [f64; LANES] = std::array::from_fn(|k| l[k].to_f64());
        let a: &[f64; LANES] = a.try_into().expect("chunk");
        let b: &[f64; LANES] = b.try_into().expect("chunk");
        let c: &[f64; LANES] = c.try_into().expect("chunk");
        for k in 0..LANES {
            s[0][k] += x[k] * a[k];
            s[1][k] += x[k].abs() * b[k];
            if C {
                s[2][k] += x[k].abs() * c[k];
            }
        }
    }
    for (o, s) in out.iter_mut().zip(&s) {
        *o += s.iter().sum::<f64>();
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
