//! Importers: file formats in, [`crate::ir::Network`] out. Nothing below this module knows
//! about ONNX or `.nnet`.

pub mod onnx;
