//! Reverse-mode gradient through the IR (one backward loop, one arm per op).

use crate::ir::{Network, Op, Scalar};
use ndarray::ArrayView1;

/// `∂(dy·f(x))/∂x` given every node's value `vals` from [`Network::eval_all`] at `x`.
pub fn gradient(net: &Network, vals: &[Vec<f64>], dy: &[f64]) -> Vec<f64> {
    let nodes = net.nodes();
    let mut grads: Vec<Option<Vec<f64>>> = vec![None; nodes.len()];
    grads[nodes.len() - 1] = Some(dy.to_vec());
    for i in (1..nodes.len()).rev() {
        let Some(g) = grads[i].take() else { continue };
        let j = nodes[i].input.expect("non-input nodes have an input").0;
        let x = &vals[j];
        let gi: Vec<f64> = match &nodes[i].op {
            Op::Input => unreachable!("only node 0 is an input"),
            Op::Affine(a) => a.weight.t().dot(&ArrayView1::from(&g)).to_vec(),
            Op::Conv(c) => c.transpose(&g),
            Op::ScaleShift(s) => g.iter().zip(&s.scale).map(|(g, a)| g * a).collect(),
            Op::Reshape => g,
            Op::Relu => g
                .iter()
                .zip(x)
                .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
                .collect(),
            Op::Sigmoid => g
                .iter()
                .zip(x)
                .map(|(&g, &v)| {
                    let s = v.sigmoid();
                    g * s * (1.0 - s)
                })
                .collect(),
            Op::Tanh => g
                .iter()
                .zip(x)
                .map(|(&g, &v)| g * (1.0 - v.tanh().powi(2)))
                .collect(),
        };
        // Accumulate: several nodes may read the same input.
        match &mut grads[j] {
            Some(acc) => acc.iter_mut().zip(&gi).for_each(|(a, b)| *a += b),
            slot => *slot = Some(gi),
        }
    }
    grads[0]
        .take()
        .unwrap_or_else(|| vec![0.0; net.input_len()])
}
