//! The graph walk: ONNX nodes in topological order, every tensor name bound to a constant or
//! to a live IR value, each node lowered by its op family ([`super::shape`],
//! [`super::elementwise`], [`super::linear`]).
//!
//! Problems are collected, not returned at the first one: a model that uses three unsupported
//! ops fails once, listing all three. A node that fails poisons its outputs, and nodes fed by a
//! poisoned value are skipped silently (their cause is already listed), except that every
//! unsupported op is listed whatever its inputs.

use super::proto::{DimensionValue, GraphProto, ModelProto, NodeProto, TypeValue, ValueInfoProto};
use super::tensor::{self, checked_numel, Attrs};
use super::values::{Builder, Cx, Live, Value};
use super::{conv, elementwise, linear, nonlinear, piecewise, plumb, select, shape};
use crate::ir::{numel, Network, Node, NodeId, Op, Shape};
use std::collections::{BTreeSet, HashMap};

/// Ops the importer lowers (default ONNX domain).
pub(super) const SUPPORTED: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Equal",
    "Expand",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "Greater",
    "Identity",
    "LeakyRelu",
    "Less",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "Pad",
    "Pow",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Sign",
    "Slice",
    "Softmax",
    "Split",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Upsample",
    "Where",
];

/// Lowers one node of a supported op.
fn dispatch(b: &mut Builder, op: &str, cx: &Cx) -> Result<Value, String> {
    match op {
        "Identity" | "Dropout" => shape::identity(cx),
        "Constant" => shape::constant(cx),
        "Cast" => shape::cast(cx),
        "Shape" => shape::shape_of(cx),
        "Gather" if matches!(cx.opt(0), Some(Value::Live(_))) => select::gather_live(b, cx),
        "Gather" => shape::gather(cx),
        "Slice" => select::slice(b, cx),
        "Pad" => select::pad(b, cx),
        "ReduceSum" | "ReduceMean" | "GlobalAveragePool" => select::reduce(b, op, cx),
        "AveragePool" => select::average_pool(b, cx),
        "Clip" => piecewise::clip(b, cx),
        "LeakyRelu" => piecewise::leaky_relu(b, cx),
        "Max" | "Min" => piecewise::max_min(b, op, cx),
        "MaxPool" => piecewise::max_pool(b, cx),
        "Equal" | "Greater" | "Less" | "Not" => plumb::compare(op, cx),
        "ConstantOfShape" => plumb::constant_of_shape(cx),
        "Expand" => plumb::expand(b, cx),
        "Where" => plumb::where_(b, cx),
        "Resize" | "Upsample" => plumb::resize(b, op, cx),
        "Concat" => shape::concat(b, cx),
        "Flatten" => shape::flatten(cx),
        "Reshape" => shape::reshape(cx),
        "Squeeze" => shape::squeeze(cx),
        "Unsqueeze" => shape::unsqueeze(cx),
        "Transpose" => shape::transpose(b, cx),
        "Mul" if both_live(cx) => nonlinear::mul_live(b, cx),
        "Add" | "Sub" | "Mul" | "Div" => elementwise::binary(b, op, cx),
        "Neg" => elementwise::neg(b, cx),
        "Relu" | "Sigmoid" | "Tanh" | "Sign" => elementwise::activation(b, op, cx),
        "Pow" => nonlinear::pow(b, cx),
        "Softmax" => nonlinear::softmax(b, cx),
        "BatchNormalization" => elementwise::batch_norm(b, cx),
        "Gemm" => linear::gemm(b, cx),
        "MatMul" => linear::matmul(b, cx),
        "Conv" => conv::conv(b, cx),
        "ConvTranspose" => conv::conv_transpose(b, cx),
        _ => Err("unsupported op".into()),
    }
}

/// True when the first two inputs are both computed values.
fn both_live(cx: &Cx) -> bool {
    matches!(
        (cx.opt(0), cx.opt(1)),
        (Some(Value::Live(_)), Some(Value::Live(_)))
    )
}

