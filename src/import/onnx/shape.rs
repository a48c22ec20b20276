//! Ops that only move or relabel data: on a live value they change its shape and emit nothing
//! (the IR is row-major, and these ops keep the row-major order), except a `Transpose` that
//! reorders data and a `Concat` of computed values ([`super::join`]); on constants they fold.
//! Also the shape arithmetic of exported graphs (`Shape`, `Gather`, `Cast`), which only ever
//! folds.

use super::join;
use super::tensor::{self, checked_numel, Const};
use super::values::{Builder, Cx, Live, Value};
use crate::ir::{numel, Shape};
use ndarray::{ArrayD, Axis, IxDyn};

/// `v` with another shape of the same element count.
pub(super) fn with_shape(v: &Value, shape: Shape) -> Result<Value, String> {
    match v {
        Value::Const(c) => Ok(Value::Const(c.reshaped(&shape)?)),
        Value::Live(x) => {
            if checked_numel(&shape)? != numel(&x.shape) {
                return Err(format!("cannot reshape {:?} into {shape:?}", x.shape));
            }
            Ok(Value::Live(Live { shape, ..x.clone() }))
        }
    }
}

/// `Identity`, and `Dropout` in inference (its mask output is refused by the walk if used).
pub(super) fn identity(cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 3)?;
    Ok(cx.input(0)?.clone())
}

/// `Constant`: a `value` tensor or a `value_float(s)` / `value_int(s)` literal.
pub(super) fn constant(cx: &Cx) -> Result<Value, String> {
    cx.arity(0, 0)?;
    let a = &cx.attrs;
    let c = if let Some(t) = a.get("value").and_then(|a| a.t.as_ref()) {
        tensor::decode(t)?
    } else if let Some(v) = a.get("value_float") {
        Const::float(ArrayD::from_elem(IxDyn(&[]), v.f as f64))
    } else if let Some(v) = a.get("value_floats") {
        Const::float(
            ArrayD::from_shape_vec(
                IxDyn(&[v.floats.len()]),
                v.floats.iter().map(|&f| f as f64).collect(),
            )
            .map_err(|e| e.to_string())?,
        )
    } else if let Some(v) = a.get("value_int") {
        Const::ints(&[v.i]).reshaped(&[])?
    } else if let Some(v) = a.get("value_ints") {
        Const::ints(&v.ints)
    } else {
        return Err(
            "only `value`, `value_float(s)` and `value_int(s)` constants are supported".into(),
        );
    };
    Ok(Value::Const(c))
}

/// `Cast`: folds on constants; on a live value only a cast to FLOAT or DOUBLE (a no-op for
/// the IR, which computes in one float type throughout).
pub(super) fn cast(cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let to = cx.attrs.get("to").ok_or("the `to` attribute is missing")?.i as i32;
    match cx.input(0)? {
        Value::Live(x) if to == 1 || to == 11 => Ok(Value::Live(x.clone())),
        Value::Live(_) => Err(format!(
            "casting a computed value to {} is not supported",
            tensor::dtype_name(to)
        )),
        Value::Const(c) => {
            let data = match to {
                1 => c.data.mapv(|v| v as f32 as f64),
                11 => c.data.clone(),
                2..=7 | 12 | 13 => c.data.mapv(f64::trunc),
                9 => c.data.mapv(|v| f64::from(u8::from(v != 0.0))),
                _ => {
                    return Err(format!(
                        "cast to {} is not supported",
                        tensor::dtype_name(to)
                    ))
                }
            };
            let int = !matches!(to, 1 | 11);
            Ok(Value::Const(Const { data, int }))
        }
    }
}

/// `Shape` (with the opset-15 `start`/`end`): a constant even for a live input.
pub(super) fn shape_of(cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let shape = cx.input(0)?.shape();
    let r = shape.len() as i64;
    let clamp = |a: i64| (if a < 0 { a + r } else { a }).clamp(0, r) as usize;
    let start = clamp(cx.attrs.int("start", 0));
    let end = clamp(cx.attrs.int("end", r)).max(start);
    let dims: Vec<i64> = shape[start..end].iter().map(|&d| d as i64).collect();
    Ok(Value::Const(Const::ints(&dims)))
}

