//! `certus radius`: a golden report for a network whose radii are derived on paper, the order
//! certified ≤ attack and dual ≤ alpha on ReLU networks, and the HTML report.

mod common;

use certus::bounds::Method;
use certus::ir::Network;
use certus::radius::{self, Certifier, Preprocess, RadiusOptions, RadiusReport, Sample};
use certus::report::Layout;
use common::{certus, mlp, relu_net, root, self_labelled, shared_benchmarks};
use std::path::{Path, PathBuf};

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("certus-radius-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Removes every key that names a time (they vary from run to run).
fn strip_times(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| {
                !k.contains("time_s") && !k.contains("time_per_input") && k != "certus_version"
            });
            m.values_mut().for_each(strip_times);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_times),
        _ => {}
    }
}

const TOL: f64 = 1.0 / 1024.0;

/// The golden report of `tests/fixtures/radius_linear.nnet`, a linear 2-class network:
/// `y0 = x0 − x1 + 0.2`, `y1 = −x0 + x1 − 0.2`, so `y0 − y1 = 2·x0 − 2·x1 + 0.4`.
///
/// Derivation. Over the L∞ ball of radius ε around `x`, clipped to [0, 1]², the worst case of
/// the label's margin `s·(y0 − y1)` (`s = +1` for label 0, `−1` for label 1) moves each input
/// against the sign of its weight, as far as the clipped box allows. Without clipping the
/// margin drops by `ε·‖w0 − w1‖₁ = 4ε`, so the radius is `margin / 4`.
/// - input 0: label 0, `x = (0.5, 0.5)`: margin 0.4, box stays inside [0, 1]: radius **0.1**.
/// - input 1: label 0, `x = (0.1, 0)`: margin 0.6; the worst point is `(max(0, 0.1 − ε), ε)`:
///   for ε <= 0.1 the margin is `0.6 − 4ε > 0`; beyond, `x0` is clipped at 0 and the margin is
///   `0.4 − 2ε`, zero at **0.2** (clipping makes it larger than the unclipped 0.15).
/// - input 2: label 1, `x = (0.5, 0.5)`: `y0 − y1 = 0.4 > 0`, predicted 0: misclassified,
///   radius **0**, and the clean input itself is the counterexample (attack radius 0).
/// - input 3: label 1, `x = (0.3, 0.7)`: margin `−(0.6 − 1.4 + 0.4) = 0.4`, the worst point
///   `(0.3 + ε, 0.7 − ε)` stays inside: radius **0.1**.
/// - input 4: label 0, `x = (1, 0)`: margin 2.4, worst point `(1 − ε, ε)`: radius 0.6, beyond
///   `--eps-max 0.25`: certified radius 0.25 ("at least"), no attack succeeds (null).
///
/// Bisection to `TOL` must bracket each radius `r`: certified `< r <=` attack, and their gap
/// `<= TOL`; the engines are exact on a linear network (up to rounding pads), so all agree.
const RADII: [f64; 5] = [0.1, 0.2, 0.0, 0.1, 0.6];

fn run_linear(dir: &Path, engines: &[&str]) -> std::process::Output {
    let mut args = vec![
        "radius",
        "tests/fixtures/radius_linear.nnet",
        "--data",
        "tests/fixtures/radius_linear.csv",
        "--scale",
        "1",
        "--eps-max",
        "0.25",
        "--tolerance",
        "0.0009765625",
        "--eps-grid",
        "0.05,0.125,0.25",
        "--jobs",
        "1",
        "--report",
        dir.to_str().unwrap(),
    ];
    for e in engines {
        args.extend(["--engine", e]);
    }
    certus(&args)
}

