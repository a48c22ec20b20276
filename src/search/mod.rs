//! Input-split branch and bound for networks with a low-dimensional input (ACAS Xu's 5, the 2 to
//! 12 of most control networks).
//!
//! Each (region, disjunct) pair of the property is its own subproblem: a counterexample is an
//! input of the region's box whose output satisfies every row `c_s·y <= rhs_s` of the
//! disjunct. A domain is a box of one subproblem with the best lower bound found so far for
//! each row `c_s·y − rhs_s`; it is refuted as soon as one row's bound is `> 0`. The search
//! ([`input_split`]) is one loop: pop a batch of domains (last in, first out), bound it
//! ([`bound`]: interval bounds first, linear bounds on what interval leaves open), try the
//! candidates the bounds give for free ([`witness`]), contract the boxes ([`clip`]), split
//! what is left ([`branch`]) and push the children, which keep their parent's bounds as
//! floors.
//!
//! Networks that are a chain of affine layers and ReLUs ([`chain`]) are bounded by batched
//! kernels (a batch is a matrix); any other network goes through the dual network of
//! [`crate::bounds::dual`] one domain at a time ([`general`]).
//!
//! Every ingredient is a switch of [`SearchConfig`], so that its effect can be measured.

mod attack;
pub(crate) mod bound;
pub(crate) mod branch;
pub(crate) mod chain;
pub(crate) mod clip;
mod domain;
mod general;
pub(crate) mod input_split;
mod simd;
pub(crate) mod store;
pub(crate) mod witness;

pub use branch::Branching;
pub use input_split::search;

use crate::bounds::dual::DualNetwork;
use crate::bounds::f32_error::proof_rhs;
use crate::bounds::interval::interval_bounds;
use crate::bounds::Bounds;
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::spec::Property;
use ndarray::{Array2, ArrayView2};
use std::time::Duration;

/// Inputs of at most this many values count as low-dimensional: there `Engine::Auto` of
/// [`crate::verify`] runs this search (on chains, see [`suits`]). Splitting inputs costs about
/// `2^n` boxes per halving of the widths, so it pays for few inputs only.
pub const LOW_DIM: usize = 16;

/// True when this search's batched kernels apply to `net` and its input is low-dimensional
/// (at most [`LOW_DIM`] values): a chain of affine layers and ReLUs (see [`chain`]).
pub fn suits(net: &Network) -> bool {
    net.input_len() <= LOW_DIM && chain::Chain::from_network(net).is_some()
}

/// Settings of the input-split search: one value passed down, every ingredient a switch.
/// `Default` is the measured best on ACAS Xu (see docs/results.md).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchConfig {
    /// Domains bounded per batch (split over the worker threads in chunks of [`Self::chunk`]).
    pub batch: usize,
    /// Domains per chunk: the unit of work of one thread. Fixed, so that results do not depend
    /// on the number of threads.
    pub chunk: usize,
    /// Interval bounds on every domain first; linear bounds only where they leave it open.
    pub interval_first: bool,
    /// Linear bounds (CROWN) for the output rows; off leaves interval bounds alone.
    pub linear: bool,
    /// Forward linear bounds for the intermediate layers.
    pub forward: bool,
    /// Backward linear bounds for the intermediate neurons left unstable.
    pub backward: bool,
    /// Children start from their parent's intermediate bounds (kept per domain, rounded
    /// outward to f32: about 8 bytes per ReLU of each stored domain).
    pub inherit: bool,
    /// With forward and backward bounds: bound with the forward ones alone first, and run the
    /// backward passes only on the domains that leaves open.
    pub staged: bool,
    /// With forward and backward bounds: intermediate backward passes go back this many layers
    /// and finish through the forward forms (0: all the way to the input).
    pub depth: usize,
    /// Box contraction with each row's linear form.
    pub clip: bool,
    /// Refute a box with a non-negative combination of its rows' forms (subproblems with
    /// several rows; after clipping).
    pub farkas: bool,
    pub branching: Branching,
    /// Split several inputs at once while few domains are open (fewer than a tenth of a batch),
    /// so that batches stay full.
    pub multi_split: bool,
    /// Evaluate each row's witness corner.
    pub witness: bool,
    /// Evaluate each domain's centre.
    pub centre: bool,
    /// PGD against the attack's target on the domains with the lowest bounds, every this many
    /// batches (0: never).
    pub pgd_every: usize,
    /// How many domains each of those PGD rounds attacks.
    pub pgd_domains: usize,
    /// PGD from the centre and random starts on every subproblem's whole box before the search.
    pub root_attack: bool,
    /// Starts of that attack per subproblem (batched on chain networks).
    pub root_starts: usize,
    /// Steps of the batched attacks.
    pub attack_steps: usize,
    /// Starts per domain of the periodic attacks on the domains with the lowest bounds.
    pub pgd_starts: usize,
    /// Every this many batches (0: never), reorder the stored domains so that those whose
    /// candidates came closest to a counterexample are bounded next (best first, to find
    /// small counterexample regions); in between the store is last in, first out.
    pub reorder_every: usize,
    /// Give up (`unknown`) once this many domains are stored.
    pub max_domains: usize,
    /// Give up (`unknown`) once this many domains have been bounded (0: no limit); a fixed
    /// amount of work, for measuring.
    pub max_bounded: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            batch: 1024,
            chunk: 64,
            interval_first: false,
            linear: true,
            forward: true,
            backward: true,
            depth: 0,
            staged: false,
            inherit: false,
            clip: true,
            farkas: true,
            branching: Branching::LongestEdge,
            multi_split: false,
            witness: true,
            centre: true,
            pgd_every: 20,
            pgd_domains: 8,
            root_attack: true,
            root_starts: 1024,
            attack_steps: 30,
            pgd_starts: 16,
            reorder_every: 10,
            max_domains: 20_000_000,
            max_bounded: 0,
        }
    }
}

