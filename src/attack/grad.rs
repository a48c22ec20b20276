//! Reverse-mode gradient through the IR (one backward loop, one arm per op).

use crate::ir::{Network, NodeId, Op, Scalar};
use ndarray::ArrayView1;

/// `∂(dy·f(x))/∂x` given every node's value `vals` from [`Network::eval_all`] at `x`. Nodes
/// are visited in reverse topological order, so a node's gradient is complete (summed over all
/// its consumers) before it is pushed to its inputs; nodes the output does not read get none.
pub fn gradient(net: &Network, vals: &[Vec<f64>], dy: &[f64]) -> Vec<f64> {
    let nodes = net.nodes();
    let mut grads: Vec<Option<Vec<f64>>> = vec![None; nodes.len()];
    grads[nodes.len() - 1] = Some(dy.to_vec());
    // Adds `g` into the gradient of node `j`.
    let give =
        |grads: &mut Vec<Option<Vec<f64>>>, NodeId(j): NodeId, g: Vec<f64>| match &mut grads[j] {
            Some(acc) => acc.iter_mut().zip(&g).for_each(|(a, b)| *a += b),
            slot => *slot = Some(g),
        };
    for i in (1..nodes.len()).rev() {
        let Some(g) = grads[i].take() else { continue };
        let node = &nodes[i];
        let x = || &vals[node.input().0];
        let gi: Vec<f64> = match &node.op {
            Op::Input => unreachable!("only node 0 is an input"),
            Op::Affine(a) => a.weight.t().dot(&ArrayView1::from(&g)).to_vec(),
            Op::Conv(c) => c.transpose(&g),
            Op::ScaleShift(s) => g.iter().zip(&s.scale).map(|(g, a)| g * a).collect(),
            Op::Reshape => g,
            Op::Relu => g
                .iter()
                .zip(x())
                .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
                .collect(),
            Op::Sigmoid => g
                .iter()
                .zip(x())
                .map(|(&g, &v)| g * v.sigmoid_derivative())
                .collect(),
            Op::Tanh => g
                .iter()
                .zip(x())
                .map(|(&g, &v)| g * v.tanh_derivative())
                .collect(),
            // A step: its derivative is 0 wherever it exists (the attacks move through the
            // other paths, or from their random starts).
            Op::Sign => vec![0.0; g.len()],
            // (x²)' = 2x.
            Op::Square => g.iter().zip(x()).map(|(&g, &v)| 2.0 * g * v).collect(),
            // ∂(a·b)/∂a = b, ∂(a·b)/∂b = a.
            Op::Mul => {
                let (ja, jb) = (node.inputs[0], node.inputs[1]);
                let (a, b) = (&vals[ja.0], &vals[jb.0]);
                give(
                    &mut grads,
                    ja,
                    g.iter().zip(b).map(|(g, b)| g * b).collect(),
                );
                give(
                    &mut grads,
                    jb,
                    g.iter().zip(a).map(|(g, a)| g * a).collect(),
                );
                continue;
            }
            // Within a group, ∂y_e/∂x_j = y_e·(δ_ej − y_j): the input gradient is
            // y_j·(g_j − Σ_e g_e·y_e).
            Op::Softmax(sm) => {
                let y = &vals[i];
                let mut gx = vec![0.0; g.len()];
                for group in sm.groups(g.len()) {
                    let dot: f64 = group.iter().map(|&e| g[e] * y[e]).sum();
                    group.iter().for_each(|&j| gx[j] = y[j] * (g[j] - dot));
                }
                gx
            }
            // ∂(Σ_p x_p)/∂x_p = I: every input gets the whole gradient.
            Op::Add => {
                for &j in &node.inputs {
                    give(&mut grads, j, g.clone());
                }
                continue;
            }
            // Each input gets its block.
            Op::Concat => {
                let mut off = 0;
                for &j in &node.inputs {
                    let len = net.len_of(j);
                    give(&mut grads, j, g[off..off + len].to_vec());
                    off += len;
                }
                continue;
            }
            // Scatter-add: x[c] feeds every output e with index_e = c.
            Op::Gather { index } => {
                let mut gx = vec![0.0; net.len_of(node.input())];
                for (&ge, &c) in g.iter().zip(index) {
                    gx[c] += ge;
                }
                gx
            }
        };
        give(&mut grads, node.input(), gi);
    }
    grads[0]
        .take()
        .unwrap_or_else(|| vec![0.0; net.input_len()])
}
