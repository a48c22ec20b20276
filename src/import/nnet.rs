//! `.nnet` import (the ACAS Xu text format of Julian et al.).
//!
//! Layout after the `//` comment lines, comma-separated (trailing commas allowed):
//! 1. `numLayers, inputSize, outputSize, maxLayerSize`
//! 2. the `numLayers + 1` layer sizes, input first
//! 3. a legacy "symmetric" flag (ignored)
//! 4. input minimums, 5. input maximums (`inputSize` each)
//! 6. means, 7. ranges (`inputSize + 1` each: the inputs', then one shared by all outputs)
//! 8. per layer: `size[k+1]` weight rows of `size[k]` values, then `size[k+1]` biases.
//!
//! Every layer but the last is followed by a ReLU.
//!
//! Normalisation: the network's weights act on *normalised* values. A raw input is mapped by
//! `x_n = (x − mean) / range` (after clipping `x` to [min, max]) and the raw output is
//! `y = y_n · range_out + mean_out`. With [`Normalization::Off`] (the default) certus imports
//! exactly the weights, which equals the VNN-COMP ONNX models whose properties are already
//! normalised. [`Normalization::On`] prepends the input map and appends the output map as
//! `ScaleShift` nodes so the network reads raw units; the clip to [min, max] is not part of the
//! network (keep the input box inside [min, max], reported by [`NnetHeader`]).

use crate::ir::{Affine, Network, Node, NodeId, Op, ScaleShift};
use crate::{Error, Result};
use ndarray::{Array1, Array2};
use std::path::Path;

/// Whether to fold the header's normalisation into the imported network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Normalization {
    /// The weights alone: equals the VNN-COMP ONNX models (normalised inputs and outputs).
    #[default]
    Off,
    /// Raw inputs in, raw outputs out: `(x − mean)/range` first, `y·range + mean` last.
    On,
}

/// The normalisation header of a `.nnet` file.
#[derive(Clone, Debug, PartialEq)]
pub struct NnetHeader {
    pub input_min: Vec<f64>,
    pub input_max: Vec<f64>,
    /// `inputSize + 1` values: the inputs' means, then the outputs'.
    pub means: Vec<f64>,
    /// `inputSize + 1` values: the inputs' ranges, then the outputs'.
    pub ranges: Vec<f64>,
}

/// Loads a `.nnet` file.
pub fn load(path: &Path, norm: Normalization) -> Result<Network> {
    let text = String::from_utf8(Error::read(path)?)
        .map_err(|_| Error::model(path, "not a text file (expected the .nnet text format)"))?;
    parse(&text, path, norm).map(|(net, _)| net)
}

/// Parses `.nnet` text; `path` names the file in errors.
pub fn parse(text: &str, path: &Path, norm: Normalization) -> Result<(Network, NnetHeader)> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//") && !l.trim().is_empty());
    let mut next_row = |what: &str, want: usize| -> Result<Vec<f64>> {
        let (no, line) = lines
            .next()
            .ok_or_else(|| Error::model(path, format!("file ends before the {what}")))?;
        let vals = super::parse_numbers(line)
            .map_err(|t| Error::model(path, format!("line {}: `{t}` is not a number", no + 1)))?;
        if vals.len() < want {
            return Err(Error::model(
                path,
                format!(
                    "line {}: expected {want} values for the {what}, found {}",
                    no + 1,
                    vals.len()
                ),
            ));
        }
        Ok(vals)
    };
    let head = next_row("header", 4)?;
    let as_size = |v: f64| (v >= 1.0 && v.fract() == 0.0 && v < 1e7).then_some(v as usize);
    let (n_layers, n_in, n_out) = match (as_size(head[0]), as_size(head[1]), as_size(head[2])) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => {
            return Err(Error::model(
                path,
                "header: layer count and sizes must be positive integers",
            ))
        }
    };
    let sizes: Vec<usize> = next_row("layer sizes", n_layers + 1)?[..n_layers + 1]
        .iter()
        .map(|&v| {
            as_size(v).ok_or_else(|| Error::model(path, "layer sizes must be positive integers"))
        })
        .collect::<Result<_>>()?;
    if sizes[0] != n_in || sizes[n_layers] != n_out {
        return Err(Error::model(
            path,
            "layer sizes disagree with the header's input/output sizes",
        ));
    }
    next_row("symmetric flag", 1)?;
    let header = NnetHeader {
        input_min: next_row("input minimums", n_in)?[..n_in].to_vec(),
        input_max: next_row("input maximums", n_in)?[..n_in].to_vec(),
        means: next_row("means", n_in + 1)?[..n_in + 1].to_vec(),
        ranges: next_row("ranges", n_in + 1)?[..n_in + 1].to_vec(),
    };
    let mut nodes = vec![Node {
        name: "input".into(),
        op: Op::Input,
        inputs: vec![],
        shape: vec![n_in],
    }];
    let push = |nodes: &mut Vec<Node>, name: String, op: Op, len: usize| {
        let inputs = vec![NodeId(nodes.len() - 1)];
        nodes.push(Node {
            name,
            op,
            inputs,
            shape: vec![len],
        });
    };
    if norm == Normalization::On {
        if header.ranges.contains(&0.0) {
            return Err(Error::model(path, "a normalisation range is 0"));
        }
        let scale = Array1::from_iter(header.ranges[..n_in].iter().map(|r| 1.0 / r));
        let shift = Array1::from_iter((0..n_in).map(|i| -header.means[i] / header.ranges[i]));
        push(
            &mut nodes,
            "normalise".into(),
            Op::ScaleShift(ScaleShift { scale, shift }),
            n_in,
        );
    }
    for k in 0..n_layers {
        let (rows, cols) = (sizes[k + 1], sizes[k]);
        // Grown row by row as the file supplies them, never allocated from the header's sizes:
        // a hostile header may declare 10^7 × 10^7 weights in a file of a few bytes.
        let mut data = Vec::new();
        for _ in 0..rows {
            let row = next_row(&format!("weights of layer {}", k + 1), cols)?;
            data.extend_from_slice(&row[..cols]);
        }
        let weight = Array2::from_shape_vec((rows, cols), data).expect("rows × cols values");
        let mut bias = Vec::new();
        for _ in 0..rows {
            bias.push(next_row(&format!("biases of layer {}", k + 1), 1)?[0]);
        }
        let bias = Array1::from_vec(bias);
        push(
            &mut nodes,
            format!("layer{}", k + 1),
            Op::Affine(Affine { weight, bias }),
            rows,
        );
        if k + 1 < n_layers {
            push(&mut nodes, format!("relu{}", k + 1), Op::Relu, rows);
        }
    }
    if norm == Normalization::On {
        let (r, m) = (header.ranges[n_in], header.means[n_in]);
        let op = Op::ScaleShift(ScaleShift {
            scale: Array1::from_elem(n_out, r),
            shift: Array1::from_elem(n_out, m),
        });
        push(&mut nodes, "denormalise".into(), op, n_out);
    }
    let net = Network::new(nodes).map_err(|e| Error::model(path, e))?;
    Ok((net, header))
}
