//! Piecewise-linear ops written exactly with ReLUs, so every engine handles them with the ReLU's
//! relaxation and the SMT encoding stays exact:
//! - `Clip(x, lo, hi) = hi − relu((hi − lo) − relu(x − lo))` (a chain: for `x <= lo` it is
//!   `hi − (hi − lo) = lo`, inside `x`, above `hi`); one-sided: `lo + relu(x − lo)`,
//!   `hi − relu(hi − x)`;
//! - `LeakyRelu(x) = α·x + (1 − α)·relu(x)` (`x` for `x >= 0`, `α·x` below);
//! - `Max(a, b) = a + relu(b − a)`, `Min(a, b) = a − relu(a − b)`, folded pairwise over more
//!   operands, numpy broadcasting; against a constant `c`: `c + relu(x − c)`, `c − relu(c − x)`;
//! - `MaxPool` (2-D): one `Gather` per kernel cell (the window's cells inside the image; a
//!   window with fewer repeats one, since `max(a, a) = a`), then `Max` as a balanced tree.

use super::fold::scale_shift;
use super::join::{add_live, broadcast_live, gather};
use super::tensor::{self, Const};
use super::values::{Builder, Cx, Live, Value};
use crate::ir::{numel, Op, Shape};

/// `s·x + t` element-wise (scalars), never rewriting `x`'s node in place (its value may have
/// other readers here).
fn affine(b: &mut Builder, name: &str, x: &Live, s: f64, t: f64) -> Live {
    let n = numel(&x.shape);
    let shared = Live {
        exclusive: false,
        ..x.clone()
    };
    match scale_shift(b, name, &shared, x.shape.clone(), vec![s; n], vec![t; n]) {
        Value::Live(y) => y,
        Value::Const(_) => unreachable!("a scale-shift of a computed value is computed"),
    }
}

fn relu(b: &mut Builder, name: &str, x: &Live) -> Live {
    b.push_inputs(name, Op::Relu, vec![x.id], x.shape.clone())
}

fn live(v: Value) -> Live {
    match v {
        Value::Live(x) => x,
        Value::Const(_) => unreachable!("an op of computed values is computed"),
    }
}

/// The scalar of a constant input or attribute (`None` when absent).
fn scalar(cx: &Cx, i: usize, attr: &str) -> Result<Option<f64>, String> {
    match cx.opt(i) {
        Some(_) => {
            let c = cx.constant(i, attr)?;
            match c.data.iter().collect::<Vec<_>>().as_slice() {
                [v] => Ok(Some(**v)),
                _ => Err(format!(
                    "{attr} must be a scalar, has shape {:?}",
                    c.shape()
                )),
            }
        }
        None => Ok(cx.attrs.get(attr).map(|a| a.f as f64)),
    }
}

/// `Clip` (bounds as inputs since opset 11, attributes before).
pub(super) fn clip(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 3)?;
    let lo = scalar(cx, 1, "min")?;
    let hi = scalar(cx, 2, "max")?;
    if let (Some(l), Some(h)) = (lo, hi) {
        if l > h {
            return Err(format!("min {l} > max {h}"));
        }
    }
    let x = match cx.input(0)? {
        Value::Const(c) => {
            let f = |v: f64| {
                v.max(lo.unwrap_or(f64::NEG_INFINITY))
                    .min(hi.unwrap_or(f64::INFINITY))
            };
            return Ok(Value::Const(Const::float(c.data.mapv(f))));
        }
        Value::Live(x) => x,
    };
    let n = cx.name;
    Ok(Value::Live(match (lo, hi) {
        (None, None) => x.clone(),
        (Some(l), None) => {
            let r = {
                let t = affine(b, n, x, 1.0, -l);
                relu(b, n, &t)
            };
            affine(b, n, &r, 1.0, l)
        }
        (None, Some(h)) => {
            let r = {
                let t = affine(b, n, x, -1.0, h);
                relu(b, n, &t)
            };
            affine(b, n, &r, -1.0, h)
        }
        (Some(l), Some(h)) => {
            let a = {
                let t = affine(b, n, x, 1.0, -l);
                relu(b, n, &t)
            };
            let r = {
                let t = affine(b, n, &a, -1.0, h - l);
                relu(b, n, &t)
            };
            affine(b, n, &r, -1.0, h)
        }
    }))
}

