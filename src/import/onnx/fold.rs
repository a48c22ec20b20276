//! Folding an element-wise affine map `y = sc ⊙ x + sh` into the node that computed `x`
//! (an `Affine`, `ScaleShift` or `Conv`), or a `ScaleShift` node when it cannot be folded. Every
//! lowering that scales or shifts a computed value (element-wise ops, `Sub` of two computed
//! values, selections, piecewise-linear ops) goes through [`scale_shift`].

use super::values::{Builder, Live, Value};
use crate::ir::{Conv2d, Op, ScaleShift, Shape};
use ndarray::Axis;

/// Applies `y = sc ⊙ x + sh` (`sc`, `sh` flattened over `shape`, whose element count is
/// `x`'s). Folding, when `x` is the last node and `x` its only reader:
/// - `Affine`: `W' = diag(sc)·W`, `b' = sc ⊙ b + sh`;
/// - `ScaleShift`: `scale' = sc ⊙ scale`, `shift' = sc ⊙ shift + sh`;
/// - `Conv`, when `sc` and `sh` are constant over each output channel `o`:
///   `W'[o] = sc_o·W[o]`, `b'_o = sc_o·b_o + sh_o`.
///
/// An identity (`sc = 1`, `sh = 0`, e.g. subtracting a zero mean) emits nothing: it is exact
/// in every float type. Otherwise a `ScaleShift` node is appended.
pub(super) fn scale_shift(
    b: &mut Builder,
    name: &str,
    x: &Live,
    shape: Shape,
    sc: Vec<f64>,
    sh: Vec<f64>,
) -> Value {
    if sc.iter().all(|&s| s == 1.0) && sh.iter().all(|&t| t == 0.0) {
        return Value::Live(Live { shape, ..x.clone() });
    }
    if let Some(node) = b.sole_last(x) {
        let n = sc.len();
        let folded = match &mut node.op {
            Op::Affine(a) if a.bias.len() == n => {
                for (i, mut row) in a.weight.axis_iter_mut(Axis(0)).enumerate() {
                    row *= sc[i];
                    a.bias[i] = a.bias[i] * sc[i] + sh[i];
                }
                true
            }
            Op::ScaleShift(s) if s.scale.len() == n => {
                for i in 0..n {
                    s.scale[i] *= sc[i];
                    s.shift[i] = s.shift[i] * sc[i] + sh[i];
                }
                true
            }
            Op::Conv(c) if c.out_len() == n => fold_into_conv(c, &sc, &sh),
            _ => false,
        };
        if folded {
            node.shape = shape.clone();
            return Value::Live(Live {
                id: x.id,
                shape,
                exclusive: true,
            });
        }
    }
    let op = Op::ScaleShift(ScaleShift {
        scale: sc.into(),
        shift: sh.into(),
    });
    b.push(name, op, x, shape)
}

/// Folds a per-channel `sc`, `sh` into a convolution; false when they vary within a channel.
fn fold_into_conv(c: &mut Conv2d, sc: &[f64], sh: &[f64]) -> bool {
    let hw = c.out_chw[1] * c.out_chw[2];
    if hw == 0 {
        return false;
    }
    let uniform = |v: &[f64]| v.chunks(hw).all(|ch| ch.iter().all(|&u| u == ch[0]));
    if !uniform(sc) || !uniform(sh) {
        return false;
    }
    for o in 0..c.out_chw[0] {
        let (s, t) = (sc[o * hw], sh[o * hw]);
        c.scale_output_channel(o, s);
        c.bias[o] = c.bias[o] * s + t;
    }
    true
}
