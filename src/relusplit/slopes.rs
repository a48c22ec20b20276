//! The slope half of an Adam step, shared by the search's optimiser ([`super::optimise`]) and
//! the refinement's ([`super::refine`]): the gradients `∂L/∂α_u = λ_u·ẑ_u` (where `λ_u >= 0`,
//! else 0) of one row over a root's unstable ReLUs, read from contiguous rows of the pass, and
//! one projected Adam update over all of them as one loop over slices (the compiler vectorises
//! it). Only speed depends on this file: the values are those of the per-neuron loop it replaced
//! (a split neuron's gradient is 0, so its slope, unused in the row, does not move).

use super::root::Root;
use crate::bounds::dual::Split;
use ndarray::Array2;
use std::ops::Range;

/// Adam's moment decay rates (the usual values).
pub(crate) const ADAM_B1: f64 = 0.9;
pub(crate) const ADAM_B2: f64 = 0.999;

/// Where a root's unstable ReLUs are read in a pass, and which of them a split names.
pub(crate) struct SlopeIndex {
    /// `(activation node, its input node, unstable indices)` per ReLU node with unstable
    /// neurons ([`Root::unstable`] is in node order).
    groups: Vec<(usize, usize, Range<usize>)>,
    /// The column of each unstable neuron in its node.
    cols: Vec<usize>,
    /// `lookup[node][neuron]`: the neuron's unstable index plus 1 (0: not an unstable ReLU).
    lookup: Vec<Vec<u32>>,
}

impl SlopeIndex {
    /// The index of `root`'s unstable ReLUs.
    pub fn new(root: &Root) -> Self {
        let net = root.dual.network();
        let mut lookup: Vec<Vec<u32>> = vec![Vec::new(); net.nodes().len()];
        let mut groups: Vec<(usize, usize, Range<usize>)> = Vec::new();
        let mut cols = Vec::with_capacity(root.unstable.len());
        for (u, n) in root.unstable.iter().enumerate() {
            let i = n.node as usize;
            match groups.last_mut() {
                Some(g) if g.0 == i => g.2.end = u + 1,
                _ => groups.push((i, root.pre(n.node), u..u + 1)),
            }
            if lookup[i].is_empty() {
                lookup[i] = vec![0; net.len_of(net.nodes()[i].input())];
            }
            lookup[i][n.neuron as usize] = u as u32 + 1;
            cols.push(n.neuron as usize);
        }
        SlopeIndex {
            groups,
            cols,
            lookup,
        }
    }

    /// Row `p`'s slope gradients into `g` (one per unstable neuron): `λ·ẑ` where `λ >= 0`
    /// (the lower line `α·z` is used), else 0, and 0 at the row's split neurons. `act_lambda`
    /// is the pass's `λ` at each activation, `z` the relaxed network's values at each node.
    pub fn gradients(
        &self,
        act_lambda: &[Option<Array2<f64>>],
        z: &[Option<Array2<f64>>],
        p: usize,
        splits: &[Split],
        g: &mut [f64],
    ) {
        for (i, j, range) in &self.groups {
            let lam = act_lambda[*i]
                .as_ref()
                .expect("λ at every activation")
                .row(p);
            let zr = z[*j].as_ref().expect("pre-activations").row(p);
            for u in range.clone() {
                let c = self.cols[u];
                let l = lam[c];
                g[u] = if l >= 0.0 { l * zr[c] } else { 0.0 };
            }
        }
        for s in splits {
            let at = self.lookup.get(s.node as usize);
            if let Some(&k) = at.and_then(|v| v.get(s.neuron as usize)) {
                if k > 0 {
                    g[k as usize - 1] = 0.0;
                }
            }
        }
    }
}

/// One Adam step (bias-corrected by `c = (1 − β1^t, 1 − β2^t)`) on the slopes `x` with moments
/// `m`, `v` and gradients `g`, each slope projected back to [0, 1]. A slope whose gradient has
/// been 0 at every step so far (both moments 0) does not move.
pub(crate) fn adam_slopes(
    x: &mut [f64],
    m: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    lr: f64,
    (c1, c2): (f64, f64),
) {
    let n = x.len();
    let (m, v, g) = (&mut m[..n], &mut v[..n], &g[..n]);
    for k in 0..n {
        m[k] = ADAM_B1 * m[k] + (1.0 - ADAM_B1) * g[k];
        v[k] = ADAM_B2 * v[k] + (1.0 - ADAM_B2) * g[k] * g[k];
        x[k] += lr * (m[k] / c1) / ((v[k] / c2).sqrt() + 1e-12);
        x[k] = x[k].clamp(0.0, 1.0);
    }
}