/// `LeakyRelu` (`alpha` default 0.01).
pub(super) fn leaky_relu(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, 1)?;
    let alpha = cx.attrs.float("alpha", 0.01) as f64;
    let x = match cx.input(0)? {
        Value::Const(c) => {
            let f = |v: f64| if v >= 0.0 { v } else { alpha * v };
            return Ok(Value::Const(Const::float(c.data.mapv(f))));
        }
        Value::Live(x) => x,
    };
    let n = cx.name;
    let shared = Live {
        exclusive: false,
        ..x.clone()
    };
    let r = relu(b, n, &shared);
    let lin = affine(b, n, &shared, alpha, 0.0);
    let rest = affine(b, n, &r, 1.0 - alpha, 0.0);
    Ok(Value::Live(b.push_inputs(
        n,
        Op::Add,
        vec![lin.id, rest.id],
        x.shape.clone(),
    )))
}

/// `max(a, b)` (`sign = 1`) or `min(a, b)` (`sign = −1`) of computed values with broadcasting:
/// `a + sign·relu(sign·(b − a))`.
fn pair(b: &mut Builder, name: &str, x: &Live, y: &Live, sign: f64) -> Result<Live, String> {
    let shape = tensor::broadcast(&x.shape, &y.shape)?;
    let shared = |v: &Live| Live {
        exclusive: false,
        ..v.clone()
    };
    let x = broadcast_live(b, name, &shared(x), &shape);
    let y = broadcast_live(b, name, &shared(y), &shape);
    let d = live(add_live(b, "Sub", name, &shared(&y), &shared(&x))?);
    let r = {
        let t = affine(b, name, &d, sign, 0.0);
        relu(b, name, &t)
    };
    let r = affine(b, name, &r, sign, 0.0);
    Ok(b.push_inputs(name, Op::Add, vec![x.id, r.id], shape))
}

/// `Max`/`Min` of one or more operands (at least one computed).
pub(super) fn max_min(b: &mut Builder, op: &str, cx: &Cx) -> Result<Value, String> {
    cx.arity(1, usize::MAX)?;
    let sign = if op == "Max" { 1.0 } else { -1.0 };
    let pick = |a: f64, c: f64| if sign > 0.0 { a.max(c) } else { a.min(c) };
    let inputs = (0..cx.inputs.len())
        .map(|i| cx.input(i))
        .collect::<Result<Vec<_>, _>>()?;
    // Fold the constants into one, then combine the computed operands pairwise.
    let mut konst: Option<Const> = None;
    let mut lives: Vec<Live> = Vec::new();
    for v in inputs {
        match v {
            Value::Const(c) => {
                konst = Some(match konst {
                    None => c.clone(),
                    Some(k) => {
                        let shape = tensor::broadcast(k.shape(), c.shape())?;
                        let (a, d) = (
                            tensor::broadcast_flat(&k, &shape)?,
                            tensor::broadcast_flat(c, &shape)?,
                        );
                        let data = a.iter().zip(&d).map(|(&a, &d)| pick(a, d)).collect();
                        Const::float(
                            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), data)
                                .map_err(|e| e.to_string())?,
                        )
                    }
                })
            }
            Value::Live(x) => lives.push(x.clone()),
        }
    }
    let Some(mut acc) = tree(b, cx.name, lives, sign)? else {
        return Ok(Value::Const(konst.ok_or("no operands")?));
    };
    if let Some(k) = konst {
        // sign·relu(sign·(x − c)) + c, with c broadcast to the result's shape.
        let shape = tensor::broadcast(&acc.shape, k.shape())?;
        let acc_b = broadcast_live(b, cx.name, &acc, &shape);
        let c = tensor::broadcast_flat(&k, &shape)?;
        let n = numel(&shape);
        let d = live(scale_shift(
            b,
            cx.name,
            &Live {
                exclusive: false,
                ..acc_b
            },
            shape.clone(),
            vec![sign; n],
            c.iter().map(|v| -sign * v).collect(),
        ));
        let r = relu(b, cx.name, &d);
        acc = live(scale_shift(b, cx.name, &r, shape, vec![sign; n], c));
    }
    Ok(Value::Live(acc))
}

