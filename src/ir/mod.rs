//! The network IR every engine shares: a flat list of nodes over a small, closed set of ops.
//!
//! Importers (ONNX, `.nnet`) lower everything into these ops; nothing below the importers knows
//! about file formats. Every engine is one forward loop (evaluation, interval bounds, ...) or
//! one backward loop (gradients, the dual network) over [`Network::nodes`], with one exhaustive
//! `match` on [`Op`]: adding an op makes the compiler list every engine that must learn it.

mod conv;
mod conv_rows;
mod eval;

pub use conv::Conv2d;
pub use conv_rows::ConvRows;
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

/// Softmax along one axis: the flattened value is read as `[outer, len, inner]` (row-major) and
/// `y[o, a, i] = e^{x[o, a, i]} / Σ_b e^{x[o, b, i]}` within each *group* `{(o, b, i): b}`.
/// ONNX opset 13 and later give the axis's length and the product of the later axes; opsets
/// before 13 flatten the axis and everything after it into one group (`inner = 1`).
#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    /// Elements of one group (the axis's length).
    pub len: usize,
    /// Distance between consecutive elements of a group (the product of the later axes).
    pub inner: usize,
}

impl Softmax {
    /// The groups of a value of `n` elements, each as its flattened indices in axis order.
    pub fn groups(&self, n: usize) -> impl Iterator<Item = Vec<usize>> + '_ {
        let block = self.len * self.inner;
        (0..n / block.max(1)).flat_map(move |o| {
            (0..self.inner).map(move |i| {
                (0..self.len)
                    .map(|a| (o * self.len + a) * self.inner + i)
                    .collect()
            })
        })
    }
}

/// `sign(x)`: −1 for `x < 0`, 0 for `x = 0` (either zero), 1 for `x > 0`; NaN stays NaN (ONNX
/// `Sign`; Rust's `signum` differs at 0).
pub fn sign<T: Scalar>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        T::zero() - T::one()
    } else {
        x
    }
}

/// The closed set of core ops. Each op's arity and sizes are checked by [`Network::new`].
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// The network input; only node 0 is an `Input`, and it has no inputs.
    Input,
    /// Fully connected layer on the flattened input (ONNX `Gemm`, `MatMul` + `Add`, `.nnet`
    /// layers, folded BatchNorm). One input.
    Affine(Affine),
    /// 2-D convolution on a `[C, H, W]` (or `[1, C, H, W]`) input. One input.
    Conv(Conv2d),
    /// Element-wise affine map. One input.
    ScaleShift(ScaleShift),
    /// Changes the shape only; the row-major data order is unchanged (Flatten, Reshape,
    /// Squeeze, Unsqueeze, no-op Transpose, Identity). One input.
    Reshape,
    /// `max(0, x)`, element-wise. One input.
    Relu,
    /// `1 / (1 + e^-x)` ([`Scalar::sigmoid`]), element-wise. One input.
    Sigmoid,
    /// `tanh(x)`, element-wise. One input.
    Tanh,
    /// [`sign`]`(x)` (−1, 0, 1), element-wise (ONNX `Sign`). One input.
    Sign,
    /// `x²`, element-wise (ONNX `Pow` with exponent 2, `Mul` of a value by itself). One input.
    Square,
    /// `y_e = a_e·b_e`: the element-wise product of two inputs with the same element count
    /// (ONNX `Mul` of two computed tensors; broadcasting is a [`Op::Gather`] before it).
    Mul,
    /// [`Softmax`] along one axis (ONNX `Softmax`). One input.
    Softmax(Softmax),
    /// `y_e = Σ_p x_p[e]`: the element-wise sum of two or more inputs with the same element
    /// count (flattened), summed in input order (ONNX `Add` of two computed tensors, residual
    /// joins; `Sub` is an `Add` of the first and a `ScaleShift(−1, 0)` of the second).
    Add,
    /// The flattened inputs appended in order: `y = [x_1; x_2; ...]`, one or more inputs
    /// (ONNX `Concat` along the outermost non-trivial axis; other axes add a [`Op::Gather`]).
    Concat,
    /// `y_e = x[index_e]` on the flattened input, one input: any selection, permutation or
    /// repetition of its elements (ONNX `Transpose` that moves data, `Concat` on inner axes,
    /// broadcasting by repetition). Every index is below the input's element count.
    Gather {
        /// Source element of each output element.
        index: Vec<usize>,
    },
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
            Op::Sign => "Sign",
            Op::Square => "Square",
            Op::Mul => "Mul",
            Op::Softmax(_) => "Softmax",
            Op::Add => "Add",
            Op::Concat => "Concat",
            Op::Gather { .. } => "Gather",
        }
    }

    /// True for the nonlinear ops (ReLU, sigmoid, tanh, sign, square, product, softmax): the
    /// bound engines relax them over their inputs' bounds, so those bounds matter.
    pub fn is_activation(&self) -> bool {
        match self {
            Op::Relu | Op::Sigmoid | Op::Tanh | Op::Sign | Op::Square | Op::Mul => true,
            Op::Softmax(_) => true,
            Op::Input | Op::Affine(_) | Op::Conv(_) | Op::ScaleShift(_) | Op::Reshape => false,
            Op::Add | Op::Concat | Op::Gather { .. } => false,
        }
    }

    /// The number of inputs the op takes: `(min, max)`.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Op::Input => (0, 0),
            Op::Affine(_)
            | Op::Conv(_)
            | Op::ScaleShift(_)
            | Op::Reshape
            | Op::Relu
            | Op::Sigmoid
            | Op::Tanh
            | Op::Sign
            | Op::Square
            | Op::Softmax(_)
            | Op::Gather { .. } => (1, 1),
            Op::Mul => (2, 2),
            Op::Add => (2, usize::MAX),
            Op::Concat => (1, usize::MAX),
        }
    }
}

