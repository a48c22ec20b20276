//! Importers: file formats in, [`crate::ir::Network`] out. Nothing below this module knows
//! about ONNX or `.nnet`.

pub mod nnet;
pub mod onnx;

use crate::ir::Network;
use crate::{Error, Result};
use std::path::Path;

/// Loads a network, choosing the importer by extension (`.nnet`, else ONNX).
pub fn load_network(path: &Path, nnet_norm: nnet::Normalization) -> Result<Network> {
    if !path.exists() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("nnet") => nnet::load(path, nnet_norm),
        _ => onnx::load(path),
    }
}