/// A tensor name's binding; `Failed` poisons the nodes that read it.
enum Slot {
    Value(Value),
    Failed,
}

/// The graph's interface as lowered: each graph input and output (and each tapped tensor) with
/// its shape, in order. The network's input is the graph inputs flattened and concatenated;
/// its output the graph outputs, then the taps, flattened and concatenated (a single output
/// keeps its own shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub inputs: Vec<(String, Vec<usize>)>,
    pub outputs: Vec<(String, Vec<usize>)>,
    pub taps: Vec<(String, Vec<usize>)>,
}

/// Lowers a decoded model into a network.
pub(super) fn lower_model(model: &ModelProto) -> Result<Network, String> {
    lower_model_with(model, &[]).map(|(net, _)| net)
}

/// Lowers a decoded model, also exposing the tensors named in `taps` (ONNX node outputs) as
/// outputs after the graph's own.
pub(super) fn lower_model_with(
    model: &ModelProto,
    taps: &[&str],
) -> Result<(Network, Interface), String> {
    let graph = model
        .graph
        .as_ref()
        .ok_or("not an ONNX model: the file holds no graph")?;
    let Some(opset) = (model.opset_import.iter())
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
    else {
        return Err(
            "not a valid ONNX model: it imports no version of the standard operator \
                    set (the file may be truncated)"
                .into(),
        );
    };
    // Operator semantics change between opsets: read only the versions whose forms the
    // importer implements (a model of a newer opset may mean something else by an op).
    let (lo, hi) = super::OPSETS;
    for o in (model.opset_import.iter()).filter(|o| o.domain.is_empty() || o.domain == "ai.onnx") {
        if !(lo..=hi).contains(&o.version) {
            return Err(format!(
                "the model uses version {} of the standard operator set; certus reads versions \
                 {lo} to {hi} (`certus supports --onnx-opset-versions`)",
                o.version
            ));
        }
    }
    // Every tensor has one producer (ONNX graphs are in single-assignment form): a name
    // written twice would make the graph's meaning depend on which write the importer saw.
    let mut producer: HashMap<&str, String> = HashMap::new();
    let produced = (graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), "an initializer".into())))
    .chain(graph.node.iter().enumerate().flat_map(|(i, n)| {
        (n.output.iter().filter(|o| !o.is_empty()))
            .map(move |o| (o.as_str(), format!("node `{}`", node_label(n, i))))
    }));
    for (name, by) in produced {
        if let Some(first) = producer.insert(name, by.clone()) {
            return Err(format!(
                "tensor `{name}` is written twice (by {first} and by {by}); an ONNX graph \
                 assigns every tensor once"
            ));
        }
    }
    let mut errors: Vec<String> = Vec::new();
    let mut values: HashMap<&str, Slot> = HashMap::new();
    for t in &graph.initializer {
        let slot = match tensor::decode(t) {
            Ok(c) => Slot::Value(Value::Const(c)),
            Err(e) => {
                errors.push(format!("initializer {e}"));
                Slot::Failed
            }
        };
        values.insert(&t.name, slot);
    }

    // Older IR versions list the initializers among the graph inputs: skip those.
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !values.contains_key(i.name.as_str()))
        .collect();
    if inputs.is_empty() {
        return Err("the graph has no input (all its inputs are initializers)".into());
    }
    // Several graph inputs are one flat input, each read back through a `Gather` of its part.
    let mut shapes = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let shape = declared_shape(input)?
            .ok_or_else(|| format!("graph input `{}` has no tensor shape", input.name))?;
        checked_numel(&shape)?;
        shapes.push(shape);
    }
    let total = shapes
        .iter()
        .map(|s| numel(s))
        .try_fold(0usize, usize::checked_add);
    let total = total.ok_or("the graph inputs are too large")?;
    checked_numel(&[total])?;
    let (first_name, first_shape) = match inputs.as_slice() {
        [one] => (one.name.clone(), shapes[0].clone()),
        _ => ("inputs".to_string(), vec![total]),
    };
    let mut b = Builder::new(Node {
        name: first_name,
        op: Op::Input,
        inputs: vec![],
        shape: first_shape,
    });
    let mut off = 0;
    for (input, shape) in inputs.iter().zip(&shapes) {
        let n = numel(shape);
        let live = if inputs.len() == 1 {
            Live {
                id: NodeId(0),
                shape: shape.clone(),
                exclusive: false,
            }
        } else {
            let index = (off..off + n).collect();
            let mut live = b.push_inputs(
                &input.name,
                Op::Gather { index },
                vec![NodeId(0)],
                shape.clone(),
            );
            live.exclusive = false;
            live
        };
        off += n;
        values.insert(&input.name, Slot::Value(Value::Live(live)));
    }
    let interface_inputs: Vec<(String, Vec<usize>)> = (inputs.iter().zip(&shapes))
        .map(|(i, s)| (i.name.clone(), s.clone()))
        .collect();

    // Readers of each tensor name. `Shape` reads no data, so it does not keep a `Conv` from
    // absorbing the `BatchNormalization` after it in `x.view(x.size(0), -1)` exports.
    let mut uses: HashMap<&str, usize> = HashMap::new();
    let read = graph
        .node
        .iter()
        .filter(|n| n.op_type != "Shape")
        .flat_map(|n| &n.input);
    for name in read.chain(graph.output.iter().map(|o| &o.name)) {
        *uses.entry(name.as_str()).or_default() += 1;
    }
    // A tapped tensor is read once more, so no later op is folded into the node computing it.
    for &name in taps {
        *uses.entry(name).or_default() += 1;
    }
    let uses_of = |name: &str| uses.get(name).copied().unwrap_or(0);

    for i in topological_order(graph) {
        let node = &graph.node[i];
        let label = node_label(node, i);
        let result = match lower_node(&mut b, node, &label, opset, &values, &producer, &uses_of) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(None), // fed by a failed node: already reported
            Err(e) => Err(Some(e)),
        };
        match result {
            Ok(outputs) => {
                for (out, mut v) in node.output.iter().zip(outputs) {
                    if out.is_empty() {
                        continue;
                    }
                    if let Value::Live(x) = &mut v {
                        x.exclusive &= uses_of(out) == 1;
                    }
                    values.insert(out, Slot::Value(v));
                }
            }
            Err(e) => {
                if let Some(e) = e {
                    errors.push(format!("{label} ({}): {e}", node.op_type));
                }
                for o in &node.output {
                    values.insert(o, Slot::Failed);
                }
            }
        }
    }
    if !errors.is_empty() {
        let s = if errors.len() == 1 { "" } else { "s" };
        return Err(format!(
            "cannot import the model ({} problem{s}): {}",
            errors.len(),
            errors.join("; ")
        ));
    }
    let (nodes, outputs, taps) = finish(b, graph, &values, taps)?;
    let net =
        Network::new(nodes).map_err(|e| format!("the lowered network is inconsistent: {e}"))?;
    let interface = Interface {
        inputs: interface_inputs,
        outputs,
        taps,
    };
    Ok((net, interface))
}

