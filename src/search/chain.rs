//! The fast path's form of a network: a chain of affine layers, each optionally followed by a
//! ReLU, with the matrices the batched kernels need prepared once.
//!
//! `Reshape` is dropped (it does not move data), `ScaleShift` becomes a diagonal affine layer
//! (`diag(s)·x + t` computes exactly `s_i·x_i + t_i`: the other products are exact zeros) and
//! `Gather` a 0/1 selection matrix (each row one exact product `1·x_j`), so the chain is the
//! same function as the IR, rounding for rounding. Anything else (convolutions, sigmoid/tanh,
//! `Add`/`Concat` joins, a ReLU on the input) is not a chain: the search then bounds through
//! [`crate::bounds::dual`] instead.

use crate::bounds::f32_error::affine_residual;
use crate::ir::{numel, Network, NodeId, Op};
use crate::tolerances::{gamma, F32_SUBNORMAL};
use ndarray::{Array1, Array2, ArrayView2, Axis};

/// One affine layer `z = W·h + b`, followed by `h' = relu(z)` when `relu`.
pub(crate) struct Layer {
    /// `out × in`.
    pub w: Array2<f64>,
    pub b: Array1<f64>,
    /// `|b|`, plus the underflow pad of an f32 layer (see [`Layer::new`]).
    pub b_abs: Array1<f64>,
    /// `|W|ᵀ` (`in × out`), for magnitudes and interval radii.
    pub w_abs_t: Array2<f64>,
    pub relu: bool,
    /// Higham's factor for a dot product over this layer's inputs plus the bias.
    pub gamma: f64,
    /// The same for a backward step's products over this layer's outputs (`λ·W`, `λ·b`).
    pub gamma_back: f64,
    /// `ρ`: an f32 evaluation of this layer (onnxruntime's, any order) at an f32 input `ĥ` is
    /// `W·ĥ + b + r` with `|r| <= ρ·(|W|·|ĥ| + |b|)` ([`affine_residual`]; 0 for a selection,
    /// which copies values exactly). Every bound of [`super::bound`] covers every such `r`.
    pub f32: f64,
}

impl Layer {
    /// The layer `W·h + b` with f32 residual factor `f32` (0: exact in f32).
    ///
    /// Underflow (`crate::bounds::f32_error`'s module doc) adds at most `2^-150` per weight
    /// times `|ĥ_j|`, per product and for the bias: with `w_min` the least nonzero `|w|`,
    /// `2^-150·|ĥ_j| <= (2^-150/w_min)·|w_kj|·|ĥ_j|` over the nonzero weights (a zero weight's
    /// product is an exact zero), so `ρ' = ρ + F32_SUBNORMAL/w_min`, and the `n + 1` constant
    /// roundings are folded into the bias magnitudes, `|b| + F32_SUBNORMAL·(n + 1)/ρ'`, so that
    /// `ρ'·(|W|·|ĥ| + |b|')` covers them. Both only enlarge what the kernels treat as upper
    /// bounds of magnitudes and residuals.
    fn new(w: Array2<f64>, b: Array1<f64>, f32: f64) -> Self {
        let (n_out, n_in) = w.dim();
        let wt = w.t();
        let (f32, pad) = match f32 > 0.0 {
            true => {
                let w_min = (w.iter().map(|v| v.abs()))
                    .filter(|&v| v > 0.0)
                    .fold(f64::INFINITY, f64::min);
                let rho = f32 + F32_SUBNORMAL / w_min;
                (rho, F32_SUBNORMAL * (n_in as f64 + 1.0) / rho)
            }
            false => (0.0, 0.0),
        };
        Layer {
            w_abs_t: wt.mapv(f64::abs),
            b_abs: b.mapv(|v| v.abs() + pad),
            w,
            b,
            relu: false,
            gamma: gamma(n_in + 1),
            gamma_back: gamma(n_out + 1),
            f32,
        }
    }

    pub fn n_in(&self) -> usize {
        self.w.ncols()
    }

    pub fn n_out(&self) -> usize {
        self.w.nrows()
    }
}

/// A network as a chain of [`Layer`]s; the output is the last layer's (post-ReLU when its
/// `relu` is set).
pub(crate) struct Chain {
    pub n_in: usize,
    pub layers: Vec<Layer>,
}

