//! `certus radius NET_A NET_B ...` (issue 11 item 8): several networks on the same inputs with
//! the same engines, side by side on stdout, in `compare.csv` and `compare.html`, each with its
//! own report.

mod common;

use common::certus;
use std::path::PathBuf;

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("certus-compare-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const A: &str = "tests/fixtures/radius_linear.nnet";
const B: &str = "tests/fixtures/radius_linear_b.nnet";

/// `radius_linear` (`y0 − y1 = 2·x0 − 2·x1 + 0.4`) has radii 0.1, 0.2, 0 (misclassified), 0.1
/// and 0.6 on `radius_linear.csv` (derived in `tests/radius.rs`). `radius_linear_b` has half
/// the bias (`2·x0 − 2·x1 + 0.2`); the same derivation (each step ε lowers the margin by 4ε
/// while no input is clipped, by 2ε once `x0` is) gives:
/// - input 0 (label 0, `(0.5, 0.5)`): margin 0.2, radius **0.05**;
/// - input 1 (label 0, `(0.1, 0)`): margin 0.4, `0.4 − 4ε` reaches 0 at **0.1**, where `x0`
///   reaches 0;
/// - input 2 (label 1, `(0.5, 0.5)`): `y0 − y1 = 0.2 > 0`: misclassified, radius 0;
/// - input 3 (label 1, `(0.3, 0.7)`): margin 0.6, radius **0.15**;
/// - input 4 (label 0, `(1, 0)`): margin 2.2, radius 0.55, beyond `--eps-max 0.25`.
///
/// At ε = 0.075, 0.125, 0.25 (no radius on the grid, so engines and attack agree) the
/// certified accuracies are A: 0.8, 0.4, 0.2 and B: 0.6, 0.4, 0.2, and the attack's the same.
#[test]
fn two_networks_side_by_side() {
    let dir = tmp_dir("two");
    let out = certus(&[
        "radius",
        A,
        B,
        "--data",
        "tests/fixtures/radius_linear.csv",
        "--scale",
        "1",
        "--eps-max",
        "0.25",
        "--eps-grid",
        "0.075,0.125,0.25",
        "--engine",
        "dual",
        "--engine",
        "crown",
        "--jobs",
        "1",
        "--report",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both runs, then the comparison.
    assert!(stdout.contains(&format!("network {A}:")), "{stdout}");
    assert!(stdout.contains(&format!("network {B}:")), "{stdout}");
    let cmp = stdout
        .split("comparison at eps = 0.075, 0.125, 0.25")
        .nth(1)
        .unwrap();
    assert!(
        cmp.contains(&format!(
            "{A}  clean 80.0%  certified 80.0% 40.0% 20.0%  attack 80.0% 40.0% 20.0%"
        )),
        "{cmp}"
    );
    assert!(
        cmp.contains(&format!(
            "{B}  clean 80.0%  certified 60.0% 40.0% 20.0%  attack 60.0% 40.0% 20.0%"
        )),
        "{cmp}"
    );
    // compare.csv: a header and one row per network, with every engine's accuracy.
    let csv = std::fs::read_to_string(dir.join("compare.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (row, folder, acc) in [
        (1, "0_radius_linear", ["0.8", "0.4", "0.2"]),
        (2, "1_radius_linear_b", ["0.6", "0.4", "0.2"]),
    ] {
        let f: Vec<&str> = lines[row].split(',').collect();
        assert_eq!(f[col("folder")], folder);
        assert_eq!(f[col("clean_accuracy")], "0.8");
        for (k, eps) in ["0.075", "0.125", "0.25"].into_iter().enumerate() {
            for what in ["certified", "dual", "crown", "attack"] {
                assert_eq!(
                    f[col(&format!("{what}@{eps}"))],
                    acc[k],
                    "{folder} {what}@{eps}"
                );
            }
        }
        assert_eq!(f[col("soundness_violations")], "0");
        // Each network's own full report.
        let rep: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(folder).join("radius.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(rep["inputs"].as_array().unwrap().len(), 5);
        assert!(dir.join(folder).join("report.html").is_file());
        assert!(dir.join(folder).join("adversarial.csv").is_file());
    }
    // B's radii bracket the derivation (two searches, each to `--tolerance` 0.001).
    let rep: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("1_radius_linear_b/radius.json")).unwrap(),
    )
    .unwrap();
    for (i, r) in [(0, 0.05), (1, 0.1), (3, 0.15)] {
        let x = &rep["inputs"][i];
        let cert = x["certified_radius"].as_f64().unwrap();
        let att = x["attack_radius"].as_f64().unwrap();
        assert!(
            cert < r && r <= att && att - cert <= 2e-3,
            "input {i}: {cert} {att}"
        );
    }
    // compare.html: the overlay and one plot per network, all on the same axes (the same ε
    // ticks), linking to each network's report.
    let html = std::fs::read_to_string(dir.join("compare.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    for svg in html.split("<svg").skip(1) {
        assert!(
            svg.contains(">0.25</text>") && svg.contains(">0.05</text>"),
            "axes"
        );
    }
    for f in [
        "0_radius_linear/report.html",
        "1_radius_linear_b/report.html",
    ] {
        assert!(html.contains(&format!("href=\"{f}\"")), "{f}");
    }
    assert!(
        html.contains("radius_linear_b.nnet certified")
            && html.contains("radius_linear.nnet attack")
    );
    assert!(!html.contains("<script"));
}

/// Networks that do not read the same data cannot be compared: an error naming both.
#[test]
fn networks_of_different_sizes_are_an_error() {
    let out = certus(&[
        "radius",
        A,
        "tests/fixtures/chw_colour.onnx",
        "--data",
        "tests/fixtures/radius_linear.csv",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("radius_linear.nnet has 2 inputs")
            && err.contains("chw_colour.onnx has 108")
            && err.contains("same sizes"),
        "{err}"
    );
}
