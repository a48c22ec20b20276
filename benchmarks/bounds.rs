//! Bound-engine benchmark (not a test):
//! `cargo bench --bench bounds -- [SHARED_DIR] [--unsat] [--methods crown,alpha,..]`.
//!
//! 1. For ACAS Xu (network 1_1, property 1's box) and mnistfc 256x6 (first MNIST test image, L∞
//!    eps 0.03 clipped to [0,1]): the median time of one full output-bound computation and the
//!    mean output-bound width, per method.
//!    `--methods` times only the listed methods (default: all five).
//! 2. With `--unsat`: how many instances of each shared benchmark each method proves `unsat` on
//!    its own (one bound computation over each region's box, no splitting).

use certus::bounds::dual::DualNetwork;
use certus::bounds::{output_bounds_of, BoundConfig, Method};
use certus::import::load_network;
use certus::spec::vnnlib::parse_file;
use std::path::{Path, PathBuf};
use std::time::Instant;

const METHODS: [Method; 5] = [
    Method::Interval,
    Method::Dual,
    Method::Crown,
    Method::Alpha,
    Method::Lp,
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_method(net: &certus::ir::Network, lo: &[f64], hi: &[f64], m: Method) -> (f64, f64) {
    let mut times = Vec::new();
    let mut width = 0.0;
    // One dual network per network, as the verifier keeps one (its f32 weights are made once).
    let dn = DualNetwork::new(net);
    let cfg = BoundConfig::default();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed().as_secs_f64() < 2.0 && times.len() < 50) {
        let t = Instant::now();
        let b = output_bounds_of(&dn, lo, hi, m, &cfg);
        times.push(t.elapsed().as_secs_f64());
        width = b.mean_width();
    }
    (median(times), width)
}

fn mnist_box(shared: &Path, eps: f64) -> (Vec<f64>, Vec<f64>) {
    let csv =
        std::fs::read_to_string(shared.join("../datasets/mnist_test.csv")).expect("mnist_test.csv");
    let first = csv.lines().next().expect("an image");
    let px: Vec<f64> = first
        .split(',')
        .skip(1)
        .map(|v| v.trim().parse::<f64>().unwrap() / 255.0)
        .collect();
    let lo = px.iter().map(|p| (p - eps).max(0.0)).collect();
    let hi = px.iter().map(|p| (p + eps).min(1.0)).collect();
    (lo, hi)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let name = |m: &Method| format!("{m:?}").to_lowercase();
    let only: Option<Vec<String>> = args.iter().position(|a| a == "--methods").map(|i| {
        let list = args.get(i + 1).map(String::as_str).unwrap_or("");
        let names: Vec<String> = list.split(',').map(|m| m.trim().to_lowercase()).collect();
        let known: Vec<String> = METHODS.iter().map(name).collect();
        if let Some(bad) = names.iter().find(|n| !known.contains(n)) {
            eprintln!(
                "--methods: unknown method `{bad}`; expected a comma-separated list of {known:?}"
            );
            std::process::exit(2);
        }
        names
    });
    let timed = |m: &Method| only.as_ref().is_none_or(|o| o.contains(&name(m)));
    let shared = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--methods"))
        .map(|(_, a)| a)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/benchmarks"));
    let acas = load_network(
        &shared.join("acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx"),
        Default::default(),
    )
    .unwrap();
    let p1 = parse_file(&shared.join("acasxu/vnnlib/prop_1.vnnlib")).unwrap();
    let mnist = load_network(
        &shared.join("mnistfc/onnx/mnist-net_256x6.onnx"),
        Default::default(),
    )
    .unwrap();
    let (mlo, mhi) = mnist_box(&shared, 0.03);
    println!(
        "{:<22} {:<9} {:>12} {:>14}",
        "network", "method", "median ms", "mean width"
    );
    for (name, net, lo, hi) in [
        (
            "acasxu 1_1 prop_1",
            &acas,
            &p1.regions[0].lower,
            &p1.regions[0].upper,
        ),
        ("mnistfc 256x6 eps.03", &mnist, &mlo, &mhi),
    ] {
        for m in METHODS.into_iter().filter(timed) {
            let (t, w) = time_method(net, lo, hi, m);
            println!(
                "{name:<22} {:<9} {:>12.3} {:>14.4}",
                format!("{m:?}").to_lowercase(),
                t * 1e3,
                w
            );
        }
    }
    if args.iter().any(|a| a == "--unsat") {
        println!(
            "\n{:<14} {:>9} proved unsat by one bound pass: interval / dual / crown / alpha / lp (acasxu only)",
            "benchmark", "instances"
        );
        for bench in ["acasxu", "mnistfc", "mnistfc_2021", "eran"] {
            let dir = shared.join(bench);
            let Ok(instances) = certus::bench::read_instances(&dir) else {
                continue;
            };
            let mut proved = [0usize; 5];
            for inst in &instances {
                let (Ok(net), Ok(prop)) = (
                    load_network(&dir.join(&inst.onnx), Default::default()),
                    parse_file(&dir.join(&inst.vnnlib)),
                ) else {
                    continue;
                };
                for (k, m) in METHODS.iter().enumerate() {
                    if *m == Method::Lp && bench != "acasxu" {
                        continue;
                    }
                    if certus::verify::refuted_by_one_pass(&net, &prop, *m) {
                        proved[k] += 1;
                    }
                }
            }
            let lp = if bench == "acasxu" {
                proved[4].to_string()
            } else {
                "-".into()
            };
            println!(
                "{bench:<14} {:>9} {} / {} / {} / {} / {lp}",
                instances.len(),
                proved[0],
                proved[1],
                proved[2],
                proved[3]
            );
        }
    }
}
