//! What every domain of one region shares: the root's bounds of every node (α-CROWN over every
//! intermediate layer, optionally tightened by LPs on the first layers) and the neurons that can
//! be split.

use super::ReluSplitConfig;
use crate::bounds::alpha::{self, AlphaConfig};
use crate::bounds::dual::{DualNetwork, Scales, Slopes, Split};
use crate::bounds::relax::{relu_phase, ReluPhase, SShape};
use crate::bounds::Bounds;
use crate::deadline::Deadline;
use crate::ir::{Network, NodeId, Op};
use crate::spec::Region;

/// A neuron that can be split: element `neuron` of the input of activation node `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Neuron {
    pub node: u32,
    pub neuron: u32,
}

/// The root of one region's search.
pub(crate) struct Root<'a> {
    pub dual: &'a DualNetwork<'a>,
    /// Sound bounds of every node over the region's proof box: the intermediate bounds of
    /// every domain (frozen; each row relaxes its own split neurons over their halves).
    pub bounds: Vec<Bounds>,
    /// The per-node numbers of the passes over `bounds` (filled on first use, shared).
    pub scales: Scales,
    /// The splittable neurons: the ReLUs unstable over the root bounds, in node order. A
    /// domain's slopes are stored per row over this list.
    pub unstable: Vec<Neuron>,
    /// The sigmoid and tanh neurons that can be split ([`super::curves`]), in node order.
    pub curved: Vec<Neuron>,
    /// The output node (every objective is on it) and its ancestors.
    pub out: usize,
    pub anc: Vec<bool>,
    /// Optimise the tangent points of the `curved` neurons' lines
    /// ([`ReluSplitConfig::tangents`]).
    pub tangents: bool,
}

impl<'a> Root<'a> {
    /// The root bounds over `region`'s proof box: α-CROWN (`cfg.root_intermediate_iterations`
    /// per layer), then, with `cfg.root_lp` on a network small enough, LPs on the unstable
    /// neurons layer by layer within a share of the time left. Past `deadline` the bounds are
    /// only sound (see [`DualNetwork::all_bounds_by`]).
    pub fn new(
        dual: &'a DualNetwork<'a>,
        region: &Region,
        cfg: &ReluSplitConfig,
        deadline: Deadline,
    ) -> Self {
        let net = dual.network();
        let (lo, hi) = region.proof_box();
        let acfg = AlphaConfig {
            intermediate_iterations: cfg.root_intermediate_iterations,
            tangents: cfg.tangents,
            ..AlphaConfig::default()
        };
        let mut bounds = alpha::all_bounds(dual, &lo, &hi, &acfg, deadline);
        if cfg.root_lp && net.activation_count() <= ROOT_LP_MAX_ACTIVATIONS {
            let until = deadline.share(ROOT_LP_SHARE, std::time::Duration::MAX);
            let f32 = dual.keeps_f32();
            crate::bounds::lp::retighten_relu_inputs(
                net,
                &mut bounds,
                Default::default(),
                until,
                f32,
            );
        }
        Self::with_bounds(dual, bounds, cfg.tangents)
    }

    /// The root over `bounds` (sound bounds of every node over the domains it will serve).
    pub(crate) fn with_bounds(
        dual: &'a DualNetwork<'a>,
        bounds: Vec<Bounds>,
        tangents: bool,
    ) -> Self {
        let net = dual.network();
        let out = net.nodes().len() - 1;
        let mut unstable = Vec::new();
        for (i, node) in net.nodes().iter().enumerate() {
            if node.op != Op::Relu {
                continue;
            }
            let b = &bounds[node.input().0];
            for k in 0..b.len() {
                if let ReluPhase::Unstable { .. } = relu_phase(b.lower[k], b.upper[k]) {
                    unstable.push(Neuron {
                        node: i as u32,
                        neuron: k as u32,
                    });
                }
            }
        }
        Root {
            dual,
            scales: Scales::new(net),
            curved: splittable(net, &bounds),
            bounds,
            unstable,
            out,
            anc: net.ancestors(NodeId(out)),
            tangents,
        }
    }

