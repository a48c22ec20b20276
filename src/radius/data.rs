//! The ERAN CSV data format and the map from its raw values to network inputs.
//!
//! A line is `label, v_0, v_1, ...`: the class, then the raw values (8-bit pixels for MNIST and
//! CIFAR-10). Multi-channel images are stored channels last (`r,g,b,r,g,b,...`, ERAN's order)
//! and reordered into the network's layout, which [`decide`] reads from the network's input
//! shape (or the user's `--layout`) once, in [`Preprocess::new`].
//!
//! Three spaces, in order:
//! 1. raw values `v` (0–255);
//! 2. *pixel space* `p = v / scale`, which must lie in the valid range [0, 1]. The ε-ball is
//!    taken here and clipped to [0, 1]: `[max(0, p − ε), min(1, p + ε)]`;
//! 3. *network space* `x = (p − mean_c) / std_c`, per channel `c` (identity by default), for a
//!    network that expects normalised inputs and does not normalise itself.

use crate::report::image::ImageGeometry;
use crate::report::layout::{decide, Layout};
use crate::report::Picture;
use crate::tolerances::F64_UNIT_ROUNDOFF;
use crate::{Error, Result};
use std::path::Path;

/// One labelled input, in pixel space and in the network's element order.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// 0-based line number among the data lines of the file.
    pub index: usize,
    pub label: usize,
    /// `v / scale`, each in [0, 1].
    pub pixels: Vec<f64>,
}

/// How raw values become network inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// Raw values are divided by this (255 for 8-bit pixels).
    pub scale: f64,
    /// Per-channel mean and standard deviation (one value each, or one per channel).
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// How the network lays out an image input ([`decide`]: from its input shape, or the
    /// `--layout` given); `None`: no image, values in the file's order.
    pub image: Option<ImageGeometry>,
}

