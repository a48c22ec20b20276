//! Verification: a network and a property in, a [`Verdict`] out.
//!
//! 1. Falsification first: PGD against every disjunct of every region, within a share of the
//!    time budget; every hit is replayed by [`confirm`] before it counts.
//! 2. Then input-space branch and bound with a sound bound engine: a box's disjunct is refuted
//!    when some constraint's lower bound is `> 0`; a box whose disjuncts are all refuted is done;
//!    otherwise its centre is tried as a counterexample and it is split in two along the input
//!    that matters most (box width × |gradient of the margin at the centre|).
//! 3. `unsat` when every box of every region is done; `sat` on a confirmed counterexample;
//!    `timeout` when the deadline passes first (checked before every box, and handed to the
//!    bound engines, which stop refining at it); `unknown` when boxes shrink to nothing
//!    without being refuted or falsified.
//!
//! [`Engine::InputSplit`] is the batched input-split search of [`crate::search`],
//! [`Engine::ReluSplit`] the ReLU-split search of [`crate::relusplit`] (attack first), and
//! [`Engine::Auto`] (the default) picks the first for chains of affine layers and ReLUs with a
//! low-dimensional input, the second for ReLU, sigmoid and tanh networks with a wide input
//! (images),
//! [`Engine::Bab`] with CROWN otherwise.
//!
//! A network whose output is a softmax is decided on the softmax's input when the property only
//! compares outputs of one softmax group (`softmax.rs`), whatever the engine.
//!
//! [`Engine::Smt`] and [`Engine::Dlv`] are procedures of their own ([`crate::smt`],
//! [`crate::dlv`]), given the same [`Deadline`].

mod bab;
mod bounder;
pub mod margin;
mod softmax;
mod starts;

pub use bounder::Bounder;

use crate::attack::{pgd, pgd_goal, Goal, PgdConfig, Rng};
use crate::bounds::f32_error::proof_network;
use crate::bounds::Method;
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Counterexample, Verdict};
use crate::spec::Property;
use std::time::Duration;

/// How `verify` decides a property: one vocabulary for the library, the CLI and the benchmarks
/// (the CLI's value enums map onto it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// [`Engine::InputSplit`] when the network is a chain of affine layers and ReLUs whose
    /// input has at most [`crate::search::LOW_DIM`] values (where its batched kernels apply),
    /// [`Engine::ReluSplit`] when the input is wider and the network has ReLUs, sigmoids or
    /// tanhs,
    /// [`Engine::Bab`] with CROWN otherwise; see [`Engine::resolve`].
    Auto,
    /// Input-split branch and bound of [`crate::search`]: batched linear bounds, box
    /// contraction, free counterexample candidates, PGD on the most promising boxes. Chains of
    /// affine layers and ReLUs get batched kernels; other networks go through the dual network
    /// one box at a time.
    InputSplit,
    /// Falsification, then input-split branch and bound with this bound method.
    Bab(Method),
    /// Falsification, then ReLU-split branch and bound with optimised split multipliers
    /// ([`crate::relusplit`], settings in [`Options::relu_split`]).
    ReluSplit,
    /// The exact encoding over the reals, decided by Z3 ([`crate::smt`]); stable ReLUs fixed
    /// by sound bounds. No attack first. Sigmoid/tanh give `unknown`.
    Smt,
    /// DLV's discretised layer-by-layer search around each region's box centre ([`crate::dlv`],
    /// defaults of its `DlvConfig`): `sat` on a replayed adversarial example, `unknown` when the
    /// grid holds (relative to the discretisation, not a proof). Never `unsat`.
    Dlv,
}

impl Default for Engine {
    /// [`Engine::Auto`].
    fn default() -> Self {
        Engine::Auto
    }
}

impl Engine {
    /// The engine that runs on `net`: [`Engine::Auto`] decided, every other engine itself.
    pub fn resolve(self, net: &Network) -> Engine {
        match self {
            Engine::Auto if crate::search::suits(net) => Engine::InputSplit,
            // Wide inputs: splitting the input pays no more, splitting ReLUs (or the inputs
            // of sigmoid and tanh neurons) does.
            Engine::Auto
                if net.input_len() > crate::search::LOW_DIM
                    && (has_relu(net) || has_sshape(net)) =>
            {
                Engine::ReluSplit
            }
            Engine::Auto => Engine::Bab(Method::Crown),
            Engine::InputSplit | Engine::Bab(_) | Engine::ReluSplit | Engine::Smt | Engine::Dlv => {
                self
            }
        }
    }
}