/// One node: an op applied to the values of earlier nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Name from the source file (ONNX node or output name, `.nnet` layer), for messages.
    pub name: String,
    pub op: Op,
    /// The nodes whose values this op consumes, in the op's order; empty only for
    /// [`Op::Input`]. A node may appear more than once (`Add(x, x)`).
    pub inputs: Vec<NodeId>,
    /// Shape of this node's output.
    pub shape: Shape,
}

impl Node {
    /// The one input of a single-input op (every op but `Input`, `Add`, `Mul` and `Concat`).
    ///
    /// # Panics
    /// If the node does not have exactly one input ([`Network::new`] checks the arity, so only
    /// a call on the wrong op reaches the panic).
    pub fn input(&self) -> NodeId {
        match self.inputs.as_slice() {
            [one] => *one,
            _ => panic!(
                "node `{}` ({}) has {} inputs, not one",
                self.name,
                self.op.name(),
                self.inputs.len()
            ),
        }
    }
}

/// A feed-forward network: a DAG of nodes stored in topological order.
///
/// Invariants (checked by [`Network::new`]):
/// - `nodes[0]` is the only [`Op::Input`] and has no inputs; every input `j` of node `i > 0` is
///   an earlier node, `j < i` (topological order), and the network output is the last node. A
///   node may feed several nodes (a residual block's shortcut feeds the block and the join);
/// - each node has the number of inputs its op takes ([`Op::arity`]), and shapes are known and
///   consistent: each op's parameters fit its inputs' element counts (an `Affine` of `in`
///   columns reads a node of `in` elements, a `Reshape` keeps the count, an `Add` sums inputs of
///   its own count, a `Concat` has the sum of its inputs' counts);
/// - weights are `f64` holding the imported values exactly. ONNX float32 weights are widened
///   exactly, so `w as f32` recovers the original; weights created by folding (BatchNorm,
///   Gemm `alpha`, a `Div` as a multiplication) are computed in f64 and are the folded values.
///
/// Example: `x -> Gemm(W1,b1) -> Relu -> Gemm(W2,b2)` is
/// `[Input, Affine(W1,b1)(0), Relu(1), Affine(W2,b2)(2)]`; the residual `r = relu(W1 x + b1)`,
/// `y = r + (W2 r + b2)` is `[Input, Affine(W1,b1)(0), Relu(1), Affine(W2,b2)(2), Add(2, 3)]`,
/// where node 2 has two consumers.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    nodes: Vec<Node>,
    /// `consumers[j]`: the nodes reading node `j`, in order, once per input slot that reads it.
    consumers: Vec<Vec<NodeId>>,
    /// `sign_widening[i]` (empty for most nodes): for a `Sign` node, how far (element-wise) the
    /// value the step is taken of may be from its input's value in the semantics proofs use
    /// (see [`Network::set_sign_widening`]). Not part of the function the network computes.
    sign_widening: Vec<Vec<f64>>,
}

impl Network {
    /// Builds a network, checking the invariants above.
    pub fn new(nodes: Vec<Node>) -> Result<Self, String> {
        let mut consumers = vec![Vec::new(); nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for &NodeId(j) in &n.inputs {
                if j < i {
                    consumers[j].push(NodeId(i));
                }
            }
        }
        let sign_widening = vec![Vec::new(); nodes.len()];
        let net = Network {
            nodes,
            consumers,
            sign_widening,
        };
        net.check()?;
        Ok(net)
    }

