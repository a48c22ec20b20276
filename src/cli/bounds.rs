//! `certus bounds`.

use super::args::{BackendArg, MethodArg};
use super::NetArgs;
use certus::bounds::{output_bounds_with, BoundConfig, Method};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// VNN-LIB property: only its input boxes (regions) are used.
    pub property: PathBuf,
    /// Bound engine.
    #[arg(long, value_enum, default_value_t = MethodArg::default())]
    pub method: MethodArg,
    /// LP backend for `--method lp` (`highs` needs the `highs` cargo feature).
    #[arg(long, value_enum, default_value_t = BackendArg::default())]
    pub lp_backend: BackendArg,
    /// For `--method lp`: first re-tighten every unstable ReLU's input bounds with LPs.
    #[arg(long)]
    pub lp_retighten: bool,
    /// Print JSON: `{"method":"crown","regions":[{"outputs":[{"lower":..,"upper":..}]}]}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct OutputBound {
    lower: f64,
    upper: f64,
}

#[derive(serde::Serialize)]
struct RegionBounds {
    outputs: Vec<OutputBound>,
}

#[derive(serde::Serialize)]
struct Report {
    method: Method,
    regions: Vec<RegionBounds>,
}

pub fn run(a: Args) -> certus::Result<u8> {
    let net = a.net.load()?;
    let prop = super::parse_property(&a.property)?;
    super::check_fits(&prop, &a.property, &net, &a.net.network)?;
    let method = Method::from(a.method);
    let cfg = BoundConfig {
        lp_backend: a.lp_backend.into(),
        lp_retighten: a.lp_retighten,
        ..BoundConfig::default()
    };
    let mut regions = Vec::new();
    for (r, region) in prop.regions.iter().enumerate() {
        let (lower, upper) = region.proof_box();
        let t = Instant::now();
        let b = output_bounds_with(&net, &lower, &upper, method, &cfg);
        let secs = t.elapsed().as_secs_f64();
        if !a.json {
            println!(
                "region {r}: {method:?} bounds in {:.3} ms, mean width {:.6}",
                secs * 1e3,
                b.mean_width()
            );
            for (j, (l, u)) in b.lower.iter().zip(&b.upper).enumerate() {
                println!("  Y_{j:<4} [{l:>14.6e}, {u:>14.6e}]");
            }
        }
        regions.push(RegionBounds {
            outputs: b
                .lower
                .iter()
                .zip(&b.upper)
                .map(|(&lower, &upper)| OutputBound { lower, upper })
                .collect(),
        });
    }
    if a.json {
        let report = Report { method, regions };
        println!(
            "{}",
            serde_json::to_string(&report).expect("bounds serialise")
        );
    }
    Ok(0)
}
