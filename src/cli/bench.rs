//! `certus bench`.

use certus::bench::{read_instances, score, Score};
use certus::ir::Network;
use certus::outcome::Verdict;
use certus::spec::Property;
use certus::verify::{verify, Engine, Options};
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
    /// Multiply every instance's timeout by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub timeout_scale: f64,
    /// Only run instances whose `onnx,vnnlib` text contains this substring.
    #[arg(long)]
    pub filter: Option<String>,
    /// Also write the rows to this CSV file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Sound bound engine used by branch and bound.
    #[arg(long, value_enum, default_value_t = Engine::default())]
    pub engine: Engine,
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

pub fn run(a: Args) -> certus::Result<u8> {
    if !(a.timeout_scale > 0.0 && a.timeout_scale.is_finite()) {
        return Err(certus::Error::Invalid(
            "--timeout-scale must be positive".into(),
        ));
    }
    let mut instances = read_instances(&a.bench_dir)?;
    if let Some(f) = &a.filter {
        instances.retain(|i| format!("{},{}", i.onnx, i.vnnlib).contains(f.as_str()));
    }
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
    let (mut nets, mut props): (Cache<Network>, Cache<Property>) = Default::default();
    let (mut n_unsat, mut n_sat, mut wrong, mut unsolved) = (0, 0, 0, 0);
    let total = Instant::now();
    let dir: &Path = &a.bench_dir;
    for inst in &instances {
        bar.set_message(format!("{} {}", inst.onnx, inst.vnnlib));
        let t = Instant::now();
        let net = cached(&mut nets, &inst.onnx, || {
            certus::import::load_network(&dir.join(&inst.onnx), Default::default())
        });
        let prop = cached(&mut props, &inst.vnnlib, || {
            certus::spec::vnnlib::parse_file(&dir.join(&inst.vnnlib))
        });
        let result = match (&*net, &*prop) {
            (Ok(net), Ok(prop)) => match prop.check_fits(net) {
                Ok(()) => {
                    let opts = Options {
                        timeout: Duration::from_secs_f64(inst.timeout * a.timeout_scale),
                        engine: a.engine,
                        ..Options::default()
                    };
                    let v = verify(net, prop, &opts);
                    if let Verdict::Unknown(why) = &v {
                        bar.suspend(|| eprintln!("{} {}: unknown: {why}", inst.onnx, inst.vnnlib));
                    }
                    v.word()
                }
                Err(e) => {
                    bar.suspend(|| eprintln!("{} {}: error: {e}", inst.onnx, inst.vnnlib));
                    "error"
                }
            },
            (Err(e), _) | (_, Err(e)) => {
                bar.suspend(|| eprintln!("{} {}: error: {e}", inst.onnx, inst.vnnlib));
                "error"
            }
        };
        let secs = t.elapsed().as_secs_f64();
        let expected = inst.expected.as_deref();
        let s = score(result, expected);
        match (s, result) {
            (Score::Solved, "unsat") => n_unsat += 1,
            (Score::Solved, _) => n_sat += 1,
            (Score::Wrong, _) => wrong += 1,
            (Score::Unsolved, _) => unsolved += 1,
        }
        let mark = match s {
            Score::Solved => "ok",
            Score::Wrong => "WRONG",
            Score::Unsolved => "-",
        };
        bar.suspend(|| {
            println!(
                "{:<45} {:<22} {:<8} {:<8} {:>8.2}s {mark}",
                inst.onnx,
                inst.vnnlib,
                result,
                expected.unwrap_or("?"),
                secs
            )
        });
        if let Some(f) = &mut csv {
            writeln!(
                f,
                "{},{},{result},{},{secs:.3},{mark}",
                inst.onnx,
                inst.vnnlib,
                expected.unwrap_or("")
            )
            .ok();
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "summary: {} instances, {} solved ({} unsat, {} sat), {} wrong, {} unsolved, {:.1} s total",
        instances.len(),
        n_unsat + n_sat,
        n_unsat,
        n_sat,
        wrong,
        unsolved,
        total.elapsed().as_secs_f64()
    );
    Ok(if wrong > 0 { 1 } else { 0 })
}
