//! The command line's own vocabulary: clap value enums that map onto the library's types (the
//! library knows nothing of clap), and the value parsers that check every numeric option when
//! the arguments are parsed, so a bad value is a one-line usage error (exit 2), never a panic.

use certus::bounds::lp::Backend;
use certus::bounds::Method;
use certus::deadline::{parse_budget, Deadline};
use certus::import::nnet::Normalization;
use certus::report::Layout;
use certus::verify::Engine;
use std::time::Duration;

/// `verify --engine` and `bench --engine`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// The input-split search on chains of affine layers and ReLUs with at most 16 inputs, the
    /// ReLU-split search on wider ReLU, sigmoid and tanh networks, branch and bound with crown
    /// on the others.
    #[default]
    Auto,
    /// The batched input-split search (any network; chains of affine layers and ReLUs get
    /// its fast kernels, others go through the dual network one box at a time).
    InputSplit,
    /// Branch and bound with interval bounds.
    Interval,
    /// Branch and bound with Wong–Kolter's dual network (fixed lower slopes).
    Dual,
    /// Branch and bound with the dual network and adaptive (CROWN) lower slopes.
    Crown,
    /// Branch and bound with optimised lower slopes.
    Alpha,
    /// Branch and bound with the triangle LP (slow; for small networks).
    Lp,
    /// ReLU-split branch and bound with optimised split multipliers (β-CROWN), for wide
    /// inputs (images).
    ReluSplit,
    /// The exact encoding over the reals, decided by Z3 (no attack first; sigmoid/tanh give
    /// `unknown`).
    Smt,
    /// DLV's discretised search around each region's centre: `sat` on a replayed example,
    /// `unknown` when the grid holds (not a proof).
    Dlv,
}

impl From<EngineArg> for Engine {
    fn from(e: EngineArg) -> Engine {
        match e {
            EngineArg::Auto => Engine::Auto,
            EngineArg::InputSplit => Engine::InputSplit,
            EngineArg::Interval => Engine::Bab(Method::Interval),
            EngineArg::Dual => Engine::Bab(Method::Dual),
            EngineArg::Crown => Engine::Bab(Method::Crown),
            EngineArg::Alpha => Engine::Bab(Method::Alpha),
            EngineArg::Lp => Engine::Bab(Method::Lp),
            EngineArg::ReluSplit => Engine::ReluSplit,
            EngineArg::Smt => Engine::Smt,
            EngineArg::Dlv => Engine::Dlv,
        }
    }
}

/// `bounds --method`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Interval bound propagation.
    Interval,
    /// Wong–Kolter's dual network.
    Dual,
    /// The dual network with adaptive (CROWN) lower slopes.
    #[default]
    Crown,
    /// Optimised lower slopes for every intermediate bound and the output.
    Alpha,
    /// The triangle LP relaxation over the crown intermediate bounds.
    Lp,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Interval => Method::Interval,
            MethodArg::Dual => Method::Dual,
            MethodArg::Crown => Method::Crown,
            MethodArg::Alpha => Method::Alpha,
            MethodArg::Lp => Method::Lp,
        }
    }
}

/// `bounds --lp-backend`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// Clarabel, pure Rust (interior point).
    #[default]
    Clarabel,
    /// HiGHS (simplex; needs the `highs` cargo feature).
    #[cfg(feature = "highs")]
    Highs,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Clarabel => Backend::Clarabel,
            #[cfg(feature = "highs")]
            BackendArg::Highs => Backend::Highs,
        }
    }
}

/// `--nnet-normalize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum NormalizationArg {
    /// The weights alone (the VNN-COMP ONNX models' function).
    #[default]
    Off,
    /// Raw inputs in, raw outputs out.
    On,
}

impl From<NormalizationArg> for Normalization {
    fn from(n: NormalizationArg) -> Normalization {
        match n {
            NormalizationArg::Off => Normalization::Off,
            NormalizationArg::On => Normalization::On,
        }
    }
}

/// `--layout`: how the network orders the values of a multi-channel image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    /// Read it from the network's input shape (`[1,3,32,32]` is channels first, `[1,32,32,3]`
    /// channels last); an input whose shape does not say is an error.
    #[default]
    Auto,
    /// Channels first, `[C,H,W]` (ONNX, PyTorch): the file's `r,g,b,...` values are reordered.
    Chw,
    /// Channels last, `[H,W,C]` (TensorFlow): the file's order as it is.
    Hwc,
    /// No image: the values in the file's order, one channel.
    Flat,
}