/// Counts of what the search did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchStats {
    /// Domains bounded.
    pub domains: u64,
    /// Batches.
    pub batches: u64,
    /// Domains refuted by interval bounds, by linear bounds, and by clipping.
    pub by_interval: u64,
    pub by_linear: u64,
    pub by_clip: u64,
    /// Domains refuted by a combination of their rows.
    pub by_farkas: u64,
    /// Most domains stored at once.
    pub max_open: usize,
    /// Domains that could not be split further (floating point) without being decided.
    pub stuck: u64,
    /// Time in the search (after the root attack).
    pub time: Duration,
    /// Share of the subproblems' volume decided (refuted or clipped away), in `[0, 1]`.
    pub decided: f64,
    /// True when the batched chain kernels bounded (else the general dual network).
    pub chain: bool,
}

/// A progress report.
#[derive(Clone, Debug)]
pub struct Progress {
    /// `attack`, `root` (the ReLU-split search's root bounds) or `search`.
    pub phase: &'static str,
    /// Domains bounded so far.
    pub done: u64,
    /// Domains stored.
    pub open: usize,
    /// The lowest bound among the stored domains' best rows (the property holds once every
    /// domain has a row above 0); `None` before the first bound.
    pub worst: Option<f64>,
    /// Share of the search space decided so far, in [0, 1]: of the input volume (refuted, or
    /// cut away by clipping) for input splitting, of the split tree for ReLU splitting.
    pub decided: f64,
    /// The smallest margin `max_row (c·y − rhs)` of an open disjunct seen at any candidate
    /// point (`<= 0` would be a counterexample); `None` before any.
    pub closest: Option<f64>,
    /// Domains of the ReLU-split search given a root of their own so far (0 elsewhere).
    pub rerooted: u64,
    pub elapsed: Duration,
}

/// Calls `set` on each `key=value` pair of a comma-separated switch list (`--search-opt`,
/// `--relu-split-opt`), both sides trimmed; empty items are skipped.
pub(crate) fn apply_pairs(
    list: &str,
    mut set: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got `{item}`"))?;
        set(k.trim(), v.trim())?;
    }
    Ok(())
}

/// One subproblem: a region with up to [`MAX_DISJUNCTS`] of its disjuncts, as dense rows
/// `c_s·y − rhs_s` (a region with more disjuncts makes several subproblems). A domain keeps
/// the disjuncts still open on its box as a bit mask.
pub(crate) struct Sub {
    pub region: usize,
    /// The region's disjuncts this subproblem holds (indices into `Region::disjuncts`).
    pub disjuncts: Vec<usize>,
    /// Rows of disjunct `i` (of `disjuncts`): `start[i]..start[i + 1]`.
    pub start: Vec<usize>,
    /// `rows × n_out`.
    pub c: Array2<f64>,
    pub rhs: Vec<f64>,
}

impl Sub {
    /// The rows of disjunct `i`.
    pub fn rows(&self, i: usize) -> std::ops::Range<usize> {
        self.start[i]..self.start[i + 1]
    }

    /// The mask with every disjunct open.
    pub fn all_open(&self) -> u64 {
        match self.disjuncts.len() {
            64 => u64::MAX,
            n => (1u64 << n) - 1,
        }
    }
}

/// Disjuncts per subproblem (the bits of a domain's mask).
pub(crate) const MAX_DISJUNCTS: usize = 64;

/// How domains are bounded.
pub(crate) enum Kernel<'a> {
    Chain(chain::Chain),
    General(DualNetwork<'a>),
}

