//! Ops that join computed values or move their data, lowered to the IR's `Add`, `Concat` and
//! `Gather`: `Add`/`Sub` of two computed tensors (residual joins), `Concat` of computed tensors,
//! `Transpose` that reorders data, and numpy broadcasting of a computed operand by repetition.

use super::fold::scale_shift;
use super::tensor::{self, checked_numel};
use super::values::{Builder, Cx, Live, Value};
use crate::ir::{numel, Op, Shape};

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1];
    }
    st
}

/// The multi-index of row-major position `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    idx
}

/// A `Gather` of `x` with `index`: composed into `x`'s own node when that is a `Gather` that
/// only `x` reads and nothing was built on it (`x[i][j] = x₀[i[j]]`), so a chain of data moves
/// stays one node.
pub(super) fn gather(
    b: &mut Builder,
    name: &str,
    x: &Live,
    index: Vec<usize>,
    shape: Shape,
) -> Live {
    if let Some(node) = b.sole_last(x) {
        if let Op::Gather { index: inner } = &mut node.op {
            *inner = index.iter().map(|&e| inner[e]).collect();
            node.shape = shape.clone();
            return Live {
                id: x.id,
                shape,
                exclusive: true,
            };
        }
    }
    b.push_inputs(name, Op::Gather { index }, vec![x.id], shape)
}

/// `x` broadcast numpy-style to `shape` (computed by [`tensor::broadcast`] from `x`'s shape):
/// the same value with the new shape when the element count is unchanged (broadcasting then
/// only adds size-1 axes, so the row-major order is the same), else a `Gather` that repeats
/// each element along the axes where `x` has size 1.
pub(super) fn broadcast_live(b: &mut Builder, name: &str, x: &Live, shape: &[usize]) -> Live {
    if numel(shape) == numel(&x.shape) {
        return Live {
            shape: shape.to_vec(),
            ..x.clone()
        };
    }
    // x's shape right-aligned to the output's rank.
    let mut xs = vec![1; shape.len() - x.shape.len()];
    xs.extend_from_slice(&x.shape);
    let st = strides(&xs);
    let index = (0..numel(shape))
        .map(|flat| {
            let o = unravel(flat, shape);
            (0..shape.len())
                .filter(|&d| xs[d] != 1)
                .map(|d| o[d] * st[d])
                .sum()
        })
        .collect();
    gather(b, name, x, index, shape.to_vec())
}

/// `Add` or `Sub` of two computed values `x`, `y` (numpy broadcasting): `Add(x, y)`, or
/// `Add(x, −y)` with `−y` a `ScaleShift(−1, 0)` (folded into `y`'s node when it may).
pub(super) fn add_live(
    b: &mut Builder,
    op: &str,
    name: &str,
    x: &Live,
    y: &Live,
) -> Result<Value, String> {
    let shape = tensor::broadcast(&x.shape, &y.shape)?;
    let x = broadcast_live(b, name, x, &shape);
    let mut y = broadcast_live(b, name, y, &shape);
    if op == "Sub" {
        let n = numel(&shape);
        let neg = scale_shift(b, name, &y, shape.clone(), vec![-1.0; n], vec![0.0; n]);
        let Value::Live(neg) = neg else {
            unreachable!("a scale-shift of a computed value is computed")
        };
        y = neg;
    }
    Ok(Value::Live(b.push_inputs(
        name,
        Op::Add,
        vec![x.id, y.id],
        shape,
    )))
}

