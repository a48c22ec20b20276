//! Counterexamples as data for retraining (issue 11 item 7): `certus attack --data` and `certus
//! radius --report` export every replayed counterexample with its true label as ERAN CSV (the
//! data file's scale and order, so it reads back like the original) and NumPy `.npy` arrays,
//! whose bytes match what NumPy itself writes.

mod common;

use certus::import::load_network;
use certus::outcome::confirm;
use certus::radius::{load_csv, Preprocess};
use certus::report::npy::{from_bytes, to_bytes, NpyArray, NpyData};
use certus::report::Layout;
use certus::spec::Property;
use common::{certus, root};
use std::path::PathBuf;

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("certus-dataset-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn npy(path: &std::path::Path) -> NpyArray {
    from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

/// `tests/fixtures/npy_f32.npy` and `npy_i64.npy` were written by `numpy.save`
/// (`gen_fixtures.py npy_arrays`): the writer reproduces them byte for byte, and the reader
/// reads them.
#[test]
fn npy_files_match_numpy_byte_for_byte() {
    let f32s = NpyArray {
        shape: vec![2, 3],
        data: NpyData::F32(vec![0.0, 1.5, -2.0, 3.25, 1e-3, 7.0]),
    };
    let i64s = NpyArray {
        shape: vec![4],
        data: NpyData::I64(vec![7, 0, -1, 1 << 40]),
    };
    for (name, a) in [("npy_f32.npy", f32s), ("npy_i64.npy", i64s)] {
        let numpy = std::fs::read(root().join("tests/fixtures").join(name)).unwrap();
        assert_eq!(from_bytes(&numpy).unwrap(), a, "{name}");
        assert_eq!(to_bytes(&a), numpy, "{name}");
    }
}

/// `tests/fixtures/chw_colour.onnx` reads `[1,3,6,6]` channels first; input 0 (label 0) has
/// radius 0.2 and input 1 (label 1) radius 0.3 in pixel space (`gen_fixtures.py`), also after
/// `--mean 0.5 --std 0.25` (the same affine map on every channel keeps the sign of `R − B`). At
/// ε = 0.25 only input 0 breaks. The exported rows must be the replayed network inputs
/// (`_x.npy`, normalised, channels first) and the same points in the file's terms (`.csv`: raw
/// 8-bit scale, channels last), labelled with the true label.
#[test]
fn attack_data_exports_replayed_counterexamples() {
    let dir = tmp_dir("attack");
    let args = [
        "attack",
        "tests/fixtures/chw_colour.onnx",
        "--data",
        "tests/fixtures/chw_colour.csv",
        "--eps",
        "0.25",
        "--mean",
        "0.5",
        "--std",
        "0.25",
        "--method",
        "pgd",
        "--count",
        "2",
        "--jobs",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ];
    let out = certus(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 inputs, 2 attacked at eps = 0.25 by pgd: 1 broken"),
        "{stdout}"
    );
    let net = load_network(
        &root().join("tests/fixtures/chw_colour.onnx"),
        Default::default(),
    )
    .unwrap();
    let pre = Preprocess::new(
        255.0,
        vec![0.5],
        vec![0.25],
        net.input_shape(),
        Layout::Auto,
    )
    .unwrap();
    let data = root().join("tests/fixtures/chw_colour.csv");
    let samples = load_csv(&data, None, 108, 2, &pre).unwrap();
    let x = npy(&dir.join("adversarial_x.npy"));
    let y = npy(&dir.join("adversarial_y.npy"));
    let n = y.shape[0];
    assert!((1..=2).contains(&n), "{n} counterexamples");
    assert_eq!(x.shape, [n, 3, 6, 6]);
    assert_eq!(y.data, NpyData::I64(vec![0; n]));
    let NpyData::F32(xs) = &x.data else {
        panic!("float32 inputs")
    };
    // Each row replays against input 0's property and lies in its ε-box.
    let (lo, hi) = pre.eps_box(&samples[0].pixels, 0.25, false);
    let prop = Property::robustness(lo.clone(), hi.clone(), 0, 2);
    let rows: Vec<Vec<f64>> = xs
        .chunks(108)
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect();
    for r in &rows {
        assert!(confirm(&net, &prop, r).is_some());
        assert!((0..108).all(|i| lo[i] <= r[i] && r[i] <= hi[i]));
    }
    // The CSV, read like the original data, gives the same network inputs.
    let csv = dir.join("adversarial.csv");
    let back = load_csv(&csv, None, 108, 2, &pre).unwrap();
    assert_eq!(back.len(), n);
    for (s, r) in back.iter().zip(&rows) {
        assert_eq!(s.label, 0);
        let again = pre.normalise(&s.pixels);
        for i in 0..108 {
            assert!(
                (again[i] - r[i]).abs() <= 1e-9,
                "value {i}: {} {}",
                again[i],
                r[i]
            );
        }
    }
    // Its values are channels last: a red-brown pixel of the left half stays `r,g,b` near
    // (153, 102, 51) (within ε = 0.25 of 255).
    let text = std::fs::read_to_string(&csv).unwrap();
    let first: Vec<f64> = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    for (c, v) in [153.0, 102.0, 51.0].into_iter().enumerate() {
        assert!(
            (first[1 + c] - v).abs() <= 0.25 * 255.0 + 1e-9,
            "channel {c}: {}",
            first[1 + c]
        );
    }
    // And the per-input files, under cex/.
    assert!(dir.join("cex/input_0_0.json").is_file() && dir.join("cex/input_0_0.png").is_file());
    assert!(!dir.join("cex/input_1_0.json").exists());
}

/// `radius --report` exports the counterexample of each input at its attack radius: on
/// `radius_linear` inputs 0-3 have one (input 2 is misclassified: its own clean input), input 4
/// none (`tests/radius.rs` derives the radii).
#[test]
fn radius_report_exports_its_counterexamples() {
    let dir = tmp_dir("radius");
    let out = certus(&[
        "radius",
        "tests/fixtures/radius_linear.nnet",
        "--data",
        "tests/fixtures/radius_linear.csv",
        "--scale",
        "1",
        "--eps-max",
        "0.25",
        "--jobs",
        "1",
        "--report",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let y = npy(&dir.join("adversarial_y.npy"));
    assert_eq!(y.data, NpyData::I64(vec![0, 0, 1, 1]));
    let x = npy(&dir.join("adversarial_x.npy"));
    let NpyData::F32(xs) = &x.data else {
        panic!("float32 inputs")
    };
    assert_eq!(x.shape[0], 4);
    let csv = std::fs::read_to_string(dir.join("adversarial.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    for (k, i) in [0, 1, 2, 3].into_iter().enumerate() {
        let cex: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("cex/input_{i}.json"))).unwrap(),
        )
        .unwrap();
        let input: Vec<f64> = cex["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let row: Vec<f64> = xs[2 * k..2 * k + 2].iter().map(|&v| v as f64).collect();
        assert_eq!(row, input, "input {i}");
        // Scale 1, no normalisation, no image: the CSV holds the same values after the label.
        let fields: Vec<f64> = lines[k].split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(fields[0] as usize, [0, 0, 1, 1][k]);
        assert_eq!(&fields[1..], &input[..], "input {i}");
    }
}
