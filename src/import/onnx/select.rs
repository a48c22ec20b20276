//! Ops that select, pad or average elements, lowered to existing core ops (all linear):
//! - `Gather` of a computed tensor, `Slice`, and `Pad` (edge/reflect) → `Gather` (any axis,
//!   any selection; folded on constants);
//! - `Pad` (constant) → `Gather`, then `ScaleShift` with scale 0 and shift the pad value at the
//!   padded positions (`y_e = 0·x[0] + v`), 1 and 0 elsewhere;
//! - `ReduceSum`, `ReduceMean`, `GlobalAveragePool` → `Affine` with weights 1 (or `1/n`) on the
//!   reduced elements;
//! - `AveragePool` (2-D) → `Conv` with the weight `1/(k_h·k_w)` on each channel's own kernel
//!   (zero across channels); with `count_include_pad = 0` and padding the weight is 1 and a
//!   `ScaleShift` divides each output by the number of kernel cells inside the image.

use super::join::gather;
use super::tensor::{self, checked_numel, Const};
use super::values::{Builder, Cx, Live, Value};
use crate::ir::{numel, Affine, Conv2d, Op, ScaleShift, Shape};
use ndarray::{Array1, Array2, Array4, ArrayD, IxDyn};

/// At most this many weights in one `Affine` a reduction lowers to (32 MB of f64).
const MAX_REDUCE_WEIGHTS: usize = 1 << 22;

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1];
    }
    st
}

/// The value of `v` at flat source positions `src` (`None` = the constant `fill`), with
/// `shape`: folded for a constant, a `Gather` (plus a `ScaleShift` for fills) for a live value.
fn select(
    b: &mut Builder,
    name: &str,
    v: &Value,
    src: &[Option<usize>],
    fill: f64,
    shape: Shape,
) -> Result<Value, String> {
    checked_numel(&shape)?;
    match v {
        Value::Const(c) => {
            let flat: Vec<f64> = c.data.iter().copied().collect();
            let data: Vec<f64> = src.iter().map(|s| s.map_or(fill, |i| flat[i])).collect();
            let data = ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| e.to_string())?;
            Ok(Value::Const(Const { data, int: c.int }))
        }
        Value::Live(x) => {
            let index: Vec<usize> = src.iter().map(|s| s.unwrap_or(0)).collect();
            let identity =
                src.len() == numel(&x.shape) && src.iter().enumerate().all(|(i, s)| *s == Some(i));
            let g = if identity {
                Live {
                    shape: shape.clone(),
                    ..x.clone()
                }
            } else {
                gather(b, name, x, index, shape.clone())
            };
            if src.iter().all(Option::is_some) {
                return Ok(Value::Live(g));
            }
            // y_e = 0·g_e + fill at the padded positions, g_e elsewhere.
            let scale = src
                .iter()
                .map(|s| if s.is_some() { 1.0 } else { 0.0 })
                .collect();
            let shift = src
                .iter()
                .map(|s| if s.is_some() { 0.0 } else { fill })
                .collect();
            let op = Op::ScaleShift(ScaleShift {
                scale: Array1::from_vec(scale),
                shift: Array1::from_vec(shift),
            });
            Ok(Value::Live(b.push_inputs(name, op, vec![g.id], shape)))
        }
    }
}

/// The most elements a `Slice` or `Pad` may produce: its index list takes 16 bytes and the
/// `Gather` built from it 8 more per element, so 2^24 elements (far above any tensor of a
/// network certus can verify) cost at most 400 MiB; the importer's general limit of 2^27
/// would let a model of a few hundred bytes take 3 GiB (found by the onnx fuzz target).
const MAX_SELECTED: usize = 1 << 24;