/// `Gather` on constants.
pub(super) fn gather(cx: &Cx) -> Result<Value, String> {
    cx.arity(2, 2)?;
    let data = cx.constant(0, "the data")?;
    let idx = cx.constant(1, "the indices")?;
    let shape = data.shape();
    let ax = tensor::axis(cx.attrs.int("axis", 0), shape.len())?;
    let dim = shape[ax] as i64;
    let picks = idx
        .to_ints()?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + dim } else { i };
            if (0..dim).contains(&j) {
                Ok(j as usize)
            } else {
                Err(format!(
                    "index {i} is out of range for a dimension of {dim}"
                ))
            }
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let mut out: Shape = shape[..ax].to_vec();
    out.extend_from_slice(idx.shape());
    out.extend_from_slice(&shape[ax + 1..]);
    checked_numel(&out)?;
    let picked = data.data.select(Axis(ax), &picks);
    let c = Const {
        data: picked,
        int: data.int,
    };
    Ok(Value::Const(c.reshaped(&out)?))
}

/// `Concat`: folded on constants; of computed values, [`join::concat_live`].
pub(super) fn concat(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, usize::MAX)?;
    let inputs = (0..cx.inputs.len())
        .map(|i| cx.input(i))
        .collect::<Result<Vec<&Value>, String>>()?;
    let lives: Vec<&Live> = inputs
        .iter()
        .filter_map(|v| match v {
            Value::Live(x) => Some(x),
            Value::Const(_) => None,
        })
        .collect();
    if lives.len() == inputs.len() {
        return join::concat_live(b, cx, &lives);
    }
    if !lives.is_empty() {
        return Err(
            "it mixes constants and computed values; only all-constant or all-computed \
             inputs are supported"
                .into(),
        );
    }
    let parts = (0..cx.inputs.len())
        .map(|i| cx.constant(i, "every input"))
        .collect::<Result<Vec<&Const>, String>>()?;
    let rank = parts[0].shape().len();
    if parts.iter().any(|c| c.shape().len() != rank) {
        return Err("the inputs have different ranks".into());
    }
    let ax = tensor::axis(
        cx.attrs
            .get("axis")
            .ok_or("the `axis` attribute is missing")?
            .i,
        rank,
    )?;
    let views: Vec<_> = parts.iter().map(|c| c.data.view()).collect();
    let data = ndarray::concatenate(Axis(ax), &views)
        .map_err(|_| "the inputs' shapes do not fit together".to_string())?;
    let int = parts.iter().all(|c| c.int);
    Ok(Value::Const(Const { data, int }))
}

/// `Flatten`: `[d0, ..., dn]` into `[d0·…·d(axis−1), d(axis)·…·dn]`.
pub(super) fn flatten(cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let v = cx.input(0)?;
    let shape = v.shape();
    let r = shape.len() as i64;
    let a = cx.attrs.int("axis", 1);
    let a = if a < 0 { a + r } else { a };
    if !(0..=r).contains(&a) {
        return Err(format!("axis {a} is out of range for rank {r}"));
    }
    let (head, tail) = shape.split_at(a as usize);
    with_shape(v, vec![numel(head), numel(tail)])
}

/// `Reshape` with a constant target shape (input since opset 5, attribute before).
pub(super) fn reshape(cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 2)?;
    let v = cx.input(0)?;
    let target = match cx.opt(1) {
        Some(_) => cx.constant(1, "the target shape")?.to_ints()?,
        None => cx.attrs.ints("shape").ok_or("no target shape")?.to_vec(),
    };
    let allow_zero = cx.attrs.int("allowzero", 0) != 0;
    with_shape(v, reshape_target(v.shape(), &target, allow_zero)?)
}

