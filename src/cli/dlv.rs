//! `certus dlv`: DLV's discretised robustness search around one input.

use super::args::{count, index, positive, range, seconds, Seconds};
use super::NetArgs;
use certus::dlv::{linf_ball, search, DlvConfig, DlvOutcome, DlvReport};
use certus::spec::Property;
use certus::Error;
use std::path::PathBuf;
use std::time::Instant;

/// The largest `M = eps/step` accepted: a grid of `2M + 1` points per feature or more is far
/// beyond what DLV can visit.
const MAX_STEPS: f64 = 1e6;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// File holding the input: numbers separated by whitespace or commas, flattened row-major
    /// (`#` starts a comment).
    #[arg(long)]
    pub input: PathBuf,
    /// Divide every input number by this first (255 for 0–255 pixel values).
    #[arg(long, default_value = "1", value_parser = positive, allow_negative_numbers = true)]
    pub divide: f64,
    /// The class the input should keep (index of the output).
    #[arg(long, value_parser = index, allow_negative_numbers = true)]
    pub label: usize,
    /// Region: every input within `eps` of the given one (L∞), clipped to `--clip`.
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    pub eps: f64,
    /// Grid step τ at the input: a feature moves by multiples of τ up to `eps` each way.
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    pub step: f64,
    /// Layers to search, in order, comma-separated: 0 = input, k = the k-th ReLU layer
    /// (default: all).
    #[arg(long, value_delimiter = ',', value_parser = index, allow_hyphen_values = true)]
    pub layers: Option<Vec<usize>>,
    /// Features (groups of dimensions moved together) per layer.
    #[arg(long, default_value = "4", value_parser = count, allow_negative_numbers = true)]
    pub features: usize,
    /// Clip the region to `LO,HI` (e.g. `--clip 0,1` for images).
    #[arg(long, value_name = "LO,HI", value_parser = range, allow_hyphen_values = true)]
    pub clip: Option<(f64, f64)>,
    /// Wall-clock budget in seconds (`inf`: no limit).
    #[arg(long, default_value = "60", value_parser = seconds, allow_negative_numbers = true)]
    pub timeout: Seconds,
    /// Z3 budget of one realisation query, in seconds (`inf`: only `--timeout`).
    #[arg(long, default_value = "2", value_parser = seconds, allow_negative_numbers = true)]
    pub query_timeout: Seconds,
}

/// Reads whitespace/comma separated numbers, `#` comments skipped.
fn read_numbers(path: &PathBuf) -> certus::Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let body = line.split('#').next().unwrap_or("");
        out.extend(certus::import::parse_numbers(body).map_err(|t| {
            Error::Invalid(format!(
                "{}:{}: `{t}` is not a finite number",
                path.display(),
                no + 1
            ))
        })?);
    }
    Ok(out)
}

