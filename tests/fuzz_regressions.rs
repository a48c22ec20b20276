//! Inputs the cargo-fuzz targets in `fuzz/` found crashing or hanging certus, kept as
//! regression tests (`tests/fuzz/<target>/`, one file per input, named after libFuzzer's
//! artifact). Each is replayed through the same checks as its target, in process: the ONNX
//! importer and the VNN-LIB parsers must answer (a network, a property or an error naming the
//! file) within seconds, without a panic, and what loads must evaluate with its interval bounds
//! containing the f64 value.

mod common;

use certus::bounds::{output_bounds, Method};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The inputs kept for `target`, sorted by name.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = common::root().join("tests/fuzz").join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Every input must be answered within this (the importer's slowest legal work on a few
/// hundred bytes is milliseconds; a hang found by the fuzzer took more than 30 s).
const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn onnx_inputs_found_by_fuzzing() {
    let all = inputs("onnx");
    assert!(!all.is_empty(), "no inputs under tests/fuzz/onnx");
    for f in all {
        let bytes = std::fs::read(&f).unwrap();
        let t = Instant::now();
        let r = certus::import::onnx::from_bytes(&bytes, Path::new("fuzz.onnx"));
        assert!(t.elapsed() < LIMIT, "{}: {:?}", f.display(), t.elapsed());
        match r {
            Err(e) => assert!(
                e.to_string().starts_with("fuzz.onnx: "),
                "{}: {e}",
                f.display()
            ),
            Ok(net) => {
                let x = vec![0.25; net.input_len()];
                let y = net.eval_f64(&x);
                let _ = net.eval_f32(&x);
                if y.iter().all(|v| v.is_finite()) {
                    let b = output_bounds(&net, &x, &x, Method::Interval);
                    assert!(b.contains(&y), "{}: {b:?} misses {y:?}", f.display());
                }
            }
        }
    }
}

#[test]
fn vnnlib_inputs_found_by_fuzzing() {
    for target in ["vnnlib1", "vnnlib2"] {
        for f in inputs(target) {
            let bytes = std::fs::read(&f).unwrap();
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            let path = Path::new("fuzz.vnnlib");
            let t = Instant::now();
            match certus::spec::vnnlib::parse_str(text, path) {
                Err(e) => assert!(e.to_string().starts_with("fuzz.vnnlib:"), "{e}"),
                Ok(prop) => {
                    for r in &prop.regions {
                        assert!((r.lower.iter().zip(&r.upper)).all(|(l, u)| l <= u));
                    }
                }
            }
            if let Ok(q) = certus::spec::vnnlib2::parse_str(text, path) {
                let _ = q.property(path);
            }
            assert!(t.elapsed() < LIMIT, "{}: {:?}", f.display(), t.elapsed());
        }
    }
}
