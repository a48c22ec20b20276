//! DLV: safety of a decision over a discretised region, searched layer by layer (Huang,
//! Kwiatkowska, Wang, Wu, "Safety Verification of Deep Neural Networks", CAV 2017).
//!
//! The region is an input box around a centre `x` (a property's region). At each chosen layer
//! (0 = the input, `k` = the `k`-th ReLU on the path to the output) the layer is discretised
//! ([`grid`]): `N` features, each moved by `−M..M` steps of `τ` along its manipulation
//! direction, `(2M+1)^N` grid points. Every grid point is visited:
//! - at the input, the point is an input: it is replayed ([`confirm`], with a small repair);
//! - above it, the point is a manipulated activation `α'`, pushed through the rest of the
//!   network; when that reaches the bad case, Z3 is asked for an input in the box whose
//!   activation lies in `α'`'s grid cell (the exact encoding up to that layer). A model is an
//!   input: it is replayed. No model means no input realises that manipulation.
//!
//! So every adversarial example DLV reports is a real, replayed input. A grid point whose cell
//! an input realises but that input (and a local search around it) keeps the decision is
//! *undecided*: the cell holds a non-adversarial input, and maybe an adversarial one. When the
//! grid is exhausted with no example and nothing undecided, the guarantee holds *relative to
//! the discretisation* (every grid point keeps the decision, or is realised by no input): it is
//! not a proof, and `verify` says `unknown` for it. An input that is itself in the bad case is
//! reported before any search.

mod grid;

use crate::attack::margin_and_gradient;
use crate::bounds::Bounds;
use crate::deadline::Deadline;
use crate::ir::{Network, Op};
use crate::outcome::{confirm, Counterexample, Verdict};
use crate::smt::{path_to, replay_or_repair, sound_bounds, Realised, Realiser};
use crate::spec::Property;
use grid::{suffix, Grid};
use std::sync::Arc;
use std::time::Duration;

/// DLV's parameters.
#[derive(Clone, Debug)]
pub struct DlvConfig {
    /// `M`: grid steps on each side of the centre (a feature takes `2M+1` values).
    pub steps: usize,
    /// The input step `τ`; `None` gives each input its box half-width over `M` (the grid then
    /// reaches the box faces). Hidden layers use their bound width over `2M`.
    pub tau: Option<f64>,
    /// `N`: features per layer.
    pub features: usize,
    /// Layers to search, in order (0 = input, `k` = `k`-th ReLU); `None` = all, input first.
    pub layers: Option<Vec<usize>>,
    /// When the whole search stops (it checks before every grid point and Z3 query).
    pub deadline: Deadline,
    /// Z3 budget of one realisation query (`None`: only the search's deadline).
    pub query_timeout: Option<Duration>,
    /// Largest grid (points per layer) searched.
    pub max_grid: usize,
}

impl Default for DlvConfig {
    /// `M = 2`, `τ` = half-width / 2, `N = 4` features (625 points a layer), every layer,
    /// no deadline, 2 s per Z3 query.
    fn default() -> Self {
        DlvConfig {
            steps: 2,
            tau: None,
            features: 4,
            layers: None,
            deadline: Deadline::NONE,
            query_timeout: Some(Duration::from_secs(2)),
            max_grid: 1_000_000,
        }
    }
}

/// What the search of one layer did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerReport {
    /// 0 = input, `k` = `k`-th ReLU layer.
    pub layer: usize,
    /// The IR node of that layer.
    pub node: usize,
    /// The features chosen: their dimensions, most salient first.
    pub features: Vec<Vec<usize>>,
    /// `(2M+1)^N`.
    pub grid_size: usize,
    /// Grid points visited.
    pub visited: usize,
    /// Points whose (propagated) output reaches the bad case.
    pub adversarial_points: usize,
    /// Realisation queries: an input exists in the cell (replayed; not adversarial unless it
    /// replayed as one).
    pub realised: usize,
    /// Of those, cells whose realising input (and the local search around it) keeps the class:
    /// the grid point is adversarial and realisable, but no adversarial input was found in
    /// its cell, so the point is undecided (counted in `unresolved` too).
    pub realised_kept: usize,
    /// Realisation queries: no input in the box realises the cell.
    pub unrealisable: usize,
    /// Points left undecided: Z3 timeout/unknown, an input point lost to rounding, or a cell
    /// realised only by an input that keeps the class (`realised_kept`).
    pub unresolved: usize,
}

