//! Element-wise ops. Every affine one (`Add`, `Sub`, `Mul`, `Div` with one constant side,
//! `Neg`, inference `BatchNormalization`) becomes `y = sc ⊙ x + sh` per element and goes
//! through [`super::fold::scale_shift`], which folds it into the node that computed `x` when it may;
//! activations become their own nodes; all of them fold on constants.

use super::fold::scale_shift;
use super::join;
use super::tensor::{broadcast, broadcast_flat, Const};
use super::values::{Builder, Cx, Value};
use crate::ir::{numel, sign, Op, Scalar};
use ndarray::{IxDyn, Zip};

/// `Add`, `Sub`, `Mul`, `Div`: folded on two constants; with one live side, an element-wise
/// affine map (the constant broadcast numpy-style to the result's shape, the live side repeated
/// by a `Gather` if broadcasting enlarges it); `Add`/`Sub` of two live sides join them
/// ([`join::add_live`]).
pub(super) fn binary(b: &mut Builder, op: &str, cx: &Cx) -> Result<Value, String> {
    cx.arity(2, 2)?;
    let (x, c, live_first) = match (cx.input(0)?, cx.input(1)?) {
        (Value::Const(p), Value::Const(q)) => return fold_binary(op, p, q).map(Value::Const),
        (Value::Live(x), Value::Const(c)) => (x, c, true),
        (Value::Const(c), Value::Live(x)) => (x, c, false),
        (Value::Live(x), Value::Live(y)) if op == "Add" || op == "Sub" => {
            return join::add_live(b, op, cx.name, x, y)
        }
        (Value::Live(_), Value::Live(_)) => {
            return Err(format!(
                "both operands are computed values; {op} needs a constant side (the quotient \
                 of two computed values is not supported)"
            ))
        }
    };
    let shape = broadcast(&x.shape, c.shape())?;
    let x = &join::broadcast_live(b, cx.name, x, &shape);
    let cv = broadcast_flat(c, &shape)?;
    let ones = vec![1.0; cv.len()];
    let zeros = vec![0.0; cv.len()];
    let (sc, sh) = match (op, live_first) {
        ("Add", _) => (ones, cv),
        ("Sub", true) => (ones, cv.iter().map(|v| -v).collect()),
        ("Sub", false) => (vec![-1.0; cv.len()], cv),
        ("Mul", _) => (cv, zeros),
        ("Div", true) => {
            if cv.contains(&0.0) {
                return Err("division by a constant that contains 0".into());
            }
            (cv.iter().map(|v| 1.0 / v).collect(), zeros)
        }
        _ => {
            return Err(
                "dividing by a computed value is not supported (the result is not affine)".into(),
            )
        }
    };
    Ok(scale_shift(b, cx.name, x, shape, sc, sh))
}

/// A binary op on two constants, with numpy broadcasting; integer `Div` truncates.
fn fold_binary(op: &str, p: &Const, q: &Const) -> Result<Const, String> {
    let shape = broadcast(p.shape(), q.shape())?;
    let int = p.int && q.int;
    if op == "Div" && int && q.data.iter().any(|&v| v == 0.0) {
        return Err("integer division by zero".into());
    }
    let f: fn(f64, f64) -> f64 = match op {
        "Add" => |a, b| a + b,
        "Sub" => |a, b| a - b,
        "Mul" => |a, b| a * b,
        _ if int => |a, b| (a / b).trunc(),
        _ => |a, b| a / b,
    };
    let (pv, qv) = (
        p.data.broadcast(IxDyn(&shape)),
        q.data.broadcast(IxDyn(&shape)),
    );
    let (Some(pv), Some(qv)) = (pv, qv) else {
        return Err(format!(
            "shapes {:?} and {:?} do not broadcast",
            p.shape(),
            q.shape()
        ));
    };
    let data = Zip::from(&pv).and(&qv).map_collect(|&a, &b| f(a, b));
    Ok(Const { data, int })
}

/// `Neg`.
pub(super) fn neg(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    match cx.input(0)? {
        Value::Const(c) => Ok(Value::Const(Const {
            data: c.data.mapv(|v| -v),
            int: c.int,
        })),
        Value::Live(x) => {
            let n = numel(&x.shape);
            let shape = x.shape.clone();
            Ok(scale_shift(
                b,
                cx.name,
                x,
                shape,
                vec![-1.0; n],
                vec![0.0; n],
            ))
        }
    }
}

/// `Relu`, `Sigmoid`, `Tanh`, `Sign`.
pub(super) fn activation(b: &mut Builder, op: &str, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let (ir_op, f): (Op, fn(f64) -> f64) = match op {
        "Relu" => (Op::Relu, |v| v.max(0.0)),
        "Sigmoid" => (Op::Sigmoid, <f64 as Scalar>::sigmoid),
        "Sign" => (Op::Sign, sign),
        _ => (Op::Tanh, f64::tanh),
    };
    match cx.input(0)? {
        Value::Const(c) => Ok(Value::Const(Const::float(c.data.mapv(f)))),
        Value::Live(x) => Ok(b.push(cx.name, ir_op, x, x.shape.clone())),
    }
}

/// Inference `BatchNormalization` over axis 1: with `s = γ / √(var + ε)`,
/// `y = s·x + (β − mean·s)` per channel, i.e. `W' = s·W`, `b' = (b − mean)·s + β` once folded
/// into the preceding `Affine` or `Conv` by [`scale_shift`] (a `ScaleShift` node otherwise).
pub(super) fn batch_norm(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(5, 5)?;
    if cx.attrs.int("training_mode", 0) != 0 {
        return Err("training_mode=1 is not supported".into());
    }
    if cx.attrs.get("spatial").is_some_and(|a| a.i == 0) {
        return Err("spatial=0 is not supported".into());
    }
    let x = cx.live(0)?;
    if x.shape.len() < 2 {
        return Err(format!("input shape {:?} has no channel axis", x.shape));
    }
    let ch = x.shape[1];
    let param = |i: usize, what: &str| -> Result<Vec<f64>, String> {
        let c = cx.constant(i, what)?;
        if c.data.len() != ch {
            return Err(format!(
                "{what} has shape {:?}, expected {ch} values (one per channel)",
                c.shape()
            ));
        }
        Ok(c.data.iter().copied().collect())
    };
    let (gamma, beta) = (param(1, "the scale")?, param(2, "the bias")?);
    let (mean, var) = (param(3, "the mean")?, param(4, "the variance")?);
    let eps = cx.attrs.float("epsilon", 1e-5) as f64;
    let s: Vec<f64> = (0..ch).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
    let t: Vec<f64> = (0..ch).map(|c| beta[c] - mean[c] * s[c]).collect();
    let inner = numel(&x.shape[2..]);
    let n = numel(&x.shape);
    let chan = |k: usize| (k / inner) % ch;
    let sc = (0..n).map(|k| s[chan(k)]).collect();
    let sh = (0..n).map(|k| t[chan(k)]).collect();
    Ok(scale_shift(b, cx.name, x, x.shape.clone(), sc, sh))
}