#[test]
fn golden_radius_json_for_linear_network() {
    let dir = tmp_dir("golden");
    let out = run_linear(&dir, &["dual", "crown", "alpha", "complete"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("radius.json")).unwrap();
    let mut got: serde_json::Value = serde_json::from_str(&text).unwrap();
    strip_times(&mut got);
    // The paper derivation, independently of the golden file.
    let inputs = got["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 5);
    for (i, r) in inputs.iter().enumerate() {
        let cert = r["certified_radius"].as_f64().unwrap();
        for e in r["engines"].as_array().unwrap() {
            assert_eq!(
                e["radius"].as_f64().unwrap(),
                cert,
                "input {i}: engines agree"
            );
        }
        match i {
            2 => {
                assert_eq!(r["prediction"], 0);
                assert_eq!(cert, 0.0);
                assert_eq!(r["attack_radius"].as_f64(), Some(0.0));
            }
            4 => {
                assert_eq!(cert, 0.25);
                assert!(r["attack_radius"].is_null());
            }
            _ => {
                let att = r["attack_radius"].as_f64().unwrap();
                assert!(
                    cert < RADII[i] && RADII[i] <= att,
                    "input {i}: {cert} {att}"
                );
                assert!(att - cert <= TOL, "input {i}: gap {}", att - cert);
            }
        }
    }
    let s = &got["summary"];
    assert_eq!(s["clean_accuracy"].as_f64(), Some(0.8));
    // ε = 0.05: inputs 0, 1, 3, 4; ε = 0.125: inputs 1, 4; ε = 0.25: input 4.
    assert_eq!(s["certified_accuracy"], serde_json::json!([0.8, 0.4, 0.2]));
    assert_eq!(s["soundness_violations"], 0);
    // The whole file against the golden one (times removed).
    let golden_path = root().join("tests/fixtures/radius_linear.golden.json");
    if std::env::var_os("CERTUS_BLESS").is_some() {
        std::fs::write(
            &golden_path,
            serde_json::to_string_pretty(&got).unwrap() + "\n",
        )
        .unwrap();
    }
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&golden_path).unwrap()).unwrap();
    assert_eq!(
        got,
        golden,
        "radius.json differs from {} (rerun with CERTUS_BLESS=1 after checking the change)",
        golden_path.display()
    );
}

