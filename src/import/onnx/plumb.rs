//! Constant and shape plumbing: `Equal`, `Greater`, `Less`, `Not` and `ConstantOfShape` fold on
//! constants; `Where` with a constant condition picks element-wise (of computed operands:
//! `mask·x + (1 − mask)·y` as `ScaleShift`s and an `Add`); `Expand` broadcasts (of a computed
//! value: a `Gather` that repeats); `Resize`/`Upsample` in `nearest` mode is a `Gather` of each
//! output element's source, with ONNX's coordinate transformations and rounding modes.

use super::fold::scale_shift;
use super::join::{broadcast_live, gather};
use super::tensor::{self, broadcast, broadcast_flat, checked_numel, Const};
use super::values::{Builder, Cx, Live, Value};
use crate::ir::{numel, Op, Shape};
use ndarray::{ArrayD, IxDyn};

fn float(shape: &[usize], data: Vec<f64>, int: bool) -> Result<Value, String> {
    let data = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| e.to_string())?;
    Ok(Value::Const(Const { data, int }))
}

/// `Equal`, `Greater`, `Less` (and `Not`) of constants, as 0/1 integer tensors.
pub(super) fn compare(op: &str, cx: &Cx) -> Result<Value, String> {
    if op == "Not" {
        cx.arity(1, 1)?;
        let c = cx.constant(0, "the operand")?;
        let data = c.data.iter().map(|&v| f64::from(v == 0.0)).collect();
        return float(c.shape(), data, true);
    }
    cx.arity(2, 2)?;
    let (a, b) = (
        cx.constant(0, "the left operand")?,
        cx.constant(1, "the right operand")?,
    );
    let shape = broadcast(a.shape(), b.shape())?;
    let (x, y) = (broadcast_flat(a, &shape)?, broadcast_flat(b, &shape)?);
    let f = |p: f64, q: f64| match op {
        "Equal" => p == q,
        "Greater" => p > q,
        _ => p < q,
    };
    float(
        &shape,
        x.iter()
            .zip(&y)
            .map(|(&p, &q)| f64::from(f(p, q)))
            .collect(),
        true,
    )
}

/// `ConstantOfShape` (value from the `value` tensor attribute, default 0).
pub(super) fn constant_of_shape(cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let dims = cx.constant(0, "the shape")?.to_ints()?;
    let shape = (dims.iter())
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Shape, String>>()?;
    checked_numel(&shape)?;
    let (value, int) = match cx.attrs.get("value").and_then(|a| a.t.as_ref()) {
        Some(t) => {
            let c = tensor::decode(t)?;
            (c.data.iter().next().copied().unwrap_or(0.0), c.int)
        }
        None => (0.0, false),
    };
    float(&shape, vec![value; numel(&shape)], int)
}

/// `Expand`: numpy broadcasting of the input and the target shape.
pub(super) fn expand(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(2, 2)?;
    let dims = cx.constant(1, "the shape")?.to_ints()?;
    let target = (dims.iter())
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Shape, String>>()?;
    match cx.input(0)? {
        Value::Const(c) => {
            let shape = broadcast(c.shape(), &target)?;
            float(&shape, broadcast_flat(c, &shape)?, c.int)
        }
        Value::Live(x) => {
            let shape = broadcast(&x.shape, &target)?;
            Ok(Value::Live(broadcast_live(b, cx.name, x, &shape)))
        }
    }
}

/// `Where(cond, x, y)` with a constant condition.
pub(super) fn where_(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(3, 3)?;
    let cond = cx.constant(0, "the condition")?;
    let (x, y) = (cx.input(1)?, cx.input(2)?);
    let shape = broadcast(&broadcast(cond.shape(), x.shape())?, y.shape())?;
    let mask = broadcast_flat(cond, &shape)?;
    let n = numel(&shape);
    // Each operand as `s·v + t` over the output shape: a constant folds into `t`.
    let part = |b: &mut Builder,
                v: &Value,
                keep: &dyn Fn(f64) -> bool|
     -> Result<(Option<Live>, Vec<f64>), String> {
        let sel: Vec<f64> = mask.iter().map(|&m| f64::from(keep(m))).collect();
        match v {
            Value::Const(c) => {
                let cv = broadcast_flat(c, &shape)?;
                Ok((None, cv.iter().zip(&sel).map(|(v, s)| v * s).collect()))
            }
            Value::Live(l) => {
                let shared = Live {
                    exclusive: false,
                    ..l.clone()
                };
                let wide = broadcast_live(b, cx.name, &shared, &shape);
                let wide = Live {
                    exclusive: false,
                    ..wide
                };
                match scale_shift(b, cx.name, &wide, shape.clone(), sel, vec![0.0; n]) {
                    Value::Live(s) => Ok((Some(s), vec![0.0; n])),
                    Value::Const(_) => {
                        unreachable!("a scale-shift of a computed value is computed")
                    }
                }
            }
        }
    };
    let (lx, tx) = part(b, x, &|m| m != 0.0)?;
    let (ly, ty) = part(b, y, &|m| m == 0.0)?;
    let shift: Vec<f64> = tx.iter().zip(&ty).map(|(a, c)| a + c).collect();
    let live = match (lx, ly) {
        (None, None) => return float(&shape, shift, false),
        (Some(l), None) | (None, Some(l)) => l,
        (Some(p), Some(q)) => b.push_inputs(cx.name, Op::Add, vec![p.id, q.id], shape.clone()),
    };
    let shared = Live {
        exclusive: false,
        ..live
    };
    Ok(scale_shift(b, cx.name, &shared, shape, vec![1.0; n], shift))
}