/// Everything the search reads.
pub(crate) struct Ctx<'a> {
    pub net: &'a Network,
    pub prop: &'a Property,
    pub cfg: &'a SearchConfig,
    pub kernel: Kernel<'a>,
    pub subs: Vec<Sub>,
    /// Inputs.
    pub n0: usize,
    /// The most rows of any subproblem (the store's stride).
    pub rows: usize,
    /// Each subproblem's box widths (the unit of volume).
    pub root_width: Vec<Vec<f64>>,
    /// Inherited intermediate bounds per domain (0: none kept).
    pub pstride: usize,
}

impl<'a> Ctx<'a> {
    pub fn new(net: &'a Network, prop: &'a Property, cfg: &'a SearchConfig) -> Self {
        let n_out = net.output_len();
        // Each row's right-hand side covers the file's decimals (`a` and `b` are the nearest
        // f64): `b + u·(|b| + Σ|a_k|·max|y_k|)` over the region's interval output bounds
        // (`f32_error::proof_rhs` with no output error: the bound passes keep the f32 slack
        // themselves, see `bound`).
        let no_err = vec![0.0; n_out];
        let out: Vec<Bounds> = (prop.regions.iter())
            .map(|r| {
                let (lo, hi) = r.proof_box();
                let mut all = interval_bounds(net, &lo, &hi);
                all.pop().expect("a network has nodes")
            })
            .collect();
        let mut subs = Vec::new();
        for (r, region) in prop.regions.iter().enumerate() {
            let all: Vec<usize> = (0..region.disjuncts.len()).collect();
            for group in all.chunks(MAX_DISJUNCTS) {
                let cons: Vec<_> = group
                    .iter()
                    .flat_map(|&d| &region.disjuncts[d].constraints)
                    .collect();
                let mut c = Array2::zeros((cons.len(), n_out));
                for (s, con) in cons.iter().enumerate() {
                    for &(i, a) in &con.coeffs {
                        c[[s, i]] = a;
                    }
                }
                let mut start = vec![0];
                for &d in group {
                    start.push(start.last().unwrap() + region.disjuncts[d].constraints.len());
                }
                subs.push(Sub {
                    region: r,
                    disjuncts: group.to_vec(),
                    start,
                    c,
                    rhs: cons
                        .iter()
                        .map(|c| proof_rhs(c, &no_err, &out[r]))
                        .collect(),
                });
            }
        }
        let kernel = match chain::Chain::from_network(net) {
            Some(c) => Kernel::Chain(c),
            // Bounds that hold for every f32 evaluation too (see `general`).
            None => Kernel::General(DualNetwork::keeping_f32(net)),
        };
        let root_width = subs
            .iter()
            .map(|s| {
                let r = &prop.regions[s.region];
                r.lower.iter().zip(&r.upper).map(|(l, u)| u - l).collect()
            })
            .collect();
        let pstride = match &kernel {
            Kernel::Chain(c) if cfg.inherit && cfg.linear => c.inherit_layout().1,
            _ => 0,
        };
        Ctx {
            net,
            prop,
            cfg,
            kernel,
            root_width,
            pstride,
            rows: subs.iter().map(|s| s.rhs.len()).max().unwrap_or(0).max(1),
            subs,
            n0: net.input_len(),
        }
    }

    /// The network's outputs at the points (`P × n₀`), in f64.
    pub fn eval_batch(&self, pts: &Array2<f64>) -> Array2<f64> {
        match &self.kernel {
            Kernel::Chain(c) => c.eval_batch(pts.view()),
            Kernel::General(_) => {
                let n_out = self.net.output_len();
                let mut y = Array2::zeros((pts.nrows(), n_out));
                for (p, x) in pts.rows().into_iter().enumerate() {
                    let v = self.net.eval_f64(x.as_slice().expect("row"));
                    y.row_mut(p).assign(&ndarray::ArrayView1::from(&v));
                }
                y
            }
        }
    }

    /// Interval bounds of the rows.
    pub fn interval_rows(
        &self,
        lo: ArrayView2<f64>,
        hi: ArrayView2<f64>,
        rows: &bound::Rows,
    ) -> Vec<f64> {
        match &self.kernel {
            Kernel::Chain(c) => bound::interval_rows(c, lo, hi, rows),
            Kernel::General(dn) => general::interval_rows(dn, lo, hi, rows),
        }
    }

    /// Inherited bounds that say nothing (`−inf` lower, `+inf` upper), for the roots.
    pub fn unknown_bounds(&self) -> Vec<f32> {
        let mut v = vec![f32::INFINITY; self.pstride];
        if let Kernel::Chain(c) = &self.kernel {
            let (offsets, _) = c.inherit_layout();
            for (i, at) in offsets.iter().enumerate() {
                if let Some(at) = at.filter(|_| self.pstride > 0) {
                    let n = c.layers[i].n_out();
                    v[at..at + n].fill(f32::NEG_INFINITY);
                }
            }
        }
        v
    }

