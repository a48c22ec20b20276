//! `certus bench`.

use super::args::{positive_factor, EngineArg};
use certus::bench::{read_instances, score, Instance, Score};
use certus::deadline::{parse_budget, Deadline};
use certus::ir::Network;
use certus::outcome::Verdict;
use certus::spec::Property;
use certus::verify::{verify, Options};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Benchmark folder holding `instances.csv` (rows `onnx,vnnlib,timeout`, paths relative to it)
    /// and optionally `expected.csv` (header `onnx,vnnlib,expected`).
    pub bench_dir: PathBuf,
    /// Multiply every instance's timeout by this factor (`inf`: no limit).
    #[arg(long, default_value = "1", value_parser = positive_factor, allow_negative_numbers = true)]
    pub timeout_scale: f64,
    /// Only run instances whose `onnx,vnnlib` text contains this substring (an error when none
    /// does).
    #[arg(long)]
    pub filter: Option<String>,
    /// Also write the rows to this CSV file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Engine, as `verify --engine`.
    #[arg(long, value_enum, default_value_t = EngineArg::default())]
    pub engine: EngineArg,
    /// ReLU-split search switches, as `verify --relu-split-opt`, for ablations.
    #[arg(long, hide = true)]
    pub relu_split_opt: Option<String>,
}

/// The ReLU-split settings of `--relu-split-opt` (an error names the bad switch).
fn relu_split(a: &Args) -> Result<certus::relusplit::ReluSplitConfig, String> {
    let mut c = certus::relusplit::ReluSplitConfig::default();
    if let Some(list) = &a.relu_split_opt {
        c.apply(list)
            .map_err(|e| format!("--relu-split-opt: {e}"))?;
    }
    Ok(c)
}

type Cache<T> = HashMap<String, Arc<Result<T, String>>>;

fn cached<T>(
    cache: &mut Cache<T>,
    key: &str,
    load: impl FnOnce() -> certus::Result<T>,
) -> Arc<Result<T, String>> {
    cache
        .entry(key.to_string())
        .or_insert_with(|| Arc::new(load().map_err(|e| e.to_string())))
        .clone()
}

/// The instances to run: all of them, or those `--filter` selects. An empty selection is an
/// error (a typo in a filter must not pass as a clean run).
fn select(a: &Args) -> certus::Result<Vec<Instance>> {
    let mut instances = read_instances(&a.bench_dir)?;
    let all = instances.len();
    if let Some(f) = &a.filter {
        instances.retain(|i| format!("{},{}", i.onnx, i.vnnlib).contains(f.as_str()));
    }
    let csv = a.bench_dir.join("instances.csv");
    match (&a.filter, instances.is_empty()) {
        (Some(f), true) => Err(certus::Error::Invalid(format!(
            "--filter `{f}` matches none of the {all} instances of {}",
            csv.display()
        ))),
        (None, true) => Err(certus::Error::Invalid(format!(
            "{}: no instances",
            csv.display()
        ))),
        (_, false) => Ok(instances),
    }
}

/// Counts per score, for the summary line and the exit code.
#[derive(Default)]
struct Tally {
    unsat: usize,
    sat: usize,
    wrong: usize,
    unchecked: usize,
    unsolved: usize,
    errors: usize,
}

impl Tally {
    fn add(&mut self, s: Score, v: Option<&Verdict>) {
        match s {
            Score::Solved if matches!(v, Some(Verdict::Unsat)) => self.unsat += 1,
            Score::Solved => self.sat += 1,
            Score::Wrong => self.wrong += 1,
            Score::Unchecked => self.unchecked += 1,
            Score::Unsolved => self.unsolved += 1,
            Score::Error => self.errors += 1,
        }
    }
}

