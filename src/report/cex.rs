//! One counterexample to `STEM.txt` (VNN-COMP), `STEM.json` and, for images, `STEM.png`.

use super::image::{auto_range, encode_png, enlarge, pixels_of, ImageGeometry, ENLARGE};
use super::layout::{decide, Layout};
use crate::outcome::Counterexample;
use crate::spec::{LinearConstraint, Property};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The files written for one counterexample.
#[derive(Clone, Debug, PartialEq)]
pub struct CexFiles {
    pub text: PathBuf,
    pub json: PathBuf,
    /// Only when a [`Picture`] was given: the image at its own size, and `STEM_x8.png` with
    /// every pixel an [`ENLARGE`]-pixel block.
    pub png: Option<PathBuf>,
    pub png_enlarged: Option<PathBuf>,
}

/// How to draw an input as a picture: its layout, and the input values shown as black and
/// white, per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub geometry: ImageGeometry,
    /// `(black, white)` for each channel, or one pair for all; empty: values in [0, 1] as they
    /// are, anything else stretched from its minimum to its maximum.
    pub ranges: Vec<(f64, f64)>,
}

impl Picture {
    /// The picture of an input of `shape` whose layout [`decide`] reads with `layout`, values
    /// shown by their own range: `Ok(None)` when the input is no drawable image, `Err` (why,
    /// and how to choose) when its layout is ambiguous.
    pub fn of_shape(shape: &[usize], layout: Layout) -> std::result::Result<Option<Self>, String> {
        Ok(decide(shape, None, layout)?
            .filter(ImageGeometry::drawable)
            .map(|geometry| Picture {
                geometry,
                ranges: vec![],
            }))
    }

    /// PNG bytes of `values` at their own size and enlarged.
    fn pngs(&self, values: &[f64]) -> Result<(Vec<u8>, Vec<u8>)> {
        let ranges = match self.ranges.is_empty() {
            true => vec![auto_range(values)],
            false => self.ranges.clone(),
        };
        let g = &self.geometry;
        let px = pixels_of(g, values, &ranges);
        let (big, big_px) = enlarge(g, &px, ENLARGE);
        Ok((encode_png(g, &px)?, encode_png(&big, &big_px)?))
    }
}

/// The JSON file's content.
#[derive(serde::Serialize)]
struct CexJson<'a> {
    /// Who found it: `verify`, an attack method, or `radius`.
    source: &'a str,
    input_shape: &'a [usize],
    /// Flattened row-major, exactly the point that was replayed.
    input: &'a [f64],
    /// Computed in f32 (what onnxruntime reports).
    output: &'a [f64],
    output_f64: &'a [f64],
    region: usize,
    disjunct: usize,
    /// The violated disjunct's constraints (all hold at `output`), e.g. `Y_0 - Y_3 <= 0`.
    violated: Vec<String>,
    /// `max_k (a_k·y − b_k)` of that disjunct, the larger of the f32 and f64 values: `<= 0`,
    /// and the further below 0 the more robustly the point violates the property.
    margin: f64,
    margin_f32: f64,
    margin_f64: f64,
    /// File names of the PNGs beside this file (the image, and enlarged), when there are.
    png: Option<String>,
    png_enlarged: Option<String>,
}

/// A constraint as text over outputs `Y_i`: `Y_0 - Y_3 <= 0`, `2*Y_1 + -0.5*Y_2 <= 1`.
pub fn constraint_text(c: &LinearConstraint) -> String {
    let mut s = String::new();
    for (k, &(i, a)) in c.coeffs.iter().enumerate() {
        let (sign, mag) = if a < 0.0 && k > 0 {
            (" - ", -a)
        } else {
            (" + ", a)
        };
        if k > 0 {
            s.push_str(sign);
        }
        if mag == 1.0 {
            s.push_str(&format!("Y_{i}"));
        } else if mag == -1.0 {
            s.push_str(&format!("-Y_{i}"));
        } else {
            s.push_str(&format!("{mag}*Y_{i}"));
        }
    }
    if s.is_empty() {
        s.push('0');
    }
    format!("{s} <= {}", c.rhs)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `cex` (a counterexample of `prop` on a network whose input has `input_shape`) into
/// `dir` (created if missing) as `STEM.txt`, `STEM.json` and, with a `picture` of the input's
/// size, `STEM.png` and `STEM_x8.png` (enlarged).
pub fn write_counterexample(
    dir: &Path,
    stem: &str,
    cex: &Counterexample,
    prop: &Property,
    input_shape: &[usize],
    source: &str,
    picture: Option<&Picture>,
) -> Result<CexFiles> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let text = dir.join(format!("{stem}.txt"));
    write(&text, format!("{}\n", cex.vnncomp_text()).as_bytes())?;
    let (png, png_enlarged) = match picture {
        Some(p) if p.geometry.len() == cex.input.len() => {
            let (small, big) = p.pngs(&cex.input)?;
            let (ps, pb) = (
                dir.join(format!("{stem}.png")),
                dir.join(format!("{stem}_x{ENLARGE}.png")),
            );
            write(&ps, &small)?;
            write(&pb, &big)?;
            (Some(ps), Some(pb))
        }
        _ => (None, None),
    };
    let name = |p: &Option<PathBuf>| {
        p.as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    };
    let violated = prop
        .regions
        .get(cex.region)
        .and_then(|r| r.disjuncts.get(cex.disjunct))
        .map(|d| d.constraints.iter().map(constraint_text).collect())
        .unwrap_or_default();
    let body = CexJson {
        source,
        input_shape,
        input: &cex.input,
        output: &cex.output,
        output_f64: &cex.output_f64,
        region: cex.region,
        disjunct: cex.disjunct,
        violated,
        margin: cex.margin_f32.max(cex.margin_f64),
        margin_f32: cex.margin_f32,
        margin_f64: cex.margin_f64,
        png: name(&png),
        png_enlarged: name(&png_enlarged),
    };
    let json = dir.join(format!("{stem}.json"));
    let mut bytes = serde_json::to_vec_pretty(&body).expect("counterexample serialises");
    bytes.push(b'\n');
    write(&json, &bytes)?;
    Ok(CexFiles {
        text,
        json,
        png,
        png_enlarged,
    })
}
