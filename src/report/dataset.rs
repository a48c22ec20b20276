//! Replayed counterexamples as a dataset a training script can load (adversarial examples are
//! for testers and for fine-tuning, as Szegedy et al. and DLV's authors use them): each with the
//! true label of the input it was found around.
//!
//! - `STEM.csv`: ERAN's CSV (`label,v0,v1,...`), the values in the data file's own scale and
//!   order (raw, channels last), so that `certus radius --data STEM.csv` and ERAN read it like the
//!   original; each value is the shortest decimal that reads back as the same f64.
//! - `STEM_x.npy`: float32, shape `[N, ...]` (the network's input shape, its leading batch 1
//!   replaced by `N`): exactly the inputs that [`crate::outcome::confirm`] replayed, in the
//!   network's order and space (after any `--mean`/`--std`).
//! - `STEM_y.npy`: int64, shape `[N]`: the true labels.

use super::npy::{to_bytes, NpyArray, NpyData};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// One counterexample and the label of the input it was found around.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetRow {
    pub label: usize,
    /// The replayed input, network order and space (each value an f32).
    pub input: Vec<f64>,
    /// The same input in the data file's scale and order.
    pub raw: Vec<f64>,
}

/// The files [`write_dataset`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetFiles {
    pub csv: PathBuf,
    pub x: PathBuf,
    pub y: PathBuf,
}

/// The `.npy` shape of `n` inputs of `input_shape`: a leading batch dimension of 1 becomes `n`,
/// otherwise `n` is put in front.
pub fn batch_shape(n: usize, input_shape: &[usize]) -> Vec<usize> {
    match input_shape {
        [1, rest @ ..] if !rest.is_empty() => [&[n][..], rest].concat(),
        _ => [&[n][..], input_shape].concat(),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `rows` (inputs of a network whose input has `input_shape`) into `dir` (created if
/// missing) as `STEM.csv`, `STEM_x.npy` and `STEM_y.npy`; no rows give empty files (`N = 0`).
pub fn write_dataset(
    dir: &Path,
    stem: &str,
    rows: &[DatasetRow],
    input_shape: &[usize],
) -> Result<DatasetFiles> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let n_in = crate::ir::numel(input_shape);
    if let Some(r) = rows.iter().find(|r| r.input.len() != n_in) {
        return Err(Error::Invalid(format!(
            "a counterexample of {} values for an input of shape {input_shape:?}",
            r.input.len()
        )));
    }
    let mut csv = String::new();
    for r in rows {
        csv.push_str(&r.label.to_string());
        for v in &r.raw {
            csv.push(',');
            csv.push_str(&v.to_string());
        }
        csv.push('\n');
    }
    let x = NpyArray {
        shape: batch_shape(rows.len(), input_shape),
        // The replayed points are f32 values (confirm rounds them), so this is exact.
        data: NpyData::F32(
            rows.iter()
                .flat_map(|r| &r.input)
                .map(|&v| v as f32)
                .collect(),
        ),
    };
    let y = NpyArray {
        shape: vec![rows.len()],
        data: NpyData::I64(rows.iter().map(|r| r.label as i64).collect()),
    };
    let files = DatasetFiles {
        csv: dir.join(format!("{stem}.csv")),
        x: dir.join(format!("{stem}_x.npy")),
        y: dir.join(format!("{stem}_y.npy")),
    };
    write(&files.csv, csv.as_bytes())?;
    write(&files.x, &to_bytes(&x))?;
    write(&files.y, &to_bytes(&y))?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_shapes() {
        assert_eq!(batch_shape(5, &[1, 3, 32, 32]), [5, 3, 32, 32]);
        assert_eq!(batch_shape(5, &[1, 784, 1]), [5, 784, 1]);
        assert_eq!(batch_shape(5, &[784]), [5, 784]);
        assert_eq!(batch_shape(0, &[1]), [0, 1]);
    }
}