/// Lowers one node into the values of its outputs (only `Split` has more than one); `Ok(None)`
/// when an input comes from a failed node.
fn lower_node(
    b: &mut Builder,
    node: &NodeProto,
    label: &str,
    opset: i64,
    values: &HashMap<&str, Slot>,
    producer: &HashMap<&str, String>,
    uses_of: &dyn Fn(&str) -> usize,
) -> Result<Option<Vec<Value>>, String> {
    let op = node.op_type.as_str();
    if !(node.domain.is_empty() || node.domain == "ai.onnx") {
        return Err(format!("unsupported op (custom domain `{}`)", node.domain));
    }
    if !SUPPORTED.contains(&op) {
        return Err("unsupported op".into());
    }
    if node.output.first().is_none_or(|o| o.is_empty()) {
        return Err("the node has no output".into());
    }
    if let Some(o) =
        (node.output[1..].iter()).find(|o| op != "Split" && !o.is_empty() && uses_of(o) > 0)
    {
        return Err(format!(
            "its extra output `{o}` is used; only the first output is supported"
        ));
    }
    let mut inputs = Vec::with_capacity(node.input.len());
    for name in &node.input {
        if name.is_empty() {
            inputs.push(None);
            continue;
        }
        match values.get(name.as_str()) {
            Some(Slot::Value(v)) => inputs.push(Some(v)),
            Some(Slot::Failed) => return Ok(None),
            // Nodes are lowered in topological order, nodes on or after a cycle last: a
            // producer not lowered yet is on a cycle or downstream of one.
            None => {
                return Err(match producer.get(name.as_str()) {
                    Some(by) => format!(
                        "input `{name}` is written later, by {by}, which is on a cycle or \
                         depends on one (an ONNX graph is acyclic)"
                    ),
                    None => format!(
                        "input `{name}` is not produced by any node, initializer or graph input"
                    ),
                })
            }
        }
    }
    let cx = Cx {
        name: label,
        opset,
        attrs: Attrs(&node.attribute),
        inputs,
    };
    if op == "Split" {
        return select::split(b, &cx, node.output.len()).map(Some);
    }
    dispatch(b, op, &cx).map(|v| Some(vec![v]))
}

