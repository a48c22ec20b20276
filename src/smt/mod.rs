//! The SMT engine: the network encoded exactly over the reals and decided by Z3, and the
//! realisation queries DLV (the `dlv` module, above this one) asks ([`Realiser`]).
//!
//! Z3 stays behind this module: callers see [`SmtOutcome`] and [`Realised`], never a Z3 type. Every Z3 object
//! lives in its thread's context and cannot cross threads, so each query is built and solved
//! inside one rayon task.
//!
//! One region is decided as follows:
//! 1. sound bounds of every node over the region's box widened by one ulp (the file's decimals
//!    round to nearest); when they already refute every disjunct the region is `unsat`;
//! 2. the exact encoding ([`encode`]) with stable ReLUs fixed by those bounds, the box, and the
//!    bad case `∨_d ∧_k a_dk·y <= b_dk`; Z3's `unsat` is a proof for the real-arithmetic network;
//! 3. a model is a candidate only: it is `sat` once [`confirm`] replays it (f32 and f64, no
//!    tolerance). A model that fails (typically a vertex on a constraint's boundary, broken by
//!    rounding) is repaired: points moved towards the box centre, signed-gradient steps on the
//!    disjunct's margin, and fresh models asked for with a margin (`SMT_REPAIR_MARGINS`) away
//!    from the boundary. If none replays, the answer is [`SmtOutcome::Unconfirmed`] (`unknown`).

mod encode;
mod piece;
mod realise;
mod worker;

pub use encode::path_to;
pub use piece::{decide_piece, PieceOutcome};
pub use realise::{Cell, Realised, Realiser};
pub use worker::GRACE;

use crate::attack::margin_and_gradient;
use crate::bounds::dual::{DualNetwork, Slopes};
use crate::bounds::f32_error::{f32_errors, loosen};
use crate::bounds::{constraint_lower_bound, Bounds};
use crate::deadline::Deadline;
use crate::ir::{Network, Op};
use crate::outcome::{confirm, Counterexample, Verdict};
use crate::spec::{Property, Region};
use crate::tolerances::{
    SMT_REPAIR_CENTRE_PULLS, SMT_REPAIR_INTERIOR, SMT_REPAIR_MARGINS, SMT_REPAIR_STEPS,
    SMT_REPAIR_STEP_FRACS,
};
use rayon::prelude::*;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use z3::ast::Real;
use z3::{Params, SatResult, Solver};

/// What the SMT engine answers for a property.
#[derive(Clone, Debug, PartialEq)]
pub enum SmtOutcome {
    /// No input of any region reaches the bad case (Z3's `unsat`, or the bounds alone).
    Unsat,
    /// A replayed counterexample.
    Sat(Box<Counterexample>),
    /// Z3 found a model of the exact encoding, but neither it nor the repairs around it replay
    /// in floating point; `model` is Z3's input, rounded to f64.
    Unconfirmed { model: Vec<f64>, region: usize },
    /// No answer, with the reason (an op with no exact encoding, Z3's reason).
    Unknown(String),
    /// The budget ran out (Z3's own timeout included).
    Timeout,
}

impl From<SmtOutcome> for Verdict {
    fn from(o: SmtOutcome) -> Verdict {
        match o {
            SmtOutcome::Unsat => Verdict::Unsat,
            SmtOutcome::Sat(c) => Verdict::Sat(c),
            SmtOutcome::Unconfirmed { model, region } => Verdict::Unknown(format!(
                "unconfirmed model: Z3 found a model in region {region} ({} inputs) that does \
                 not replay in floating point, and no repair around it did",
                model.len()
            )),
            SmtOutcome::Unknown(why) => Verdict::Unknown(why),
            SmtOutcome::Timeout => Verdict::Timeout,
        }
    }
}

/// Decides `prop` on `net` by `deadline` (plus at most [`GRACE`]), one rayon task per region,
/// each query on a Z3 thread of its own. The property must fit the network. The first region
/// (in order) with a replayed counterexample gives `sat`; otherwise any unconfirmed model,
/// timeout or unknown wins over `unsat`.
pub fn solve(net: &Network, prop: &Property, deadline: Deadline) -> SmtOutcome {
    let (net, prop) = (Arc::new(net.clone()), Arc::new(prop.clone()));
    let outs: Vec<SmtOutcome> = (0..prop.regions.len())
        .into_par_iter()
        .map(|r| solve_region(&net, &prop, r, deadline))
        .collect();
    let rank = |o: &SmtOutcome| match o {
        SmtOutcome::Sat(_) => 0,
        SmtOutcome::Unconfirmed { .. } => 1,
        SmtOutcome::Timeout => 2,
        SmtOutcome::Unknown(_) => 3,
        SmtOutcome::Unsat => 4,
    };
    outs.into_iter()
        .min_by_key(rank)
        .unwrap_or(SmtOutcome::Unsat)
}