    /// A root for the domain `splits` (a descendant of this root's domains): this root's bounds
    /// with each split neuron's restricted to its half, and every node after the first split
    /// re-bounded by CROWN passes over them, intersected with this root's (see
    /// [`DualNetwork::rebound_from`]). Sound over the inputs where `splits` hold, so only for
    /// that domain and its descendants. `None` when some node's bounds are empty: no input lies
    /// in the domain. Past `deadline` the later nodes keep this root's bounds (still sound).
    /// `iterations` > 0: the pre-activation bounds by α-CROWN with that many steps (any slopes
    /// in [0, 1] give sound bounds) instead of CROWN's adaptive slopes.
    pub fn rebound(&self, splits: &[Split], iterations: usize, deadline: Deadline) -> Option<Self> {
        let mut bounds = self.bounds.clone();
        let mut from = usize::MAX;
        for s in splits {
            let p = self.pre(s.node);
            let k = s.neuron as usize;
            (bounds[p].lower[k], bounds[p].upper[k]) =
                s.restrict(bounds[p].lower[k], bounds[p].upper[k]);
            from = from.min(p);
        }
        if from == usize::MAX {
            return Some(Self::with_bounds(self.dual, bounds, self.tangents));
        }
        match iterations {
            0 => self
                .dual
                .rebound_from(&mut bounds, from, Slopes::Adaptive, deadline),
            n => {
                let acfg = AlphaConfig {
                    iterations: n,
                    ..AlphaConfig::default()
                };
                let rows_lower = |earlier: &[Bounds], i, c: &ndarray::Array2<f64>| {
                    alpha::optimise_at(self.dual, earlier, i, c, &acfg, deadline)
                };
                self.dual
                    .rebound_from_by(&mut bounds, from, &rows_lower, deadline);
            }
        }
        // Not `l <= u` (a NaN included): no input lies in the domain.
        let empty = bounds.iter().any(|b| {
            b.lower
                .iter()
                .zip(&b.upper)
                .any(|(l, u)| l.partial_cmp(u).is_none_or(|o| o.is_gt()))
        });
        (!empty).then(|| Self::with_bounds(self.dual, bounds, self.tangents))
    }

    /// The width of a row's parameters: a slope per [`Root::unstable`] neuron, then a tangent
    /// parameter per [`Root::curved`] neuron.
    pub fn alpha_len(&self) -> usize {
        self.unstable.len() + self.curved.len()
    }

    /// `alpha` (parameters per row over this root's [`Root::alpha_len`], `rows` rows) over the
    /// neurons of `child`, a root derived from this one (whose unstable and curved neurons are
    /// subsets of this one's).
    pub fn alpha_for(&self, child: &Root, alpha: &[f32], rows: usize) -> Vec<f32> {
        let nu = self.alpha_len();
        let mut at = Vec::with_capacity(child.alpha_len());
        for (mine, theirs, off) in [
            (&self.unstable, &child.unstable, 0),
            (&self.curved, &child.curved, self.unstable.len()),
        ] {
            let mut u = 0;
            for n in theirs {
                while mine[u] != *n {
                    u += 1; // both lists are in (node, neuron) order
                }
                at.push(off + u);
            }
        }
        (0..rows)
            .flat_map(|r| at.iter().map(move |&u| alpha[r * nu + u]))
            .collect()
    }

    /// The input node of activation node `node`.
    pub fn pre(&self, node: u32) -> usize {
        self.dual.network().nodes()[node as usize].input().0
    }

    /// The adaptive (CROWN) slope of each splittable neuron: 1 where `u >= −l`, else 0; then
    /// the default tangent parameter of each curved neuron ([`SShape::default_alpha`]).
    pub fn adaptive_alpha(&self) -> Vec<f32> {
        let relu = self.unstable.iter().map(|n| {
            let b = &self.bounds[self.pre(n.node)];
            let k = n.neuron as usize;
            if b.upper[k] >= -b.lower[k] {
                1.0
            } else {
                0.0
            }
        });
        let curved = self.curved.iter().map(|n| {
            let b = &self.bounds[self.pre(n.node)];
            let k = n.neuron as usize;
            SShape::default_alpha(b.lower[k], b.upper[k]) as f32
        });
        relu.chain(curved).collect()
    }
}

/// Networks with at most this many activations get the root LP (`ReluSplitConfig::root_lp`).
const ROOT_LP_MAX_ACTIVATIONS: usize = 1024;

/// Share of the time left the root LP may take.
const ROOT_LP_SHARE: f64 = 0.3;

/// Intervals narrower than this are not split further (their relaxation is already tight to
/// within `width²·max|f''|/8 <= 1e-7`).
pub(crate) const MIN_WIDTH: f64 = 1e-3;

/// The sigmoid and tanh neurons of `net` that can be split: those whose input interval in
/// `bounds` is at least [`MIN_WIDTH`] wide, in node order.
pub(crate) fn splittable(net: &Network, bounds: &[Bounds]) -> Vec<Neuron> {
    let mut out = Vec::new();
    for (i, node) in net.nodes().iter().enumerate() {
        if !is_curve(&node.op) {
            continue;
        }
        let b = &bounds[node.input().0];
        for k in 0..b.len() {
            if b.upper[k] - b.lower[k] >= MIN_WIDTH {
                out.push(Neuron {
                    node: i as u32,
                    neuron: k as u32,
                });
            }
        }
    }
    out
}

/// True for the activations this file splits (sigmoid and tanh).
fn is_curve(op: &Op) -> bool {
    crate::bounds::relax::SShape::of(op).is_some()
}
