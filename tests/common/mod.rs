//! Helpers shared by the integration tests: small networks built directly in the IR.
#![allow(dead_code)]

use certus::attack::Rng;
use certus::ir::{Affine, Network, Node, NodeId, Op};
use ndarray::{Array1, Array2};
use std::path::PathBuf;
use std::process::{Command, Output};

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/benchmarks`, when it exists beside the checkout.
pub fn shared_benchmarks() -> Option<PathBuf> {
    let p = root().join("../shared/benchmarks");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("note: ../shared/benchmarks not found; skipping");
        None
    }
}

/// One layer for [`mlp`]: weight rows, bias, and whether a ReLU follows.
pub type Layer = (Vec<Vec<f64>>, Vec<f64>, bool);

/// A chain of layers: each `(W, b, relu)` is an affine layer, followed by a ReLU when `relu`.
pub fn mlp(n_in: usize, layers: &[Layer]) -> Network {
    let mut nodes = vec![Node {
        name: "x".into(),
        op: Op::Input,
        input: None,
        shape: vec![n_in],
    }];
    for (k, (w, b, relu)) in layers.iter().enumerate() {
        let rows = w.len();
        let cols = w[0].len();
        let weight = Array2::from_shape_vec((rows, cols), w.concat()).unwrap();
        let bias = Array1::from_vec(b.clone());
        let input = Some(NodeId(nodes.len() - 1));
        nodes.push(Node {
            name: format!("fc{k}"),
            op: Op::Affine(Affine { weight, bias }),
            input,
            shape: vec![rows],
        });
        if *relu {
            let input = Some(NodeId(nodes.len() - 1));
            nodes.push(Node {
                name: format!("relu{k}"),
                op: Op::Relu,
                input,
                shape: vec![rows],
            });
        }
    }
    Network::new(nodes).unwrap()
}

/// `y = relu(x0 + x1) + relu(x0 − x1)`: over `[0,1]²` the exact range is `[0, 2]`, interval
/// bounds give `[0, 3]` (hidden bounds `[0,2]` and `[0,1]`).
pub fn vee() -> Network {
    mlp(
        2,
        &[
            (vec![vec![1.0, 1.0], vec![1.0, -1.0]], vec![0.0, 0.0], true),
            (vec![vec![1.0, 1.0]], vec![0.0], false),
        ],
    )
}

/// A random chain `Affine, act, Affine, act, ..., Affine` (weights in [−1, 1],
/// biases in [−½, ½]); hidden layer `k` is followed by `acts[k % acts.len()]`.
pub fn random_net(
    rng: &mut Rng,
    n_in: usize,
    hidden: &[usize],
    n_out: usize,
    acts: &[Op],
) -> Network {
    let mut nodes = vec![Node {
        name: "x".into(),
        op: Op::Input,
        input: None,
        shape: vec![n_in],
    }];
    let mut width = n_in;
    let widths: Vec<usize> = hidden.iter().copied().chain([n_out]).collect();
    for (k, &rows) in widths.iter().enumerate() {
        let weight = Array2::from_shape_fn((rows, width), |_| rng.uniform() * 2.0 - 1.0);
        let bias = Array1::from_shape_fn(rows, |_| rng.uniform() - 0.5);
        nodes.push(Node {
            name: format!("fc{k}"),
            op: Op::Affine(Affine { weight, bias }),
            input: Some(NodeId(nodes.len() - 1)),
            shape: vec![rows],
        });
        if k < hidden.len() {
            nodes.push(Node {
                name: format!("act{k}"),
                op: acts[k % acts.len()].clone(),
                input: Some(NodeId(nodes.len() - 1)),
                shape: vec![rows],
            });
        }
        width = rows;
    }
    Network::new(nodes).unwrap()
}

/// Runs the `certus` binary from the crate root.
pub fn certus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certus"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run certus")
}
