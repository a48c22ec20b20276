//! Which pixel each value of a network input is: the one place that decides the layout of an
//! image-shaped input, so that data files, pictures and reports agree with what the network
//! sees.
//!
//! Data files (ERAN CSV) store a colour image channels last, `r,g,b,r,g,b,...` row by row. A
//! network reads its flattened input either channels first (`[1,3,32,32]`: ONNX, PyTorch) or
//! channels last (`[1,32,32,3]`: TensorFlow). [`decide`] reads the order from the network's
//! input shape, its leading and trailing 1s dropped (the batch dimension, a last grey channel):
//!
//! | input shape (outer 1s dropped) | layout |
//! | --- | --- |
//! | `[C, H, W]` with `C <= 4 < W` | channels first, `C` channels |
//! | `[H, W, C]` with `C <= 4 < H` | channels last, `C` channels |
//! | any other three dimensions (`[3, 3, 3]`, `[8, 8, 8]`) | ambiguous: an error |
//! | `[H, W]` | grey `H×W` (one channel: the order does not matter) |
//! | flat `[n]`, `n = 3·s²`, `s >= 8` (`3072`) | ambiguous: an `s×s` colour image in either order |
//! | flat `[n]`, `n = s²`, `s >= 8` (`784`) | grey `s×s` |
//! | anything else | not an image: values in the file's order |
//!
//! A data file's width must be the input's element count (the caller checks it), so the flat
//! rows are decided by the data's width as much as by the shape. Per-channel normalisation
//! (`--mean`/`--std` with `k > 1` values) names `k` channels, which must agree with the
//! decision; on a flat input whose order the shape does not give, they make it ambiguous. An
//! explicit [`Layout`] (`--layout`) overrides the shape's reading; an ambiguous case without one
//! is an error that says so, never a guess.

use super::image::ImageGeometry;

/// How the network orders the values of a multi-channel image (`--layout`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Read from the network's input shape ([`decide`]).
    #[default]
    Auto,
    /// `[C, H, W]`: every value of channel 0, then channel 1, ...
    ChannelsFirst,
    /// `[H, W, C]`: the channels of each pixel together (the order of ERAN's CSV files).
    ChannelsLast,
    /// Not an image: values in the file's order, one channel.
    Flat,
}

/// The smallest side of a square image a flat input is taken for (8×8; smaller flat inputs
/// are feature vectors, such as ACAS Xu's 5).
const MIN_SIDE: usize = 8;

/// The most channels a dimension of an image shape may have (grey, RGB, RGBA); a larger first
/// or last dimension is a height or width.
const MAX_CHANNELS: usize = 4;

/// `s` with `s² = n`, when there is one.
fn square_side(n: usize) -> Option<usize> {
    let s = (n as f64).sqrt().round() as usize;
    (s * s == n).then_some(s)
}

/// `s >= MIN_SIDE` with `n = 3·s²`: a flat input that may be a colour image.
fn colour_side(n: usize) -> Option<usize> {
    (n.is_multiple_of(3))
        .then(|| square_side(n / 3))
        .flatten()
        .filter(|&s| s >= MIN_SIDE)
}