/// True when some node of `net` is a sigmoid or a tanh.
fn has_sshape(net: &Network) -> bool {
    (net.nodes().iter()).any(|n| crate::bounds::relax::SShape::of(&n.op).is_some())
}

/// True when some node of `net` is a ReLU.
fn has_relu(net: &Network) -> bool {
    net.nodes().iter().any(|n| n.op == crate::ir::Op::Relu)
}

/// Verification settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// When the answer is due: every engine checks it inside its long loops and `verify`
    /// returns `timeout` once it has passed (within the engines' check granularity; Z3 queries
    /// are abandoned at it plus [`crate::smt::GRACE`]). [`Deadline::NONE`] by default.
    pub deadline: Deadline,
    pub engine: Engine,
    /// Share of the time left spent on the initial attack (the rest goes to branch and bound,
    /// which keeps trying box centres).
    pub attack_share: f64,
    pub pgd: PgdConfig,
    /// Seed of the attack's random starts.
    pub seed: u64,
    /// Split at most this deep along one branch (2^depth boxes); deeper boxes are `unknown`.
    pub max_depth: usize,
    /// Settings of the input-split search ([`Engine::InputSplit`]).
    pub search: crate::search::SearchConfig,
    /// Settings of [`Engine::ReluSplit`].
    pub relu_split: crate::relusplit::ReluSplitConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            deadline: Deadline::NONE,
            engine: Engine::default(),
            attack_share: 0.1,
            pgd: PgdConfig::default(),
            seed: 0,
            max_depth: 200,
            search: Default::default(),
            relu_split: Default::default(),
        }
    }
}

/// Decides `prop` on `net` by `opts.deadline`. The property must fit the network
/// ([`Property::check_fits`]).
pub fn verify(net: &Network, prop: &Property, opts: &Options) -> Verdict {
    verify_with(net, prop, opts, None).0
}

/// [`verify`], reporting the search's progress to `progress` (about every 0.5 s; the
/// input-split search and input-space branch and bound report their domains, the others
/// their phase) and returning the input-split search's counts when that search ran.
pub fn verify_with(
    net: &Network,
    prop: &Property,
    opts: &Options,
    progress: Option<&mut (dyn FnMut(&crate::search::Progress) + Send)>,
) -> (Verdict, Option<crate::search::SearchStats>) {
    // `unsat` path (docs/soundness.md): vacuous, no region (contradictory input constraints).
    if prop.regions.is_empty() {
        return (Verdict::Unsat, None);
    }
    // Comparisons of a final softmax's outputs are comparisons of its inputs.
    if let Some(logits) = softmax::logits_network(net, prop) {
        let (on_logits, stats) = verify_with(&logits, prop, opts, progress);
        return (softmax::back_through(net, prop, on_logits), stats);
    }
    // Engines stop at the memory limit as at their deadline ([`crate::memory`]); say which.
    match decide(net, prop, opts, progress) {
        (Verdict::Timeout, stats) => (
            crate::memory::reason().map_or(Verdict::Timeout, Verdict::Unknown),
            stats,
        ),
        other => other,
    }
}

fn decide(
    net: &Network,
    prop: &Property,
    opts: &Options,
    mut progress: Option<&mut (dyn FnMut(&crate::search::Progress) + Send)>,
) -> (Verdict, Option<crate::search::SearchStats>) {
    // Every engine works on the proof network: each `Sign` step widened by the f32 error at its
    // input (docs/soundness.md). Evaluation, attacks and `confirm` are the same on it.
    let proof = proof_network(net, prop);
    let net: &Network = &proof;
    let verdict = match opts.engine.resolve(net) {
        Engine::InputSplit => {
            let (v, stats) =
                crate::search::search(net, prop, &opts.search, opts.deadline, progress);
            return (v, Some(stats));
        }
        Engine::Auto => unreachable!("Engine::resolve decides Auto"),
        Engine::Bab(method) => {
            report_attack(&mut progress);
            // Without a limit the attack is bounded by its own steps and restarts.
            let attack_until = opts.deadline.share(opts.attack_share, Duration::MAX);
            if let Some(cex) = attack(net, prop, opts, attack_until) {
                return (Verdict::Sat(Box::new(cex)), None);
            }
            bab::search(net, prop, method, opts, progress)
        }
        Engine::ReluSplit => {
            report_attack(&mut progress);
            let attack_until = opts.deadline.share(opts.attack_share, Duration::MAX);
            if let Some(cex) = attack(net, prop, opts, attack_until) {
                return (Verdict::Sat(Box::new(cex)), None);
            }
            crate::relusplit::search(net, prop, &opts.relu_split, opts.deadline, progress).0
        }
        Engine::Smt => crate::smt::solve(net, prop, opts.deadline).into(),
        Engine::Dlv => crate::dlv::verify(net, prop, opts.deadline),
    };
    (verdict, None)
}