/// Exit codes: 1 when some answer contradicts `expected.csv` (the worst news, so it wins), else
/// 2 when some instance could not be run (or the folder could not be read), else 0.
pub fn run(a: Args) -> certus::Result<u8> {
    relu_split(&a).map_err(certus::Error::Invalid)?;
    let instances = select(&a)?;
    let mut csv = match &a.csv {
        Some(p) => {
            let mut f = std::fs::File::create(p).map_err(|source| certus::Error::Io {
                path: p.clone(),
                source,
            })?;
            writeln!(f, "onnx,vnnlib,result,expected,time_s,score").ok();
            Some(f)
        }
        None => None,
    };
    let bar = ProgressBar::new(instances.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template"),
    );
    // The clock on the bar moves while a long instance runs.
    bar.enable_steady_tick(Duration::from_millis(500));
    let (mut nets, mut props): (Cache<Network>, Cache<Property>) = Default::default();
    let mut tally = Tally::default();
    let total = Instant::now();
    let dir: &Path = &a.bench_dir;
    for inst in &instances {
        bar.set_message(format!("{} {}", inst.onnx, inst.vnnlib));
        let t = Instant::now();
        let result = run_one(&a, dir, inst, &mut nets, &mut props);
        let secs = t.elapsed().as_secs_f64();
        let verdict = match &result {
            Ok(v) => {
                if let Verdict::Unknown(why) = v {
                    bar.suspend(|| eprintln!("{} {}: unknown: {why}", inst.onnx, inst.vnnlib));
                }
                Some(v)
            }
            Err(e) => {
                bar.suspend(|| eprintln!("{} {}: error: {e}", inst.onnx, inst.vnnlib));
                None
            }
        };
        let word = verdict.map_or("error", Verdict::word);
        let s = score(verdict, inst.expected);
        tally.add(s, verdict);
        let expected = inst.expected.map_or("?", |e| e.word());
        bar.suspend(|| {
            println!(
                "{:<45} {:<22} {:<8} {:<8} {:>8.2}s {}",
                inst.onnx,
                inst.vnnlib,
                word,
                expected,
                secs,
                s.mark()
            )
        });
        if let Some(f) = &mut csv {
            writeln!(
                f,
                "{},{},{word},{},{secs:.3},{}",
                inst.onnx,
                inst.vnnlib,
                inst.expected.map_or("", |e| e.word()),
                s.mark()
            )
            .ok();
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "summary: {} instances, {} solved ({} unsat, {} sat), {} wrong, {} unsolved, \
         {} unchecked, {} errors, {:.1} s total",
        instances.len(),
        tally.unsat + tally.sat,
        tally.unsat,
        tally.sat,
        tally.wrong,
        tally.unsolved,
        tally.unchecked,
        tally.errors,
        total.elapsed().as_secs_f64()
    );
    Ok(match (tally.wrong, tally.errors) {
        (0, 0) => 0,
        (0, _) => super::EXIT_ERROR,
        _ => 1,
    })
}

/// Loads (through the caches) and decides one instance within its scaled timeout, counted from
/// before loading.
fn run_one(
    a: &Args,
    dir: &Path,
    inst: &Instance,
    nets: &mut Cache<Network>,
    props: &mut Cache<Property>,
) -> Result<Verdict, String> {
    let budget =
        parse_budget(inst.timeout * a.timeout_scale).map_err(|e| format!("scaled timeout {e}"))?;
    let deadline = budget.map_or(Deadline::NONE, Deadline::after);
    let net = cached(nets, &inst.onnx, || {
        certus::import::load_network(&dir.join(&inst.onnx), Default::default())
    });
    let prop = cached(props, &inst.vnnlib, || {
        certus::spec::vnnlib::parse_file(&dir.join(&inst.vnnlib))
    });
    let (net, prop) = match (&*net, &*prop) {
        (Ok(net), Ok(prop)) => (net, prop),
        (Err(e), _) | (_, Err(e)) => return Err(e.clone()),
    };
    prop.check_fits(net).map_err(|e| e.to_string())?;
    let opts = Options {
        deadline,
        engine: a.engine.into(),
        relu_split: relu_split(a)?,
        ..Options::default()
    };
    Ok(verify(net, prop, &opts))
}
