//! `certus verify` for a VNN-LIB 2.0 query, as the standard's solver interface (chapter 5)
//! says: `certus verify QUERY --network NAME=MODEL ... [--timeout T]` prints `sat` and the
//! assignment (per declared variable `NAME TYPE [shape]`, then one value per line), `unsat`,
//! `unknown` or `timed-out`; errors go to stderr only. The VNN-COMP form `certus verify NET
//! QUERY` takes a 2.0 query too: `NET` is the model of its one network.

use super::guard;
use super::verify::{answer, exit_code, guarded, options, Args};
use certus::import::onnx::Interface;
use certus::outcome::Verdict;
use certus::spec::vnnlib2::{self, Query};
use certus::Error;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the models come from.
pub enum Models<'a> {
    /// `--network NAME=MODEL` arguments.
    Named(&'a [String]),
    /// The VNN-COMP form's one network file, for the query's one network.
    Single(&'a Path),
}

/// The standard's word for a verdict.
fn word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Timeout => "timed-out",
        other => other.word(),
    }
}

/// Decides a 2.0 query; `Err` only for input errors (printed by `main`, exit code 2).
pub fn run(query_path: &Path, models: Models<'_>, a: &Args) -> certus::Result<u8> {
    let result = guarded(|| decide(query_path, models, a)).and_then(|r| r);
    if let (Err(_), Some(f)) = (&result, &a.result_file) {
        if guard::finish(super::EXIT_ERROR) {
            let _ = std::fs::write(f, "error\n");
            guard::written();
        }
    }
    let (text, verdict) = result?;
    answer(&text, a.result_file.as_deref(), exit_code(&verdict))?;
    Ok(exit_code(&verdict))
}

/// Loads, lowers and verifies; returns the stdout text and the verdict.
fn decide(query_path: &Path, models: Models<'_>, a: &Args) -> certus::Result<(String, Verdict)> {
    let q = vnnlib2::parse_file(query_path)?;
    let files: HashMap<usize, PathBuf> = model_files(&q, models)?.into_iter().collect();
    let lowered = q.lower()?;
    // One load per declaration: each taps its own hidden nodes (an `equal-to` declaration
    // loads the model of the one it names).
    let mut models = Vec::with_capacity(q.networks.len());
    for (k, decl) in q.networks.iter().enumerate() {
        let path = &files[&q.model_of(k)];
        let taps: Vec<&str> = (decl.hidden.iter())
            .map(|&h| q.tensors[h].onnx_name.as_deref().unwrap_or_default())
            .collect();
        let (net, interface) = load_with_taps(path, &taps, a)?;
        check_interface(&q, k, &interface, path)?;
        models.push(net);
    }
    let models: Vec<&certus::ir::Network> = models.iter().collect();
    let net = vnnlib2::engine_network(&q, &lowered.layout, &models).map_err(Error::Invalid)?;
    lowered.property.check_fits(&net)?;
    let t = Instant::now();
    let mut verdict = certus::verify::verify(&net, &lowered.property, &options(a)?);
    let mut text = String::new();
    if let Verdict::Sat(cex) = &verdict {
        // The engines decided the relaxation (strict comparisons non-strict); the assignment
        // must satisfy the query as written, with the outputs of f64 and of f32 arithmetic.
        let v64 = lowered.layout.slot_values(&q, &cex.input, &cex.output_f64);
        let v32 = lowered.layout.slot_values(&q, &cex.input, &cex.output);
        if q.holds(&v64) && q.holds(&v32) {
            text = q.assignment_text(&v64);
        } else {
            verdict = Verdict::Unknown(
                "the only counterexample found lies on the boundary of a strict comparison \
                 (`<`, `>`, `!=`): it satisfies the relaxed query but not the query itself"
                    .into(),
            );
        }
    }
    if let Verdict::Unknown(why) = &verdict {
        eprintln!("unknown: {why}");
    }
    eprintln!("time: {:.3} s", t.elapsed().as_secs_f64());
    Ok((format!("{}\n{text}", word(&verdict)), verdict))
}

