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

/// The finite numbers of one line separated by commas and/or whitespace (as `.nnet` rows and
/// `certus eval` inputs are written); `Err` holds the first token that is not one.
pub fn parse_numbers(line: &str) -> std::result::Result<Vec<f64>, String> {
    line.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| t.to_string())
        })
        .collect()
}