/// Sound bounds of every node over `region`'s [`Region::proof_box`] (dual network with
/// adaptive slopes, intersected with interval bounds).
pub fn sound_bounds(net: &Network, region: &Region) -> Vec<Bounds> {
    let (lo, hi) = region.proof_box();
    DualNetwork::new(net).all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE)
}

/// The number of ReLUs the sound bounds over `region`'s box leave unstable: the phases the
/// exact encoding branches on (what makes a query hard).
pub fn unstable_relus(net: &Network, region: &Region) -> usize {
    let bounds = sound_bounds(net, region);
    let path = path_to(net, net.nodes().len() - 1);
    path.iter()
        .filter(|&&i| net.nodes()[i].op == Op::Relu)
        .map(|&i| {
            let b = &bounds[net.nodes()[i].input().0];
            (0..b.len())
                .filter(|&k| b.lower[k] < 0.0 && b.upper[k] > 0.0)
                .count()
        })
        .sum()
}

/// The first node on the path to node `upto` that has no exact encoding, as a reason.
pub fn unsupported(net: &Network, upto: usize) -> Option<String> {
    path_to(net, upto)
        .into_iter()
        .find(|&i| match net.nodes()[i].op {
            Op::Sigmoid | Op::Tanh | Op::Softmax(_) => true,
            Op::Sign | Op::Square | Op::Mul => false,
            Op::Input | Op::Affine(_) | Op::Conv(_) | Op::ScaleShift(_) | Op::Reshape => false,
            Op::Add | Op::Concat | Op::Gather { .. } => false,
            Op::Relu => false,
        })
        .map(|i| encode::no_exact_encoding(net, i))
}

/// One Z3 check's answer.
pub(crate) enum Check {
    Sat(z3::Model),
    Unsat,
    Timeout,
    Unknown(String),
}

/// Runs `solver.check()` with Z3's timeout set to the time left until `deadline` (none
/// without a limit).
pub(crate) fn check(solver: &Solver, deadline: Deadline) -> Check {
    let left = deadline.remaining();
    if left.is_some_and(|l| l.is_zero()) {
        return Check::Timeout;
    }
    if let Some(left) = left {
        let mut p = Params::new();
        p.set_u32(
            "timeout",
            left.as_millis().clamp(1, u32::MAX as u128) as u32,
        );
        solver.set_params(&p);
    }
    // Z3's own timer is checked only between some steps (a 0.3 s budget was seen to run 1 s),
    // and a deadline also expires early at the memory limit, so a watchdog thread checks the
    // deadline every `worker::POLL` and interrupts the context once it has expired. An
    // interrupt that arrives after `check` returned is a no-op (Z3 interrupts only a running
    // call).
    let handle = solver.get_context().handle();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let handle = &handle;
    let answer = std::thread::scope(|s| {
        s.spawn(move || {
            while wait.recv_timeout(worker::POLL) == Err(RecvTimeoutError::Timeout) {
                if deadline.expired() {
                    handle.interrupt();
                    return;
                }
            }
        });
        let r = solver.check();
        drop(done);
        r
    });
    match answer {
        SatResult::Unsat => Check::Unsat,
        SatResult::Sat => match solver.get_model() {
            Some(m) => Check::Sat(m),
            None => Check::Unknown("z3 said sat but gave no model".into()),
        },
        SatResult::Unknown => {
            let why = solver.get_reason_unknown().unwrap_or_default();
            if why.contains("timeout") || why.contains("canceled") || deadline.expired() {
                Check::Timeout
            } else {
                Check::Unknown(format!("z3: {why}"))
            }
        }
    }
}

/// The model's input point, rounded to f64 (None if Z3 cannot evaluate a variable).
pub(crate) fn model_point(model: &z3::Model, x: &[Real]) -> Option<Vec<f64>> {
    x.iter().map(|v| encode::model_value(model, v)).collect()
}

/// Decides region `r` of `prop` alone by `deadline` (plus at most [`GRACE`]): the query runs on
/// a Z3 thread of its own, abandoned (`timeout`) when it is late.
pub fn solve_region(
    net: &Arc<Network>,
    prop: &Arc<Property>,
    r: usize,
    deadline: Deadline,
) -> SmtOutcome {
    let (net, prop) = (Arc::clone(net), Arc::clone(prop));
    match worker::bounded(deadline, move || decide_region(&net, &prop, r, deadline)) {
        Ok(outcome) => outcome,
        Err(worker::Lost::Late) => SmtOutcome::Timeout,
        Err(worker::Lost::Failed(msg)) => SmtOutcome::Unknown(format!(
            "Z3 failed: {msg} (how a refused allocation shows, e.g. under --memory-limit)"
        )),
    }
}

