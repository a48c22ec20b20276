//! `certus radius`.

use super::args::{count, positive, seconds, whole, NormalizationArg, Seconds};
use super::data::PixelArgs;
use super::NetArgs;
use certus::bounds::Method;
use certus::radius::compare::write_comparison;
use certus::radius::{
    load_csv, run as run_radius, write_report, Certifier, InputResult, RadiusOptions, RadiusReport,
    Summary,
};
use std::path::PathBuf;
use std::time::Instant;

/// `radius --engine`: a bound method (one pass per ε) or the complete verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CertifierArg {
    /// One pass of interval bound propagation.
    Interval,
    /// One pass of Wong–Kolter's dual network.
    Dual,
    /// One pass of the dual network with adaptive (CROWN) slopes.
    Crown,
    /// One pass with optimised slopes (floored by `dual`, so `dual <= alpha` on every input).
    Alpha,
    /// One pass of the triangle LP relaxation over CROWN intermediate bounds (slow).
    Lp,
    /// One `alpha` pass, then the verifier's search (ReLU splitting on image networks) bisecting
    /// up from its radius towards the attack radius, within `--time-budget`.
    Complete,
}

impl From<CertifierArg> for Certifier {
    fn from(c: CertifierArg) -> Certifier {
        match c {
            CertifierArg::Interval => Certifier::Bound(Method::Interval),
            CertifierArg::Dual => Certifier::Bound(Method::Dual),
            CertifierArg::Crown => Certifier::Bound(Method::Crown),
            CertifierArg::Alpha => Certifier::Bound(Method::Alpha),
            CertifierArg::Lp => Certifier::Bound(Method::Lp),
            CertifierArg::Complete => Certifier::Complete,
        }
    }
}

/// The perturbation norm (only L∞ for now).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Norm {
    #[default]
    Linf,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Network files: ONNX (`.onnx`) or the ACAS Xu text format (`.nnet`). Give several to
    /// compare them on the same inputs with the same engines (a defence against its baseline):
    /// each is run in turn, then a comparison is printed, and `--report` writes compare.html,
    /// compare.csv and one folder per network.
    #[arg(required = true, num_args = 1..)]
    pub networks: Vec<PathBuf>,
    /// For `.nnet` files: `off` uses the weights alone; `on` adds the header's input
    /// normalisation and output de-normalisation (as `verify --nnet-normalize`).
    #[arg(long, value_enum, default_value_t = NormalizationArg::Off)]
    pub nnet_normalize: NormalizationArg,
    /// Labelled inputs in the ERAN CSV format: `label,v0,v1,...` per line (multi-channel images
    /// channels last, `r,g,b,r,g,b,...`).
    #[arg(long)]
    pub data: PathBuf,
    /// Use the first N lines only (at least 1).
    #[arg(long, value_parser = count, allow_negative_numbers = true)]
    pub count: Option<usize>,
    /// Perturbation norm.
    #[arg(long, value_enum, default_value_t = Norm::Linf)]
    pub norm: Norm,
    /// Engine that certifies the radius; repeat to compare engines (`--engine dual --engine
    /// alpha`). `complete` raises the alpha radius with the verifier's search within
    /// `--time-budget` per input.
    #[arg(long, value_enum, default_values_t = vec![CertifierArg::Crown])]
    pub engine: Vec<CertifierArg>,
    /// Largest ε searched (pixel space); a radius equal to it means "at least this".
    #[arg(long, default_value = "0.1", value_parser = positive, allow_negative_numbers = true)]
    pub eps_max: f64,
    /// Bisection stops when the bracket is this narrow.
    #[arg(long, default_value = "0.001", value_parser = positive, allow_negative_numbers = true)]
    pub tolerance: f64,
    /// ε values (comma-separated) for certified and empirical accuracy; each is decided exactly
    /// [default: 0.005,0.01,0.02,0.03,0.05,0.1, those up to --eps-max].
    #[arg(long, value_delimiter = ',', value_parser = positive, allow_hyphen_values = true)]
    pub eps_grid: Option<Vec<f64>>,
    #[command(flatten)]
    pub pixels: PixelArgs,
    /// Seconds per input for each engine (`inf`: no limit): `complete` answers within it, and
    /// the bound methods stop refining at it.
    #[arg(long, default_value = "10", value_parser = seconds, allow_negative_numbers = true)]
    pub time_budget: Seconds,
    /// Write radius.json, radius.csv, report.html, cex/ and the counterexamples as a dataset
    /// (adversarial.csv, adversarial_x.npy, adversarial_y.npy) into this folder; with several
    /// networks, compare.html, compare.csv and each network's files in <k>_<file stem>/.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Seed of the attack's random starts.
    #[arg(long, default_value = "0", value_parser = whole, allow_negative_numbers = true)]
    pub seed: u64,
    /// Worker threads (inputs run in parallel); default: one per core.
    #[arg(long, value_parser = count, allow_negative_numbers = true)]
    pub jobs: Option<usize>,
}

