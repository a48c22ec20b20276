//! Counterexamples for testers: every attack method finds only replayed counterexamples,
//! `--count` gives distinct ones, and the files (`certus attack --out`, `certus verify
//! --cex-dir`) say what was replayed.

mod common;

use certus::attack::search::{distances, start_point};
use certus::attack::{find_counterexamples, AttackMethod, Rng, SearchOptions};
use certus::ir::{Network, Op};
use certus::outcome::confirm;
use certus::spec::vnnlib;
use certus::spec::Property;
use common::{certus, mlp, random_net, root, vee};
use std::path::{Path, PathBuf};
use std::time::Duration;

const METHODS: [AttackMethod; 5] = [
    AttackMethod::Fgsm,
    AttackMethod::Pgd,
    AttackMethod::Cw,
    AttackMethod::Jsma,
    AttackMethod::Lbfgs,
];

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("certus-attack-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn prop(name: &str) -> certus::spec::Property {
    vnnlib::parse_file(&root().join("properties").join(name)).unwrap()
}

fn search(
    method: AttackMethod,
    count: usize,
    p: &certus::spec::Property,
) -> Vec<certus::outcome::Counterexample> {
    let opts = SearchOptions {
        method,
        count,
        ..SearchOptions::default()
    };
    find_counterexamples(&vee(), p, &opts, common::within(Duration::from_secs(10)))
}

/// `y = relu(x0 + x1) + relu(x0 − x1)` reaches 2 at (1, 0) and (1, 1): `y >= 1.9` is reachable,
/// `y >= 2.1` is not. Every method finds the first and (soundly) nothing for the second.
#[test]
fn every_method_finds_only_replayed_counterexamples() {
    let sat = prop("vee_above_1.9.vnnlib");
    let unsat = prop("vee_above_2.1.vnnlib");
    for m in METHODS {
        let found = search(m, 1, &sat);
        assert_eq!(found.len(), 1, "{m:?}");
        let c = &found[0];
        assert!(c.output[0] >= 1.9 && c.margin_f32 <= 0.0 && c.margin_f64 <= 0.0);
        assert_eq!(
            confirm(&vee(), &sat, &c.input).as_ref(),
            Some(c),
            "{m:?}: replays"
        );
        assert!(search(m, 1, &unsat).is_empty(), "{m:?}");
    }
}

#[test]
fn count_gives_distinct_counterexamples() {
    let sat = prop("vee_above_1.9.vnnlib");
    for m in [AttackMethod::Pgd, AttackMethod::Cw] {
        let found = search(m, 4, &sat);
        assert_eq!(found.len(), 4, "{m:?}");
        for (i, a) in found.iter().enumerate() {
            assert!(confirm(&vee(), &sat, &a.input).is_some());
            for b in &found[..i] {
                assert_ne!(a.input, b.input, "{m:?}: duplicates");
            }
        }
    }
}

/// Parses the VNN-COMP text `((X_0 v) (X_1 v) ... (Y_m v))` into inputs and outputs.
fn parse_vnncomp(text: &str) -> (Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for tok in text.split('(').filter(|t| !t.trim().is_empty()) {
        let t = tok.trim().trim_end_matches(')').trim_end_matches(')');
        let mut it = t.split_whitespace();
        let (name, v) = (
            it.next().unwrap(),
            it.next().unwrap().parse::<f64>().unwrap(),
        );
        if name.starts_with("X_") {
            xs.push(v);
        } else {
            ys.push(v);
        }
    }
    (xs, ys)
}

/// The files of one counterexample agree with each other and with the network.
fn check_files(dir: &Path, stem: &str, net: &certus::ir::Network) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap())
            .unwrap();
    let (xs, ys) =
        parse_vnncomp(&std::fs::read_to_string(dir.join(format!("{stem}.txt"))).unwrap());
    let input: Vec<f64> = json["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let output: Vec<f64> = json["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(xs, input);
    assert_eq!(ys, output);
    let y32: Vec<f64> = net.eval_f32(&input).into_iter().map(f64::from).collect();
    assert_eq!(y32, output, "the output is the f32 replay of the input");
    assert!(json["margin"].as_f64().unwrap() <= 0.0);
    assert!(!json["violated"].as_array().unwrap().is_empty());
    json
}

