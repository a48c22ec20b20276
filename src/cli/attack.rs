//! `certus attack`.

use super::args::{count, positive, seconds, whole, Seconds};
use super::data::PixelArgs;
use super::NetArgs;
use certus::attack::search::{distances, start_point};
use certus::attack::{find_counterexamples, AttackMethod, SearchOptions};
use certus::deadline::Deadline;
use certus::ir::Network;
use certus::radius::adversarial::{attack_samples, dataset_rows};
use certus::radius::load_csv;
use certus::report::{write_counterexample, write_dataset};
use certus::spec::Property;
use certus::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `attack --method`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Fast gradient sign method: one step to the box face.
    Fgsm,
    /// Projected gradient descent: signed steps of decaying size.
    #[default]
    Pgd,
    /// Carlini–Wagner-style: margin loss plus a distance penalty, Adam steps.
    Cw,
    /// Jacobian saliency map: greedy changes of single inputs to the box faces.
    Jsma,
    /// Szegedy et al.'s box-constrained L-BFGS with a line search over the distance weight: the
    /// smallest perturbation of the box centre (of the input, with `--data`) it finds (one run
    /// per disjunct, nearest first; no random restarts).
    Lbfgs,
}

impl From<MethodArg> for AttackMethod {
    fn from(m: MethodArg) -> AttackMethod {
        match m {
            MethodArg::Fgsm => AttackMethod::Fgsm,
            MethodArg::Pgd => AttackMethod::Pgd,
            MethodArg::Cw => AttackMethod::Cw,
            MethodArg::Jsma => AttackMethod::Jsma,
            MethodArg::Lbfgs => AttackMethod::Lbfgs,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// VNN-LIB property describing the bad case (or `--data` instead).
    #[arg(required_unless_present = "data", conflicts_with = "data")]
    pub property: Option<PathBuf>,
    /// Instead of a property: labelled inputs (ERAN CSV, as `radius --data`), each attacked
    /// within `--eps` of itself (its label's robustness), from the input itself.
    #[arg(long, requires = "eps")]
    pub data: Option<PathBuf>,
    /// With `--data`: radius of the L∞ ball around each input, in pixel space (raw / --scale),
    /// clipped to [0, 1].
    #[arg(long, value_parser = positive, allow_negative_numbers = true, requires = "data")]
    pub eps: Option<f64>,
    /// With `--data`: use the first N lines only.
    #[arg(long, value_parser = count, allow_negative_numbers = true, requires = "data")]
    pub inputs: Option<usize>,
    #[command(flatten)]
    pub pixels: PixelArgs,
    /// Attack method.
    #[arg(long, value_enum, default_value_t = MethodArg::default())]
    pub method: MethodArg,
    /// Stop after this many distinct counterexamples (at least 1), per input with `--data`.
    #[arg(long, default_value = "1", value_parser = count, allow_negative_numbers = true)]
    pub count: usize,
    /// Random starts per disjunct after the box centre (the input, with `--data`).
    #[arg(long, default_value = "10", value_parser = whole, allow_negative_numbers = true)]
    pub restarts: u64,
    /// Write cex_<k>.txt (VNN-COMP), cex_<k>.json and, for image inputs, cex_<k>.png and
    /// cex_<k>_x8.png (enlarged) here; with `--data`, cex/input_<index>_<k>.* and the
    /// counterexamples with their true labels as adversarial.csv (ERAN CSV, the data's scale
    /// and order), adversarial_x.npy (float32, the replayed network inputs) and
    /// adversarial_y.npy (int64 labels).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Wall-clock budget in seconds of the whole run (`inf`: no limit).
    #[arg(long, default_value = "60", value_parser = seconds, allow_negative_numbers = true)]
    pub timeout: Seconds,
    /// Seed for the random starts.
    #[arg(long, default_value = "0", value_parser = whole, allow_negative_numbers = true)]
    pub seed: u64,
    /// With `--data`: worker threads (inputs run in parallel); default: one per core.
    #[arg(long, value_parser = count, allow_negative_numbers = true, requires = "data")]
    pub jobs: Option<usize>,
}

impl Args {
    fn options(&self) -> SearchOptions {
        SearchOptions {
            method: self.method.into(),
            count: self.count,
            restarts: usize::try_from(self.restarts).unwrap_or(usize::MAX),
            seed: self.seed,
            ..SearchOptions::default()
        }
    }

    fn method_name(&self) -> String {
        format!("{:?}", self.method).to_lowercase()
    }
}

/// Exit codes: 1 when a counterexample was found (the property is violated, as `verify`'s
/// `sat`; with `--data`, around some input), 3 when none was (unknown), 2 on error.
pub fn run(a: Args) -> certus::Result<u8> {
    let deadline = a.timeout.deadline();
    let net = a.net.load()?;
    let (Some(data), Some(eps)) = (&a.data, a.eps) else {
        let path = a
            .property
            .as_ref()
            .expect("clap requires a property without --data");
        return run_property(&a, &net, path, deadline);
    };
    run_data(&a, &net, data, eps, deadline)
}

/// `certus attack NET PROP`.
fn run_property(a: &Args, net: &Network, path: &Path, deadline: Deadline) -> certus::Result<u8> {
    let prop = super::parse_property(path)?;
    super::check_fits(&prop, path, net, &a.net.network)?;
    let t = Instant::now();
    let found = find_counterexamples(net, &prop, &a.options(), deadline);
    let method = a.method_name();
    let pic = match a.out {
        Some(_) => super::picture(net.input_shape(), a.pixels.layout.into()),
        None => None,
    };
    for (k, c) in found.iter().enumerate() {
        let (l2, linf) = distances(&c.input, &start_point(&prop.regions[c.region], None));
        println!(
            "cex_{k}: region {} disjunct {} margin f32 {:e} f64 {:e}; from the box centre L2 {l2:.6} L∞ {linf:.6}",
            c.region, c.disjunct, c.margin_f32, c.margin_f64
        );
        if let Some(dir) = &a.out {
            let shape = net.input_shape();
            let stem = format!("cex_{k}");
            write_counterexample(dir, &stem, c, &prop, shape, &method, pic.as_ref())?;
        }
    }
    eprintln!(
        "{} distinct counterexample(s) by {method} in {:.3} s",
        found.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(if found.is_empty() { 3 } else { 1 })
}

/// `certus attack NET --data CSV --eps E`: one line per input (the nearest counterexample for
/// `lbfgs`, else the first), a summary, and with `--out` the files and the dataset.
fn run_data(
    a: &Args,
    net: &Network,
    data: &Path,
    eps: f64,
    deadline: Deadline,
) -> certus::Result<u8> {
    let pre = a.pixels.preprocess(net.input_shape())?;
    let samples = load_csv(data, a.inputs, net.input_len(), net.output_len(), &pre)?;
    let bar = super::progress_bar(samples.len(), "inputs");
    let t = Instant::now();
    let opts = a.options();
    let work = || attack_samples(net, &samples, &pre, eps, &opts, deadline, &|| bar.inc(1));
    let results = match a.jobs {
        Some(j) => rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start {j} threads: {e}")))?
            .install(work),
        None => work(),
    };
    bar.finish_and_clear();
    let method = a.method_name();
    println!("index label prediction found L2 L∞ class");
    for r in &results {
        let first = r.found.first().map(|c| {
            let (l2, linf) = distances(&c.input, &r.clean);
            let class = (0..c.output.len())
                .filter(|&j| j != r.label)
                .max_by(|&i, &j| c.output[i].total_cmp(&c.output[j]))
                .unwrap_or(r.label);
            format!("{l2:.6} {linf:.6} {class}")
        });
        let found = match r.attacked {
            true => r.found.len().to_string(),
            false => "- (out of time)".into(),
        };
        let (index, label, pred) = (r.index, r.label, r.prediction);
        let rest = first.unwrap_or_else(|| "- - -".into());
        println!("{index} {label} {pred} {found} {rest}");
    }
    let broken = results.iter().filter(|r| !r.found.is_empty()).count();
    let attacked = results.iter().filter(|r| r.attacked).count();
    let total: usize = results.iter().map(|r| r.found.len()).sum();
    println!(
        "{} inputs, {attacked} attacked at eps = {eps} by {method}: {broken} broken ({total} \
         counterexamples), robust accuracy against it {:.1}%",
        results.len(),
        100.0 * (attacked - broken) as f64 / attacked.max(1) as f64
    );
    if let Some(dir) = &a.out {
        let pic = pre.picture();
        for (r, s) in results.iter().zip(&samples) {
            let (lo, hi) = pre.eps_box(&s.pixels, eps, false);
            let prop = Property::robustness(lo, hi, r.label, net.output_len());
            for (k, c) in r.found.iter().enumerate() {
                let stem = format!("input_{}_{k}", r.index);
                let shape = net.input_shape();
                write_counterexample(
                    &dir.join("cex"),
                    &stem,
                    c,
                    &prop,
                    shape,
                    &method,
                    pic.as_ref(),
                )?;
            }
        }
        let found = results
            .iter()
            .flat_map(|r| r.found.iter().map(|c| (r.label, c)));
        let rows = dataset_rows(&pre, found);
        let files = write_dataset(dir, "adversarial", &rows, net.input_shape())?;
        eprintln!(
            "{} counterexamples with their labels: {}, {}, {}",
            rows.len(),
            files.csv.display(),
            files.x.display(),
            files.y.display()
        );
    }
    eprintln!("time: {:.3} s", t.elapsed().as_secs_f64());
    Ok(if broken > 0 { 1 } else { 3 })
}
