//! NumPy's `.npy` format, version 1.0, written and read by hand from its documented layout
//! (numpy.lib.format, "NPY format"): the magic `\x93NUMPY`, the version bytes `1 0`, a
//! little-endian `u16` header length, then an ASCII Python dict literal
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and ended by
//! `\n` so that the data starts at a multiple of 64 bytes, then the values, C order,
//! little-endian. `numpy.load` reads what [`to_bytes`] writes; [`from_bytes`] reads exactly this
//! subset back (for tests and for checking files).

use crate::{Error, Result};

/// The element types written: `<f4` (float32) and `<i8` (int64).
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl NpyData {
    fn len(&self) -> usize {
        match self {
            NpyData::F32(v) => v.len(),
            NpyData::I64(v) => v.len(),
        }
    }

    fn descr(&self) -> &'static str {
        match self {
            NpyData::F32(_) => "<f4",
            NpyData::I64(_) => "<i8",
        }
    }
}

/// An array: its shape and its values in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// The data starts at a multiple of this (the format's alignment).
const ALIGN: usize = 64;

/// The `.npy` bytes of `a` (`a.shape` must hold as many values as `a.data`).
pub fn to_bytes(a: &NpyArray) -> Vec<u8> {
    assert_eq!(
        crate::ir::numel(&a.shape),
        a.data.len(),
        "shape and data agree"
    );
    let dims: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        a.data.descr()
    );
    // Magic (6) + version (2) + length (2) + header, padded so that the data is aligned.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(ALIGN) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 8 * a.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match &a.data {
        NpyData::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    out
}

/// Reads a version 1.0 `.npy` file of `<f4` or `<i8` values in C order, as [`to_bytes`] writes
/// them; anything else is an error that says what was found.
pub fn from_bytes(bytes: &[u8]) -> Result<NpyArray> {
    let bad = |m: &str| Error::Invalid(format!("not a .npy file certus reads: {m}"));
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err(bad("no \\x93NUMPY magic"));
    }
    if bytes[6..8] != [1, 0] {
        return Err(bad(&format!("version {}.{}", bytes[6], bytes[7])));
    }
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = bytes
        .get(10..10 + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated header"))?;
    let field = |key: &str| {
        let at = header.find(&format!("'{key}': "))? + key.len() + 4;
        Some(&header[at..])
    };
    let descr = field("descr")
        .and_then(|s| s.strip_prefix('\''))
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| bad("no descr"))?;
    if !field("fortran_order").is_some_and(|s| s.starts_with("False")) {
        return Err(bad("Fortran order"));
    }
    let dims = field("shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let shape = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| bad(&format!("shape ({dims})")))
        })
        .collect::<Result<Vec<_>>>()?;
    let n = crate::ir::numel(&shape);
    let body = &bytes[10 + len..];
    let data = match descr {
        "<f4" if body.len() == 4 * n => NpyData::F32(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        "<i8" if body.len() == 8 * n => NpyData::I64(
            body.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        "<f4" | "<i8" => return Err(bad(&format!("{} data bytes for {n} values", body.len()))),
        other => return Err(bad(&format!("element type {other}"))),
    };
    Ok(NpyArray { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let a = NpyArray {
            shape: vec![2, 3],
            data: NpyData::F32(vec![0.0, 1.5, -2.0, 3.25, 1e-3, 7.0]),
        };
        let b = to_bytes(&a);
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        assert_eq!(b[10 + len - 1], b'\n');
        let header = std::str::from_utf8(&b[10..10 + len]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert_eq!(b.len(), 10 + len + 24);
        assert_eq!(from_bytes(&b).unwrap(), a);
        let y = NpyArray {
            shape: vec![3],
            data: NpyData::I64(vec![7, 0, -1]),
        };
        let b = to_bytes(&y);
        assert!(std::str::from_utf8(&b[10..70])
            .unwrap()
            .contains("'shape': (3,), }"));
        assert_eq!(from_bytes(&b).unwrap(), y);
        let empty = NpyArray {
            shape: vec![0, 4],
            data: NpyData::F32(vec![]),
        };
        assert_eq!(from_bytes(&to_bytes(&empty)).unwrap(), empty);
        assert!(from_bytes(b"\x93NUMPY\x02\x00").is_err());
        assert!(from_bytes(&to_bytes(&y)[..80]).is_err());
    }
}