/// Exit codes: 1 adversarial example found (replayed) or the input misclassified, 0 every grid
/// point keeps the class (relative to the discretisation), 3 incomplete, 2 error.
pub fn run(a: Args) -> certus::Result<u8> {
    let deadline = a.timeout.deadline();
    if a.step > a.eps {
        return Err(Error::Invalid("--step must not exceed --eps".into()));
    }
    let steps = (a.eps / a.step).floor();
    if steps > MAX_STEPS {
        return Err(Error::Invalid(format!(
            "--eps {} / --step {} gives {steps:e} grid steps each way; at most {MAX_STEPS:e}",
            a.eps, a.step
        )));
    }
    let net = a.net.load()?;
    let x: Vec<f64> = read_numbers(&a.input)?
        .into_iter()
        .map(|v| v / a.divide)
        .collect();
    if x.len() != net.input_len() {
        return Err(Error::Invalid(format!(
            "{}: expected {} numbers (input shape {:?}), found {}",
            a.input.display(),
            net.input_len(),
            net.input_shape(),
            x.len()
        )));
    }
    if a.label >= net.output_len() {
        return Err(Error::Invalid(format!(
            "--label {} but the network has {} outputs",
            a.label,
            net.output_len()
        )));
    }
    let clip = a.clip;
    if let Some((lo, hi)) = clip {
        let holds = x.iter().all(|v| (lo..=hi).contains(v));
        if !holds {
            return Err(Error::Invalid(format!(
                "--clip {lo},{hi} must be a range holding the input"
            )));
        }
    }
    let (lo, hi) = linf_ball(&x, a.eps, clip);
    let prop = Property::robustness(lo, hi, a.label, net.output_len());
    let cfg = DlvConfig {
        steps: steps as usize,
        tau: Some(a.step),
        features: a.features,
        layers: a.layers.clone(),
        deadline,
        query_timeout: a.query_timeout.0,
        ..DlvConfig::default()
    };
    let t = Instant::now();
    let rep = search(&net, &prop, 0, &x, &cfg)?;
    print!("{}", report_text(&rep, a.label));
    eprintln!("time: {:.3} s", t.elapsed().as_secs_f64());
    Ok(match rep.outcome {
        DlvOutcome::Adversarial { .. } | DlvOutcome::Misclassified(_) => 1,
        DlvOutcome::SafeOnGrid => 0,
        DlvOutcome::Incomplete(_) => 3,
    })
}

/// The report: outcome line, what the guarantee means, one line per layer, the example.
pub fn report_text(rep: &DlvReport, label: usize) -> String {
    let mut s = String::new();
    // The class an output vector puts first among the others than `label`.
    let other = |y: &[f64]| {
        (0..y.len())
            .filter(|&j| j != label)
            .max_by(|&i, &j| y[i].total_cmp(&y[j]))
            .unwrap_or(label)
    };
    match &rep.outcome {
        DlvOutcome::Misclassified(cex) => s.push_str(&format!(
            "misclassified: the input itself is in class {}, not {label} (replayed in f32 and \
             f64; no search needed)\n{}\n",
            other(&cex.output),
            cex.vnncomp_text()
        )),
        DlvOutcome::Adversarial { .. } => s.push_str("adversarial\n"),
        DlvOutcome::SafeOnGrid => s.push_str(
            "safe on the grid: every grid point keeps the class or is realised by no input; \
             this guarantee is relative to the discretisation (step, features, layers) and is \
             not a proof for the whole region\n",
        ),
        DlvOutcome::Incomplete(why) => s.push_str(&format!("incomplete: {why}\n")),
    }
    for l in &rep.layers {
        let sizes: Vec<String> = l.features.iter().map(|f| f.len().to_string()).collect();
        let top: Vec<String> = l
            .features
            .iter()
            .map(|f| {
                let head: Vec<String> = f.iter().take(3).map(|d| d.to_string()).collect();
                format!(
                    "[{}{}]",
                    head.join(" "),
                    if f.len() > 3 { " …" } else { "" }
                )
            })
            .collect();
        s.push_str(&format!(
            "layer {} (node {}): {} features of sizes {} {}; grid {} points, visited {}, \
             adversarial {} (realised {}, of which {} keep the class; unrealisable {}), \
             unresolved {}\n",
            l.layer,
            l.node,
            l.features.len(),
            sizes.join("/"),
            top.join(" "),
            l.grid_size,
            l.visited,
            l.adversarial_points,
            l.realised,
            l.realised_kept,
            l.unrealisable,
            l.unresolved
        ));
    }
    if let DlvOutcome::Adversarial {
        cex,
        layer,
        linf,
        l2,
    } = &rep.outcome
    {
        let best = other(&cex.output);
        s.push_str(&format!(
            "adversarial example found at layer {layer}: L∞ distance {linf:.6}, L2 distance \
             {l2:.6}; class {label} → {best} (replayed in f32 and f64)\n{}\n",
            cex.vnncomp_text()
        ));
    }
    s
}