#[test]
fn csv_has_one_row_per_input_and_empty_cells_for_no_attack() {
    let dir = tmp_dir("csv");
    let out = run_linear(&dir, &["crown"]);
    assert!(out.status.success());
    let csv = std::fs::read_to_string(dir.join("radius.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "index,label,prediction,correct,certified_radius,attack_radius,gap,crown_radius,crown_time_s,attack_time_s"
    );
    assert_eq!(lines.len(), 6);
    assert!(
        lines[5].starts_with("4,0,0,true,0.25,,,0.25,"),
        "{}",
        lines[5]
    );
    // The misclassified input's counterexample files.
    assert!(dir.join("cex/input_2.txt").is_file() && dir.join("cex/input_2.json").is_file());
}

/// Every engine's radius lies below the attack radius (soundness: a replayed counterexample at
/// ε means no sound engine can prove ε), and `dual <= alpha`, `crown <= alpha` per input.
fn check_order(net: &Network, samples: &[Sample], opts: &RadiusOptions) {
    let pre = Preprocess::new(1.0, vec![0.0], vec![1.0], net.input_shape(), Layout::Auto).unwrap();
    let (inputs, summary) = radius::run(net, samples, &pre, opts, &|| {});
    let k = |e: Certifier| opts.engines.iter().position(|&x| x == e).unwrap();
    let mut attacked = 0;
    for r in &inputs {
        for e in &r.radii {
            if let Some(a) = r.attack_radius {
                assert!(
                    e.radius < a,
                    "input {}: {:?} {} >= attack {a}",
                    r.index,
                    e.engine,
                    e.radius
                );
            }
        }
        attacked += r.attack_radius.is_some() as usize;
        let alpha = r.radii[k(Certifier::Bound(Method::Alpha))].radius;
        assert!(
            r.radii[k(Certifier::Bound(Method::Dual))].radius <= alpha,
            "input {}: dual > alpha",
            r.index
        );
        assert!(
            r.radii[k(Certifier::Bound(Method::Crown))].radius <= alpha,
            "input {}: crown > alpha",
            r.index
        );
    }
    assert_eq!(summary.soundness_violations, 0);
    assert!(
        attacked > 0,
        "the attack should break some inputs below eps_max"
    );
}

#[test]
fn certified_below_attack_and_dual_below_alpha_on_relu_networks() {
    let mut opts = RadiusOptions {
        engines: vec![
            Certifier::Bound(Method::Dual),
            Certifier::Bound(Method::Crown),
            Certifier::Bound(Method::Alpha),
        ],
        eps_max: 0.5,
        tolerance: 1e-3,
        eps_grid: vec![0.05, 0.1, 0.2],
        ..RadiusOptions::default()
    };
    for seed in 0..4 {
        let net = relu_net(seed, 3, 12);
        check_order(&net, &self_labelled(&net, 12, seed + 100), &opts);
    }
    // The complete verifier too (its queries near the radius are the hard ones: a short budget).
    opts.engines.push(Certifier::Complete);
    opts.time_budget = Some(std::time::Duration::from_millis(300));
    let net = relu_net(7, 3, 12);
    check_order(&net, &self_labelled(&net, 6, 107), &opts);
}

/// The same order on the first MNIST images with the smallest mnistfc network.
#[test]
fn certified_below_attack_on_mnistfc() {
    let Some(bench) = shared_benchmarks() else {
        return;
    };
    let data = bench.join("../datasets/mnist_test.csv");
    let net = certus::import::load_network(
        &bench.join("mnistfc/onnx/mnist-net_256x2.onnx"),
        Default::default(),
    )
    .unwrap();
    let pre =
        Preprocess::new(255.0, vec![0.0], vec![1.0], net.input_shape(), Layout::Auto).unwrap();
    let samples = radius::load_csv(&data, Some(4), net.input_len(), 10, &pre).unwrap();
    let opts = RadiusOptions {
        engines: vec![
            Certifier::Bound(Method::Dual),
            Certifier::Bound(Method::Crown),
            Certifier::Bound(Method::Alpha),
        ],
        tolerance: 2e-3,
        ..RadiusOptions::default()
    };
    check_order(&net, &samples, &opts);
}

#[test]
fn boundary_decides_the_grid_and_brackets_the_threshold() {
    let mut asked = Vec::new();
    let (lo, hi) = radius::boundary(&[0.1, 0.3], 1.0, 0.01, |e| {
        asked.push(e);
        Some(e <= 0.237)
    });
    assert!(lo <= 0.237 && 0.237 < hi.unwrap() && hi.unwrap() - lo <= 0.01);
    assert_eq!(&asked[..3], &[0.1, 0.3, 0.2]);
    // Holding everywhere: eps_max, no failure.
    assert_eq!(
        radius::boundary(&[0.1], 0.5, 0.01, |_| Some(true)),
        (0.5, None)
    );
    // Failing everywhere: 0 and the first grid point bisected down to the tolerance.
    let (lo, hi) = radius::boundary(&[0.1], 0.5, 0.01, |_| Some(false));
    assert_eq!(lo, 0.0);
    assert!(hi.unwrap() <= 0.01);
}

/// A 784-input linear network in the IR: `y0 − y1` rewards bright pixels in the top half.
fn mnist_shaped_linear() -> Network {
    let w0: Vec<f64> = (0..784)
        .map(|i| if i < 392 { 0.01 } else { -0.01 })
        .collect();
    let w1: Vec<f64> = w0.iter().map(|v| -v).collect();
    mlp(784, &[(vec![w0, w1], vec![0.0, 0.0], false)])
}

#[test]
fn html_report_is_self_contained_with_plots_and_images() {
    let net = mnist_shaped_linear();
    let pixels: Vec<f64> = (0..784).map(|i| if i < 392 { 0.7 } else { 0.3 }).collect();
    let samples = vec![
        Sample {
            index: 0,
            label: 0,
            pixels: pixels.clone(),
        },
        Sample {
            index: 1,
            label: 1,
            pixels,
        },
    ];
    let pre =
        Preprocess::new(255.0, vec![0.0], vec![1.0], net.input_shape(), Layout::Auto).unwrap();
    let opts = RadiusOptions {
        engines: vec![
            Certifier::Bound(Method::Dual),
            Certifier::Bound(Method::Alpha),
        ],
        ..RadiusOptions::default()
    };
    let (inputs, summary) = radius::run(&net, &samples, &pre, &opts, &|| {});
    // Margin 2·392·0.01·0.4 = 3.136 over ‖w0 − w1‖₁ = 15.68: radius 0.2 > eps_max = 0.1, no
    // attack; input 1 is misclassified.
    assert_eq!(inputs[0].attack_radius, None);
    assert_eq!(inputs[1].attack_radius, Some(0.0));
    let rep = RadiusReport {
        network: "mnist_shaped <linear>".into(),
        data: "inline".into(),
        input_shape: net.input_shape().to_vec(),
        preprocess: pre,
        options: opts,
        inputs,
        summary,
    };
    let dir = tmp_dir("html");
    radius::write_report(&dir, &rep).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "accuracy plot and histogram"
    );
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    assert!(
        html.contains("mnist_shaped &lt;linear&gt;"),
        "names are escaped"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("<script"),
        "self-contained"
    );
    // Original, adversarial and difference for the one counterexample, as decodable PNGs.
    let uris: Vec<&str> = html.split("data:image/png;base64,").skip(1).collect();
    assert_eq!(uris.len(), 3);
    assert!(dir.join("cex/input_1.png").is_file());
    let png = std::fs::read(dir.join("cex/input_1.png")).unwrap();
    let reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    assert_eq!((reader.info().width, reader.info().height), (28, 28));
}

