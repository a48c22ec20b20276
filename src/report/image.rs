//! Input vectors seen as images: 8-bit pixels, PNG encoding (and an enlarged copy), and base64
//! for the data URIs of the HTML report. Which layout an input has is decided once, by
//! [`super::layout::decide`].

use crate::{Error, Result};

/// How a flattened input vector is laid out as an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageGeometry {
    /// Channels: 1 (grey) and 3 (RGB) can be drawn; any other count is only reordered.
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `[H, W, C]` order (ERAN's CSV, TensorFlow); otherwise `[C, H, W]` (ONNX, PyTorch).
    pub channels_last: bool,
}

/// Each pixel of an enlarged picture is a block of this many pixels a side (a 28×28 input
/// becomes 224×224, a 32×32 one 256×256).
pub const ENLARGE: usize = 8;

impl ImageGeometry {
    /// A geometry from its parts.
    pub fn new(channels: usize, height: usize, width: usize, channels_last: bool) -> Self {
        ImageGeometry {
            channels,
            height,
            width,
            channels_last,
        }
    }

    /// Number of values: `C·H·W`.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// True for an image with no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `"channels first"` or `"channels last"`.
    pub fn order_name(&self) -> &'static str {
        if self.channels_last {
            "channels last"
        } else {
            "channels first"
        }
    }

    /// True when a PNG can show it (grey or RGB).
    pub fn drawable(&self) -> bool {
        matches!(self.channels, 1 | 3)
    }

    /// The channel of element `i` of the flattened vector.
    pub fn channel_of(&self, i: usize) -> usize {
        if self.channels_last {
            i % self.channels
        } else {
            i / (self.height * self.width)
        }
    }

    /// Index into the flattened vector of channel `c` at row `y`, column `x`.
    pub fn index(&self, c: usize, y: usize, x: usize) -> usize {
        if self.channels_last {
            (y * self.width + x) * self.channels + c
        } else {
            (c * self.height + y) * self.width + x
        }
    }

    /// 8-bit pixels in PNG order (row-major, channels interleaved); `to_byte(value, channel)`
    /// maps one input value to 0..=255.
    pub fn pixels(&self, values: &[f64], to_byte: impl Fn(f64, usize) -> u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for y in 0..self.height {
            for x in 0..self.width {
                for c in 0..self.channels {
                    out.push(to_byte(values[self.index(c, y, x)], c));
                }
            }
        }
        out
    }
}

/// `v` in [0, 1] to a byte, clipped.
pub fn unit_to_byte(v: f64) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// How to show input values we know nothing about: as they are when they all lie in [0, 1]
/// (the usual pixel scale), else stretched linearly from their minimum and maximum.
pub fn auto_range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo >= 0.0 && hi <= 1.0 {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    }
}

/// 8-bit pixels (PNG order) of `values` mapped per channel from `ranges[c]` (or `ranges[0]`
/// for every channel) to 0..=255.
pub fn pixels_of(geom: &ImageGeometry, values: &[f64], ranges: &[(f64, f64)]) -> Vec<u8> {
    geom.pixels(values, |v, c| {
        let (lo, hi) = ranges[c.min(ranges.len() - 1)];
        unit_to_byte((v - lo) / (hi - lo))
    })
}

/// [`pixels_of`] as PNG bytes.
pub fn png_of(geom: &ImageGeometry, values: &[f64], ranges: &[(f64, f64)]) -> Result<Vec<u8>> {
    encode_png(geom, &pixels_of(geom, values, ranges))
}

/// `pixels` (PNG order, [`ImageGeometry::pixels`]) with each pixel repeated as a `k×k` block
/// (nearest neighbour), and the geometry of the result.
pub fn enlarge(geom: &ImageGeometry, pixels: &[u8], k: usize) -> (ImageGeometry, Vec<u8>) {
    let c = geom.channels;
    let big = ImageGeometry::new(c, geom.height * k, geom.width * k, true);
    let mut out = Vec::with_capacity(pixels.len() * k * k);
    for y in 0..big.height {
        let row = &pixels[(y / k) * geom.width * c..(y / k + 1) * geom.width * c];
        for x in 0..big.width {
            out.extend_from_slice(&row[(x / k) * c..(x / k + 1) * c]);
        }
    }
    (big, out)
}

/// The signed difference `b − a` as a PNG: mid grey is no change, white the largest increase,
/// black the largest decrease (scaled by the largest `|b − a|`).
pub fn diff_png(geom: &ImageGeometry, a: &[f64], b: &[f64]) -> Result<Vec<u8>> {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let m = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if m > 0.0 { 0.5 / m } else { 0.0 };
    let px = geom.pixels(&d, |v, _| unit_to_byte(0.5 + v * scale));
    encode_png(geom, &px)
}

/// PNG bytes of 8-bit pixels from [`ImageGeometry::pixels`].
pub fn encode_png(geom: &ImageGeometry, pixels: &[u8]) -> Result<Vec<u8>> {
    if !geom.drawable() {
        return Err(Error::Invalid(format!(
            "a PNG shows 1 or 3 channels, not {}",
            geom.channels
        )));
    }
    let mut out = Vec::new();
    let fail = |e: png::EncodingError| Error::Invalid(format!("PNG encoding failed: {e}"));
    let mut enc = png::Encoder::new(&mut out, geom.width as u32, geom.height as u32);
    enc.set_color(if geom.channels == 3 {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    });
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(fail)?;
    w.write_image_data(pixels).map_err(fail)?;
    w.finish().map_err(fail)?;
    Ok(out)
}

/// Standard base64 (RFC 4648, with padding), for `data:` URIs.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | (b[2] as u32);
        for k in 0..4 {
            if k <= chunk.len() {
                s.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (raw, enc) in cases {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn enlarged_pixels_are_blocks() {
        let g = ImageGeometry::new(3, 1, 2, false);
        let px = g.pixels(&[0.0, 1.0, 0.0, 1.0, 1.0, 0.0], |v, _| unit_to_byte(v));
        assert_eq!(px, [0, 0, 255, 255, 255, 0]);
        let (big, out) = enlarge(&g, &px, 2);
        assert_eq!((big.height, big.width), (2, 4));
        let row = [0, 0, 255, 0, 0, 255, 255, 255, 0, 255, 255, 0];
        assert_eq!(out, [row, row].concat());
        assert!(encode_png(&big, &out).is_ok());
        assert!(encode_png(&ImageGeometry::new(2, 1, 1, false), &[0, 0]).is_err());
    }
}
