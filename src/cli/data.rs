//! How labelled data (ERAN CSV) becomes network inputs: the options `radius` and `attack
//! --data` share.

use super::args::{finite, positive, LayoutArg};
use certus::radius::Preprocess;

#[derive(clap::Args, Debug, Clone)]
pub struct PixelArgs {
    /// Raw data values are divided by this; the result must lie in [0, 1] (the ε-ball is
    /// clipped there).
    #[arg(long, default_value = "255", value_parser = positive, allow_negative_numbers = true)]
    pub scale: f64,
    /// Per-channel means subtracted after scaling (one value, or one per channel), for networks
    /// that expect normalised inputs and do not normalise themselves.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    #[arg(value_parser = finite, allow_hyphen_values = true)]
    pub mean: Vec<f64>,
    /// Per-channel standard deviations divided by after the mean.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    #[arg(value_parser = positive, allow_hyphen_values = true)]
    pub std: Vec<f64>,
    /// How the network orders a colour image's values: read from its input shape (`auto`), or
    /// `chw` (channels first), `hwc` (channels last), `flat` (no image). Data rows are channels
    /// last and are reordered to match; pictures are drawn the same way.
    #[arg(long, value_enum, default_value_t = LayoutArg::Auto)]
    pub layout: LayoutArg,
}

impl PixelArgs {
    /// The preprocessing for a network whose input has `input_shape` (its layout decided here,
    /// once).
    pub fn preprocess(&self, input_shape: &[usize]) -> certus::Result<Preprocess> {
        Preprocess::new(
            self.scale,
            self.mean.clone(),
            self.std.clone(),
            input_shape,
            self.layout.into(),
        )
    }
}