impl From<LayoutArg> for Layout {
    fn from(l: LayoutArg) -> Layout {
        match l {
            LayoutArg::Auto => Layout::Auto,
            LayoutArg::Chw => Layout::ChannelsFirst,
            LayoutArg::Hwc => Layout::ChannelsLast,
            LayoutArg::Flat => Layout::Flat,
        }
    }
}

/// A time budget given in seconds: `None` is no limit (more than [`certus::deadline::MAX_SECS`],
/// `inf` included). The clock starts when [`Seconds::deadline`] is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Option<Duration>);

impl Seconds {
    /// The deadline this budget gives from now.
    pub fn deadline(self) -> Deadline {
        self.0.map_or(Deadline::NONE, Deadline::after)
    }
}

/// Parses `--timeout`-like options: a positive number of seconds (`inf` or anything above
/// about 31 years is no limit).
pub fn seconds(s: &str) -> Result<Seconds, String> {
    parse_budget(number(s)?).map(Seconds)
}

/// A number (clap shows the option and the value around the message).
fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| format!("`{s}` is not a number"))
}

/// A positive finite number (ε, steps, scales).
pub fn positive(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(format!("must be a positive finite number, got {v}"))
    }
}

/// A positive factor that may be infinite (`bench --timeout-scale inf`: no limit).
pub fn positive_factor(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be positive, got {v}"))
    }
}

/// Any finite number (means).
pub fn finite(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("must be a finite number, got {v}"))
    }
}

/// A count of at least 1.
pub fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v >= 1 => usize::try_from(v).map_err(|_| format!("{v} is too large")),
        Ok(v) => Err(format!("must be at least 1, got {v}")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// A whole number, zero allowed (restarts, seeds).
pub fn whole(s: &str) -> Result<u64, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v >= 0 => u64::try_from(v).map_err(|_| format!("{v} is too large")),
        Ok(v) => Err(format!("must be zero or more, got {v}")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// An index (labels, layers): a whole number, zero allowed.
pub fn index(s: &str) -> Result<usize, String> {
    let v = whole(s)?;
    usize::try_from(v).map_err(|_| format!("{v} is too large"))
}

/// `LO,HI` with `LO <= HI`, both finite.
pub fn range(s: &str) -> Result<(f64, f64), String> {
    let parts: Vec<&str> = s.split(',').collect();
    let [lo, hi] = parts.as_slice() else {
        return Err(format!("expected `LO,HI` (e.g. `0,1`), got `{s}`"));
    };
    let (lo, hi) = (finite(lo)?, finite(hi)?);
    if lo <= hi {
        Ok((lo, hi))
    } else {
        Err(format!("LO must not exceed HI, got {lo},{hi}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_accept_and_reject() {
        assert_eq!(seconds("1e19"), Ok(Seconds(None)));
        assert_eq!(seconds("1e300"), Ok(Seconds(None)));
        assert_eq!(seconds("inf"), Ok(Seconds(None)));
        assert_eq!(seconds("2"), Ok(Seconds(Some(Duration::from_secs(2)))));
        for bad in ["-1", "0", "nan", "x", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert!(seconds("-1").unwrap_err().contains("must be a positive"));
        assert_eq!(positive("0.5"), Ok(0.5));
        assert!(positive("inf").is_err() && positive("-0.1").is_err());
        assert_eq!(positive_factor("inf"), Ok(f64::INFINITY));
        assert!(positive_factor("0").is_err() && positive_factor("nan").is_err());
        assert_eq!(count("3"), Ok(3));
        assert!(count("0").is_err() && count("-2").is_err() && count("1.5").is_err());
        assert_eq!(whole("0"), Ok(0));
        assert!(whole("-1").unwrap_err().contains("zero or more"));
        assert_eq!(range("0,1"), Ok((0.0, 1.0)));
        assert_eq!(range("-1,1"), Ok((-1.0, 1.0)));
        assert!(range("1,0").is_err() && range("0").is_err() && range("0,inf").is_err());
        assert!(finite("1e400").is_err());
    }
}