/// The model file of each network that needs one, by network index. The standard requires an
/// error when a model is missing or one is given that no network needs.
fn model_files(q: &Query, models: Models<'_>) -> certus::Result<Vec<(usize, PathBuf)>> {
    let needing: Vec<(usize, &str)> = (q.networks_needing_models())
        .map(|(k, n)| (k, n.name.as_str()))
        .collect();
    let args = match models {
        Models::Single(path) => {
            return match needing.as_slice() {
                [(k, _)] => Ok(vec![(*k, path.to_path_buf())]),
                _ => Err(Error::Invalid(format!(
                    "{}: the query declares {} networks that need models; name each with \
                     `--network NAME=MODEL` (certus verify QUERY --network ...)",
                    q.path.display(),
                    needing.len()
                ))),
            };
        }
        Models::Named(args) => args,
    };
    let mut given: HashMap<&str, PathBuf> = HashMap::new();
    for arg in args {
        let Some((name, file)) = arg.split_once('=') else {
            return Err(Error::Invalid(format!(
                "--network {arg}: expected NAME=MODEL, e.g. --network classifier=model.onnx"
            )));
        };
        match q.networks.iter().find(|n| n.name == name) {
            None => {
                let names: Vec<&str> = needing.iter().map(|(_, n)| *n).collect();
                return Err(Error::Invalid(format!(
                    "--network {arg}: the query declares no network `{name}` (it needs models \
                     for: {})",
                    names.join(", ")
                )));
            }
            Some(n) if matches!(n.equiv, Some(vnnlib2::Equiv::EqualTo(_))) => {
                return Err(Error::Invalid(format!(
                    "--network {arg}: network `{name}` is `equal-to` another and takes its \
                     model; give no model for it"
                )));
            }
            Some(_) => {}
        }
        if given.insert(name, PathBuf::from(file)).is_some() {
            return Err(Error::Invalid(format!("--network {name}=...: given twice")));
        }
    }
    needing
        .iter()
        .map(|&(k, name)| match given.remove(name) {
            Some(path) => Ok((k, path)),
            None => Err(Error::Invalid(format!(
                "no model for network `{name}`: pass --network {name}=MODEL.onnx"
            ))),
        })
        .collect()
}

/// Loads a model with its hidden-node taps; a `.nnet` file (no taps, one input and output) is
/// described from its network.
fn load_with_taps(
    path: &Path,
    taps: &[&str],
    a: &Args,
) -> certus::Result<(certus::ir::Network, Interface)> {
    let is_nnet = (path.extension()).is_some_and(|e| e.eq_ignore_ascii_case("nnet"));
    if !is_nnet {
        return certus::import::onnx::load_with(path, taps);
    }
    if !taps.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: hidden nodes name ONNX node outputs; a .nnet file has none",
            path.display()
        )));
    }
    let net = certus::import::load_network(path, a.net.nnet_normalize.into())?;
    let interface = Interface {
        inputs: vec![("input".into(), net.input_shape().to_vec())],
        outputs: vec![("output".into(), net.output_shape().to_vec())],
        taps: Vec::new(),
    };
    Ok((net, interface))
}

/// The model of network `k` takes and returns tensors of the declared shapes, in the declared
/// order, and has the declared hidden nodes (the standard's ModelNetwork and ModelHidden rules;
/// element types need no check under `real`).
fn check_interface(q: &Query, k: usize, model: &Interface, path: &Path) -> certus::Result<()> {
    let decl = &q.networks[k];
    for (what, declared, actual) in [
        ("input", &decl.inputs, &model.inputs),
        ("output", &decl.outputs, &model.outputs),
        ("hidden node", &decl.hidden, &model.taps),
    ] {
        if declared.len() != actual.len() {
            let names: Vec<&str> = actual.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::Invalid(format!(
                "{}: network `{}` declares {} {what}s, but the model has {} ({}); the standard \
                 requires every graph input and output, in the model's order",
                path.display(),
                decl.name,
                declared.len(),
                actual.len(),
                names.join(", ")
            )));
        }
        for (&t, (name, shape)) in declared.iter().zip(actual) {
            let t = &q.tensors[t];
            if &t.shape != shape {
                return Err(Error::Invalid(format!(
                    "{}: network `{}` declares {what} `{}` with shape {:?}, but the model's \
                     (`{name}`) is {:?}",
                    path.display(),
                    decl.name,
                    t.name,
                    t.shape,
                    shape
                )));
            }
        }
    }
    Ok(())
}
