//! DLV's discretisation of one layer: features, manipulation directions and the grid.
//!
//! At layer `k` with value `α` (the centre's activation) and a per-dimension range `[l_p, u_p]`
//! (the input box at layer 0, sound bounds of the ReLU's output above it):
//! - saliency `s_p = |∂m/∂α_p|·(u_p − l_p)`, with `m` the margin of the disjunct the centre comes
//!   closest to (the output is on the bad side when `m <= 0`);
//! - features: the dimensions with `u_p > l_p`, ranked by saliency (then width) and cut into
//!   `N` groups of (nearly) equal size, most salient first: a decomposition of the layer as in
//!   the paper; fixed dimensions stay at `α_p`;
//! - a manipulation moves feature `f` by `m_f` steps: `α'_p = clamp(α_p + m_f·τ_p·d_p, l_p, u_p)`
//!   for `p ∈ f`, `m_f ∈ {−M, ..., M}`, with direction `d_p = −sign(∂m/∂α_p)` (towards the bad
//!   case for `m_f > 0`; `+1` where the gradient is zero); the grid is every `m ∈ {−M..M}^N`,
//!   `(2M+1)^N` points.

use crate::ir::{Network, Node, NodeId};

/// The discretisation of one layer.
#[derive(Clone, Debug)]
pub(crate) struct Grid {
    /// The centre's activation `α`.
    pub centre: Vec<f64>,
    /// Feature `f`'s dimensions.
    pub features: Vec<Vec<usize>>,
    /// Per dimension: `τ_p·d_p` (zero off the features).
    pub step: Vec<f64>,
    /// Per dimension range `[l_p, u_p]`.
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// `M`.
    pub steps: usize,
}

impl Grid {
    /// Chooses the features from the margin's gradient `grad` at the centre (see the module doc).
    /// `tau[p]` is the step length of dimension `p`.
    pub fn new(
        centre: Vec<f64>,
        grad: &[f64],
        lower: Vec<f64>,
        upper: Vec<f64>,
        tau: &[f64],
        n_features: usize,
        steps: usize,
    ) -> Grid {
        let sal = |p: usize| grad[p].abs() * (upper[p] - lower[p]);
        let mut dims: Vec<usize> = (0..centre.len())
            .filter(|&p| upper[p] > lower[p] && tau[p] > 0.0)
            .collect();
        // Most salient first; dimensions the gradient does not see (a dead ReLU at the centre)
        // come last, widest first, so that the decomposition still covers the layer.
        let key = |p: usize| (sal(p), upper[p] - lower[p]);
        dims.sort_by(|&a, &b| {
            let (ka, kb) = (key(a), key(b));
            kb.0.total_cmp(&ka.0)
                .then(kb.1.total_cmp(&ka.1))
                .then(a.cmp(&b))
        });
        let n = n_features.min(dims.len());
        let features: Vec<Vec<usize>> = (0..n)
            .map(|f| dims[f * dims.len() / n..(f + 1) * dims.len() / n].to_vec())
            .collect();
        let mut step = vec![0.0; centre.len()];
        for &p in features.iter().flatten() {
            // −sign(∂m/∂α_p), and +1 where the gradient is zero.
            step[p] = if grad[p] > 0.0 { -tau[p] } else { tau[p] };
        }
        Grid {
            centre,
            features,
            step,
            lower,
            upper,
            steps,
        }
    }

    /// `(2M+1)^N`, saturating.
    pub fn size(&self) -> usize {
        (0..self.features.len()).fold(1usize, |s, _| s.saturating_mul(2 * self.steps + 1))
    }

    /// The multipliers `m` of grid point `idx` (mixed radix, digit `f` is `m_f + M`).
    pub fn multipliers(&self, mut idx: usize) -> Vec<i64> {
        let radix = 2 * self.steps + 1;
        (0..self.features.len())
            .map(|_| {
                let d = idx % radix;
                idx /= radix;
                d as i64 - self.steps as i64
            })
            .collect()
    }

    /// The manipulated activation `α'` for multipliers `m`.
    pub fn point(&self, m: &[i64]) -> Vec<f64> {
        let mut a = self.centre.clone();
        for (f, dims) in self.features.iter().enumerate() {
            for &p in dims {
                a[p] = (a[p] + m[f] as f64 * self.step[p]).clamp(self.lower[p], self.upper[p]);
            }
        }
        a
    }

    /// The grid cell of `α'`: every feature dimension within half a step of its value (inside
    /// `[l_p, u_p]`), as `(dimension, low, high)`.
    pub fn cell(&self, a: &[f64]) -> Vec<(usize, f64, f64)> {
        self.features
            .iter()
            .flatten()
            .map(|&p| {
                let h = 0.5 * self.step[p].abs();
                (
                    p,
                    (a[p] - h).max(self.lower[p]),
                    (a[p] + h).min(self.upper[p]),
                )
            })
            .collect()
    }
}

/// The network from node `k`'s value to the output: an input of node `k`'s shape, then the
/// nodes after `k` on `path` (the output's dependency chain, of a [chain](Network::is_chain)
/// network), re-indexed.
pub(crate) fn suffix(net: &Network, path: &[usize], k: usize) -> Network {
    let nodes = net.nodes();
    let mut out = vec![Node {
        name: format!("{} (as input)", nodes[k].name),
        op: crate::ir::Op::Input,
        inputs: vec![],
        shape: nodes[k].shape.clone(),
    }];
    for &i in path.iter().skip_while(|&&i| i != k).skip(1) {
        let mut n = nodes[i].clone();
        n.inputs = vec![NodeId(out.len() - 1)];
        out.push(n);
    }
    Network::new(out).expect("a suffix of a valid chain is valid")
}