/// The image layout of a network input of `shape` (`None`: not an image, values in the file's
/// order), by the rules of the [module docs](self). `channels` is the channel count the
/// caller's per-channel settings name (`None` or `Some(1)`: none). `Err` says why the layout is
/// ambiguous or inconsistent and how to choose.
pub fn decide(
    shape: &[usize],
    channels: Option<usize>,
    layout: Layout,
) -> Result<Option<ImageGeometry>, String> {
    let first = shape.iter().position(|&d| d != 1).unwrap_or(shape.len());
    let last = shape.iter().rposition(|&d| d != 1).map_or(first, |i| i + 1);
    let dims = &shape[first..last.max(first)];
    let n = crate::ir::numel(shape);
    let hint = channels.filter(|&c| c > 1);
    let choose = "choose with --layout chw (channels first), hwc (channels last) or flat";
    let geometry = match layout {
        Layout::Flat => None,
        Layout::Auto => match dims {
            &[a, b, c] if a <= MAX_CHANNELS && c > MAX_CHANNELS => {
                Some(ImageGeometry::new(a, b, c, false))
            }
            &[a, b, c] if c <= MAX_CHANNELS && a > MAX_CHANNELS => {
                Some(ImageGeometry::new(c, a, b, true))
            }
            [_, _, _] => {
                return Err(format!(
                    "the network's input shape {shape:?} does not say which dimension holds the \
                     channels; {choose}"
                ))
            }
            &[h, w] => Some(ImageGeometry::new(1, h, w, false)),
            [] | [_] => {
                if let Some(s) = colour_side(n) {
                    return Err(format!(
                        "the network's input {shape:?} is flat: its {n} values may be a {s}×{s} \
                         colour image with the channels first or last; {choose}"
                    ));
                }
                if let Some(c) = hint {
                    return Err(format!(
                        "--mean/--std name {c} channels, but the network's flat input {shape:?} \
                         does not say their order; {choose}"
                    ));
                }
                square_side(n)
                    .filter(|&s| s >= MIN_SIDE)
                    .map(|s| ImageGeometry::new(1, s, s, false))
            }
            _ => None,
        },
        Layout::ChannelsFirst | Layout::ChannelsLast => {
            let last = layout == Layout::ChannelsLast;
            match dims {
                &[a, b, c] if last => Some(ImageGeometry::new(c, a, b, true)),
                &[a, b, c] => Some(ImageGeometry::new(a, b, c, false)),
                &[h, w] => Some(ImageGeometry::new(1, h, w, last)),
                [] | [_] => {
                    let c = hint
                        .or_else(|| colour_side(n).map(|_| 3))
                        .or_else(|| square_side(n).map(|_| 1))
                        .filter(|&c| n.is_multiple_of(c))
                        .ok_or_else(|| {
                            format!(
                                "the network's flat input of {n} values is no square image; give \
                                 one --mean/--std value per channel to say how many channels it has"
                            )
                        })?;
                    let hw = n / c;
                    let (h, w) = square_side(hw).map_or((hw, 1), |s| (s, s));
                    Some(ImageGeometry::new(c, h, w, last))
                }
                _ => {
                    return Err(format!(
                        "the network's input shape {shape:?} has more than three dimensions \
                         besides 1s: it is no image"
                    ))
                }
            }
        }
    };
    match (hint, geometry) {
        (Some(c), None) => Err(format!(
            "--mean/--std name {c} channels, but the network's input {shape:?} is read as no \
             image (one channel); give one value each, or {choose}"
        )),
        (Some(c), Some(g)) if g.channels != c => Err(format!(
            "--mean/--std name {c} channels, but the network's input {shape:?} has {} ({})",
            g.channels,
            g.order_name()
        )),
        (_, g) => Ok(g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(shape: &[usize]) -> Result<Option<ImageGeometry>, String> {
        decide(shape, None, Layout::Auto)
    }

    #[test]
    fn the_shape_decides_when_it_can() {
        assert_eq!(
            auto(&[1, 3, 1, 5]),
            Ok(Some(ImageGeometry::new(3, 1, 5, false)))
        );
        let chw = ImageGeometry::new(3, 32, 32, false);
        assert_eq!(auto(&[1, 3, 32, 32]), Ok(Some(chw)));
        assert_eq!(auto(&[3, 32, 32]), Ok(Some(chw)));
        let hwc = ImageGeometry::new(3, 32, 32, true);
        assert_eq!(auto(&[1, 32, 32, 3]), Ok(Some(hwc)));
        let grey = ImageGeometry::new(1, 28, 28, false);
        for s in [
            &[1, 784, 1][..],
            &[1, 28, 28],
            &[1, 1, 28, 28],
            &[784],
            &[28, 28, 1],
        ] {
            assert_eq!(auto(s), Ok(Some(grey)), "{s:?}");
        }
        assert_eq!(
            auto(&[1, 1, 20, 20]),
            Ok(Some(ImageGeometry::new(1, 20, 20, false)))
        );
        // Feature vectors: ACAS Xu, small flat inputs.
        assert_eq!(auto(&[1, 1, 1, 5]), Ok(None));
        assert_eq!(auto(&[2]), Ok(None));
        assert_eq!(auto(&[1, 48]), Ok(None));
    }

    #[test]
    fn ambiguous_shapes_are_errors_until_chosen() {
        for s in [&[1, 3072][..], &[3072], &[1, 192], &[3, 3, 3], &[8, 8, 8]] {
            let e = auto(s).unwrap_err();
            assert!(e.contains("--layout"), "{s:?}: {e}");
        }
        assert_eq!(
            decide(&[1, 3072], None, Layout::ChannelsFirst),
            Ok(Some(ImageGeometry::new(3, 32, 32, false)))
        );
        assert_eq!(
            decide(&[1, 3072], Some(3), Layout::ChannelsLast),
            Ok(Some(ImageGeometry::new(3, 32, 32, true)))
        );
        assert_eq!(decide(&[1, 3072], None, Layout::Flat), Ok(None));
        // An explicit choice overrides the shape's reading.
        assert_eq!(decide(&[1, 3, 32, 32], None, Layout::Flat), Ok(None));
    }

    #[test]
    fn per_channel_settings_must_agree() {
        assert!(decide(&[1, 3, 32, 32], Some(3), Layout::Auto).is_ok());
        assert!(decide(&[1, 3, 32, 32], Some(2), Layout::Auto).is_err());
        assert!(decide(&[1, 5], Some(5), Layout::Auto).is_err());
        // Three channels on a flat input that is no square colour image: order unknown.
        assert!(decide(&[1, 300], Some(3), Layout::Auto)
            .unwrap_err()
            .contains("--layout"));
        assert_eq!(
            decide(&[1, 300], Some(3), Layout::ChannelsFirst),
            Ok(Some(ImageGeometry::new(3, 10, 10, false)))
        );
        assert!(decide(&[1, 3072], Some(3), Layout::Flat).is_err());
    }
}