#[test]
fn attack_cli_writes_text_and_json() {
    let dir = tmp_dir("cli");
    let out = certus(&[
        "attack",
        "examples/vee.nnet",
        "properties/vee_above_1.9.vnnlib",
        "--method",
        "jsma",
        "--count",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for stem in ["cex_0", "cex_1"] {
        let j = check_files(&dir, stem, &vee());
        assert_eq!(j["source"], "jsma");
        assert_eq!(j["violated"], serde_json::json!(["-Y_0 <= -1.9"]));
        assert!(j["png"].is_null(), "a 2-input network is no image");
    }
    // Nothing to find: exit code 3, no files.
    let dir2 = tmp_dir("cli-none");
    let out = certus(&[
        "attack",
        "examples/vee.nnet",
        "properties/vee_above_2.1.vnnlib",
        "--timeout",
        "2",
        "--out",
        dir2.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(std::fs::read_dir(&dir2).unwrap().count(), 0);
}

#[test]
fn verify_cex_dir_writes_the_printed_counterexample() {
    let dir = tmp_dir("verify");
    let out = certus(&[
        "verify",
        "examples/vee.nnet",
        "properties/vee_above_1.9.vnnlib",
        "--cex-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = std::fs::read_to_string(dir.join("cex.txt")).unwrap();
    assert_eq!(stdout.strip_prefix("sat\n").unwrap(), text);
    assert_eq!(check_files(&dir, "cex", &vee())["source"], "verify");
    // No counterexample, no files.
    let dir2 = tmp_dir("verify-unsat");
    let out = certus(&[
        "verify",
        "examples/vee.nnet",
        "properties/vee_above_2.1.vnnlib",
        "--cex-dir",
        dir2.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_dir(&dir2).unwrap().count(), 0);
}

/// A 784-input linear network (`.nnet`) and an ε-box property around a grey image: the
/// counterexample is also written as a 28×28 PNG, and enlarged to 224×224.
#[test]
fn image_counterexamples_get_a_png() {
    let dir = tmp_dir("image");
    // y0 = Σ x_i/784, y1 = 0.5: the bad case y0 >= y1 + 0.01 is reached by brightening.
    let mut nnet = String::from("// test\n1,784,2,784,\n784,2,\n0,\n");
    let row = |v: &str| vec![v; 784].join(",") + ",\n";
    nnet += &row("0.0");
    nnet += &row("1.0");
    nnet += &(row("0.0").trim_end().to_string() + "0.0,\n");
    nnet += &(row("1.0").trim_end().to_string() + "1.0,\n");
    nnet += &row(&format!("{}", 1.0 / 784.0));
    nnet += &row("0.0");
    nnet += "0.0,\n0.5,\n";
    std::fs::write(dir.join("net.nnet"), nnet).unwrap();
    let mut spec = String::new();
    for i in 0..784 {
        spec += &format!("(declare-const X_{i} Real)\n");
    }
    spec += "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n";
    for i in 0..784 {
        let c = if i % 28 < 14 { 0.3 } else { 0.6 };
        spec += &format!(
            "(assert (>= X_{i} {}))\n(assert (<= X_{i} {}))\n",
            c - 0.1,
            c + 0.1
        );
    }
    spec += "(assert (>= Y_0 (+ Y_1 0.01)))\n";
    std::fs::write(dir.join("prop.vnnlib"), spec).unwrap();
    let out_dir = dir.join("out");
    let out = certus(&[
        "attack",
        dir.join("net.nnet").to_str().unwrap(),
        dir.join("prop.vnnlib").to_str().unwrap(),
        "--method",
        "fgsm",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("cex_0.json")).unwrap())
            .unwrap();
    assert_eq!(j["png"], "cex_0.png");
    let png = std::fs::read(out_dir.join("cex_0.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    assert_eq!((reader.info().width, reader.info().height), (28, 28));
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    // FGSM brightens every pixel to the top of its box: 0.4 left, 0.7 right; values in [0, 1]
    // are drawn as they are (row-major, as the input is laid out).
    let input: Vec<f64> = j["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!((input[0] - 0.4).abs() < 1e-6 && (input[27] - 0.7).abs() < 1e-6);
    for (b, x) in buf.iter().zip(&input) {
        assert_eq!(*b, (x * 255.0).round() as u8);
    }
    // The enlarged copy (issue 11 item 6): every pixel an 8×8 block.
    assert_eq!(j["png_enlarged"], "cex_0_x8.png");
    let big = std::fs::read(out_dir.join("cex_0_x8.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(big))
        .read_info()
        .unwrap();
    assert_eq!((reader.info().width, reader.info().height), (224, 224));
    let mut big_buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut big_buf).unwrap();
    for y in 0..224 {
        for x in 0..224 {
            assert_eq!(
                big_buf[y * 224 + x],
                buf[(y / 8) * 28 + x / 8],
                "({y}, {x})"
            );
        }
    }
}

/// The nearest counterexample `method` finds to `start` (or the box centre) and its L2 distance,
/// after checking that it replays and lies in the box.
fn nearest(
    net: &Network,
    p: &Property,
    method: AttackMethod,
    start: Option<&[f64]>,
) -> Option<f64> {
    let opts = SearchOptions {
        method,
        count: 1,
        restarts: 0,
        start: start.map(<[f64]>::to_vec),
        ..SearchOptions::default()
    };
    let found = find_counterexamples(net, p, &opts, common::within(Duration::from_secs(30)));
    let c = found.first()?;
    assert_eq!(confirm(net, p, &c.input).as_ref(), Some(c), "{method:?}");
    assert!(
        p.regions[0].contains(&c.input),
        "{method:?}: inside the box"
    );
    Some(distances(&c.input, &start_point(&p.regions[c.region], start)).0)
}

/// Issue 11 item 9: on a linear network the nearest point of the bad case is known: from `s`,
/// `y0 − y1 = w·x + b` reaches 0 at distance `(w·s + b)/‖w‖₂`, along `−w` (inside the box here).
/// L-BFGS finds it up to its confidence and bisection; C&W cannot beat it.
#[test]
fn lbfgs_finds_the_minimal_perturbation_of_a_linear_network() {
    let w = vec![1.0, -0.5, 0.25, 2.0, -1.0, 0.75, -0.25, 0.5];
    // w·s = 0.5·Σw = 1.375 at the centre s = 0.5: margin 0.3.
    let net = mlp(
        8,
        &[(vec![w.clone(), vec![0.0; 8]], vec![-1.075, 0.0], false)],
    );
    let p = Property::robustness(vec![0.0; 8], vec![1.0; 8], 0, 2);
    let exact = 0.3 / w.iter().map(|v| v * v).sum::<f64>().sqrt();
    let lbfgs = nearest(&net, &p, AttackMethod::Lbfgs, None).unwrap();
    let cw = nearest(&net, &p, AttackMethod::Cw, None).unwrap();
    eprintln!("minimal {exact:.6}, lbfgs {lbfgs:.6}, cw {cw:.6}");
    assert!(
        exact * (1.0 - 1e-6) <= lbfgs && lbfgs <= exact * 1.001,
        "{lbfgs} vs {exact}"
    );
    assert!(cw >= exact * (1.0 - 1e-6), "{cw} vs {exact}");
}

/// L-BFGS against C&W on the same inputs: random ReLU networks, a robustness property around
/// each of a few points (both replayed and inside the box, checked by [`nearest`]). L-BFGS
/// searches the distance weight and ends with a bisection to the boundary: it must find at least
/// as many counterexamples, and nearer ones in total.
#[test]
fn lbfgs_is_nearer_than_cw_on_relu_networks() {
    let mut rng = Rng::new(11);
    let (mut found, mut sums, mut both) = ([0, 0], [0.0, 0.0], 0);
    for _ in 0..6 {
        let net = random_net(&mut rng, 6, &[16, 16], 4, &[Op::Relu]);
        for _ in 0..5 {
            let s: Vec<f64> = (0..6).map(|_| 0.2 + 0.6 * rng.uniform()).collect();
            let y = net.eval_f64(&s);
            let label = (0..4).fold(0, |b, j| if y[j] > y[b] { j } else { b });
            let lo = s.iter().map(|v| (v - 0.3).max(0.0)).collect();
            let hi = s.iter().map(|v| (v + 0.3).min(1.0)).collect();
            let p = Property::robustness(lo, hi, label, 4);
            let l = nearest(&net, &p, AttackMethod::Lbfgs, Some(&s));
            let c = nearest(&net, &p, AttackMethod::Cw, Some(&s));
            found[0] += l.is_some() as usize;
            found[1] += c.is_some() as usize;
            if let (Some(l), Some(c)) = (l, c) {
                both += 1;
                sums[0] += l;
                sums[1] += c;
            }
        }
    }
    eprintln!(
        "found: lbfgs {}, cw {}; over {both} inputs both broke, mean L2: lbfgs {:.4}, cw {:.4}",
        found[0],
        found[1],
        sums[0] / both as f64,
        sums[1] / both as f64
    );
    assert!(both >= 5, "the boxes should be breakable");
    assert!(found[0] >= found[1], "{found:?}");
    assert!(sums[0] <= sums[1], "{sums:?}");
}

/// `y = 10·relu(x_0 + x_1 + x_2 + x_3 − 3.5)` over `[0, 1]^4` with the bad case
/// `0.5 <= y <= 4.5`: the output is 0, with no gradient, on all of the box but the corner
/// `Σx > 3.5` (1/384 of it), so PGD from the centre and random starts finds nothing, while the
/// relaxation's corner for `−y` (all ones, `y = 5`) starts PGD where the output moves and one
/// step reaches the band. `verify::attack` runs both; the counterexample is replayed.
#[test]
fn relaxation_corners_start_pgd_where_the_output_moves() {
    use certus::spec::{Disjunct, LinearConstraint, Region};
    let net = mlp(
        4,
        &[
            (vec![vec![1.0; 4]], vec![-3.5], true),
            (vec![vec![10.0]], vec![0.0], false),
        ],
    );
    let d = Disjunct {
        constraints: vec![
            LinearConstraint {
                coeffs: vec![(0, -1.0)],
                rhs: -0.5,
            },
            LinearConstraint {
                coeffs: vec![(0, 1.0)],
                rhs: 4.5,
            },
        ],
    };
    let region = Region {
        lower: vec![0.0; 4],
        upper: vec![1.0; 4],
        disjuncts: vec![d.clone()],
    };
    let cfg = certus::attack::PgdConfig::default();
    let mut rng = Rng::new(1);
    let deadline = certus::deadline::Deadline::NONE;
    let best = certus::attack::pgd(&net, &region, &d, &cfg, &mut rng, deadline, &mut |_| true);
    assert!(
        best > 0.0,
        "plain PGD reached the band ({best}): the instance is too easy"
    );
    let prop = Property {
        n_inputs: 4,
        n_outputs: 1,
        regions: vec![region],
    };
    let opts = certus::verify::Options::default();
    let cex = certus::verify::attack(&net, &prop, &opts, deadline).expect("a counterexample");
    assert!(confirm(&net, &prop, &cex.input).is_some());
}
