//! Constant tensors: decoding `TensorProto`s into `f64` arrays, node attributes, and the shape
//! arithmetic (broadcasting, axes, element counts) shared by every op.

use super::proto::{AttributeProto, TensorProto};
use crate::ir::Shape;
use ndarray::{ArrayD, IxDyn};

/// Largest tensor (in elements) the importer builds. Real verification networks are far below
/// it; the bound keeps a malicious or broken file (a dimension of 10^12, a broadcast of two
/// long vectors) from asking for an absurd allocation instead of failing cleanly.
pub(super) const MAX_ELEMS: usize = 1 << 27;

/// A constant tensor. Values are widened to `f64`: exact for float32, float16, bfloat16 and
/// every integer up to 2^53, so `w as f32` recovers a float32 weight. `int` marks integer
/// element types (shapes, axes, indices), which fold with integer semantics (`Div` truncates).
#[derive(Clone, Debug)]
pub(super) struct Const {
    pub data: ArrayD<f64>,
    pub int: bool,
}

impl Const {
    pub fn float(data: ArrayD<f64>) -> Self {
        Const { data, int: false }
    }

    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// A 1-D integer tensor, e.g. the output of `Shape`.
    pub fn ints(values: &[i64]) -> Self {
        let data = ArrayD::from_shape_vec(IxDyn(&[values.len()]), {
            values.iter().map(|&v| v as f64).collect()
        })
        .expect("a vector fits its own length");
        Const { data, int: true }
    }

    /// The values as integers (shapes, axes, indices); fails on fractional values.
    pub fn to_ints(&self) -> Result<Vec<i64>, String> {
        self.data
            .iter()
            .map(|&v| {
                if v.fract() == 0.0 && v.abs() <= 9.2e18 {
                    Ok(v as i64)
                } else {
                    Err(format!("expected integer values, found {v}"))
                }
            })
            .collect()
    }

    /// Same data in another shape with the same element count (row-major order kept).
    pub fn reshaped(&self, shape: &[usize]) -> Result<Const, String> {
        let data = ArrayD::from_shape_vec(IxDyn(shape), self.data.iter().copied().collect())
            .map_err(|_| format!("cannot reshape {:?} into {shape:?}", self.shape()))?;
        Ok(Const {
            data,
            int: self.int,
        })
    }
}

/// The element count of `shape`, failing past [`MAX_ELEMS`] instead of overflowing.
pub(super) fn checked_numel(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMS)
        .ok_or_else(|| format!("tensor shape {shape:?} is too large"))
}

/// Numpy-style broadcast of two shapes.
pub(super) fn broadcast(a: &[usize], b: &[usize]) -> Result<Shape, String> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() < rank {
            1
        } else {
            s[i + s.len() - rank]
        }
    };
    let shape = (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect::<Result<Shape, String>>()?;
    checked_numel(&shape)?;
    Ok(shape)
}

/// `c` broadcast to `shape` and flattened row-major.
pub(super) fn broadcast_flat(c: &Const, shape: &[usize]) -> Result<Vec<f64>, String> {
    let view = c
        .data
        .broadcast(IxDyn(shape))
        .ok_or_else(|| format!("shape {:?} does not broadcast to {shape:?}", c.shape()))?;
    Ok(view.iter().copied().collect())
}

/// An ONNX axis (negative counts from the end) as an index below `rank`.
pub(super) fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if (-r..r).contains(&a) {
        Ok(if a < 0 { a + r } else { a } as usize)
    } else {
        Err(format!("axis {a} is out of range for rank {rank}"))
    }
}

/// Decodes a tensor, naming it in errors.
pub(super) fn decode(t: &TensorProto) -> Result<Const, String> {
    decode_data(t).map_err(|e| format!("tensor `{}`: {e}", t.name))
}

fn decode_data(t: &TensorProto) -> Result<Const, String> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        let location = t
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map_or(String::new(), |e| format!(" (in `{}`)", e.value));
        return Err(format!(
            "data is stored externally{location}; external data is not supported, re-save \
             the model with its weights inside the file"
        ));
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Shape, String>>()?;
    let n = checked_numel(&dims)?;
    let raw = &t.raw_data;
    // `(width of one element in raw_data, is an integer type)`.
    let (width, int) = match t.data_type {
        1 => (4, false),
        2 | 3 | 9 => (1, true),
        4 | 5 => (2, true),
        6 => (4, true),
        7 => (8, true),
        10 | 16 => (2, false),
        11 => (8, false),
        other => return Err(format!("unsupported data type {}", dtype_name(other))),
    };
    let values: Vec<f64> = if !raw.is_empty() {
        if raw.len() != n * width {
            return Err(format!(
                "raw_data holds {} bytes, but {n} elements of {} need {}",
                raw.len(),
                dtype_name(t.data_type),
                n * width
            ));
        }
        raw.chunks_exact(width)
            .map(|b| raw_value(t.data_type, b))
            .collect()
    } else {
        match t.data_type {
            1 => t.float_data.iter().map(|&v| v as f64).collect(),
            11 => t.double_data.clone(),
            7 => t.int64_data.iter().map(|&v| v as f64).collect(),
            10 => t.int32_data.iter().map(|&v| f16(v as u16)).collect(),
            16 => t.int32_data.iter().map(|&v| bf16(v as u16)).collect(),
            _ => t.int32_data.iter().map(|&v| v as f64).collect(),
        }
    };
    if values.len() != n {
        return Err(format!(
            "shape {dims:?} needs {n} values, the tensor holds {}",
            values.len()
        ));
    }
    let data = ArrayD::from_shape_vec(IxDyn(&dims), values).map_err(|e| e.to_string())?;
    Ok(Const { data, int })
}

/// One little-endian element of `raw_data` (`b` has the type's width).
fn raw_value(data_type: i32, b: &[u8]) -> f64 {
    let le2 = || u16::from_le_bytes([b[0], b[1]]);
    let le4 = || [b[0], b[1], b[2], b[3]];
    let le8 = || [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
    match data_type {
        1 => f32::from_le_bytes(le4()) as f64,
        2 | 9 => b[0] as f64,
        3 => b[0] as i8 as f64,
        4 => le2() as f64,
        5 => le2() as i16 as f64,
        6 => i32::from_le_bytes(le4()) as f64,
        7 => i64::from_le_bytes(le8()) as f64,
        10 => f16(le2()),
        16 => bf16(le2()),
        _ => f64::from_le_bytes(le8()),
    }
}

/// IEEE half precision, exactly.
fn f16(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// bfloat16: the top half of a float32.
fn bf16(h: u16) -> f64 {
    f32::from_bits(u32::from(h) << 16) as f64
}

/// A `TensorProto.DataType` for messages.
pub(super) fn dtype_name(t: i32) -> String {
    const NAMES: [&str; 17] = [
        "UNDEFINED",
        "FLOAT",
        "UINT8",
        "INT8",
        "UINT16",
        "INT16",
        "INT32",
        "INT64",
        "STRING",
        "BOOL",
        "FLOAT16",
        "DOUBLE",
        "UINT32",
        "UINT64",
        "COMPLEX64",
        "COMPLEX128",
        "BFLOAT16",
    ];
    usize::try_from(t)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("#{t}"), |s| s.to_string())
}

/// A node's attributes, looked up by name (absent and zero differ, unlike the proto fields).
#[derive(Clone, Copy)]
pub(super) struct Attrs<'a>(pub &'a [AttributeProto]);

impl<'a> Attrs<'a> {
    pub fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }

    pub fn ints(&self, name: &str) -> Option<&'a [i64]> {
        self.get(name).map(|a| a.ints.as_slice())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
}