/// Resolves a `Reshape` target: `0` copies the input's dimension (unless `allow_zero`),
/// one `-1` takes what is left.
fn reshape_target(input: &[usize], target: &[i64], allow_zero: bool) -> Result<Shape, String> {
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(
                *input
                    .get(i)
                    .ok_or_else(|| format!("target {target:?} copies a missing dimension"))?,
            ),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(format!("invalid target shape {target:?}")),
        }
    }
    let n = numel(input);
    if let Some(i) = infer {
        let rest = checked_numel(&out)?;
        if rest == 0 || !n.is_multiple_of(rest) {
            return Err(format!("cannot reshape {input:?} into {target:?}"));
        }
        out[i] = n / rest;
    }
    if checked_numel(&out)? != n {
        return Err(format!("cannot reshape {input:?} into {target:?}"));
    }
    Ok(out)
}

/// The `axes` of `Squeeze`/`Unsqueeze`: an attribute before opset 13, an input since.
fn axes(cx: &Cx) -> Result<Option<Vec<i64>>, String> {
    if let Some(a) = cx.attrs.ints("axes") {
        return Ok(Some(a.to_vec()));
    }
    match cx.opt(1) {
        Some(_) => Ok(Some(cx.constant(1, "the axes")?.to_ints()?)),
        None => Ok(None),
    }
}

/// `Squeeze`: drops the given size-1 axes (all of them without `axes`).
pub(super) fn squeeze(cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 2)?;
    let v = cx.input(0)?;
    let shape = v.shape();
    let drop: Vec<usize> = match axes(cx)? {
        Some(a) => a
            .iter()
            .map(|&a| tensor::axis(a, shape.len()))
            .collect::<Result<_, _>>()?,
        None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
    };
    if let Some(&a) = drop.iter().find(|&&a| shape[a] != 1) {
        return Err(format!("axis {a} of shape {shape:?} is not of size 1"));
    }
    let out = (0..shape.len())
        .filter(|i| !drop.contains(i))
        .map(|i| shape[i])
        .collect();
    with_shape(v, out)
}

/// `Unsqueeze`: inserts size-1 axes at the given positions of the output.
pub(super) fn unsqueeze(cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 2)?;
    let v = cx.input(0)?;
    let shape = v.shape();
    let given = axes(cx)?.ok_or("the axes are missing")?;
    let rank = shape.len() + given.len();
    let mut new = vec![false; rank];
    for &a in &given {
        let a = tensor::axis(a, rank)?;
        if std::mem::replace(&mut new[a], true) {
            return Err(format!("axis {a} is repeated"));
        }
    }
    let mut dims = shape.iter();
    let out = new
        .iter()
        .map(|&n| if n { 1 } else { *dims.next().unwrap_or(&1) })
        .collect();
    with_shape(v, out)
}

/// `Transpose`: folds on constants; on a live value, no node when it moves size-1 axes alone
/// (the data order is then unchanged), else a `Gather` ([`join::transpose_live`]).
pub(super) fn transpose(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let v = cx.input(0)?;
    let shape = v.shape();
    let rank = shape.len();
    let perm: Vec<usize> = match cx.attrs.ints("perm") {
        Some(p) => p
            .iter()
            .map(|&a| usize::try_from(a).map_err(|_| format!("invalid perm {p:?}")))
            .collect::<Result<_, _>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return Err(format!("perm {perm:?} is not a permutation of rank {rank}"));
    }
    let out: Shape = perm.iter().map(|&p| shape[p]).collect();
    match v {
        Value::Const(c) => {
            let data = c.data.view().permuted_axes(IxDyn(&perm));
            let t = Const {
                data: ArrayD::from_shape_vec(IxDyn(&out), data.iter().copied().collect())
                    .map_err(|e| e.to_string())?,
                int: c.int,
            };
            Ok(Value::Const(t))
        }
        Value::Live(x) => {
            let moved: Vec<usize> = perm.iter().copied().filter(|&p| shape[p] != 1).collect();
            if moved.windows(2).any(|w| w[0] > w[1]) {
                return Ok(join::transpose_live(b, cx.name, x, &perm));
            }
            with_shape(v, out)
        }
    }
}
