//! ONNX import: decodes a model with a hand-declared subset of `onnx.proto` (`proto.rs`) and
//! lowers its graph into the core ops of [`crate::ir`]. Nothing outside this module sees an
//! ONNX type.
//!
//! Lowering rules (a tensor is either a constant or a "live" value computed from the input):
//! - `Gemm`, `MatMul` with one constant side → `Affine`; `Conv`, `ConvTranspose` → `Conv`;
//! - `Add`/`Sub`/`Mul`/`Div` with one constant side, `Neg`, `BatchNormalization` → folded into
//!   the preceding `Affine`/`Conv`/`ScaleShift` when it has no other reader, else `ScaleShift`;
//!   an identity (`x − 0`, `x / 1`) disappears;
//! - `Add`/`Sub` of two computed values → `Add` (of the first and a `ScaleShift(−1, 0)` of the
//!   second for `Sub`); `Concat` of computed values → `Concat` (+ `Gather` on an inner axis);
//!   a computed operand that broadcasting enlarges → `Gather` (repetition);
//! - `Flatten`, `Reshape`, `Squeeze`, `Unsqueeze`, `Identity`, `Dropout`, `Cast` to float and
//!   `Transpose`s that only move size-1 axes → no node (the shape changes, the row-major data
//!   does not); other `Transpose`s → `Gather`; a final `Reshape` node is added if the output's
//!   shape differs from its node's;
//! - `Relu`, `Sigmoid`, `Tanh`, `Sign`, `Softmax` (its axis as groups) → themselves; `Mul` of two
//!   computed values → `Mul` (`Square` when both are one value), `Pow` with the constant
//!   exponent 2 → `Square` (other exponents are an error);
//! - any op whose inputs are all constants (including `Shape` of a live value) is folded.
//!
//! Models must import a version of the standard operator set in [`OPSETS`]. Everything else,
//! and every input that does not fit, fails at load time with one message
//! listing each offending node as `name (OpType): reason`.

mod conv;
mod elementwise;
mod fold;
mod join;
mod linear;
mod lower;
mod nonlinear;
mod piecewise;
mod plumb;
mod proto;
mod select;
mod shape;
mod tensor;
mod values;

use crate::ir::Network;
use crate::{Error, Result};
use prost::Message;
use std::path::Path;

/// The ONNX operator types the importer lowers (`certus supports --onnx-operators`): every one
/// of them imports in some model (a test imports a model for each).
pub fn supported_ops() -> &'static [&'static str] {
    lower::SUPPORTED
}

/// The versions of the default ONNX operator set the importer reads, lowest and highest
/// (`certus supports --onnx-opset-versions`).
pub const OPSETS: (i64, i64) = (7, 21);

pub use lower::Interface;

/// Loads an ONNX model and lowers it into the IR, also exposing the tensors named in `taps`
/// (ONNX node outputs, for VNN-LIB 2.0 hidden-node declarations) as outputs after the graph's
/// own; returns each graph input, output and tap with its shape.
pub fn load_with(path: &Path, taps: &[&str]) -> Result<(Network, Interface)> {
    let bytes = Error::read(path)?;
    let model = proto::ModelProto::decode(bytes.as_slice())
        .map_err(|e| Error::model(path, format!("not a valid ONNX model: {e}")))?;
    lower::lower_model_with(&model, taps).map_err(|msg| Error::model(path, msg))
}

/// Loads an ONNX model and lowers it into the IR.
pub fn load(path: &Path) -> Result<Network> {
    from_bytes(&Error::read(path)?, path)
}

/// Same from bytes; `path` only names the file in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Network> {
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| Error::model(path, format!("not a valid ONNX model: {e}")))?;
    lower::lower_model(&model).map_err(|msg| Error::model(path, msg))
}