    /// Makes every engine bound the `Sign` node `i` as `sign(t)` for any `t` within `w[k]` of its
    /// input's element `k` (the step of a value that may differ from the input by `w`, e.g. an
    /// f32 evaluation's error there; see `bounds::f32_error::proof_network`), instead of
    /// `sign(z)`. Evaluation is unchanged: this is a looser semantics for proofs only.
    ///
    /// # Panics
    /// If node `i` is not a `Sign` or `w` is not one value per element.
    pub fn set_sign_widening(&mut self, i: usize, w: Vec<f64>) {
        assert!(
            matches!(self.nodes[i].op, Op::Sign),
            "node {i} is not a Sign"
        );
        assert_eq!(
            w.len(),
            numel(&self.nodes[i].shape),
            "one widening per element"
        );
        self.sign_widening[i] = w;
    }

    /// The widening of `Sign` node `i` set by [`Network::set_sign_widening`], if any.
    pub fn sign_widening(&self, i: usize) -> Option<&[f64]> {
        Some(self.sign_widening[i].as_slice()).filter(|w| !w.is_empty())
    }

    /// All nodes, in topological order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The nodes that read node `id`'s value, in order (a node reading it twice is listed
    /// twice).
    pub fn consumers(&self, id: NodeId) -> &[NodeId] {
        &self.consumers[id.0]
    }

    /// `anc[i]`: node `k`'s value depends on node `i` (node `k` included). The engines visit only
    /// these nodes when they bound or encode node `k`.
    pub fn ancestors(&self, k: NodeId) -> Vec<bool> {
        let mut anc = vec![false; self.nodes.len()];
        anc[k.0] = true;
        for i in (0..=k.0).rev() {
            if anc[i] {
                for &NodeId(j) in &self.nodes[i].inputs {
                    anc[j] = true;
                }
            }
        }
        anc
    }

    /// True when every node reads at most one node: the output's ancestors then form a single
    /// chain (what layer-by-layer methods such as DLV need).
    pub fn is_chain(&self) -> bool {
        self.nodes.iter().all(|n| n.inputs.len() <= 1)
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

    /// Number of neurons of the nonlinear ops ([`Op::is_activation`]).
    pub fn activation_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.op.is_activation())
            .map(|n| numel(&n.shape))
            .sum()
    }

    fn check(&self) -> Result<(), String> {
        let first = self.nodes.first().ok_or("network has no nodes")?;
        if first.op != Op::Input || !first.inputs.is_empty() {
            return Err("node 0 must be the input".into());
        }
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            let at = |msg: String| format!("node {i} `{}` ({}): {msg}", node.name, node.op.name());
            if let Some(&NodeId(j)) = node.inputs.iter().find(|&&NodeId(j)| j >= i) {
                return Err(at(format!(
                    "input {j} is not an earlier node (nodes must be in topological order)"
                )));
            }
            let (min, max) = node.op.arity();
            let n = node.inputs.len();
            if n < min || n > max {
                let want = match (min, max) {
                    (0, 0) => return Err(at("only node 0 may be an input".into())),
                    (a, b) if a == b => format!("{a}"),
                    (a, _) => format!("at least {a}"),
                };
                return Err(at(format!("takes {want} inputs, has {n}")));
            }
            let sizes: Vec<usize> = node
                .inputs
                .iter()
                .map(|&NodeId(j)| numel(&self.nodes[j].shape))
                .collect();
            let n_in = sizes[0];
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
                Op::Reshape | Op::Relu | Op::Sigmoid | Op::Tanh | Op::Sign | Op::Square => {
                    (n_in, n_in)
                }
                Op::Softmax(sm) => {
                    let block = sm.len.checked_mul(sm.inner).filter(|&b| b > 0);
                    if block.is_none_or(|b| !n_in.is_multiple_of(b)) {
                        return Err(at(format!(
                            "softmax groups of {} elements {} apart do not tile {n_in} elements",
                            sm.len, sm.inner
                        )));
                    }
                    (n_in, n_in)
                }
                Op::Add | Op::Mul => {
                    if let Some(&other) = sizes.iter().find(|&&s| s != n_in) {
                        return Err(at(format!(
                            "its inputs have different element counts ({n_in} and {other})"
                        )));
                    }
                    (n_in, n_in)
                }
                Op::Concat => (n_in, sizes.iter().sum()),
                Op::Gather { index } => {
                    if let Some(&bad) = index.iter().find(|&&e| e >= n_in) {
                        return Err(at(format!(
                            "index {bad} is out of range for an input of {n_in} elements"
                        )));
                    }
                    (n_in, index.len())
                }
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