/// `Concat` of computed values along `axis`: an IR `Concat` (the flattened inputs appended),
/// which is the row-major result itself when every axis before `axis` has size 1; otherwise a
/// `Gather` then interleaves the blocks: output block `o` (of the `outer` leading positions)
/// holds, for each input `p` in turn, input `p`'s block `o`.
pub(super) fn concat_live(b: &mut Builder, cx: &Cx, parts: &[&Live]) -> Result<Value, String> {
    let rank = parts[0].shape.len();
    if parts.iter().any(|x| x.shape.len() != rank) {
        return Err("the inputs have different ranks".into());
    }
    let ax = tensor::axis(
        cx.attrs
            .get("axis")
            .ok_or("the `axis` attribute is missing")?
            .i,
        rank,
    )?;
    let first = &parts[0].shape;
    let fits = |s: &Shape| (0..rank).all(|d| d == ax || s[d] == first[d]);
    if let Some(bad) = parts.iter().find(|x| !fits(&x.shape)) {
        return Err(format!(
            "the inputs' shapes {first:?} and {:?} differ outside axis {ax}",
            bad.shape
        ));
    }
    let mut out: Shape = first.clone();
    out[ax] = parts.iter().map(|x| x.shape[ax]).sum();
    let total = checked_numel(&out)?;
    let outer = numel(&first[..ax]);
    let ids = parts.iter().map(|x| x.id).collect();
    if outer == 1 {
        return Ok(Value::Live(b.push_inputs(cx.name, Op::Concat, ids, out)));
    }
    let cat = b.push_inputs(cx.name, Op::Concat, ids, vec![total]);
    let inner = numel(&first[ax + 1..]);
    // Start of input p's values in the IR Concat, and the size of its block per outer position.
    let mut index = Vec::with_capacity(total);
    for o in 0..outer {
        let mut start = 0;
        for x in parts {
            let block = x.shape[ax] * inner;
            index.extend(start + o * block..start + (o + 1) * block);
            start += numel(&x.shape);
        }
    }
    Ok(Value::Live(gather(b, cx.name, &cat, index, out)))
}

/// `Transpose` of a computed value by `perm` when it reorders data: a `Gather` with
/// `y[o] = x[i]`, `i[perm[k]] = o[k]`, i.e. source `Σ_k o[k]·stride_x[perm[k]]`.
pub(super) fn transpose_live(b: &mut Builder, name: &str, x: &Live, perm: &[usize]) -> Value {
    let out: Shape = perm.iter().map(|&p| x.shape[p]).collect();
    let st = strides(&x.shape);
    let index = (0..numel(&out))
        .map(|flat| {
            let o = unravel(flat, &out);
            (0..out.len()).map(|k| o[k] * st[perm[k]]).sum()
        })
        .collect();
    Value::Live(gather(b, name, x, index, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Node, NodeId};

    fn live(b: &mut Builder, shape: &[usize]) -> Live {
        b.push_inputs("x", Op::Reshape, vec![NodeId(0)], shape.to_vec())
    }

    fn builder(n: usize) -> Builder {
        Builder::new(Node {
            name: "in".into(),
            op: Op::Input,
            inputs: vec![],
            shape: vec![n],
        })
    }

    fn gather_index(b: &Builder, v: &Value) -> Vec<usize> {
        let Value::Live(x) = v else { panic!() };
        match &b.nodes[x.id.0].op {
            Op::Gather { index } => index.clone(),
            op => panic!("{op:?}"),
        }
    }

    /// `[[0, 1, 2], [3, 4, 5]]ᵀ = [[0, 3], [1, 4], [2, 5]]`; transposing back composes into
    /// the same node, the identity.
    #[test]
    fn transpose_indices() {
        let mut b = builder(6);
        let x = live(&mut b, &[2, 3]);
        let v = transpose_live(&mut b, "t", &x, &[1, 0]);
        assert_eq!(gather_index(&b, &v), [0, 3, 1, 4, 2, 5]);
        let Value::Live(t) = &v else { panic!() };
        let back = transpose_live(&mut b, "tt", t, &[1, 0]);
        assert_eq!(gather_index(&b, &back), [0, 1, 2, 3, 4, 5]);
        assert_eq!(b.nodes.len(), 3);
    }

    /// `[3, 1]` broadcast to `[3, 2]` repeats each element; `[2]` to `[3, 2]` repeats rows.
    #[test]
    fn broadcast_indices() {
        let mut b = builder(3);
        let x = live(&mut b, &[3, 1]);
        let g = broadcast_live(&mut b, "g", &x, &[3, 2]);
        assert_eq!(gather_index(&b, &Value::Live(g)), [0, 0, 1, 1, 2, 2]);
        let mut b = builder(2);
        let x = live(&mut b, &[2]);
        let g = broadcast_live(&mut b, "g", &x, &[3, 2]);
        assert_eq!(gather_index(&b, &Value::Live(g)), [0, 1, 0, 1, 0, 1]);
    }
}