/// The max (`sign = 1`) or min of `xs` as a balanced tree of [`pair`]s.
fn tree(b: &mut Builder, name: &str, mut xs: Vec<Live>, sign: f64) -> Result<Option<Live>, String> {
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len().div_ceil(2));
        for chunk in xs.chunks(2) {
            next.push(match chunk {
                [x, y] => pair(b, name, x, y, sign)?,
                [x] => x.clone(),
                _ => unreachable!("chunks of two"),
            });
        }
        xs = next;
    }
    Ok(xs.pop())
}

/// `MaxPool` on a `[1, C, H, W]` input (2-D kernels, no `ceil_mode`, dilation 1; the optional
/// `Indices` output unused).
pub(super) fn max_pool(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
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
    let get = |name: &str, n: usize, default: i64| -> Result<Vec<usize>, String> {
        let v = cx
            .attrs
            .ints(name)
            .map_or(vec![default; n], <[i64]>::to_vec);
        if v.len() != n || v.iter().any(|&s| s < 0) {
            return Err(format!("bad `{name}` {v:?}"));
        }
        Ok(v.iter().map(|&s| s as usize).collect())
    };
    let (s, p, d) = (
        get("strides", 2, 1)?,
        get("pads", 4, 0)?,
        get("dilations", 2, 1)?,
    );
    let auto_pad = cx.attrs.string("auto_pad").unwrap_or_default();
    if !matches!(auto_pad.as_str(), "" | "NOTSET" | "VALID")
        || cx.attrs.int("ceil_mode", 0) != 0
        || d != [1, 1]
    {
        return Err("auto_pad SAME_*, ceil_mode=1 and dilations are not supported".into());
    }
    let (kh, kw) = (kh as usize, kw as usize);
    let out = |n: usize, k: usize, s: usize, before: usize, after: usize| {
        (n + before + after).checked_sub(k).map(|v| v / s + 1)
    };
    let (Some(oh), Some(ow)) = (out(h, kh, s[0], p[0], p[2]), out(w, kw, s[1], p[1], p[3])) else {
        return Err("the kernel does not fit the input".into());
    };
    // For each output element, its window's cells inside the image (row-major source index).
    let mut cells: Vec<Vec<usize>> = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for i in 0..oh {
            for j in 0..ow {
                let mut v = Vec::with_capacity(kh * kw);
                for q in 0..kh {
                    for r in 0..kw {
                        let (y, z) = (
                            (i * s[0] + q).checked_sub(p[0]),
                            (j * s[1] + r).checked_sub(p[1]),
                        );
                        if let (Some(y), Some(z)) = (y, z) {
                            if y < h && z < w {
                                v.push((ch * h + y) * w + z);
                            }
                        }
                    }
                }
                if v.is_empty() {
                    return Err("a pooling window lies entirely in the padding".into());
                }
                cells.push(v);
            }
        }
    }
    let shape: Shape = if x.shape.len() == 4 {
        vec![1, c, oh, ow]
    } else {
        vec![c, oh, ow]
    };
    let shared = Live {
        exclusive: false,
        ..x.clone()
    };
    let parts: Vec<Live> = (0..kh * kw)
        .map(|k| {
            let index = cells.iter().map(|v| v[k.min(v.len() - 1)]).collect();
            gather(b, cx.name, &shared, index, shape.clone())
        })
        .collect();
    let parts = dedup_identical(b, parts);
    Ok(Value::Live(
        tree(b, cx.name, parts, 1.0)?.ok_or("an empty kernel")?,
    ))
}

/// Drops gathers identical to an earlier one (windows smaller than the kernel repeat cells).
fn dedup_identical(b: &Builder, parts: Vec<Live>) -> Vec<Live> {
    let mut kept: Vec<Live> = Vec::new();
    for p in parts {
        let same = kept
            .iter()
            .any(|k| b.nodes[k.id.0].op == b.nodes[p.id.0].op);
        if !same {
            kept.push(p);
        }
    }
    kept
}