impl Preprocess {
    /// Checks the settings and decides, once, how the network's input (of `input_shape`) lays
    /// out the file's channels-last images ([`decide`], with `layout` as the user's choice).
    pub fn new(
        scale: f64,
        mean: Vec<f64>,
        std: Vec<f64>,
        input_shape: &[usize],
        layout: Layout,
    ) -> Result<Self> {
        let bad = |m: String| Err(Error::Invalid(m));
        if !(scale > 0.0 && scale.is_finite()) {
            return bad(format!("--scale must be positive, got {scale}"));
        }
        if mean.len() != std.len() || mean.is_empty() {
            return bad(format!(
                "--mean and --std need the same number of values (one, or one per channel); got {} and {}",
                mean.len(),
                std.len()
            ));
        }
        if let Some(s) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return bad(format!("--std values must be positive, got {s}"));
        }
        let image = decide(input_shape, Some(mean.len()), layout).map_err(Error::Invalid)?;
        Ok(Preprocess {
            scale,
            mean,
            std,
            image,
        })
    }

    /// Number of channels of `mean`/`std` (1, or the image's channels).
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// The network's layout in words: `chw` (channels first), `hwc` (channels last) or `flat`
    /// (no image, values in the file's order).
    pub fn layout_name(&self) -> &'static str {
        match self.image {
            Some(g) if g.channels_last => "hwc",
            Some(_) => "chw",
            None => "flat",
        }
    }

    /// How to draw a network-space input: its layout, and per channel the network values of
    /// pixel values 0 and 1 as black and white. `None` when the input is no drawable image.
    pub fn picture(&self) -> Option<Picture> {
        let geometry = self.image.filter(ImageGeometry::drawable)?;
        let ranges = (0..self.channels())
            .map(|c| {
                let x = |p: f64| (p - self.mean[c]) / self.std[c];
                (x(0.0), x(1.0))
            })
            .collect();
        Some(Picture { geometry, ranges })
    }

    /// Channel of element `i` of a network input.
    fn channel(&self, i: usize) -> usize {
        match self.image {
            Some(g) if self.channels() > 1 => g.channel_of(i),
            _ => 0,
        }
    }

    /// True when the file's channels-last rows must be reordered for the network.
    fn reorders(&self) -> bool {
        self.image
            .is_some_and(|g| g.channels > 1 && !g.channels_last)
    }

    /// Values in the file's order (channels last) to the network's order.
    pub fn to_network_order(&self, file: Vec<f64>) -> Vec<f64> {
        match self.image {
            Some(g) if self.reorders() => {
                // Network element i = (c, p) with p = y·W + x is file element p·C + c.
                let (c, hw) = (g.channels, g.height * g.width);
                (0..file.len())
                    .map(|i| file[(i % hw) * c + i / hw])
                    .collect()
            }
            _ => file,
        }
    }

    /// Values in the network's order back to the file's (channels last).
    pub fn to_file_order(&self, net: &[f64]) -> Vec<f64> {
        match self.image {
            Some(g) if self.reorders() => {
                // File element j = p·C + c is network element c·H·W + p.
                let (c, hw) = (g.channels, g.height * g.width);
                (0..net.len()).map(|j| net[(j % c) * hw + j / c]).collect()
            }
            _ => net.to_vec(),
        }
    }

    /// A network-space input back in the data file's terms: pixel space, the file's order
    /// (channels last), times `scale`.
    pub fn to_raw(&self, x: &[f64]) -> Vec<f64> {
        let file = self.to_file_order(&self.denormalise(x));
        file.iter().map(|p| p * self.scale).collect()
    }

    /// Pixel space to network space.
    pub fn normalise(&self, pixels: &[f64]) -> Vec<f64> {
        let n = pixels.len();
        (0..n)
            .map(|i| {
                let c = self.channel(i);
                (pixels[i] - self.mean[c]) / self.std[c]
            })
            .collect()
    }

    /// Network space back to pixel space (for pictures).
    pub fn denormalise(&self, x: &[f64]) -> Vec<f64> {
        let n = x.len();
        (0..n)
            .map(|i| {
                let c = self.channel(i);
                x[i] * self.std[c] + self.mean[c]
            })
            .collect()
    }

    /// The clipped ε-box around `pixels`, in network space. With `widen`, each bound is moved
    /// outward far enough to cover the rounding of `p ± ε`, the clip (exact), `− mean` and
    /// `/ std`: each correctly rounded step errs by at most `u·|its result|`, so the computed
    /// bound is within `u·(|p| + ε + (|p| + ε + |mean|))/std · (1 + u) + u·|x|` of the real one;
    /// we pad by twice that plus one ulp. Proofs use the widened box (it contains the real
    /// ball); attacks search the plain one (a counterexample in it lies in the real ball up to
    /// the same rounding, and is replayed on exactly that box).
    pub fn eps_box(&self, pixels: &[f64], eps: f64, widen: bool) -> (Vec<f64>, Vec<f64>) {
        let lo_px: Vec<f64> = pixels.iter().map(|p| (p - eps).max(0.0)).collect();
        let hi_px: Vec<f64> = pixels.iter().map(|p| (p + eps).min(1.0)).collect();
        let mut lo = self.normalise(&lo_px);
        let mut hi = self.normalise(&hi_px);
        if widen {
            let n = pixels.len();
            let u = F64_UNIT_ROUNDOFF;
            for i in 0..n {
                let c = self.channel(i);
                let a = pixels[i].abs() + eps;
                let pad =
                    |x: f64| 2.0 * (u * (2.0 * a + self.mean[c].abs()) / self.std[c] + u * x.abs());
                lo[i] = (lo[i] - pad(lo[i])).next_down();
                hi[i] = (hi[i] + pad(hi[i])).next_up();
            }
        }
        (lo, hi)
    }
}

