//! The importer's working state: what a tensor name stands for ([`Value`]), the IR nodes
//! emitted so far ([`Builder`]) and the node being lowered ([`Cx`]).

use super::tensor::{Attrs, Const};
use crate::ir::{Node, NodeId, Op, Shape};

/// A computed value: IR node `id`, seen with `shape`. Shape-only ops (Flatten, Reshape, ...)
/// emit no node: they rebind the name to the same `id` with a new shape, which is sound
/// because the IR's data is row-major and those ops keep the row-major order.
#[derive(Clone, Debug)]
pub(super) struct Live {
    pub id: NodeId,
    pub shape: Shape,
    /// True when this name is the only reader of node `id`'s value (every ONNX tensor on the
    /// way from the node to here has one consumer), so the node may be rewritten in place,
    /// e.g. a following `Add` folded into an `Affine` bias.
    pub exclusive: bool,
}

/// What an ONNX tensor name stands for.
#[derive(Clone, Debug)]
pub(super) enum Value {
    Const(Const),
    Live(Live),
}

impl Value {
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::Const(c) => c.shape(),
            Value::Live(x) => &x.shape,
        }
    }
}

/// The IR nodes emitted so far.
pub(super) struct Builder {
    pub nodes: Vec<Node>,
}

impl Builder {
    /// A network holding its input node.
    pub fn new(input: Node) -> Self {
        Builder { nodes: vec![input] }
    }

    /// Appends `op` reading `input`, returning its value.
    pub fn push(&mut self, name: &str, op: Op, input: &Live, shape: Shape) -> Value {
        Value::Live(self.push_inputs(name, op, vec![input.id], shape))
    }

    /// Appends `op` reading the nodes `inputs`, returning its value.
    pub fn push_inputs(&mut self, name: &str, op: Op, inputs: Vec<NodeId>, shape: Shape) -> Live {
        self.nodes.push(Node {
            name: name.to_string(),
            op,
            inputs,
            shape: shape.clone(),
        });
        Live {
            id: NodeId(self.nodes.len() - 1),
            shape,
            exclusive: true,
        }
    }

    /// The node computing `x`, if it may be rewritten in place: `x` is its only reader and it
    /// is the last node emitted (so nothing else was built on it).
    pub fn sole_last(&mut self, x: &Live) -> Option<&mut Node> {
        let last = self.nodes.len() - 1;
        if x.exclusive && x.id.0 == last && last > 0 {
            self.nodes.last_mut()
        } else {
            None
        }
    }
}

/// One ONNX node being lowered: the IR name for it, the opset, its attributes and input values
/// (`None` for an omitted optional input).
pub(super) struct Cx<'a> {
    pub name: &'a str,
    /// The model's version of the standard operator set (ops whose meaning changed, such as
    /// `Softmax` at 13, read it).
    pub opset: i64,
    pub attrs: Attrs<'a>,
    pub inputs: Vec<Option<&'a Value>>,
}

impl<'a> Cx<'a> {
    /// Checks the number of inputs.
    pub fn arity(&self, min: usize, max: usize) -> Result<(), String> {
        let n = self.inputs.len();
        if n < min || n > max {
            let want = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            let s = if max == 1 { "" } else { "s" };
            return Err(format!("expects {want} input{s}, has {n}"));
        }
        Ok(())
    }

    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<&'a Value, String> {
        self.opt(i).ok_or_else(|| format!("input {i} is missing"))
    }

    /// Input `i`, if present.
    pub fn opt(&self, i: usize) -> Option<&'a Value> {
        self.inputs.get(i).copied().flatten()
    }

    /// Input `i`, which must be a constant (`what` names it in the error).
    pub fn constant(&self, i: usize, what: &str) -> Result<&'a Const, String> {
        match self.input(i)? {
            Value::Const(c) => Ok(c),
            Value::Live(_) => Err(format!(
                "{what} (input {i}) must be a constant, but it is computed from the network input"
            )),
        }
    }

    /// Input `i`, which must be computed from the network input.
    pub fn live(&self, i: usize) -> Result<&'a Live, String> {
        match self.input(i)? {
            Value::Live(x) => Ok(x),
            Value::Const(_) => Err(format!(
                "input {i} is a constant; this op is only supported on computed values"
            )),
        }
    }
}