    /// The intermediate bounds the configuration asks for.
    pub fn intermediate(&self) -> bound::Intermediate {
        bound::Intermediate {
            forward: self.cfg.forward,
            backward: self.cfg.backward,
            depth: self.cfg.depth,
        }
    }

    /// Linear bounds and forms of the rows, with intermediate bounds `inter` (chains only;
    /// other networks stop tightening at `deadline`, leaving interval bounds, which are sound).
    pub fn linear_rows(
        &self,
        lo: ArrayView2<f64>,
        hi: ArrayView2<f64>,
        rows: &bound::Rows,
        inter: bound::Intermediate,
        parent: Option<ArrayView2<f32>>,
        deadline: Deadline,
    ) -> bound::RowBounds {
        match &self.kernel {
            Kernel::Chain(c) => bound::linear_rows(c, lo, hi, rows, inter, parent),
            Kernel::General(dn) => general::linear_rows(dn, lo, hi, rows, deadline),
        }
    }
}

impl SearchConfig {
    /// The switches [`SearchConfig::set`] knows, for help texts.
    pub const KEYS: &'static str =
        "batch, chunk, interval-first, linear, forward, backward, depth, staged, inherit, clip, farkas, \
        branching (longest|sb), tau, multi-split, witness, centre, pgd-every, pgd-domains, \
        root-attack, root-starts, attack-steps, pgd-starts, reorder-every, max-domains, max-bounded";

    /// Sets one switch from text (`on`/`off`, `true`/`false` for switches; a number, or
    /// `longest`/`sb` for `branching`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let flag = || match value {
            "on" | "true" | "1" | "yes" => Ok(true),
            "off" | "false" | "0" | "no" => Ok(false),
            _ => Err(format!("{key}: expected on or off, got `{value}`")),
        };
        let count = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{key}: expected a whole number, got `{value}`"))
        };
        let positive = || match count()? {
            0 => Err(format!("{key}: must be at least 1")),
            n => Ok(n),
        };
        match key {
            "batch" => self.batch = positive()?,
            "chunk" => self.chunk = positive()?,
            "interval-first" => self.interval_first = flag()?,
            "linear" => self.linear = flag()?,
            "forward" => self.forward = flag()?,
            "backward" => self.backward = flag()?,
            "depth" => self.depth = count()?,
            "staged" => self.staged = flag()?,
            "inherit" => self.inherit = flag()?,
            "clip" => self.clip = flag()?,
            "farkas" => self.farkas = flag()?,
            "branching" => {
                let tau = match self.branching {
                    Branching::Sb { tau } => tau,
                    Branching::LongestEdge => 0.01,
                };
                self.branching = match value {
                    "longest" => Branching::LongestEdge,
                    "sb" => Branching::Sb { tau },
                    _ => return Err(format!("branching: expected longest or sb, got `{value}`")),
                }
            }
            "tau" => {
                let tau: f64 = value
                    .parse()
                    .ok()
                    .filter(|t: &f64| *t >= 0.0 && t.is_finite())
                    .ok_or_else(|| format!("tau: expected a number >= 0, got `{value}`"))?;
                if let Branching::Sb { tau: t } = &mut self.branching {
                    *t = tau;
                } else {
                    self.branching = Branching::Sb { tau };
                }
            }
            "multi-split" => self.multi_split = flag()?,
            "witness" => self.witness = flag()?,
            "centre" | "center" => self.centre = flag()?,
            "pgd-every" => self.pgd_every = count()?,
            "pgd-domains" => self.pgd_domains = count()?,
            "root-attack" => self.root_attack = flag()?,
            "root-starts" => self.root_starts = positive()?,
            "attack-steps" => self.attack_steps = positive()?,
            "pgd-starts" => self.pgd_starts = positive()?,
            "reorder-every" => self.reorder_every = count()?,
            "max-domains" => self.max_domains = positive()?,
            "max-bounded" => self.max_bounded = count()? as u64,
            _ => {
                return Err(format!(
                    "unknown search switch `{key}` (known: {})",
                    Self::KEYS
                ))
            }
        }
        Ok(())
    }

    /// Applies `key=value` pairs separated by commas.
    pub fn apply(&mut self, list: &str) -> Result<(), String> {
        apply_pairs(list, |k, v| self.set(k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_parse() {
        let mut c = SearchConfig::default();
        c.apply("clip=off, branching=sb,tau=0.05,batch=256")
            .unwrap();
        assert!(!c.clip);
        assert_eq!(c.branching, Branching::Sb { tau: 0.05 });
        assert_eq!(c.batch, 256);
        assert!(c.apply("batch=0").is_err());
        assert!(c.apply("clip=maybe").is_err());
        assert!(c.apply("nonsense=1").unwrap_err().contains("known:"));
    }
}
