//! The nonlinear ops with core ops of their own besides the activations: `Mul` of two computed
//! tensors (`Mul`, or `Square` when both are one value), `Pow` with exponent 2 (`Square`), and
//! `Softmax` (its axis as the IR's groups). `Sign` is an activation (`elementwise.rs`).

use super::join::broadcast_live;
use super::tensor::{self, broadcast, checked_numel, Const};
use super::values::{Builder, Cx, Value};
use crate::ir::{numel, Op, Softmax};
use ndarray::{IxDyn, Zip};

/// `Mul` of two computed values `x`, `y` (numpy broadcasting): `Square(x)` when they are the
/// same value with the same shape, else `Mul` of the two, each repeated by a `Gather` where
/// broadcasting enlarges it.
pub(super) fn mul_live(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(2, 2)?;
    let (x, y) = (cx.live(0)?, cx.live(1)?);
    if x.id == y.id && x.shape == y.shape {
        return Ok(b.push(cx.name, Op::Square, x, x.shape.clone()));
    }
    let shape = broadcast(&x.shape, &y.shape)?;
    checked_numel(&shape)?;
    let x = broadcast_live(b, cx.name, x, &shape);
    let y = broadcast_live(b, cx.name, y, &shape);
    Ok(Value::Live(b.push_inputs(
        cx.name,
        Op::Mul,
        vec![x.id, y.id],
        shape,
    )))
}

/// `Pow(x, p)`: a computed base with the constant exponent 2 (in every element) is its square
/// (after broadcasting the base where the exponent enlarges it); two constants fold; any other
/// exponent, or a computed one, is an error.
pub(super) fn pow(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(2, 2)?;
    match (cx.input(0)?, cx.input(1)?) {
        (Value::Const(p), Value::Const(q)) => {
            let shape = broadcast(p.shape(), q.shape())?;
            let (Some(pv), Some(qv)) = (
                p.data.broadcast(IxDyn(&shape)),
                q.data.broadcast(IxDyn(&shape)),
            ) else {
                return Err(format!(
                    "shapes {:?} and {:?} do not broadcast",
                    p.shape(),
                    q.shape()
                ));
            };
            let data = Zip::from(&pv).and(&qv).map_collect(|&a, &e| a.powf(e));
            Ok(Value::Const(Const { data, int: p.int }))
        }
        (Value::Live(x), Value::Const(e)) => {
            if let Some(bad) = e.data.iter().find(|&&v| v != 2.0) {
                return Err(format!(
                    "exponent {bad} is not supported (only 2: Pow of a computed value lowers to \
                     a square)"
                ));
            }
            let shape = broadcast(&x.shape, e.shape())?;
            checked_numel(&shape)?;
            let x = broadcast_live(b, cx.name, x, &shape);
            Ok(b.push(cx.name, Op::Square, &x, shape))
        }
        (_, Value::Live(_)) => Err(
            "the exponent (input 1) is computed from the network input; only a constant \
             exponent 2 is supported"
                .into(),
        ),
    }
}

/// `Softmax(x)`: from opset 13 along `axis` (default −1), i.e. groups of `dims[axis]` elements
/// `Π dims[axis + 1..]` apart; before opset 13 over the 2-D view `[Π dims[..axis],
/// Π dims[axis..]]` (default axis 1), i.e. groups of every element from `axis` on. Constants
/// fold.
pub(super) fn softmax(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let v = cx.input(0)?;
    let shape = v.shape().to_vec();
    let default = if cx.opset >= 13 { -1 } else { 1 };
    let a = tensor::axis(cx.attrs.int("axis", default), shape.len())?;
    let sm = if cx.opset >= 13 {
        Softmax {
            len: shape[a],
            inner: numel(&shape[a + 1..]),
        }
    } else {
        Softmax {
            len: numel(&shape[a..]),
            inner: 1,
        }
    };
    if sm.len == 0 {
        return Err(format!("the softmax axis of {shape:?} is empty"));
    }
    match v {
        Value::Live(x) => Ok(b.push(cx.name, Op::Softmax(sm), x, shape)),
        Value::Const(c) => {
            let x: Vec<f64> = c.data.iter().copied().collect();
            let mut y = vec![0.0; x.len()];
            for group in sm.groups(x.len()) {
                let max = group
                    .iter()
                    .map(|&e| x[e])
                    .fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = group.iter().map(|&e| (x[e] - max).exp()).sum();
                group.iter().for_each(|&e| y[e] = (x[e] - max).exp() / sum);
            }
            let data =
                ndarray::ArrayD::from_shape_vec(IxDyn(&shape), y).map_err(|e| e.to_string())?;
            Ok(Value::Const(Const::float(data)))
        }
    }
}