/// Issue 11 item 1 (`radius` fed colour images in the file's order): the CSV stores pixels
/// channels last (`r,g,b,r,g,b,...`), `tests/fixtures/chw_colour.onnx` reads `[1,3,6,6]`
/// channels first and answers by the left half's `R − B` (derived in `gen_fixtures.py`): input
/// 0 (label 0) has radius 0.2, input 1 (label 1) radius 0.3. Read in the file's order, both
/// rows give `y0 − y1 = 0`: input 1 misclassified, input 0 radius 0. The pictures must show
/// what the network saw.
#[test]
fn colour_images_reach_a_channels_first_network_in_its_order() {
    let dir = tmp_dir("chw");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "radius",
            "tests/fixtures/chw_colour.onnx",
            "--data",
            "tests/fixtures/chw_colour.csv",
            "--eps-max",
            "0.4",
            "--eps-grid",
            "0.1,0.25",
            "--tolerance",
            "0.0009765625",
            "--jobs",
            "1",
            "--report",
            dir.to_str().unwrap(),
        ];
        args.extend(extra);
        certus(&args)
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("radius.json")).unwrap()).unwrap();
    assert_eq!(rep["settings"]["preprocess"]["layout"], "chw");
    for (i, (label, radius)) in [(0, 0.2), (1, 0.3)].into_iter().enumerate() {
        let r = &rep["inputs"][i];
        assert_eq!(r["prediction"], label, "input {i}: {r}");
        let cert = r["certified_radius"].as_f64().unwrap();
        let att = r["attack_radius"].as_f64().unwrap();
        assert!(
            cert < radius && radius <= att && att - cert <= TOL,
            "input {i}: {cert} {att}"
        );
    }
    // The report's original image of input 0: red-brown left half, blue right half.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let uri = html.split("data:image/png;base64,").nth(1).unwrap();
    let png = decode_base64(&uri[..uri.find('"').unwrap()]);
    let (info, px) = decode_png(&png);
    assert_eq!((info.0, info.1, info.2), (6, 6, 3));
    for y in 0..6 {
        assert_eq!(&px[y * 18..y * 18 + 3], [153, 102, 51], "row {y}, left");
        assert_eq!(
            &px[y * 18 + 15..y * 18 + 18],
            [51, 102, 153],
            "row {y}, right"
        );
    }
    // The counterexample's picture, pixel by pixel, is its input read channels first.
    let cex: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cex/input_0.json")).unwrap())
            .unwrap();
    let x: Vec<f64> = cex["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (info, px) = decode_png(&std::fs::read(dir.join("cex/input_0.png")).unwrap());
    assert_eq!(info, (6, 6, 3));
    for (k, &b) in px.iter().enumerate() {
        let (p, c) = (k / 3, k % 3);
        assert_eq!(
            b,
            (x[c * 36 + p].clamp(0.0, 1.0) * 255.0).round() as u8,
            "value {k}"
        );
    }
    let (big, big_px) = decode_png(&std::fs::read(dir.join("cex/input_0_x8.png")).unwrap());
    assert_eq!(big, (48, 48, 3));
    assert_eq!(&big_px[..3], &px[..3]);
    // `--layout hwc` overrides the shape: the file's order as it is, the wrong reading here.
    let out = run(&["--layout", "hwc"]);
    assert!(out.status.success());
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("radius.json")).unwrap()).unwrap();
    assert_eq!(rep["settings"]["preprocess"]["layout"], "hwc");
    assert_eq!(rep["inputs"][1]["prediction"], 0);
    // Per-channel settings must agree with the network's three channels.
    let out = run(&["--mean", "0,0", "--std", "1,1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("name 2 channels") && err.contains("has 3"),
        "{err}"
    );
}