/// DLV's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum DlvOutcome {
    /// The centre itself is in the bad case (a misclassified input): no search was needed.
    Misclassified(Box<Counterexample>),
    /// A replayed adversarial example, found at `layer`, at these distances from the centre.
    Adversarial {
        cex: Box<Counterexample>,
        layer: usize,
        linf: f64,
        l2: f64,
    },
    /// Every grid point of every searched layer keeps the decision or is realised by no input
    /// of the box: safe relative to the discretisation (not a proof).
    SafeOnGrid,
    /// The search stopped early or left points undecided, with the reason.
    Incomplete(String),
}

/// The search's answer and what it did per layer.
#[derive(Clone, Debug, PartialEq)]
pub struct DlvReport {
    pub outcome: DlvOutcome,
    pub layers: Vec<LayerReport>,
}

/// Searches region `r` of `prop` around `centre` (inside its box) with `cfg`.
pub fn search(
    net: &Network,
    prop: &Property,
    r: usize,
    centre: &[f64],
    cfg: &DlvConfig,
) -> crate::Result<DlvReport> {
    let region = &prop.regions[r];
    if cfg.steps == 0 || cfg.features == 0 {
        return Err(crate::Error::Invalid(
            "DLV needs at least one step and one feature".into(),
        ));
    }
    if !net.is_chain() {
        return Err(crate::Error::Invalid(
            "DLV searches layer by layer and needs a chain network; this one has a node with \
             several inputs (a residual join or a Concat)"
                .into(),
        ));
    }
    if !region.contains(centre) {
        return Err(crate::Error::Invalid(
            "the DLV centre lies outside the box".into(),
        ));
    }
    if cfg.steps > cfg.max_grid {
        return Err(crate::Error::Invalid(format!(
            "DLV: {} steps on each side make a grid larger than {} points",
            cfg.steps, cfg.max_grid
        )));
    }
    let deadline = cfg.deadline;
    let last = net.nodes().len() - 1;
    let path = path_to(net, last);
    let relus: Vec<usize> = path
        .iter()
        .copied()
        .filter(|&i| net.nodes()[i].op == Op::Relu)
        .collect();
    let layers = cfg
        .layers
        .clone()
        .unwrap_or_else(|| (0..=relus.len()).collect());
    if let Some(&bad) = layers.iter().find(|&&k| k > relus.len()) {
        return Err(crate::Error::Invalid(format!(
            "layer {bad} does not exist: the network has {} ReLU layers",
            relus.len()
        )));
    }
    if let Some(c) = confirm(net, prop, centre) {
        return Ok(DlvReport {
            outcome: DlvOutcome::Misclassified(Box::new(c)),
            layers: vec![],
        });
    }
    let bounds = Arc::new(sound_bounds(net, region));
    let shared = Arc::new(net.clone());
    let vals = net.eval_all::<f64>(centre);
    let y0 = vals.last().expect("a network has nodes");
    let Some(target) = region
        .disjuncts
        .iter()
        .min_by(|a, b| a.margin(y0).total_cmp(&b.margin(y0)))
    else {
        return Ok(DlvReport {
            outcome: DlvOutcome::SafeOnGrid,
            layers: vec![],
        });
    };
    let mut reports = Vec::new();
    let mut incomplete = None;
    for &k in &layers {
        let node = if k == 0 { 0 } else { relus[k - 1] };
        let tail = suffix(net, &path, node);
        let (_, grad) = margin_and_gradient(&tail, target, &vals[node]);
        let (lo, hi, tau): (Vec<f64>, Vec<f64>, Vec<f64>) = if k == 0 {
            let half = |p: usize| 0.5 * (region.upper[p] - region.lower[p]);
            let tau = (0..centre.len())
                .map(|p| cfg.tau.unwrap_or(half(p) / cfg.steps as f64))
                .collect();
            (region.lower.clone(), region.upper.clone(), tau)
        } else {
            let b = &bounds[node];
            let tau = (0..b.len())
                .map(|p| (b.upper[p] - b.lower[p]) / (2 * cfg.steps) as f64)
                .collect();
            (b.lower.clone(), b.upper.clone(), tau)
        };
        let grid = Grid::new(
            vals[node].clone(),
            &grad,
            lo,
            hi,
            &tau,
            cfg.features,
            cfg.steps,
        );
        let mut rep = LayerReport {
            layer: k,
            node,
            features: grid.features.clone(),
            grid_size: grid.size(),
            ..LayerReport::default()
        };
        if grid.size() > cfg.max_grid {
            reports.push(rep);
            incomplete = Some(format!("layer {k}: grid larger than {}", cfg.max_grid));
            continue;
        }
        let z3 = (&shared, &bounds);
        let found = search_layer(net, prop, r, &tail, &grid, z3, &mut rep, cfg, deadline);
        reports.push(rep);
        match found {
            Ok(Some(cex)) => {
                let d: Vec<f64> = cex.input.iter().zip(centre).map(|(a, b)| a - b).collect();
                return Ok(DlvReport {
                    outcome: DlvOutcome::Adversarial {
                        cex: Box::new(cex),
                        layer: k,
                        linf: d.iter().fold(0.0, |m, v| m.max(v.abs())),
                        l2: d.iter().map(|v| v * v).sum::<f64>().sqrt(),
                    },
                    layers: reports,
                });
            }
            Ok(None) => {}
            Err(why) => {
                incomplete = Some(why);
                break;
            }
        }
    }
    let undecided: usize = reports.iter().map(|r| r.unresolved).sum();
    let kept: usize = reports.iter().map(|r| r.realised_kept).sum();
    let outcome = match incomplete {
        Some(why) => DlvOutcome::Incomplete(why),
        None if undecided > 0 => DlvOutcome::Incomplete(format!(
            "{undecided} grid points left undecided ({kept} of them adversarial on the grid and \
             realised by inputs that keep the class, {} without an answer)",
            undecided - kept
        )),
        None => DlvOutcome::SafeOnGrid,
    };
    Ok(DlvReport {
        outcome,
        layers: reports,
    })
}