/// Reads the first `count` data lines (all when `None`) of an ERAN CSV file for a network with
/// `n_inputs` inputs; raw values are divided by `pre.scale` and multi-channel lines reordered
/// from channels last to the network's order. A file with no data line is an error.
pub fn load_csv(
    path: &Path,
    count: Option<usize>,
    n_inputs: usize,
    n_classes: usize,
    pre: &Preprocess,
) -> Result<Vec<Sample>> {
    let bytes = Error::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let at = |line: usize, col: usize, msg: String| Error::Spec {
        path: path.to_path_buf(),
        line,
        col,
        msg,
    };
    let mut out = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        if count.is_some_and(|c| out.len() >= c) {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != n_inputs + 1 {
            return Err(at(
                ln + 1,
                1,
                format!(
                    "expected a label and {n_inputs} values (the network's input size), found {} fields",
                    fields.len()
                ),
            ));
        }
        let label: usize = fields[0]
            .parse()
            .ok()
            .filter(|&l| l < n_classes)
            .ok_or_else(|| {
                at(
                    ln + 1,
                    1,
                    format!(
                        "label `{}` is not a class index below {n_classes}",
                        fields[0]
                    ),
                )
            })?;
        let mut raw = Vec::with_capacity(n_inputs);
        for (k, f) in fields[1..].iter().enumerate() {
            let v: f64 = f
                .parse()
                .map_err(|_| at(ln + 1, k + 2, format!("`{f}` is not a number")))?;
            let p = v / pre.scale;
            if !(0.0..=1.0).contains(&p) {
                return Err(at(
                    ln + 1,
                    k + 2,
                    format!(
                        "value {v} / scale {} = {p} is outside the valid range [0, 1] (set --scale)",
                        pre.scale
                    ),
                ));
            }
            raw.push(p);
        }
        let pixels = pre.to_network_order(raw);
        out.push(Sample {
            index: out.len(),
            label,
            pixels,
        });
    }
    if out.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no data lines (expected `label,v0,v1,...` per line)",
            path.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_last_file_becomes_channels_first() {
        // A [1,3,1,5] network: three channels of a 1×5 image, channels first, with one
        // mean/std value (the order must not depend on how many were given).
        for (mean, std) in [(vec![0.0], vec![1.0]), (vec![0.0; 3], vec![1.0; 3])] {
            let pre = Preprocess::new(1.0, mean, std, &[1, 3, 1, 5], Layout::Auto).unwrap();
            assert_eq!(pre.layout_name(), "chw");
            let dir = std::env::temp_dir().join(format!("certus-data-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let p = dir.join("d.csv");
            // Pixel k has (r, g, b) = (k, 10 + k, 20 + k) / 100.
            let file: Vec<f64> = (0..5)
                .flat_map(|k| [k, 10 + k, 20 + k])
                .map(|v| v as f64 / 100.0)
                .collect();
            let line: Vec<String> = file.iter().map(|v| v.to_string()).collect();
            std::fs::write(&p, format!("1,{}\n", line.join(","))).unwrap();
            let s = load_csv(&p, None, 15, 10, &pre).unwrap();
            let want: Vec<f64> = (0..15)
                .map(|i| ((i / 5) * 10 + i % 5) as f64 / 100.0)
                .collect();
            assert_eq!(s[0].pixels, want);
            assert_eq!(pre.to_file_order(&s[0].pixels), file);
        }
        // Channels last: the file's order as it is.
        let pre = Preprocess::new(1.0, vec![0.0], vec![1.0], &[1, 5, 1, 3], Layout::Auto).unwrap();
        assert_eq!(pre.layout_name(), "hwc");
        assert_eq!(pre.to_network_order(vec![1.0, 2.0]), vec![1.0, 2.0]);
    }

    #[test]
    fn widened_box_contains_plain_box() {
        let pre =
            Preprocess::new(255.0, vec![0.1307], vec![0.3081], &[1, 2], Layout::Auto).unwrap();
        let (l, u) = pre.eps_box(&[0.0, 0.7], 0.1, false);
        let (lw, uw) = pre.eps_box(&[0.0, 0.7], 0.1, true);
        for i in 0..2 {
            assert!(lw[i] < l[i] && u[i] < uw[i] && l[i] < u[i]);
        }
        assert_eq!(l[0], (0.0 - 0.1307) / 0.3081);
    }
}