impl Chain {
    /// The chain form of `net`, or `None` when it is not a chain of affine layers and ReLUs
    /// (with reshapes and element-wise affine maps).
    pub fn from_network(net: &Network) -> Option<Chain> {
        let mut layers: Vec<Layer> = Vec::new();
        // Each node must read the one before it (a chain, not a DAG).
        for (i, node) in net.nodes().iter().enumerate().skip(1) {
            if node.inputs != [NodeId(i - 1)] {
                return None;
            }
            match &node.op {
                Op::Input
                | Op::Conv(_)
                | Op::Sigmoid
                | Op::Tanh
                | Op::Sign
                | Op::Square
                | Op::Mul
                | Op::Softmax(_)
                | Op::Add
                | Op::Concat => return None,
                Op::Reshape => {}
                Op::Gather { index } => {
                    let n_in = numel(&net.nodes()[i - 1].shape);
                    let mut w = Array2::zeros((index.len(), n_in));
                    for (e, &j) in index.iter().enumerate() {
                        w[[e, j]] = 1.0;
                    }
                    layers.push(Layer::new(w, Array1::zeros(index.len()), 0.0));
                }
                Op::Affine(a) => layers.push(Layer::new(
                    a.weight.clone(),
                    a.bias.clone(),
                    affine_residual(a.weight.ncols()),
                )),
                Op::ScaleShift(ss) => {
                    let w = Array2::from_diag(&ss.scale);
                    layers.push(Layer::new(w, ss.shift.clone(), affine_residual(1)));
                }
                Op::Relu => match layers.last_mut() {
                    // relu(relu(z)) = relu(z).
                    Some(l) => l.relu = true,
                    None => return None,
                },
            }
        }
        if layers.is_empty() {
            return None;
        }
        Some(Chain {
            n_in: net.input_len(),
            layers,
        })
    }

    /// Where each layer's intermediate bounds go in a domain's inherited bounds (`lo` then `hi`
    /// of every ReLU layer after the first, whose interval bounds are exact), and the total.
    pub fn inherit_layout(&self) -> (Vec<Option<usize>>, usize) {
        let mut at = 0;
        let offsets = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (i > 0 && l.relu).then(|| {
                    at += 2 * l.n_out();
                    at - 2 * l.n_out()
                })
            })
            .collect();
        (offsets, at)
    }

    /// The outputs (one row per input row) in f64: the network's f64 semantics, up to the
    /// summation order of the products (these values only pick candidates; every candidate is
    /// replayed by [`crate::outcome::confirm`]).
    pub fn eval_batch(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut h = x.to_owned();
        for layer in &self.layers {
            let mut z = h.dot(&layer.w.t());
            z += &layer.b.view().insert_axis(Axis(0));
            if layer.relu {
                z.mapv_inplace(|v| v.max(0.0));
            }
            h = z;
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::Rng;
    use crate::ir::{Affine, Node, ScaleShift};

    fn node(name: &str, op: Op, input: usize, n: usize) -> Node {
        Node {
            name: name.into(),
            op,
            inputs: vec![NodeId(input)],
            shape: vec![n],
        }
    }

    #[test]
    fn chain_evaluates_like_the_ir() {
        let mut rng = Rng::new(3);
        let mut m = |r: usize, c: usize| Array2::from_shape_fn((r, c), |_| rng.uniform() - 0.5);
        let (w1, w2) = (m(4, 3), m(2, 4));
        let nodes = vec![
            Node {
                name: "x".into(),
                op: Op::Input,
                inputs: vec![],
                shape: vec![3],
            },
            node(
                "ss",
                Op::ScaleShift(ScaleShift {
                    scale: Array1::from(vec![2.0, -1.0, 0.5]),
                    shift: Array1::from(vec![0.1, 0.0, -0.3]),
                }),
                0,
                3,
            ),
            node(
                "fc1",
                Op::Affine(Affine {
                    weight: w1,
                    bias: Array1::from(vec![0.1, -0.2, 0.3, 0.0]),
                }),
                1,
                4,
            ),
            node("r1", Op::Relu, 2, 4),
            node("flat", Op::Reshape, 3, 4),
            node(
                "fc2",
                Op::Affine(Affine {
                    weight: w2,
                    bias: Array1::from(vec![0.5, -0.5]),
                }),
                4,
                2,
            ),
        ];
        let net = Network::new(nodes).unwrap();
        let chain = Chain::from_network(&net).expect("a chain");
        assert_eq!(chain.layers.len(), 3);
        assert!(chain.layers[1].relu && !chain.layers[2].relu);
        let x = Array2::from_shape_fn((5, 3), |(i, j)| (i as f64 - 2.0) * 0.3 + j as f64 * 0.1);
        let y = chain.eval_batch(x.view());
        for (i, row) in x.rows().into_iter().enumerate() {
            let want = net.eval_f64(&row.to_vec());
            for (a, b) in want.iter().zip(y.row(i)) {
                assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
            }
        }
    }
}
