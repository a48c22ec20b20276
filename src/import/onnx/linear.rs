//! Linear layers: `Gemm` and `MatMul` (with one constant operand) become `Affine` nodes on the
//! flattened value (convolutions are in [`super::conv`]). A following constant `Add`, `Mul`, ... or
//! `BatchNormalization` is folded into them later by [`super::fold::scale_shift`].

use super::tensor::{broadcast_flat, checked_numel, Const, MAX_ELEMS};
use super::values::{Builder, Cx, Live, Value};
use crate::ir::{numel, Affine, Op, Shape};
use ndarray::{s, Array1, Array2, Ix2};

const BOTH_LIVE: &str = "both operands are computed values; one must be a constant";

/// A rank-2 constant as a matrix.
fn matrix(c: &Const, what: &str) -> Result<Array2<f64>, String> {
    c.data
        .view()
        .into_dimensionality::<Ix2>()
        .map(|v| v.to_owned())
        .map_err(|_| format!("{what} must be 2-D, has shape {:?}", c.shape()))
}

/// `kron(I_p, w)`: the matrix applying `w` to each of `p` consecutive blocks of the flattened
/// input, for a product whose rows (`M` of `[M, K]·[K, N]`, or batch dimensions) exceed 1.
fn block_diag(w: Array2<f64>, p: usize) -> Result<Array2<f64>, String> {
    if p == 1 {
        return Ok(w);
    }
    let (n, k) = w.dim();
    let size = p
        .checked_mul(n)
        .zip(p.checked_mul(k))
        .and_then(|(r, c)| r.checked_mul(c));
    if size.is_none_or(|s| s > MAX_ELEMS) {
        return Err(format!(
            "applying a {n}×{k} weight to {p} rows needs a too large block-diagonal matrix"
        ));
    }
    let mut big = Array2::zeros((p * n, p * k));
    for i in 0..p {
        big.slice_mut(s![i * n..(i + 1) * n, i * k..(i + 1) * k])
            .assign(&w);
    }
    Ok(big)
}

/// `Gemm`: `Y = alpha·A·op(B) + beta·C` with `A` live (`transA = 0`), `B` and `C` constant,
/// i.e. `W = alpha·op(B)ᵀ` and `b = beta·C` broadcast to `[M, N]`.
pub(super) fn gemm(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(2, 3)?;
    let x = match cx.input(0)? {
        Value::Live(x) => x,
        Value::Const(_) => {
            return Err("A (input 0) is a constant; only a computed A is supported".into())
        }
    };
    if cx.attrs.int("transA", 0) != 0 {
        return Err("transA=1 on a computed A is not supported".into());
    }
    let &[m, k] = x.shape.as_slice() else {
        return Err(format!("A must be 2-D, has shape {:?}", x.shape));
    };
    let bm = matrix(cx.constant(1, "B")?, "B")?;
    let mut w = if cx.attrs.int("transB", 0) != 0 {
        bm
    } else {
        bm.t().as_standard_layout().into_owned()
    };
    if w.ncols() != k {
        return Err(format!(
            "A has shape {:?} but B has shape {:?}",
            x.shape,
            cx.input(1)?.shape()
        ));
    }
    let alpha = cx.attrs.float("alpha", 1.0) as f64;
    let beta = cx.attrs.float("beta", 1.0) as f64;
    if alpha != 1.0 {
        w.mapv_inplace(|v| v * alpha);
    }
    let n = w.nrows();
    let bias = match cx.opt(2) {
        None => vec![0.0; m * n],
        Some(Value::Const(c)) => broadcast_flat(c, &[m, n])?
            .into_iter()
            .map(|v| v * beta)
            .collect(),
        Some(Value::Live(_)) => return Err("C (input 2) must be a constant".into()),
    };
    let affine = Affine {
        weight: block_diag(w, m)?,
        bias: Array1::from(bias),
    };
    Ok(b.push(cx.name, Op::Affine(affine), x, vec![m, n]))
}