/// Decides region `r` of `prop` (see the module doc), on the calling thread.
fn decide_region(net: &Network, prop: &Property, r: usize, deadline: Deadline) -> SmtOutcome {
    let region = &prop.regions[r];
    let last = net.nodes().len() - 1;
    if let Some(why) = unsupported(net, last) {
        return SmtOutcome::Unknown(why);
    }
    let bounds = sound_bounds(net, region);
    let out = &bounds[last];
    // Proofs are about the bad case loosened by the f32 evaluation's error bound
    // (`bounds::f32_error`): `unsat` then also holds for every f32 evaluation. The exact
    // bounds and Z3's exact rationals cover rounding otherwise (`constraint_lower_bound` pads).
    let out_err = f32_errors(net, &bounds).pop().expect("a network has nodes");
    let proof_region = loosen(region, &out_err, out);
    let refuted = proof_region.disjuncts.iter().all(|d| {
        d.constraints
            .iter()
            .any(|c| constraint_lower_bound(c, out) > 0.0)
    });
    // `unsat` path (docs/soundness.md): sound bounds over the proof box, padded in
    // `constraint_lower_bound`, against the loosened bad case.
    if refuted {
        return SmtOutcome::Unsat;
    }
    let solver = Solver::new();
    let enc = match encode::encode(net, &bounds, last, &solver, false) {
        Ok(e) => e,
        Err(why) => return SmtOutcome::Unknown(why),
    };
    let y = enc.values[last].clone().expect("the output is encoded");
    solver.assert(encode::bad_case(&proof_region, &y, 0.0));
    let model = match check(&solver, deadline) {
        // `unsat` path: Z3 over exact rationals (every f64 written exactly, `encode.rs`), the
        // loosened bad case, stable ReLUs and triangle cuts from sound bounds.
        Check::Unsat => return SmtOutcome::Unsat,
        Check::Timeout => return SmtOutcome::Timeout,
        Check::Unknown(why) => return SmtOutcome::Unknown(why),
        Check::Sat(m) => m,
    };
    let Some(x) = model_point(&model, &enc.x) else {
        return SmtOutcome::Unknown("z3's model has no value for an input".into());
    };
    if let Some(c) = replay_or_repair(net, prop, region, &x, deadline) {
        return SmtOutcome::Sat(Box::new(c));
    }
    // Ask for models a margin away from every boundary (in the original, unwidened box).
    let scale = 1.0 + net.eval_f64(&x).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for rel in SMT_REPAIR_MARGINS {
        solver.push();
        for (i, v) in enc.x.iter().enumerate() {
            let pad = (region.upper[i] - region.lower[i]) * SMT_REPAIR_INTERIOR;
            solver.assert(v.ge(encode::exact(region.lower[i] + pad)));
            solver.assert(v.le(encode::exact(region.upper[i] - pad)));
        }
        solver.assert(encode::bad_case(region, &y, rel * scale));
        let found = match check(&solver, deadline) {
            Check::Sat(m) => model_point(&m, &enc.x)
                .and_then(|x2| replay_or_repair(net, prop, region, &x2, deadline)),
            // A margin this large is impossible (larger ones too), or time is up.
            Check::Unsat | Check::Timeout | Check::Unknown(_) => {
                solver.pop(1);
                break;
            }
        };
        solver.pop(1);
        if let Some(c) = found {
            return SmtOutcome::Sat(Box::new(c));
        }
    }
    SmtOutcome::Unconfirmed {
        model: x,
        region: r,
    }
}

/// [`confirm`]s `x`, else a small local search around it inside `region`'s box: points moved
/// towards the box centre ([`SMT_REPAIR_CENTRE_PULLS`]), then signed-gradient steps on the
/// margin of the disjunct `x` comes closest to ([`SMT_REPAIR_STEP_FRACS`]), until `deadline`.
/// Every candidate goes through [`confirm`].
pub fn replay_or_repair(
    net: &Network,
    prop: &Property,
    region: &Region,
    x: &[f64],
    deadline: Deadline,
) -> Option<Counterexample> {
    if let Some(c) = confirm(net, prop, x) {
        return Some(c);
    }
    let n = x.len();
    let mid: Vec<f64> = (0..n)
        .map(|i| 0.5 * (region.lower[i] + region.upper[i]))
        .collect();
    for t in SMT_REPAIR_CENTRE_PULLS {
        let p: Vec<f64> = (0..n).map(|i| x[i] + t * (mid[i] - x[i])).collect();
        if let Some(c) = confirm(net, prop, &p) {
            return Some(c);
        }
    }
    let y = net.eval_f64(x);
    let d = region
        .disjuncts
        .iter()
        .min_by(|a, b| a.margin(&y).total_cmp(&b.margin(&y)))?;
    for frac in SMT_REPAIR_STEP_FRACS {
        let mut p = x.to_vec();
        for _ in 0..SMT_REPAIR_STEPS {
            if deadline.expired() {
                return None;
            }
            let (_, g) = margin_and_gradient(net, d, &p);
            for i in 0..n {
                let w = region.upper[i] - region.lower[i];
                let step = -g[i].signum() * frac * w;
                p[i] = (p[i] + if g[i] == 0.0 { 0.0 } else { step })
                    .clamp(region.lower[i], region.upper[i]);
            }
            if let Some(c) = confirm(net, prop, &p) {
                return Some(c);
            }
        }
    }
    None
}
