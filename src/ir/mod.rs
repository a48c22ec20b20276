//! The network IR every engine shares: a flat list of nodes over a small, closed set of ops.
//!
//! Importers (ONNX, `.nnet`) lower everything into these ops; nothing below the importers knows
//! about file formats. Every engine is one forward loop (evaluation, interval bounds, ...) or
//! one backward loop (gradients, the dual network) over [`Network::nodes`], with one exhaustive
//! `match` on [`Op`]: adding an op makes the compiler list every engine that must learn it.

mod conv;
mod eval;

pub use conv::Conv2d;
pub use eval::Scalar;

use ndarray::{Array1, Array2};

/// Index of a node in [`Network::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// A tensor shape (batch dimension included when the model has one, always 1).
pub type Shape = Vec<usize>;

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// A fully connected layer on the flattened (row-major) input: `y = W·x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    /// `out × in`.
    pub weight: Array2<f64>,
    /// Length `out`.
    pub bias: Array1<f64>,
}

/// An element-wise affine map `y_i = scale_i · x_i + shift_i` (input normalisation,
/// constant `Add`/`Sub`/`Mul`/`Div`, `Neg`). Both vectors have the node's full length.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleShift {
    pub scale: Array1<f64>,
    pub shift: Array1<f64>,
}

/// The closed set of core ops.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// The network input; only node 0 is an `Input`.
    Input,
    /// Fully connected layer (ONNX `Gemm`, `MatMul` + `Add`, `.nnet` layers, folded BatchNorm).
    Affine(Affine),
    /// 2-D convolution on a `[C, H, W]` (or `[1, C, H, W]`) input.
    Conv(Conv2d),
    /// Element-wise affine map.
    ScaleShift(ScaleShift),
    /// Changes the shape only; the row-major data order is unchanged (Flatten, Reshape,
    /// Squeeze, Unsqueeze, no-op Transpose, Identity).
    Reshape,
    /// `max(0, x)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

impl Op {
    /// Short name used by `certus inspect`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "Input",
            Op::Affine(_) => "Affine",
            Op::Conv(_) => "Conv",
            Op::ScaleShift(_) => "ScaleShift",
            Op::Reshape => "Reshape",
            Op::Relu => "Relu",
            Op::Sigmoid => "Sigmoid",
            Op::Tanh => "Tanh",
        }
    }

    /// True for the element-wise nonlinearities.
    pub fn is_activation(&self) -> bool {
        matches!(self, Op::Relu | Op::Sigmoid | Op::Tanh)
    }
}

/// One node: an op applied to the value of an earlier node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Name from the source file (ONNX node or output name, `.nnet` layer), for messages.
    pub name: String,
    pub op: Op,
    /// The node whose value this op consumes; `None` only for [`Op::Input`].
    pub input: Option<NodeId>,
    /// Shape of this node's output.
    pub shape: Shape,
}

/// A feed-forward network.
///
/// Invariants (checked by [`Network::new`]):
/// - `nodes[0]` is the only [`Op::Input`]; every other node has `input: Some(j)` with `j < i`
///   (topological order), and the network output is the last node;
/// - shapes are known and consistent: each op's parameters fit its input's element count
///   (an `Affine` of `in` columns reads a node of `in` elements, a `Reshape` keeps the count);
/// - weights are `f64` holding the imported values exactly. ONNX float32 weights are widened
///   exactly, so `w as f32` recovers the original; weights created by folding (BatchNorm,
///   Gemm `alpha`, a `Div` as a multiplication) are computed in f64 and are the folded values.
///
/// Example: `x -> Gemm(W1,b1) -> Relu -> Gemm(W2,b2)` is
/// `[Input, Affine(W1,b1)(0), Relu(1), Affine(W2,b2)(2)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    nodes: Vec<Node>,
    weights_f32: F32Weights,
}

/// f32 copies of the affine weights, one slot per node, each made on first use and kept with the
/// network (every bound computation on it shares them). A cache of `nodes`: two networks with
/// equal nodes are equal whatever it holds.
#[derive(Clone, Default)]
struct F32Weights(Vec<std::sync::OnceLock<Array2<f32>>>);

impl PartialEq for F32Weights {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for F32Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("F32Weights")
    }
}

impl Network {
    /// Builds a network, checking the invariants above.
    pub fn new(nodes: Vec<Node>) -> Result<Self, String> {
        let weights_f32 = F32Weights(nodes.iter().map(|_| Default::default()).collect());
        let net = Network { nodes, weights_f32 };
        net.check()?;
        Ok(net)
    }

    /// Affine node `i`'s weights rounded to f32 (computed on first use, then cached).
    ///
    /// # Panics
    /// If node `i` is not [`Op::Affine`].
    pub fn weight_f32(&self, i: usize) -> &Array2<f32> {
        self.weights_f32.0[i].get_or_init(|| match &self.nodes[i].op {
            Op::Affine(a) => a.weight.mapv(|v| v as f32),
            op => panic!("node {i} is {}, not an affine layer", op.name()),
        })
    }

    /// All nodes, in topological order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Shape of the network input.
    pub fn input_shape(&self) -> &[usize] {
        &self.nodes[0].shape
    }

    /// Shape of the network output.
    pub fn output_shape(&self) -> &[usize] {
        &self.nodes[self.nodes.len() - 1].shape
    }

    /// Flattened input size.
    pub fn input_len(&self) -> usize {
        numel(self.input_shape())
    }

    /// Flattened output size.
    pub fn output_len(&self) -> usize {
        numel(self.output_shape())
    }

    /// Flattened size of node `i`'s value.
    pub fn len_of(&self, id: NodeId) -> usize {
        numel(&self.nodes[id.0].shape)
    }

    /// Number of activation (ReLU, sigmoid, tanh) neurons.
    pub fn activation_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.op.is_activation())
            .map(|n| numel(&n.shape))
            .sum()
    }

    fn check(&self) -> Result<(), String> {
        let first = self.nodes.first().ok_or("network has no nodes")?;
        if first.op != Op::Input || first.input.is_some() {
            return Err("node 0 must be the input".into());
        }
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            let at = |msg: String| format!("node {i} `{}` ({}): {msg}", node.name, node.op.name());
            let src = match node.input {
                Some(NodeId(j)) if j < i => j,
                _ => return Err(at("input must be an earlier node".into())),
            };
            let n_in = numel(&self.nodes[src].shape);
            let n_out = numel(&node.shape);
            let (want_in, want_out) = match &node.op {
                Op::Input => return Err(at("only node 0 may be an input".into())),
                Op::Affine(a) => {
                    if a.bias.len() != a.weight.nrows() {
                        return Err(at("bias length differs from the weight's rows".into()));
                    }
                    (a.weight.ncols(), a.weight.nrows())
                }
                Op::Conv(c) => (c.in_len(), c.out_len()),
                Op::ScaleShift(s) => {
                    if s.scale.len() != s.shift.len() {
                        return Err(at("scale and shift lengths differ".into()));
                    }
                    (s.scale.len(), s.scale.len())
                }
                Op::Reshape | Op::Relu | Op::Sigmoid | Op::Tanh => (n_in, n_in),
            };
            if want_in != n_in || want_out != n_out {
                return Err(at(format!(
                    "expects {want_in} inputs and {want_out} outputs, but its input has {n_in} \
                     elements and its shape {:?} has {n_out}",
                    node.shape
                )));
            }
        }
        Ok(())
    }
}