fn invalid(msg: String) -> certus::Error {
    certus::Error::Invalid(msg)
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into())
}

/// The `--eps-grid` default (values above `--eps-max` dropped).
const EPS_GRID: [f64; 6] = [0.005, 0.01, 0.02, 0.03, 0.05, 0.1];

pub fn run(a: Args) -> certus::Result<u8> {
    let mut grid = match &a.eps_grid {
        Some(g) => g.clone(),
        None => EPS_GRID.into_iter().filter(|&e| e <= a.eps_max).collect(),
    };
    if let Some(e) = grid.iter().find(|&&e| e > a.eps_max) {
        return Err(invalid(format!(
            "--eps-grid values must lie in (0, --eps-max = {}], got {e}",
            a.eps_max
        )));
    }
    let mut engines: Vec<Certifier> = Vec::new();
    for e in a.engine.iter().map(|&e| Certifier::from(e)) {
        if !engines.contains(&e) {
            engines.push(e);
        }
    }
    let nets = a
        .networks
        .iter()
        .map(|p| {
            let net = NetArgs {
                network: p.clone(),
                nnet_normalize: a.nnet_normalize,
            };
            net.load()
        })
        .collect::<certus::Result<Vec<_>>>()?;
    let sizes = |n: &certus::ir::Network| (n.input_len(), n.output_len());
    for (p, n) in a.networks.iter().zip(&nets).skip(1) {
        if sizes(n) != sizes(&nets[0]) {
            return Err(invalid(format!(
                "{} has {} inputs and {} outputs, {} has {} and {}: networks compared on the \
                 same data need the same sizes",
                a.networks[0].display(),
                nets[0].input_len(),
                nets[0].output_len(),
                p.display(),
                n.input_len(),
                n.output_len()
            )));
        }
    }
    // Each network reads the data in its own layout (decided from its input shape).
    let pres = nets
        .iter()
        .map(|n| a.pixels.preprocess(n.input_shape()))
        .collect::<certus::Result<Vec<_>>>()?;
    let samples = nets
        .iter()
        .zip(&pres)
        .map(|(n, pre)| load_csv(&a.data, a.count, n.input_len(), n.output_len(), pre))
        .collect::<certus::Result<Vec<_>>>()?;
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    let opts = RadiusOptions {
        engines,
        eps_max: a.eps_max,
        tolerance: a.tolerance,
        eps_grid: grid,
        time_budget: a.time_budget.0,
        seed: a.seed,
        ..RadiusOptions::default()
    };
    let bar = super::progress_bar(samples[0].len() * nets.len(), "inputs");
    let t = Instant::now();
    let work = || {
        let runs = nets.iter().zip(&pres).zip(&samples);
        runs.map(|((net, pre), s)| run_radius(net, s, pre, &opts, &|| bar.inc(1)))
            .collect::<Vec<_>>()
    };
    let runs = match a.jobs {
        Some(j) => rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build()
            .map_err(|e| invalid(format!("cannot start {j} threads: {e}")))?
            .install(work),
        None => work(),
    };
    bar.finish_and_clear();
    let several = runs.len() > 1;
    for (path, (inputs, summary)) in a.networks.iter().zip(&runs) {
        if several {
            println!("network {}:", path.display());
        }
        print_run(&opts, inputs, summary);
    }
    if several {
        print_comparison(&a.networks, &runs);
    }
    eprintln!("time: {:.3} s", t.elapsed().as_secs_f64());
    if let Some(dir) = &a.report {
        let reps: Vec<RadiusReport> = runs
            .into_iter()
            .zip(pres)
            .zip(zip_shapes(&a.networks, &nets))
            .map(
                |(((inputs, summary), preprocess), (network, input_shape))| RadiusReport {
                    network,
                    data: a.data.display().to_string(),
                    input_shape,
                    preprocess,
                    options: opts.clone(),
                    inputs,
                    summary,
                },
            )
            .collect();
        let page = match several {
            true => {
                write_comparison(dir, &reps)?;
                "compare.html"
            }
            false => {
                write_report(dir, &reps[0])?;
                "report.html"
            }
        };
        eprintln!("report: {}", dir.join(page).display());
    }
    Ok(0)
}

