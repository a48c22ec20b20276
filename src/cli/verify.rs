//! `certus verify`.

use super::args::{seconds, whole, EngineArg, Seconds};
use super::{NetArgs, EXIT_ERROR};
use certus::outcome::Verdict;
use certus::verify::{verify, Options};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// VNN-LIB property describing the bad case (1.0, or a 2.0 query about one network). Leave
    /// it out for the VNN-LIB 2.0 form `certus verify QUERY --network NAME=MODEL ...`, where the
    /// first argument is the query.
    pub property: Option<PathBuf>,
    /// VNN-LIB 2.0 form: the model of a network the query declares, `NAME=MODEL.onnx`; once per
    /// network (except those `equal-to` another).
    #[arg(long = "network", value_name = "NAME=MODEL")]
    pub networks: Vec<String>,
    /// Wall-clock budget in seconds, loading excluded (`inf`: no limit). Every engine checks it
    /// inside its loops and answers `timeout` soon after it (a single bound pass in progress
    /// is finished first).
    #[arg(long, default_value = "60", value_parser = seconds, allow_negative_numbers = true)]
    pub timeout: Seconds,
    /// Engine: branch and bound with a bound method (interval, dual, crown, alpha, lp), or a
    /// procedure of its own (smt, dlv).
    #[arg(long, value_enum, default_value_t = EngineArg::default())]
    pub engine: EngineArg,
    /// Write the result (first line and counterexample) to this file too (VNN-COMP result file).
    #[arg(long)]
    pub result_file: Option<PathBuf>,
    /// Seed for the attack's random starts.
    #[arg(long, default_value = "0", value_parser = whole, allow_negative_numbers = true)]
    pub seed: u64,
    /// After `sat`, write the counterexample here as cex.txt (VNN-COMP), cex.json and, for
    /// image inputs, cex.png and cex_x8.png (enlarged).
    #[arg(long)]
    pub cex_dir: Option<PathBuf>,
}

/// Exit codes of `verify`.
pub fn exit_code(v: &Verdict) -> u8 {
    match v {
        Verdict::Unsat => 0,
        Verdict::Sat(_) => 1,
        Verdict::Unknown(_) | Verdict::Timeout => 3,
    }
}

/// The result text: the verdict word, then the counterexample after `sat`.
pub fn result_text(v: &Verdict) -> String {
    match v {
        Verdict::Sat(cex) => format!("sat\n{}\n", cex.vnncomp_text()),
        other => format!("{}\n", other.word()),
    }
}

/// The verifier's options from the command line; the `--timeout` clock starts now.
pub fn options(a: &Args) -> Options {
    Options {
        deadline: a.timeout.deadline(),
        engine: a.engine.into(),
        seed: a.seed,
        ..Options::default()
    }
}

/// `certus verify NET PROP` with a VNN-LIB 1.0 property (the VNN-COMP form); the VNN-LIB 2.0
/// forms go to `standard` (see [`super::run`]).
pub fn run(a: Args, property: &Path) -> certus::Result<u8> {
    let loaded = (|| {
        let net = a.net.load()?;
        let prop = super::parse_property(property)?;
        prop.check_fits(&net)?;
        Ok::<_, certus::Error>((net, prop))
    })();
    let (net, prop) = match loaded {
        Ok(v) => v,
        Err(e) => {
            // VNN-COMP expects a result word even on error.
            println!("error");
            eprintln!("error: {e}");
            if let Some(f) = &a.result_file {
                let _ = std::fs::write(f, "error\n");
            }
            return Ok(EXIT_ERROR);
        }
    };
    let t = Instant::now();
    let verdict = verify(&net, &prop, &options(&a));
    let text = result_text(&verdict);
    print!("{text}");
    match &verdict {
        Verdict::Unknown(why) => eprintln!("unknown: {why}"),
        Verdict::Sat(cex) => eprintln!(
            "counterexample in region {} violates disjunct {} (margin f32 {:e}, f64 {:e})",
            cex.region, cex.disjunct, cex.margin_f32, cex.margin_f64
        ),
        _ => {}
    }
    eprintln!("time: {:.3} s", t.elapsed().as_secs_f64());
    if let Some(f) = &a.result_file {
        std::fs::write(f, &text).map_err(|source| certus::Error::Io {
            path: f.clone(),
            source,
        })?;
    }
    if let (Some(dir), Verdict::Sat(cex)) = (&a.cex_dir, &verdict) {
        let shape = net.input_shape();
        let pic = super::picture(shape, certus::report::Layout::Auto);
        certus::report::write_counterexample(
            dir,
            "cex",
            cex,
            &prop,
            shape,
            "verify",
            pic.as_ref(),
        )?;
    }
    Ok(exit_code(&verdict))
}