/// Tells `progress` that the attack phase starts (it reports nothing of its own).
fn report_attack(progress: &mut Option<&mut (dyn FnMut(&crate::search::Progress) + Send)>) {
    if let Some(p) = progress.as_mut() {
        p(&crate::search::Progress {
            phase: "attack",
            done: 0,
            open: 0,
            worst: None,
            decided: 0.0,
            closest: None,
            rerooted: 0,
            elapsed: Duration::ZERO,
        });
    }
}

/// Runs PGD against every disjunct of every region, round robin over restarts, until a
/// counterexample is confirmed or `until` passes.
pub fn attack(
    net: &Network,
    prop: &Property,
    opts: &Options,
    until: Deadline,
) -> Option<Counterexample> {
    let mut rng = Rng::new(opts.seed);
    let mut cex = None;
    // Two rounds: one short restart budget first so that every disjunct gets tried quickly,
    // then (on ReLU networks, whose relaxation points at where the output moves) one run from
    // each row's relaxation corner (`starts`), then the restarts.
    for round in 0..3 {
        if round == 1 {
            let corners = relu_corners(net, prop, until);
            for (region, per_d) in prop.regions.iter().zip(&corners) {
                for (d, starts) in region.disjuncts.iter().zip(per_d) {
                    for x in starts {
                        if until.expired() {
                            return None;
                        }
                        let goal = Goal::new(region, std::slice::from_ref(d)).with_start(x.clone());
                        pgd_goal(net, &goal, &opts.pgd, until, &mut |x| {
                            cex = confirm(net, prop, x);
                            cex.is_some()
                        });
                        if cex.is_some() {
                            return cex;
                        }
                    }
                }
            }
            continue;
        }
        let restarts = if round == 0 { 0 } else { opts.pgd.restarts };
        let cfg = PgdConfig {
            restarts,
            ..opts.pgd.clone()
        };
        for region in &prop.regions {
            for d in &region.disjuncts {
                if until.expired() {
                    return None;
                }
                pgd(net, region, d, &cfg, &mut rng, until, &mut |x| {
                    cex = confirm(net, prop, x);
                    cex.is_some()
                });
                if cex.is_some() {
                    return cex;
                }
            }
        }
    }
    None
}

/// Per region and disjunct, [`starts::relaxation_corners`] on networks with ReLUs (else none).
fn relu_corners(net: &Network, prop: &Property, until: Deadline) -> Vec<Vec<Vec<Vec<f64>>>> {
    if !has_relu(net) {
        return Vec::new();
    }
    let dual = crate::bounds::dual::DualNetwork::new(net);
    prop.regions
        .iter()
        .map(|r| starts::relaxation_corners(&dual, r, until))
        .collect()
}

/// True when one bound computation with `method` over each region's whole box refutes every
/// disjunct (no splitting): the property is `unsat` by that method alone. No time limit.
///
/// Rounding (an `unsat` path, docs/soundness.md): `Bounder::lower_bounds` over the proof box,
/// padded and less the f32 slack; `v > 0.0` is false for NaN.
pub fn refuted_by_one_pass(net: &Network, prop: &Property, method: Method) -> bool {
    let proof = proof_network(net, prop);
    let bounder = Bounder::new(&proof, method);
    prop.regions.iter().all(|r| {
        let (lower, upper) = r.proof_box();
        let cons: Vec<_> = r.disjuncts.iter().flat_map(|d| &d.constraints).collect();
        let lb = bounder.lower_bounds(&lower, &upper, &cons, Deadline::NONE);
        let mut k = 0;
        r.disjuncts.iter().all(|d| {
            let any = lb[k..k + d.constraints.len()].iter().any(|&v| v > 0.0);
            k += d.constraints.len();
            any
        })
    })
}