/// Each network's path as text, with its input shape.
fn zip_shapes(paths: &[PathBuf], nets: &[certus::ir::Network]) -> Vec<(String, Vec<usize>)> {
    let named = paths.iter().zip(nets);
    named
        .map(|(p, n)| (p.display().to_string(), n.input_shape().to_vec()))
        .collect()
}

fn percents(v: &[f64]) -> String {
    let p: Vec<String> = v.iter().map(|x| format!("{:.1}%", 100.0 * x)).collect();
    p.join(" ")
}

/// One network's lines: each input, then the accuracies per engine and the attack's.
fn print_run(opts: &RadiusOptions, inputs: &[InputResult], summary: &Summary) {
    let names: Vec<&str> = opts.engines.iter().map(|e| e.name()).collect();
    println!("index label prediction {} attack gap", names.join(" "));
    for r in inputs {
        let radii: Vec<String> = r.radii.iter().map(|e| format!("{:.4}", e.radius)).collect();
        println!(
            "{} {} {} {} {} {}",
            r.index,
            r.label,
            r.prediction,
            radii.join(" "),
            opt(r.attack_radius),
            opt(r.gap())
        );
    }
    let eps: Vec<String> = summary.eps_grid.iter().map(|e| format!("{e}")).collect();
    println!(
        "clean accuracy {}/{}; certified accuracy at eps = {}:",
        summary.correct,
        summary.count,
        eps.join(", ")
    );
    for e in &summary.engines {
        let acc: Vec<String> = e
            .certified_accuracy
            .iter()
            .map(|v| format!("{:.1}%", 100.0 * v))
            .collect();
        println!(
            "  {:<8} {}  median radius {}  median gap {}  {} s/input",
            e.engine.name(),
            acc.join(" "),
            opt(e.median_radius),
            opt(e.median_gap),
            opt(e.time_per_input_s)
        );
    }
    let acc: Vec<String> = summary
        .empirical_robust_accuracy
        .iter()
        .map(|v| format!("{:.1}%", 100.0 * v))
        .collect();
    println!(
        "  {:<8} {}  median radius {}  ({} attacked, {} s/input)",
        "attack",
        acc.join(" "),
        opt(summary.median_attack_radius),
        summary.attacked,
        opt(summary.attack_time_per_input_s)
    );
    if summary.soundness_violations > 0 {
        eprintln!(
            "warning: {} inputs have a certified radius not below their attack radius (a bug)",
            summary.soundness_violations
        );
    }
}

/// The networks side by side: at each grid ε, the best engine's certified accuracy and the
/// attack's empirical robust accuracy, and the median radii.
fn print_comparison(paths: &[PathBuf], runs: &[(Vec<InputResult>, Summary)]) {
    let eps: Vec<String> = runs[0].1.eps_grid.iter().map(|e| format!("{e}")).collect();
    println!(
        "comparison at eps = {} (certified: best engine; attack: empirical robust accuracy):",
        eps.join(", ")
    );
    for (p, (_, s)) in paths.iter().zip(runs) {
        let clean = s.clean_accuracy.map(|c| format!("{:.1}%", 100.0 * c));
        println!(
            "  {}  clean {}  certified {}  attack {}  median radius {} attack {}",
            p.display(),
            clean.unwrap_or_else(|| "-".into()),
            percents(&s.certified_accuracy),
            percents(&s.empirical_robust_accuracy),
            opt(s.median_radius),
            opt(s.median_attack_radius)
        );
    }
}
