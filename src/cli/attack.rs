//! `certus attack`.

use super::NetArgs;
use certus::attack::{find_counterexamples, AttackMethod, SearchOptions};
use certus::report::write_counterexample;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// VNN-LIB property describing the bad case.
    pub property: PathBuf,
    /// Attack method.
    #[arg(long, value_enum, default_value_t = AttackMethod::default())]
    pub method: AttackMethod,
    /// Stop after this many distinct counterexamples.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Random starts per disjunct after the box centre.
    #[arg(long, default_value_t = 10)]
    pub restarts: usize,
    /// Write cex_<k>.txt (VNN-COMP), cex_<k>.json and, for image inputs, cex_<k>.png here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Wall-clock budget in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Seed for the random starts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Exit codes: 1 when a counterexample was found (the property is violated, as `verify`'s
/// `sat`), 3 when none was (unknown), 2 on error.
pub fn run(a: Args) -> certus::Result<u8> {
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        return Err(certus::Error::Invalid(format!(
            "--timeout must be a positive number of seconds, got {}",
            a.timeout
        )));
    }
    if a.count == 0 {
        return Err(certus::Error::Invalid("--count must be at least 1".into()));
    }
    let net = a.net.load()?;
    let prop = certus::spec::vnnlib::parse_file(&a.property)?;
    prop.check_fits(&net)?;
    let opts = SearchOptions {
        method: a.method,
        count: a.count,
        restarts: a.restarts,
        seed: a.seed,
        ..SearchOptions::default()
    };
    let t = Instant::now();
    let found = find_counterexamples(&net, &prop, &opts, t + Duration::from_secs_f64(a.timeout));
    let method = format!("{:?}", a.method).to_lowercase();
    for (k, c) in found.iter().enumerate() {
        println!(
            "cex_{k}: region {} disjunct {} margin f32 {:e} f64 {:e}",
            c.region, c.disjunct, c.margin_f32, c.margin_f64
        );
        if let Some(dir) = &a.out {
            write_counterexample(
                dir,
                &format!("cex_{k}"),
                c,
                &prop,
                net.input_shape(),
                &method,
                None,
            )?;
        }
    }
    eprintln!(
        "{} distinct counterexample(s) by {method} in {:.3} s",
        found.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(if found.is_empty() { 3 } else { 1 })
}
