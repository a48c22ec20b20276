//! The ONNX importer on arbitrary bytes: it must load or fail with an error, never panic,
//! overflow the stack or allocate without bound; a model that loads must evaluate in f32 and
//! f64, and its interval bounds over the point must contain the f64 value.
#![no_main]

use certus::bounds::{output_bounds, Method};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(net) = certus::import::onnx::from_bytes(data, Path::new("fuzz.onnx")) else {
        return;
    };
    // Evaluation is linear in the model's size, which the bytes bound; keep runs short.
    if net.input_len() > 1 << 12 {
        return;
    }
    let x = vec![0.25; net.input_len()];
    let y = net.eval_f64(&x);
    let _ = net.eval_f32(&x);
    if y.iter().all(|v| v.is_finite()) {
        let b = output_bounds(&net, &x, &x, Method::Interval);
        assert!(b.contains(&y), "interval bounds {b:?} miss {y:?}");
    }
});