/// Picks the graph outputs (and the taps), checks their declared sizes, appends a final
/// `Reshape` when a single output was reshaped after its last op or a `Concat` of several, and
/// drops nodes the output does not depend on. Returns the nodes and each part's shape.
#[allow(clippy::type_complexity)]
fn finish(
    mut b: Builder,
    graph: &GraphProto,
    values: &HashMap<&str, Slot>,
    taps: &[&str],
) -> Result<(Vec<Node>, Vec<(String, Shape)>, Vec<(String, Shape)>), String> {
    if graph.output.is_empty() {
        return Err("the graph declares no output".into());
    }
    let live = |name: &str, what: &str| match values.get(name) {
        Some(Slot::Value(Value::Live(x))) => Ok(x.clone()),
        Some(Slot::Value(Value::Const(_))) => Err(format!(
            "the {what} `{name}` is a constant: it does not depend on the input"
        )),
        _ => Err(format!("the {what} `{name}` is not produced by any node")),
    };
    let mut parts = Vec::new();
    let mut outputs = Vec::new();
    for out in &graph.output {
        let x = live(&out.name, "output")?;
        if let Some(declared) = declared_shape(out)? {
            if checked_numel(&declared)? != numel(&x.shape) {
                return Err(format!(
                    "the graph declares output `{}` with shape {declared:?}, but it computes shape {:?}",
                    out.name, x.shape
                ));
            }
        }
        outputs.push((out.name.clone(), x.shape.clone()));
        parts.push(x);
    }
    let mut tapped = Vec::new();
    for &name in taps {
        let x = live(name, "hidden node")?;
        tapped.push((name.to_string(), x.shape.clone()));
        parts.push(x);
    }
    let id = match parts.as_slice() {
        [x] if b.nodes[x.id.0].shape == x.shape => x.id,
        [x] => {
            let x = x.clone();
            b.push_inputs(&graph.output[0].name, Op::Reshape, vec![x.id], x.shape)
                .id
        }
        many => {
            let total = many.iter().map(|x| numel(&x.shape)).sum();
            let ids = many.iter().map(|x| x.id).collect();
            b.push_inputs("outputs", Op::Concat, ids, vec![total]).id
        }
    };
    let nodes = prune(b.nodes, id);
    if let Some(node) = nodes.iter().find(|n| !finite_params(&n.op)) {
        return Err(format!(
            "node `{}` ({}) has a NaN or infinite weight",
            node.name,
            node.op.name()
        ));
    }
    Ok((nodes, outputs, tapped))
}

