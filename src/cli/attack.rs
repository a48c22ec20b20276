//! `certus attack`.

use super::args::{count, seconds, whole, LayoutArg, Seconds};
use super::NetArgs;
use certus::attack::search::{distances, start_point};
use certus::attack::{find_counterexamples, AttackMethod, SearchOptions};
use certus::report::write_counterexample;
use std::path::PathBuf;
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
    /// smallest perturbation of the box centre it finds (one run per disjunct, nearest first;
    /// no random restarts).
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
    /// VNN-LIB property describing the bad case.
    pub property: PathBuf,
    /// Attack method.
    #[arg(long, value_enum, default_value_t = MethodArg::default())]
    pub method: MethodArg,
    /// Stop after this many distinct counterexamples (at least 1).
    #[arg(long, default_value = "1", value_parser = count, allow_negative_numbers = true)]
    pub count: usize,
    /// Random starts per disjunct after the box centre.
    #[arg(long, default_value = "10", value_parser = whole, allow_negative_numbers = true)]
    pub restarts: u64,
    /// Write cex_<k>.txt (VNN-COMP), cex_<k>.json and, for image inputs, cex_<k>.png and
    /// cex_<k>_x8.png (enlarged) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// How the pictures read a colour image's values: from the network's input shape
    /// (`auto`), or `chw` (channels first), `hwc` (channels last), `flat` (no picture).
    #[arg(long, value_enum, default_value_t = LayoutArg::Auto)]
    pub layout: LayoutArg,
    /// Wall-clock budget in seconds (`inf`: no limit).
    #[arg(long, default_value = "60", value_parser = seconds, allow_negative_numbers = true)]
    pub timeout: Seconds,
    /// Seed for the random starts.
    #[arg(long, default_value = "0", value_parser = whole, allow_negative_numbers = true)]
    pub seed: u64,
}

/// Exit codes: 1 when a counterexample was found (the property is violated, as `verify`'s
/// `sat`), 3 when none was (unknown), 2 on error.
pub fn run(a: Args) -> certus::Result<u8> {
    let net = a.net.load()?;
    let prop = super::parse_property(&a.property)?;
    prop.check_fits(&net)?;
    let opts = SearchOptions {
        method: a.method.into(),
        count: a.count,
        restarts: usize::try_from(a.restarts).unwrap_or(usize::MAX),
        seed: a.seed,
        ..SearchOptions::default()
    };
    let t = Instant::now();
    let found = find_counterexamples(&net, &prop, &opts, a.timeout.deadline());
    let method = format!("{:?}", a.method).to_lowercase();
    let pic = match a.out {
        Some(_) => super::picture(net.input_shape(), a.layout.into()),
        None => None,
    };
    for (k, c) in found.iter().enumerate() {
        let (l2, linf) = distances(&c.input, &start_point(&prop.regions[c.region], None));
        println!(
            "cex_{k}: region {} disjunct {} margin f32 {:e} f64 {:e}; from the box centre L2 {l2:.6} L∞ {linf:.6}",
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
                pic.as_ref(),
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