/// A flat input of `3·s²` values may be a colour image in either order: an error that says
/// how to choose, until `--layout` does.
#[test]
fn an_ambiguous_layout_is_an_error() {
    let dir = tmp_dir("ambiguous");
    // `.nnet`, no hidden layer: y0 = sum(x)/192, y1 = 0.5.
    let n = 192;
    let mut nnet = format!("1,{n},2,{n},\n{n},2,\n0,\n");
    let row = |v: f64, k: usize| vec![v.to_string(); k].join(",") + ",\n";
    nnet += &(row(0.0, n) + &row(1.0, n) + &row(0.0, n + 1) + &row(1.0, n + 1));
    nnet += &(row(1.0 / n as f64, n) + &row(0.0, n) + "0.0,\n0.5,\n");
    let net = dir.join("flat.nnet");
    std::fs::write(&net, nnet).unwrap();
    let data = dir.join("d.csv");
    std::fs::write(&data, format!("0,{}\n", vec!["200"; n].join(","))).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["radius", net.to_str().unwrap(), "--data"];
        args.extend([data.to_str().unwrap(), "--eps-max", "0.05"]);
        args.extend(extra);
        certus(&args)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("8×8 colour image") && err.contains("--layout"),
        "{err}"
    );
    for layout in ["flat", "chw", "hwc"] {
        let out = run(&["--layout", layout]);
        assert!(
            out.status.success(),
            "{layout}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Width, height and channels of a PNG, and its 8-bit pixels.
fn decode_png(bytes: &[u8]) -> ((u32, u32, usize), Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    let channels = frame.color_type.samples();
    buf.truncate(frame.buffer_size());
    ((frame.width, frame.height, channels), buf)
}

/// Standard base64 (with padding) back to bytes.
fn decode_base64(s: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let val = |c: u8| A.iter().position(|&a| a == c).unwrap() as u32;
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let n = chunk
            .iter()
            .fold(0u32, |n, &c| (n << 6) | if c == b'=' { 0 } else { val(c) });
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}