/// True when every parameter of `op` is finite (a NaN weight would poison every bound).
fn finite_params(op: &Op) -> bool {
    fn all<'a>(v: impl IntoIterator<Item = &'a f64>) -> bool {
        v.into_iter().all(|w| w.is_finite())
    }
    match op {
        Op::Affine(a) => all(&a.weight) && all(&a.bias),
        Op::Conv(c) => all(&c.weight) && all(&c.bias),
        Op::ScaleShift(s) => all(&s.scale) && all(&s.shift),
        Op::Input | Op::Reshape | Op::Relu | Op::Sigmoid | Op::Tanh => true,
        Op::Add | Op::Concat | Op::Gather { .. } => true,
        Op::Sign | Op::Square | Op::Mul | Op::Softmax(_) => true,
    }
}

/// The nodes `out` depends on (the input and `out` included), renumbered in their order; the
/// rest (dead branches, and so every node after `out`) is dropped, so `out` is the last node.
fn prune(nodes: Vec<Node>, out: NodeId) -> Vec<Node> {
    let mut keep = vec![false; nodes.len()];
    keep[0] = true;
    keep[out.0] = true;
    for i in (0..=out.0).rev() {
        if keep[i] {
            for &NodeId(j) in &nodes[i].inputs {
                keep[j] = true;
            }
        }
    }
    let mut new_id = vec![0; nodes.len()];
    let mut kept = Vec::new();
    for (i, mut node) in nodes.into_iter().enumerate().take(out.0 + 1) {
        if keep[i] {
            new_id[i] = kept.len();
            node.inputs
                .iter_mut()
                .for_each(|j| *j = NodeId(new_id[j.0]));
            kept.push(node);
        }
    }
    kept
}

/// Node order: the file's order where it is already topological (the ONNX rule), otherwise
/// the earliest ready node first (Kahn). Nodes on a cycle come last and fail on their inputs.
fn topological_order(graph: &GraphProto) -> Vec<usize> {
    let n = graph.node.len();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.node.iter().enumerate() {
        for o in node.output.iter().filter(|o| !o.is_empty()) {
            producer.entry(o.as_str()).or_insert(i);
        }
    }
    let mut pending = vec![0usize; n];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.node.iter().enumerate() {
        for name in &node.input {
            if let Some(&p) = producer.get(name.as_str()) {
                if p != i {
                    pending[i] += 1;
                    consumers[p].push(i);
                }
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        done[i] = true;
        for &c in &consumers[i] {
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.insert(c);
            }
        }
    }
    order.extend((0..n).filter(|&i| !done[i]));
    order
}

/// A node's name for messages and IR nodes: its name, else its first output, else its index.
fn node_label(node: &NodeProto, i: usize) -> String {
    if !node.name.is_empty() {
        node.name.clone()
    } else if let Some(o) = node.output.iter().find(|o| !o.is_empty()) {
        o.clone()
    } else {
        format!("#{i}")
    }
}

/// The declared shape of a graph input or output, `None` if it declares none. Symbolic,
/// zero and unknown dimensions (a batch size) resolve to 1; a negative one is an error.
fn declared_shape(v: &ValueInfoProto) -> Result<Option<Shape>, String> {
    let Some(TypeValue::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Ok(None);
    };
    // UNDEFINED, FLOAT, FLOAT16, DOUBLE, BFLOAT16.
    if ![0, 1, 10, 11, 16].contains(&t.elem_type) {
        return Err(format!(
            "`{}` has element type {}; only floating-point values are supported",
            v.name,
            tensor::dtype_name(t.elem_type)
        ));
    }
    let Some(s) = t.shape.as_ref() else {
        return Ok(None);
    };
    s.dim
        .iter()
        .map(|d| match d.value {
            Some(DimensionValue::DimValue(n)) if n > 0 => {
                usize::try_from(n).map_err(|_| format!("`{}` has dimension {n}, too large", v.name))
            }
            Some(DimensionValue::DimValue(n)) if n < 0 => Err(format!(
                "`{}` has dimension {n} (a size is positive, or symbolic)",
                v.name
            )),
            _ => Ok(1),
        })
        .collect::<Result<Shape, String>>()
        .map(Some)
}