/// For each output position of the selection `picks[d]` (source indices per axis, `None` =
/// padding), the flat source position, in row-major order; an error past [`MAX_SELECTED`].
fn cartesian(
    in_shape: &[usize],
    picks: &[Vec<Option<usize>>],
) -> Result<Vec<Option<usize>>, String> {
    let n = (picks.iter().map(Vec::len)).try_fold(1usize, usize::checked_mul);
    if n.is_none_or(|n| n > MAX_SELECTED) {
        let shape: Vec<usize> = picks.iter().map(Vec::len).collect();
        return Err(format!(
            "the result {shape:?} is too large (at most {MAX_SELECTED} elements)"
        ));
    }
    let st = strides(in_shape);
    let mut out: Vec<Option<usize>> = vec![Some(0)];
    for (d, p) in picks.iter().enumerate() {
        let sd = st[d];
        out = out
            .iter()
            .flat_map(|base| p.iter().map(move |&i| base.zip(i).map(|(b, i)| b + i * sd)))
            .collect();
    }
    Ok(out)
}

/// `Gather` of a computed tensor with constant indices, along any axis.
pub(super) fn gather_live(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    let data = cx.input(0)?;
    let idx = cx.constant(1, "the indices")?;
    let shape = data.shape().to_vec();
    let ax = tensor::axis(cx.attrs.int("axis", 0), shape.len())?;
    let dim = shape[ax] as i64;
    let picks = (idx.to_ints()?.into_iter())
        .map(|i| {
            let j = if i < 0 { i + dim } else { i };
            (0..dim)
                .contains(&j)
                .then_some(j as usize)
                .ok_or_else(|| format!("index {i} is out of range for a dimension of {dim}"))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let mut out: Shape = shape[..ax].to_vec();
    out.extend_from_slice(idx.shape());
    out.extend_from_slice(&shape[ax + 1..]);
    checked_numel(&out)?;
    let (outer, inner) = (numel(&shape[..ax]), numel(&shape[ax + 1..]));
    let mut src = Vec::with_capacity(numel(&out));
    for o in 0..outer {
        for &k in &picks {
            src.extend((0..inner).map(|i| Some((o * dim as usize + k) * inner + i)));
        }
    }
    select(b, cx.name, data, &src, 0.0, out)
}

/// `Split` into `n` outputs along `axis`: sizes from the `split` input (opset 13+) or
/// attribute, else equal parts (the last one smaller when the axis does not divide, opset 18's
/// `num_outputs` rule). Each output is a [`select`] of its part.
pub(super) fn split(b: &mut Builder, cx: &Cx, n: usize) -> Result<Vec<Value>, String> {
    cx.arity(1, 2)?;
    let data = cx.input(0)?;
    let shape = data.shape().to_vec();
    let ax = tensor::axis(cx.attrs.int("axis", 0), shape.len())?;
    let dim = shape[ax];
    let sizes: Vec<usize> = match ints_of(cx, 1, "split")? {
        Some(v) => (v.iter())
            .map(|&s| usize::try_from(s).map_err(|_| format!("negative split size {s}")))
            .collect::<Result<_, _>>()?,
        None => {
            let part = dim.div_ceil(n.max(1));
            (0..n)
                .map(|k| part.min(dim.saturating_sub(k * part)))
                .collect()
        }
    };
    if sizes.len() != n || sizes.iter().sum::<usize>() != dim {
        return Err(format!(
            "split sizes {sizes:?} do not cut an axis of {dim} into {n} outputs"
        ));
    }
    // The input is read by every part: no part may rewrite its node in place.
    let shared = match data {
        Value::Live(x) => Value::Live(Live {
            exclusive: false,
            ..x.clone()
        }),
        c => c.clone(),
    };
    let (outer, inner) = (numel(&shape[..ax]), numel(&shape[ax + 1..]));
    let mut start = 0;
    let mut outs = Vec::with_capacity(n);
    for &len in &sizes {
        let mut src = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            for k in start..start + len {
                src.extend((0..inner).map(|i| Some((o * dim + k) * inner + i)));
            }
        }
        let mut out = shape.clone();
        out[ax] = len;
        outs.push(select(b, cx.name, &shared, &src, 0.0, out)?);
        start += len;
    }
    Ok(outs)
}

/// The ints of optional input `i` or else attribute `attr`.
fn ints_of(cx: &Cx, i: usize, attr: &str) -> Result<Option<Vec<i64>>, String> {
    match cx.opt(i) {
        Some(_) => Ok(Some(cx.constant(i, attr)?.to_ints()?)),
        None => Ok(cx.attrs.ints(attr).map(<[i64]>::to_vec)),
    }
}

/// `Slice` (starts/ends/axes/steps as inputs since opset 10, attributes before), with ONNX's
/// clamping of out-of-range starts and ends.
pub(super) fn slice(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 5)?;
    let data = cx.input(0)?;
    let shape = data.shape().to_vec();
    let starts = ints_of(cx, 1, "starts")?.ok_or("`starts` is missing")?;
    let ends = ints_of(cx, 2, "ends")?.ok_or("`ends` is missing")?;
    let axes = ints_of(cx, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ints_of(cx, 4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut picks: Vec<Vec<Option<usize>>> =
        shape.iter().map(|&d| (0..d).map(Some).collect()).collect();
    for k in 0..starts.len() {
        let ax = tensor::axis(axes[k], shape.len())?;
        let dim = shape[ax] as i64;
        let step = steps[k];
        if step == 0 {
            return Err("a step of 0".into());
        }
        // Starts and ends may be anything an i64 holds (`i64::MAX` is ONNX's "to the end"):
        // saturating arithmetic, and nothing to pick from an empty dimension.
        let fix = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let mut p = Vec::new();
        if dim > 0 {
            let (start, end) = if step > 0 {
                (fix(starts[k]).clamp(0, dim), fix(ends[k]).clamp(0, dim))
            } else {
                (
                    fix(starts[k]).clamp(0, dim - 1),
                    fix(ends[k]).clamp(-1, dim - 1),
                )
            };
            let mut i = start;
            while (step > 0 && i < end) || (step < 0 && i > end) {
                p.push(Some(i as usize));
                let Some(next) = i.checked_add(step) else {
                    break;
                };
                i = next;
            }
        }
        picks[ax] = p;
    }
    let out: Shape = picks.iter().map(Vec::len).collect();
    let src = cartesian(&shape, &picks)?;
    select(b, cx.name, data, &src, 0.0, out)
}

/// `Pad` (constant, edge or reflect; pads and value as inputs since opset 11, attributes
/// before; `axes` since 18). Negative pads crop.
pub(super) fn pad(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 4)?;
    let data = cx.input(0)?;
    let shape = data.shape().to_vec();
    let r = shape.len();
    let pads = ints_of(cx, 1, "pads")?.ok_or("`pads` is missing")?;
    let value = match cx.opt(2) {
        Some(_) => cx
            .constant(2, "the constant value")?
            .data
            .iter()
            .next()
            .copied()
            .unwrap_or(0.0),
        None => cx.attrs.float("value", 0.0) as f64,
    };
    let axes: Vec<usize> = match ints_of(cx, 3, "axes")? {
        Some(a) => a
            .iter()
            .map(|&a| tensor::axis(a, r))
            .collect::<Result<_, _>>()?,
        None => (0..r).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    let mode = cx.attrs.string("mode").unwrap_or_else(|| "constant".into());
    let mut picks: Vec<Vec<Option<usize>>> =
        shape.iter().map(|&d| (0..d).map(Some).collect()).collect();
    let mut padded = shape.clone();
    for (k, &ax) in axes.iter().enumerate() {
        let (before, after) = (pads[k], pads[k + axes.len()]);
        let dim = shape[ax] as i64;
        let n = (dim.checked_add(before).and_then(|n| n.checked_add(after)))
            .ok_or_else(|| format!("pads {before} and {after} are too large"))?;
        if n < 0 {
            return Err(format!(
                "pads {before} and {after} remove more than the {dim} elements"
            ));
        }
        // The padded tensor must be one certus can hold before its index lists are built.
        padded[ax] = n as usize;
        checked_numel(&padded)?;
        picks[ax] = (0..n)
            .map(|o| {
                let i = o - before;
                match mode.as_str() {
                    _ if (0..dim).contains(&i) => Ok(Some(i as usize)),
                    "constant" => Ok(None),
                    "edge" => Ok(Some(i.clamp(0, dim - 1) as usize)),
                    "reflect" if dim > 1 => {
                        let period = 2 * (dim - 1);
                        let m = i.rem_euclid(period);
                        Ok(Some((if m < dim { m } else { period - m }) as usize))
                    }
                    other => Err(format!(
                        "mode={other} is not supported on a dimension of {dim}"
                    )),
                }
            })
            .collect::<Result<_, String>>()?;
    }
    let out: Shape = picks.iter().map(Vec::len).collect();
    let src = cartesian(&shape, &picks)?;
    select(b, cx.name, data, &src, value, out)
}

/// `ReduceSum`/`ReduceMean` (axes as an input since opsets 13/18, an attribute before),
/// `GlobalAveragePool` (the mean over every axis after the first two, kept).
pub(super) fn reduce(b: &mut Builder, op: &str, cx: &Cx) -> Result<Value, String> {
    let data = cx.input(0)?;
    let shape = data.shape().to_vec();
    let r = shape.len();
    let (axes, keep, mean) = if op == "GlobalAveragePool" {
        cx.arity(1, 1)?;
        ((2..r).collect::<Vec<_>>(), true, true)
    } else {
        cx.arity(1, 2)?;
        let axes = ints_of(cx, 1, "axes")?.unwrap_or_default();
        let noop = cx.attrs.int("noop_with_empty_axes", 0) != 0;
        if axes.is_empty() && noop {
            return Ok(data.clone());
        }
        let axes: Vec<usize> = if axes.is_empty() {
            (0..r).collect()
        } else {
            axes.iter()
                .map(|&a| tensor::axis(a, r))
                .collect::<Result<_, _>>()?
        };
        (axes, cx.attrs.int("keepdims", 1) != 0, op == "ReduceMean")
    };
    let out_full: Shape = (0..r)
        .map(|d| if axes.contains(&d) { 1 } else { shape[d] })
        .collect();
    let out: Shape = if keep {
        out_full.clone()
    } else {
        (0..r)
            .filter(|d| !axes.contains(d))
            .map(|d| shape[d])
            .collect()
    };
    let (n_in, n_out) = (numel(&shape), numel(&out_full));
    let count = (n_in / n_out.max(1)) as f64;
    let w = if mean { 1.0 / count } else { 1.0 };
    // Output position of each input element: its index with the reduced axes set to 0.
    let (st_in, st_out) = (strides(&shape), strides(&out_full));
    let target = |flat: usize| -> usize {
        (0..r)
            .filter(|d| !axes.contains(d))
            .map(|d| (flat / st_in[d]) % shape[d] * st_out[d])
            .sum()
    };
    match data {
        Value::Const(c) => {
            let mut sums = vec![0.0; n_out];
            for (i, v) in c.data.iter().enumerate() {
                sums[target(i)] += w * v;
            }
            let data = ArrayD::from_shape_vec(IxDyn(&out), sums).map_err(|e| e.to_string())?;
            Ok(Value::Const(Const::float(data)))
        }
        Value::Live(x) => {
            if n_in.saturating_mul(n_out) > MAX_REDUCE_WEIGHTS {
                return Err(format!(
                    "reducing {n_in} elements to {n_out} needs more than {MAX_REDUCE_WEIGHTS} weights"
                ));
            }
            let mut weight = Array2::zeros((n_out, n_in));
            for i in 0..n_in {
                weight[[target(i), i]] = w;
            }
            let op = Op::Affine(Affine {
                weight,
                bias: Array1::zeros(n_out),
            });
            Ok(Value::Live(b.push_inputs(cx.name, op, vec![x.id], out)))
        }
    }
}

/// `AveragePool` on a `[1, C, H, W]` input (2-D kernels, no `ceil_mode`, no dilation).
pub(super) fn average_pool(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let x = cx.live(0)?;
    let [c, h, w] = match *x.shape.as_slice() {
        [1, c, h, w] | [c, h, w] => [c, h, w],
        _ => return Err(format!("input shape {:?} is not [1, C, H, W]", x.shape)),
    };
    let k = cx
        .attrs
        .ints("kernel_shape")
        .ok_or("`kernel_shape` is missing")?;
    let [kh, kw] = *k else {
        return Err(format!("kernel_shape {k:?}: only 2-D pooling is supported"));
    };
    let pos = |v: &[i64], n: usize, default: i64| -> Result<Vec<usize>, String> {
        let v = if v.is_empty() {
            vec![default; n]
        } else {
            v.to_vec()
        };
        if v.len() != n || v.iter().any(|&s| s < 0) {
            return Err(format!("bad attribute {v:?}"));
        }
        Ok(v.iter().map(|&s| s as usize).collect())
    };
    let s = pos(cx.attrs.ints("strides").unwrap_or(&[]), 2, 1)?;
    let p = pos(cx.attrs.ints("pads").unwrap_or(&[]), 4, 0)?;
    let auto_pad = cx.attrs.string("auto_pad").unwrap_or_default();
    if !matches!(auto_pad.as_str(), "" | "NOTSET" | "VALID") || cx.attrs.int("ceil_mode", 0) != 0 {
        return Err("auto_pad SAME_* and ceil_mode=1 are not supported".into());
    }
    if cx
        .attrs
        .ints("dilations")
        .is_some_and(|d| d.iter().any(|&v| v != 1))
    {
        return Err("dilations other than 1 are not supported".into());
    }
    let (kh, kw) = (kh as usize, kw as usize);
    let include_pad = cx.attrs.int("count_include_pad", 0) != 0;
    let padded = p.iter().any(|&v| v > 0);
    // Σ over the kernel, divided by the kernel size now or by the in-image count below.
    let per_cell = if padded && !include_pad {
        1.0
    } else {
        1.0 / (kh * kw) as f64
    };
    let mut weight = Array4::zeros((c, c, kh, kw));
    for ch in 0..c {
        weight.slice_mut(ndarray::s![ch, ch, .., ..]).fill(per_cell);
    }
    let conv = Conv2d::new(
        weight,
        Array1::zeros(c),
        [s[0], s[1]],
        [p[0], p[1], p[2], p[3]],
        [1, 1],
        [c, h, w],
    )
    .ok_or("the kernel does not fit the input")?;
    let [_, oh, ow] = conv.out_chw;
    let out: Shape = if x.shape.len() == 4 {
        vec![1, c, oh, ow]
    } else {
        vec![c, oh, ow]
    };
    let y = b.push_inputs(cx.name, Op::Conv(conv), vec![x.id], out.clone());
    if !padded || include_pad {
        return Ok(Value::Live(y));
    }
    // Cells of the kernel at output (i, j) that fall inside the image, per axis.
    let inside = |o: usize, stride: usize, pad: usize, k: usize, n: usize| {
        (0..k)
            .filter(|&q| (o * stride + q).checked_sub(pad).is_some_and(|v| v < n))
            .count()
    };
    let mut scale = Vec::with_capacity(c * oh * ow);
    for _ in 0..c {
        for i in 0..oh {
            for j in 0..ow {
                let n = inside(i, s[0], p[0], kh, h) * inside(j, s[1], p[1], kw, w);
                scale.push(1.0 / n.max(1) as f64);
            }
        }
    }
    let op = Op::ScaleShift(ScaleShift {
        shift: Array1::zeros(scale.len()),
        scale: Array1::from_vec(scale),
    });
    Ok(Value::Live(b.push_inputs(
        &format!("{}/count", cx.name),
        op,
        vec![y.id],
        out,
    )))
}
