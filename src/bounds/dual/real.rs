//! The arithmetic of a backward pass: [`Real`] for f64 and f32 (its unit roundoff, underflow
//! and the conversions the kernels need).

use super::DualNetwork;
use crate::ir::Scalar;
use crate::tolerances::{F32_UNDERFLOW, F64_UNDERFLOW, F64_UNIT_ROUNDOFF};
use ndarray::{Array2, ArrayView2, CowArray, Ix2};

/// The arithmetic a backward pass holds `λ` in. The engines use f64; [`DualNetwork::backward`]
/// also runs in f32 (sound, a little looser), and the input step of wide networks multiplies in
/// f32 whatever `T` is.
pub trait Real: Scalar + crate::bounds::sums::Lane {
    /// Unit roundoff (the relative error of one rounding).
    const UNIT_ROUNDOFF: f64;
    /// The absolute error one operation may add beyond its relative error (underflow): the
    /// smallest normal number, which also covers flushing a subnormal to zero.
    const UNDERFLOW: f64;
    /// True for f64 itself: [`Scalar::from_f64`] is exact.
    const EXACT: bool;
    /// The bits of `|self|`, zero exactly for `±0`.
    fn abs_bits(self) -> u64;
    /// Affine node `i`'s weight matrix `w` in this type (the dual network's cached copy for f32).
    fn weight<'b>(dn: &'b DualNetwork<'_>, i: usize, w: &'b Array2<f64>) -> ArrayView2<'b, Self>;
    /// An f64 matrix rounded to this type (borrowed for f64).
    fn from_f64s(a: ArrayView2<'_, f64>) -> CowArray<'_, Self, Ix2>;
    /// The matrix rounded to f32 (borrowed when it already is).
    fn to_f32s(a: ArrayView2<'_, Self>) -> CowArray<'_, f32, Ix2>;
    /// An f32 matrix in this type.
    fn from_f32s(a: Array2<f32>) -> Array2<Self>;
}

impl Real for f64 {
    const UNIT_ROUNDOFF: f64 = F64_UNIT_ROUNDOFF;
    const UNDERFLOW: f64 = F64_UNDERFLOW;
    const EXACT: bool = true;
    fn abs_bits(self) -> u64 {
        self.to_bits() & !(1 << 63)
    }
    fn weight<'b>(_: &'b DualNetwork<'_>, _: usize, w: &'b Array2<f64>) -> ArrayView2<'b, f64> {
        w.view()
    }
    fn from_f64s(a: ArrayView2<'_, f64>) -> CowArray<'_, f64, Ix2> {
        a.into()
    }
    fn to_f32s(a: ArrayView2<'_, f64>) -> CowArray<'_, f32, Ix2> {
        match a.as_slice() {
            // A plain slice loop, which vectorises (`mapv` on a view does not always).
            Some(s) => Array2::from_shape_vec(a.raw_dim(), s.iter().map(|&v| v as f32).collect())
                .expect("same shape")
                .into(),
            None => a.mapv(|v| v as f32).into(),
        }
    }
    fn from_f32s(a: Array2<f32>) -> Array2<f64> {
        a.mapv(f64::from)
    }
}

impl Real for f32 {
    const UNIT_ROUNDOFF: f64 = crate::tolerances::F32_UNIT_ROUNDOFF;
    const UNDERFLOW: f64 = F32_UNDERFLOW;
    const EXACT: bool = false;
    fn abs_bits(self) -> u64 {
        u64::from(self.to_bits() & !(1 << 31))
    }
    fn weight<'b>(dn: &'b DualNetwork<'_>, i: usize, _: &'b Array2<f64>) -> ArrayView2<'b, f32> {
        dn.weight_f32(i).view()
    }
    fn from_f64s(a: ArrayView2<'_, f64>) -> CowArray<'_, f32, Ix2> {
        a.mapv(|v| v as f32).into()
    }
    fn to_f32s(a: ArrayView2<'_, f32>) -> CowArray<'_, f32, Ix2> {
        a.into()
    }
    fn from_f32s(a: Array2<f32>) -> Array2<f32> {
        a
    }
}