/// Visits every point of one layer's grid, the most adversarial-looking first. `Err` when the
/// deadline passes.
#[allow(clippy::too_many_arguments)]
fn search_layer(
    net: &Network,
    prop: &Property,
    r: usize,
    tail: &Network,
    grid: &Grid,
    z3: (&Arc<Network>, &Arc<Vec<Bounds>>),
    rep: &mut LayerReport,
    cfg: &DlvConfig,
    deadline: Deadline,
) -> Result<Option<Counterexample>, String> {
    let region = &prop.regions[r];
    let margin = |a: &[f64]| {
        let y = tail.eval_f64(a);
        region
            .disjuncts
            .iter()
            .map(|d| d.margin(&y))
            .fold(f64::INFINITY, f64::min)
    };
    let mut bad: Vec<(f64, usize)> = Vec::new();
    for idx in 0..grid.size() {
        if deadline.expired() {
            return Err(format!("time ran out in layer {}", rep.layer));
        }
        let m = margin(&grid.point(&grid.multipliers(idx)));
        rep.visited += 1;
        if m <= 0.0 {
            bad.push((m, idx));
        }
    }
    rep.adversarial_points = bad.len();
    bad.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Above the input: one Z3 thread for the layer, one push/pop per realisation query.
    let mut realiser: Option<Realiser> = None;
    for (_, idx) in bad {
        let a = grid.point(&grid.multipliers(idx));
        if rep.layer == 0 {
            match replay_or_repair(net, prop, region, &a, deadline) {
                Some(c) => return Ok(Some(c)),
                None => rep.unresolved += 1,
            }
            continue;
        }
        if realiser.is_none() {
            if let Some(why) = crate::smt::unsupported(net, rep.node) {
                return Err(why);
            }
            realiser = Some(
                Realiser::start(z3.0, z3.1, rep.node, deadline)
                    .ok_or(format!("time ran out encoding layer {}", rep.layer))?,
            );
        }
        if deadline.expired() {
            return Err(format!("time ran out in layer {}", rep.layer));
        }
        let q_deadline = cfg
            .query_timeout
            .map_or(deadline, |t| deadline.min(Deadline::after(t)));
        let answer = realiser
            .as_ref()
            .expect("started above")
            .ask(grid.cell(&a), q_deadline);
        match answer {
            Some(Realised::Input(x)) => {
                rep.realised += 1;
                if let Some(c) = replay_or_repair(net, prop, region, &x, deadline) {
                    return Ok(Some(c));
                }
                // The cell holds an input, but neither it nor its neighbourhood is
                // adversarial: the grid point decides nothing about the inputs of its cell.
                rep.realised_kept += 1;
                rep.unresolved += 1;
            }
            Some(Realised::Unrealisable) => rep.unrealisable += 1,
            Some(Realised::Undecided) | None => {
                if answer.is_none() {
                    // The Z3 thread is stuck past its deadline: abandon it.
                    realiser = None;
                }
                if deadline.expired() {
                    return Err(format!("time ran out in layer {}", rep.layer));
                }
                rep.unresolved += 1;
            }
        }
    }
    Ok(None)
}

