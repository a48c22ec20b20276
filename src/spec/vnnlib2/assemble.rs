//! The engine network of a query: one [`Network`] whose input and output are laid out as the
//! [`Layout`] says, built from the model of each network declaration.
//!
//! Input: node 0 holds every declared input element of every network, in file order, less the
//! ones identified with an earlier element ([`Layout::aliases`]). Each network declaration's
//! model reads its own elements through a `Gather` (its inputs flattened and concatenated, as
//! the importer lays out a model's graph inputs). Its nodes follow, copied
//! with their inputs renumbered; an `equal-to` network copies the model of the network it
//! names, so `f(x)` and `f(x')` are two copies side by side (the product network of a
//! monotonicity query). Output: a `Concat` of the layout's parts: each network's outputs (its
//! last node, or a `Gather` of the part a declared output occupies in it), then its hidden
//! nodes (which the importer appended to the model's output), then `Gather`s of the input elements that constraints relate. Every op is one the
//! engines already handle, so a query over several networks, or relating inputs to outputs, is
//! still `A·y <= b` over a box.
//!
//! Example: `f` with input `A [2]`, output `B [1]`, and `g` (`equal-to f`) with `C [2]`, `D [1]`,
//! and a constraint `A[0] <= C[0]`: `[Input x [4], Gather(x; 0,1), f's nodes.., Gather(x; 2,3),
//! f's nodes again.., Gather(x; 0, 2), Concat(B, D, copies)]`, output `[B, D, A[0], C[0]]`.

use super::{Layout, Part, Query};
use crate::ir::{numel, Network, Node, NodeId, Op};

/// Builds the engine network from `models[k]`, the model of network declaration `k` (for an
/// `equal-to` network, the model of the one it names), whose output holds the declared outputs
/// and then the declared hidden nodes of `k` (as `import::onnx::load_with` taps them). Only a
/// plain layout returns the model itself.
pub fn engine_network(q: &Query, layout: &Layout, models: &[&Network]) -> Result<Network, String> {
    if models.len() != q.networks.len() {
        return Err(format!(
            "{} models for {} network declarations",
            models.len(),
            q.networks.len()
        ));
    }
    if layout.is_plain(q) {
        return Ok(models[0].clone());
    }
    let n_x = layout.inputs.len();
    let x_index = layout.x_index(q);
    let mut nodes = vec![Node {
        name: "inputs".into(),
        op: Op::Input,
        inputs: Vec::new(),
        shape: vec![n_x],
    }];
    // Where each declared output or hidden tensor is: node and offset in its flattened value.
    let mut placed: Vec<Option<(NodeId, usize)>> = vec![None; q.tensors.len()];
    for (k, decl) in q.networks.iter().enumerate() {
        let net = models[k];
        let n_in: usize = decl.inputs.iter().map(|&t| q.tensors[t].numel()).sum();
        // The model's output: the declared outputs, then the hidden nodes (the importer's taps).
        let n_out: usize = (decl.outputs.iter().chain(&decl.hidden))
            .map(|&t| q.tensors[t].numel())
            .sum();
        if net.input_len() != n_in || net.output_len() != n_out {
            return Err(format!(
                "network `{}` declares {n_in} input and {n_out} output elements, but its model \
                 has {} and {}",
                decl.name,
                net.input_len(),
                net.output_len()
            ));
        }
        // Its input elements, in order, wherever they sit in the engine input.
        let index = (decl.inputs.iter())
            .flat_map(|&t| q.tensors[t].base..q.tensors[t].base + q.tensors[t].numel())
            .map(|s| x_index[&s])
            .collect();
        let gather = push(
            &mut nodes,
            format!("{}/input", decl.name),
            Op::Gather { index },
            vec![NodeId(0)],
            net.input_shape().to_vec(),
        );
        let base = nodes.len();
        // Model node j (> 0) becomes node base + j − 1; its input node 0 becomes the Gather.
        let map = |NodeId(j): NodeId| match j {
            0 => gather,
            j => NodeId(base + j - 1),
        };
        for node in &net.nodes()[1..] {
            nodes.push(Node {
                name: format!("{}/{}", decl.name, node.name),
                op: node.op.clone(),
                inputs: node.inputs.iter().map(|&i| map(i)).collect(),
                shape: node.shape.clone(),
            });
        }
        let out = map(NodeId(net.nodes().len() - 1));
        let mut off = 0;
        for &t in decl.outputs.iter().chain(&decl.hidden) {
            placed[t] = Some((out, off));
            off += q.tensors[t].numel();
        }
    }
    let mut parts = Vec::new();
    for part in &layout.outputs {
        let id = match part {
            Part::Tensor(t) => {
                let t = *t;
                let Some((node, off)) = placed[t] else {
                    return Err(format!("internal: `{}` has no node", q.tensors[t].name));
                };
                let len = q.tensors[t].numel();
                if off == 0 && len == numel(&nodes[node.0].shape) {
                    node
                } else {
                    let name = format!(
                        "{}/{}",
                        q.networks[q.tensors[t].network].name, q.tensors[t].name
                    );
                    let index = (off..off + len).collect();
                    push(
                        &mut nodes,
                        name,
                        Op::Gather { index },
                        vec![node],
                        vec![len],
                    )
                }
            }
            Part::Inputs(ix) => push(
                &mut nodes,
                "input copies".into(),
                Op::Gather { index: ix.clone() },
                vec![NodeId(0)],
                vec![ix.len()],
            ),
        };
        parts.push(id);
    }
    let total: usize = parts.iter().map(|p| numel(&nodes[p.0].shape)).sum();
    push(&mut nodes, "outputs".into(), Op::Concat, parts, vec![total]);
    Network::new(nodes).map_err(|e| format!("internal: the engine network is inconsistent: {e}"))
}

fn push(
    nodes: &mut Vec<Node>,
    name: String,
    op: Op,
    inputs: Vec<NodeId>,
    shape: Vec<usize>,
) -> NodeId {
    nodes.push(Node {
        name,
        op,
        inputs,
        shape,
    });
    NodeId(nodes.len() - 1)
}
