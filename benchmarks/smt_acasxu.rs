//! Plain SMT on ACAS Xu (not a test):
//! `cargo bench --bench smt_acasxu -- [SHARED_DIR] [--timeout S] [--scales 1,0.125,...]`.
//!
//! For each ACAS Xu property (its first instance in `instances.csv`), the SMT engine's answer
//! and time with a short timeout on the property's box, then on the box shrunk around its
//! centre by each scale (where plain SMT starts deciding), with the number of ReLUs the sound
//! bounds leave unstable (the phases Z3 branches on). `SHARED_DIR` defaults to
//! `../shared/benchmarks`.

use certus::deadline::Deadline;
use certus::import::load_network;
use certus::smt::{solve, unstable_relus, SmtOutcome};
use certus::spec::vnnlib::parse_file;
use certus::spec::Property;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn word(o: &SmtOutcome) -> &'static str {
    match o {
        SmtOutcome::Unsat => "unsat",
        SmtOutcome::Sat(_) => "sat",
        SmtOutcome::Unconfirmed { .. } => "unconfirmed",
        SmtOutcome::Unknown(_) => "unknown",
        SmtOutcome::Timeout => "timeout",
    }
}

/// Every region's box shrunk around its centre by `s`.
fn shrink(p: &Property, s: f64) -> Property {
    let mut q = p.clone();
    for r in &mut q.regions {
        for i in 0..r.lower.len() {
            let (m, h) = (
                0.5 * (r.lower[i] + r.upper[i]),
                0.5 * (r.upper[i] - r.lower[i]),
            );
            r.lower[i] = m - s * h;
            r.upper[i] = m + s * h;
        }
    }
    q
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut dir = PathBuf::from("../shared/benchmarks");
    let mut timeout = 5.0;
    let mut scales = vec![1.0, 0.125, 0.015625];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--timeout" => timeout = it.next().and_then(|v| v.parse().ok()).expect("--timeout S"),
            "--scales" => {
                scales = it
                    .next()
                    .map(|v| v.split(',').map(|s| s.parse().expect("a scale")).collect())
                    .expect("--scales LIST")
            }
            other => dir = PathBuf::from(other),
        }
    }
    let acas = if dir.ends_with("acasxu") {
        dir
    } else {
        dir.join("acasxu")
    };
    let rows = certus::bench::read_instances(&acas).expect("acasxu/instances.csv");
    println!("SMT on ACAS Xu: first instance per property, timeout {timeout} s");
    println!(
        "{:<8} {:<34} {:>6} {:>8} {:>9} {:>12} {:>8}",
        "property", "network", "scale", "unstable", "expected", "result", "time s"
    );
    let mut seen = std::collections::HashSet::new();
    let start = Instant::now();
    for inst in rows {
        if !seen.insert(inst.vnnlib.clone()) {
            continue;
        }
        let net = load_network(&acas.join(&inst.onnx), Default::default()).expect("network");
        let prop = parse_file(&acas.join(&inst.vnnlib)).expect("property");
        let name = inst
            .vnnlib
            .trim_start_matches("vnnlib/")
            .trim_end_matches(".vnnlib");
        let short = inst
            .onnx
            .trim_start_matches("onnx/")
            .trim_end_matches(".onnx");
        for &s in &scales {
            let p = shrink(&prop, s);
            let unstable: usize = p.regions.iter().map(|r| unstable_relus(&net, r)).sum();
            let t = Instant::now();
            let o = solve(&net, &p, Deadline::after(Duration::from_secs_f64(timeout)));
            let expected = match (s == 1.0, &inst.expected) {
                (true, Some(e)) => e.word(),
                _ => "-",
            };
            println!(
                "{name:<8} {short:<34} {s:>6} {unstable:>8} {expected:>9} {:>12} {:>8.2}",
                word(&o),
                t.elapsed().as_secs_f64()
            );
        }
    }
    println!("total {:.1} s", start.elapsed().as_secs_f64());
}