/// `Resize` (opset 10+: inputs X, roi, scales, sizes; opset 10: X, scales) and `Upsample`
/// (X, scales) in `nearest` mode.
pub(super) fn resize(b: &mut Builder, op: &str, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 4)?;
    let mode = cx.attrs.string("mode").unwrap_or_else(|| "nearest".into());
    if mode != "nearest" {
        return Err(format!("mode={mode} is not supported (only nearest)"));
    }
    let x = cx.input(0)?;
    let in_shape = x.shape().to_vec();
    let r = in_shape.len();
    // Opset-10 forms (and Upsample) read scales from input 1 with asymmetric/floor semantics.
    let old = op == "Upsample" || cx.inputs.len() == 2;
    let (scales_at, sizes_at) = if old { (1, usize::MAX) } else { (2, 3) };
    let floats = |i: usize| -> Option<Vec<f64>> {
        match cx.opt(i) {
            Some(Value::Const(c)) if !c.data.is_empty() => Some(c.data.iter().copied().collect()),
            _ => None,
        }
    };
    let (out, scales): (Shape, Vec<f64>) = if let Some(sizes) = floats(sizes_at) {
        let out: Shape = sizes.iter().map(|&v| v as usize).collect();
        let sc = (0..r.min(out.len()))
            .map(|d| out[d] as f64 / in_shape[d] as f64)
            .collect();
        (out, sc)
    } else if let Some(sc) = floats(scales_at).or_else(|| {
        cx.attrs
            .get("scales")
            .map(|a| a.floats.iter().map(|&f| f as f64).collect())
    }) {
        (
            in_shape
                .iter()
                .zip(&sc)
                .map(|(&n, &s)| (n as f64 * s).floor() as usize)
                .collect(),
            sc,
        )
    } else {
        return Err("neither scales nor sizes is given".into());
    };
    if out.len() != r || scales.len() != r || scales.iter().any(|s| s.is_nan() || *s <= 0.0) {
        return Err(format!(
            "scales {scales:?} do not fit the input shape {in_shape:?}"
        ));
    }
    checked_numel(&out)?;
    let ctm = if old {
        "asymmetric".into()
    } else {
        cx.attrs
            .string("coordinate_transformation_mode")
            .unwrap_or_else(|| "half_pixel".into())
    };
    let nm = if old {
        "floor".into()
    } else {
        cx.attrs
            .string("nearest_mode")
            .unwrap_or_else(|| "round_prefer_floor".into())
    };
    // Source index along each axis.
    let mut picks: Vec<Vec<usize>> = Vec::with_capacity(r);
    for d in 0..r {
        let (n_in, n_out, s) = (in_shape[d], out[d], scales[d]);
        let p = (0..n_out)
            .map(|o| {
                let o = o as f64;
                let src = match ctm.as_str() {
                    "half_pixel" => (o + 0.5) / s - 0.5,
                    "pytorch_half_pixel" if n_out > 1 => (o + 0.5) / s - 0.5,
                    "pytorch_half_pixel" => 0.0,
                    "asymmetric" => o / s,
                    "tf_half_pixel_for_nn" => (o + 0.5) / s,
                    "align_corners" if n_out > 1 => o * (n_in as f64 - 1.0) / (n_out as f64 - 1.0),
                    "align_corners" => 0.0,
                    other => {
                        return Err(format!(
                            "coordinate_transformation_mode={other} is not supported"
                        ))
                    }
                };
                let i = match nm.as_str() {
                    "round_prefer_floor" if src.fract().abs() == 0.5 => src.floor(),
                    "round_prefer_ceil" if src.fract().abs() == 0.5 => src.ceil(),
                    "round_prefer_floor" | "round_prefer_ceil" => src.round(),
                    "floor" => src.floor(),
                    "ceil" => src.ceil(),
                    other => return Err(format!("nearest_mode={other} is not supported")),
                };
                Ok(i.clamp(0.0, n_in as f64 - 1.0) as usize)
            })
            .collect::<Result<Vec<usize>, String>>()?;
        picks.push(p);
    }
    let st: Vec<usize> = (0..r).map(|d| numel(&in_shape[d + 1..])).collect();
    let mut src: Vec<usize> = vec![0];
    for (d, p) in picks.iter().enumerate() {
        let sd = st[d];
        src = src
            .iter()
            .flat_map(|&base| p.iter().map(move |&i| base + i * sd))
            .collect();
    }
    match x {
        Value::Const(c) => {
            let flat: Vec<f64> = c.data.iter().copied().collect();
            float(&out, src.iter().map(|&i| flat[i]).collect(), c.int)
        }
        Value::Live(l) => Ok(Value::Live(gather(b, cx.name, l, src, out))),
    }
}