/// `MatMul` with numpy semantics, one side constant.
pub(super) fn matmul(b: &mut Builder, cx: &Cx) -> Result<Value, String> {
    cx.arity(2, 2)?;
    match (cx.input(0)?, cx.input(1)?) {
        (Value::Live(x), Value::Const(c)) => live_times_const(b, cx.name, x, c),
        (Value::Const(a), Value::Live(x)) => const_times_live(b, cx.name, a, x),
        (Value::Const(p), Value::Const(q)) => {
            let (p, q) = (matrix(p, "A")?, matrix(q, "B")?);
            if p.ncols() != q.nrows() {
                return Err(format!("shapes {:?} and {:?} do not fit", p.dim(), q.dim()));
            }
            checked_numel(&[p.nrows(), q.ncols()])?;
            Ok(Value::Const(Const::float(p.dot(&q).into_dyn())))
        }
        (Value::Live(_), Value::Live(_)) => Err(BOTH_LIVE.into()),
    }
}

/// `x·C` for live `x` of shape `[batch.., M, K]` (or `[K]`) and constant `C` of shape `[K, N]`
/// (or `[K]`, or with leading 1s): `W = Cᵀ` on each of the `batch·M` rows.
fn live_times_const(b: &mut Builder, name: &str, x: &Live, c: &Const) -> Result<Value, String> {
    let (xs, cs) = (x.shape.as_slice(), c.shape());
    let (batch, m, k) = match xs.len() {
        0 => return Err("MatMul needs operands of rank ≥ 1".into()),
        1 => (&xs[..0], None, xs[0]),
        r => (&xs[..r - 2], Some(xs[r - 2]), xs[r - 1]),
    };
    let (kc, n) = match cs.len() {
        0 => return Err("MatMul needs operands of rank ≥ 1".into()),
        1 => (cs[0], None),
        r if cs[..r - 2].iter().all(|&d| d == 1) => (cs[r - 2], Some(cs[r - 1])),
        _ => {
            return Err(format!(
                "a constant operand with batch dimensions {cs:?} is not supported"
            ))
        }
    };
    if k != kc {
        return Err(format!("shapes {xs:?} and {cs:?} do not fit"));
    }
    let cm = c.reshaped(&[k, n.unwrap_or(1)])?;
    let cm = matrix(&cm, "B")?;
    let w = cm.t().as_standard_layout().into_owned();
    let mut out: Shape = vec![1; cs.len().saturating_sub(2).saturating_sub(batch.len())];
    out.extend_from_slice(batch);
    out.extend(m);
    out.extend(n);
    let p = numel(batch) * m.unwrap_or(1);
    let weight = block_diag(w, p)?;
    let bias = Array1::zeros(weight.nrows());
    Ok(b.push(name, Op::Affine(Affine { weight, bias }), x, out))
}

/// `A·x` for constant `A` of shape `[M, K]` (or `[K]`) and live `x` of shape `[K, N]` (or `[K]`,
/// or with leading 1s): `y[m, n] = Σ_k A[m, k]·x[k, n]`, so `W[(m, n), (k, n)] = A[m, k]`.
fn const_times_live(b: &mut Builder, name: &str, a: &Const, x: &Live) -> Result<Value, String> {
    let xs = x.shape.as_slice();
    let (lead, k, n) = match xs.len() {
        0 => return Err("MatMul needs operands of rank ≥ 1".into()),
        1 => (&xs[..0], xs[0], None),
        r => (&xs[..r - 2], xs[r - 2], Some(xs[r - 1])),
    };
    if lead.iter().any(|&d| d != 1) {
        return Err(format!(
            "a computed right operand with batch dimensions {xs:?} is not supported"
        ));
    }
    let (m, ka) = match *a.shape() {
        [ka] => (None, ka),
        [m, ka] => (Some(m), ka),
        ref s => {
            return Err(format!(
                "a constant left operand of shape {s:?} is not supported"
            ))
        }
    };
    if ka != k {
        return Err(format!("shapes {:?} and {xs:?} do not fit", a.shape()));
    }
    let (m1, n1) = (m.unwrap_or(1), n.unwrap_or(1));
    checked_numel(&[m1 * n1, k, n1])?;
    let av: Vec<f64> = a.data.iter().copied().collect();
    let mut weight = Array2::zeros((m1 * n1, k * n1));
    for mi in 0..m1 {
        for ki in 0..k {
            for j in 0..n1 {
                weight[[mi * n1 + j, ki * n1 + j]] = av[mi * k + ki];
            }
        }
    }
    let mut out: Shape = lead.to_vec();
    out.extend(m);
    out.extend(n);
    let bias = Array1::zeros(weight.nrows());
    Ok(b.push(name, Op::Affine(Affine { weight, bias }), x, out))
}