/// DLV as a `verify` engine: each region searched around its box centre with
/// [`DlvConfig::default`] (`M = 2`, `τ` = half-width / 2 at the input, 4 features per layer,
/// every layer) by `deadline`. A replayed adversarial example is `sat`; a grid that holds is
/// `unknown` (the guarantee is relative to the discretisation, not a proof).
pub fn verify(net: &Network, prop: &Property, deadline: Deadline) -> Verdict {
    let mut safe_points = 0;
    for (r, region) in prop.regions.iter().enumerate() {
        let centre: Vec<f64> = (0..region.lower.len())
            .map(|i| 0.5 * (region.lower[i] + region.upper[i]))
            .collect();
        let cfg = DlvConfig {
            deadline,
            ..DlvConfig::default()
        };
        let rep = match search(net, prop, r, &centre, &cfg) {
            Ok(rep) => rep,
            Err(e) => return Verdict::Unknown(e.to_string()),
        };
        match rep.outcome {
            DlvOutcome::Adversarial { cex, .. } | DlvOutcome::Misclassified(cex) => {
                return Verdict::Sat(cex)
            }
            DlvOutcome::SafeOnGrid => {
                safe_points += rep.layers.iter().map(|l| l.visited).sum::<usize>()
            }
            DlvOutcome::Incomplete(_) if deadline.expired() => return Verdict::Timeout,
            DlvOutcome::Incomplete(why) => return Verdict::Unknown(format!("DLV: {why}")),
        }
    }
    Verdict::Unknown(format!(
        "DLV: all {safe_points} grid points keep the property; this guarantee is relative to \
         the discretisation and is not a proof"
    ))
}

/// The L∞ ball `[x − eps, x + eps]` around `centre`, clipped to `clip` when given: the box of
/// the robustness property ([`Property::robustness`]) DLV searches around an input.
pub fn linf_ball(centre: &[f64], eps: f64, clip: Option<(f64, f64)>) -> (Vec<f64>, Vec<f64>) {
    let (lo, hi) = clip.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    (
        centre.iter().map(|v| (v - eps).clamp(lo, hi)).collect(),
        centre.iter().map(|v| (v + eps).clamp(lo, hi)).collect(),
    )
}
