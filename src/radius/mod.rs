//! Certified radii: for each labelled input, the largest L∞ ε at which an engine *proves* that
//! no other class's logit reaches the label's, and the smallest ε at which an attack *finds* an
//! input (replayed by [`confirm`]) where one does.
//!
//! At radius ε the question is the VNN-COMP robustness property over the clipped box
//! `B(ε) = [max(0, p − ε), min(1, p + ε)]` in pixel space ([`data`]): one region, one disjunct
//! `y_label − y_j <= 0` per other class `j`. Certified at ε: every disjunct refuted, i.e. a sound
//! lower bound of every `y_label − y_j` over `B(ε)` is `> 0`. Since `B(ε) ⊆ B(ε')` for
//! `ε <= ε'`, a proof at ε covers every smaller ε, and a counterexample at ε lies in every
//! larger box: a sound engine's certified radius is always below the attack radius.
//!
//! Both radii come from [`boundary`]: the ε grid is scanned upward to the first failure, then
//! that bracket is bisected to `tolerance`. Certified accuracy at a grid ε is
//! `certified_radius >= ε`, so the grid numbers are exactly a bound engine's answers at those ε.
//! The `complete` certifier starts from the `alpha` radius and bisects up towards the attack
//! radius with the verifier's search ([`complete`]); its counterexamples below the attack's
//! radius become the input's attack radius.

pub mod adversarial;
pub mod compare;
mod complete;
pub mod csv;
pub mod data;
pub mod html;
pub mod json;
mod summary;
mod svg;

pub use data::{load_csv, Preprocess, Sample};
pub use summary::{EngineSummary, Summary};

use crate::attack::{fgsm, pgd_goal, Goal, PgdConfig, Rng};
use crate::bounds::Method;
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Counterexample};
use crate::spec::{LinearConstraint, Property};
use crate::verify::Bounder;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// How a radius is certified: the library's engine vocabulary, as a radius search uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Certifier {
    /// One pass of a bound method over each ε-box, no splitting (`alpha` and `lp` are floored
    /// by the `dual` bound, so `dual <= alpha` holds on every input).
    Bound(Method),
    /// One `alpha` pass, then the complete verifier ([`crate::verify::verify_with`], the default
    /// [`crate::verify::Engine`]: ReLU splitting on image networks) bisecting between that
    /// radius and the attack radius, within the per-input time budget ([`complete`]).
    Complete,
}

impl Certifier {
    /// The lower-case name used in reports: the bound method's, or `complete`.
    pub fn name(self) -> &'static str {
        match self {
            Certifier::Bound(m) => match m {
                Method::Interval => "interval",
                Method::Dual => "dual",
                Method::Crown => "crown",
                Method::Alpha => "alpha",
                Method::Lp => "lp",
            },
            Certifier::Complete => "complete",
        }
    }
}

impl serde::Serialize for Certifier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Settings of a radius run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RadiusOptions {
    pub engines: Vec<Certifier>,
    /// The largest ε searched; a radius equal to it means "at least this".
    pub eps_max: f64,
    /// Bisection stops when the bracket is this narrow.
    pub tolerance: f64,
    /// The ε at which certified and empirical robust accuracy are reported.
    pub eps_grid: Vec<f64>,
    /// Wall-clock budget of each certifier on each input (`None`: no limit). A bound method
    /// stops refining at it (alpha iterations, LP solves); the search stops there and keeps the
    /// largest ε proved so far.
    #[serde(skip)]
    pub time_budget: Option<Duration>,
    /// The attack: FGSM from the clean input, then PGD from it and from `attack_restarts`
    /// random starts, on the untargeted margin `min_j (y_label − y_j)`.
    pub pgd_steps: usize,
    pub pgd_step_frac: f64,
    pub attack_restarts: usize,
    pub seed: u64,
}

impl Default for RadiusOptions {
    fn default() -> Self {
        RadiusOptions {
            engines: vec![Certifier::Bound(Method::Crown)],
            eps_max: 0.1,
            tolerance: 1e-3,
            eps_grid: vec![0.005, 0.01, 0.02, 0.03, 0.05, 0.1],
            time_budget: Some(Duration::from_secs(10)),
            pgd_steps: 50,
            pgd_step_frac: 0.1,
            attack_restarts: 1,
            seed: 0,
        }
    }
}

/// One engine's radius for one input.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EngineRadius {
    pub engine: Certifier,
    pub radius: f64,
    /// Seconds spent by this engine on this input.
    pub time_s: f64,
    /// Number of ε at which it was asked.
    pub queries: usize,
    /// How the radius was obtained (one pass per ε; for `complete`, the alpha pass's radius
    /// and what its searches answered).
    pub how: String,
}

/// Everything found for one input.
#[derive(Clone, Debug, PartialEq)]
pub struct InputResult {
    pub index: usize,
    pub label: usize,
    /// Arg max of the f64 output on the clean input (lowest index on ties).
    pub prediction: usize,
    /// One per engine, in the order asked.
    pub radii: Vec<EngineRadius>,
    /// The largest of the engines' radii (each is sound, so the largest is).
    pub certified_radius: f64,
    /// The smallest ε at which a replayed counterexample was found; `None` when none was up to
    /// `eps_max`.
    pub attack_radius: Option<f64>,
    /// Who found it: `attack` (FGSM/PGD), `misclassified` (the clean input, at ε = 0) or
    /// `complete` (a search of the complete certifier, below the attack's radius).
    pub attack_by: Option<&'static str>,
    pub attack_time_s: f64,
    /// The counterexample found at `attack_radius` (network space).
    pub counterexample: Option<Counterexample>,
    /// The clean input in pixel space (network order).
    pub pixels: Vec<f64>,
}

impl InputResult {
    /// `prediction == label`.
    pub fn correct(&self) -> bool {
        self.prediction == self.label
    }

    /// `attack_radius − certified_radius`, for correctly classified inputs with an attack.
    pub fn gap(&self) -> Option<f64> {
        self.attack_radius
            .filter(|_| self.correct())
            .map(|a| a - self.certified_radius)
    }
}

/// A whole run: the settings, every input, and the summary.
#[derive(Clone, Debug)]
pub struct RadiusReport {
    /// Free-form description of the run (network and data paths).
    pub network: String,
    pub data: String,
    pub input_shape: Vec<usize>,
    pub preprocess: Preprocess,
    pub options: RadiusOptions,
    pub inputs: Vec<InputResult>,
    pub summary: Summary,
}

/// Searches `(0, eps_max]` for the boundary of a predicate that holds for small ε and fails for
/// large ones: scans the grid points below `eps_max` and then `eps_max` upward until the first
/// failure, then bisects that bracket until it is at most `tol` wide *and* no grid point lies
/// strictly inside it. Returns the last ε where it held (0 if none) and the first where it failed
/// (`None` if it held at `eps_max`). `holds` answers `None` to stop early (out of time); the
/// first value is then still one where it held, the second only where the search stopped.
pub fn boundary(
    grid: &[f64],
    eps_max: f64,
    tol: f64,
    mut holds: impl FnMut(f64) -> Option<bool>,
) -> (f64, Option<f64>) {
    let mut points: Vec<f64> = grid
        .iter()
        .copied()
        .filter(|&e| e > 0.0 && e < eps_max)
        .collect();
    points.sort_by(f64::total_cmp);
    points.dedup();
    points.push(eps_max);
    let mut lo = 0.0;
    let mut hi = None;
    for &p in &points {
        match holds(p) {
            Some(true) => lo = p,
            Some(false) => {
                hi = Some(p);
                break;
            }
            None => return (lo, Some(p)),
        }
    }
    let Some(mut h) = hi else {
        return (lo, None);
    };
    loop {
        let inside = points.iter().copied().filter(|&g| lo < g && g < h);
        let mid = 0.5 * (lo + h);
        // Prefer the grid point nearest the midpoint, so the grid is decided exactly.
        let next = match inside.min_by(|a, b| (a - mid).abs().total_cmp(&(b - mid).abs())) {
            Some(g) => g,
            None if h - lo > tol && lo < mid && mid < h => mid,
            None => break,
        };
        match holds(next) {
            Some(true) => lo = next,
            Some(false) => h = next,
            None => break,
        }
    }
    (lo, Some(h))
}

/// Arg max (lowest index on ties).
pub(crate) fn argmax(y: &[f64]) -> usize {
    let mut best = 0;
    for (j, v) in y.iter().enumerate() {
        if *v > y[best] {
            best = j;
        }
    }
    best
}

/// The certifiers of one network, prepared once and shared by every input.
struct Engines<'a> {
    net: &'a Network,
    /// Per certifier, its bounder (`alpha`'s for `complete`, which starts from it).
    bounders: Vec<(Certifier, Bounder<'a>)>,
}

impl<'a> Engines<'a> {
    fn new(net: &'a Network, engines: &[Certifier]) -> Self {
        let bounders = engines
            .iter()
            .map(|&e| match e {
                Certifier::Bound(m) => (e, Bounder::new(net, m)),
                Certifier::Complete => (e, Bounder::new(net, Method::Alpha)),
            })
            .collect();
        Engines { net, bounders }
    }

    /// True when certifier `k`'s one bound pass proves `label` robust on the box (which must
    /// already cover rounding, see [`Preprocess::eps_box`]); `None` when `deadline` passed first.
    fn certifies(
        &self,
        k: usize,
        lower: Vec<f64>,
        upper: Vec<f64>,
        label: usize,
        deadline: Deadline,
    ) -> Option<bool> {
        if deadline.expired() {
            return None;
        }
        let n_out = self.net.output_len();
        let prop = Property::robustness(lower, upper, label, n_out);
        let region = &prop.regions[0];
        let cons: Vec<&LinearConstraint> =
            region.disjuncts.iter().map(|d| &d.constraints[0]).collect();
        let lb = self.bounders[k]
            .1
            .lower_bounds(&region.lower, &region.upper, &cons, deadline);
        // A proof stands whenever it came; a failure after the deadline may be the deadline's.
        match lb.iter().all(|&v| v > 0.0) {
            true => Some(true),
            false if deadline.expired() => None,
            false => Some(false),
        }
    }
}

/// The attack at one ε: FGSM from the clean input, then PGD from it, then PGD from random
/// starts, all on the untargeted margin; the first point [`confirm`] replays.
fn attack_at(
    net: &Network,
    prop: &Property,
    clean: &[f64],
    opts: &RadiusOptions,
    rng: &mut Rng,
) -> Option<Counterexample> {
    let region = &prop.regions[0];
    let goal = Goal::region(region).with_start(clean.to_vec());
    let cex = std::cell::RefCell::new(None);
    let mut found = |x: &[f64]| {
        let c = confirm(net, prop, x);
        let hit = c.is_some();
        *cex.borrow_mut() = c;
        hit
    };
    fgsm::fgsm(net, &goal, &mut found);
    let cfg = PgdConfig {
        steps: opts.pgd_steps,
        restarts: 0,
        step_frac: opts.pgd_step_frac,
    };
    for r in 0..=opts.attack_restarts {
        if cex.borrow().is_some() {
            break;
        }
        let g = if r == 0 {
            goal.clone()
        } else {
            let x = (0..clean.len())
                .map(|i| goal.lower[i] + rng.uniform() * goal.width(i))
                .collect();
            goal.clone().with_start(x)
        };
        // Bounded by its steps and restarts, not by the clock: the attack radius must not
        // depend on the machine's load.
        pgd_goal(net, &g, &cfg, Deadline::NONE, &mut found);
    }
    cex.into_inner()
}

/// Radii of one input.
fn analyse(eng: &Engines, sample: &Sample, pre: &Preprocess, opts: &RadiusOptions) -> InputResult {
    let net = eng.net;
    let n_out = net.output_len();
    let clean = pre.normalise(&sample.pixels);
    let prediction = argmax(&net.eval_f64(&clean));
    let label = sample.label;
    // Attack radius. A misclassified input is its own counterexample at ε = 0.
    let t = Instant::now();
    let mut rng = Rng::new(opts.seed ^ (sample.index as u64).wrapping_mul(0x9E37_79B9));
    let at_zero = Property::robustness(clean.clone(), clean.clone(), label, n_out);
    let mut best: Option<(f64, Counterexample)> = confirm(net, &at_zero, &clean).map(|c| (0.0, c));
    if best.is_none() {
        boundary(&opts.eps_grid, opts.eps_max, opts.tolerance, |eps| {
            let (lo, hi) = pre.eps_box(&sample.pixels, eps, false);
            let prop = Property::robustness(lo, hi, label, n_out);
            match attack_at(net, &prop, &clean, opts, &mut rng) {
                Some(c) => {
                    if best.as_ref().is_none_or(|b| eps < b.0) {
                        best = Some((eps, c));
                    }
                    Some(false)
                }
                None => Some(true),
            }
        });
    }
    let attack_time_s = t.elapsed().as_secs_f64();
    let mut attack_by = best.as_ref().map(|b| match b.0 == 0.0 {
        true => "misclassified",
        false => "attack",
    });
    let attack_radius = best.as_ref().map(|b| b.0);
    // Certified radius, per certifier.
    let mut radii = Vec::new();
    for (k, &(engine, ref bounder)) in eng.bounders.iter().enumerate() {
        let t = Instant::now();
        let until = opts.time_budget.map_or(Deadline::NONE, Deadline::after);
        let mut queries = 0;
        let mut how = format!("one {} pass per ε", engine.name());
        let radius = if prediction != label {
            how = "misclassified".into();
            0.0
        } else if engine == Certifier::Complete {
            let f = complete::radius(net, bounder, sample, pre, opts, attack_radius, until);
            queries = f.queries;
            how = f.how();
            // A counterexample of the search below every other is the input's attack radius.
            if let Some((eps, c)) = f.counterexample {
                if best.as_ref().is_none_or(|b| eps < b.0) {
                    best = Some((eps, c));
                    attack_by = Some("complete");
                }
            }
            f.radius
        } else {
            boundary(&opts.eps_grid, opts.eps_max, opts.tolerance, |eps| {
                queries += 1;
                let (lo, hi) = pre.eps_box(&sample.pixels, eps, true);
                eng.certifies(k, lo, hi, label, until)
            })
            .0
        };
        radii.push(EngineRadius {
            engine,
            radius,
            time_s: t.elapsed().as_secs_f64(),
            queries,
            how,
        });
    }
    let certified_radius = radii.iter().map(|r| r.radius).fold(0.0, f64::max);
    let (attack_radius, counterexample) = match best {
        Some((e, c)) => (Some(e), Some(c)),
        None => (None, None),
    };
    InputResult {
        index: sample.index,
        label,
        prediction,
        radii,
        certified_radius,
        attack_radius,
        attack_by,
        attack_time_s,
        counterexample,
        pixels: sample.pixels.clone(),
    }
}

/// Computes the radii of every sample (in parallel over samples, on the current rayon pool),
/// calling `progress` after each, and summarises them. `samples` must fit `net` (as
/// [`load_csv`] makes them).
pub fn run(
    net: &Network,
    samples: &[Sample],
    pre: &Preprocess,
    opts: &RadiusOptions,
    progress: &(dyn Fn() + Sync),
) -> (Vec<InputResult>, Summary) {
    let eng = Engines::new(net, &opts.engines);
    let inputs: Vec<InputResult> = samples
        .par_iter()
        .map(|s| {
            let r = analyse(&eng, s, pre, opts);
            progress();
            r
        })
        .collect();
    let summary = Summary::new(&inputs, opts);
    (inputs, summary)
}

pub(crate) fn write_file(path: &std::path::Path, text: &str) -> crate::Result<()> {
    std::fs::write(path, text).map_err(|source| crate::Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `radius.json`, `radius.csv`, `report.html`, for every counterexample
/// `cex/input_<index>.{txt,json,png}`, and all of them with their true labels as a dataset,
/// `adversarial.csv`, `adversarial_x.npy`, `adversarial_y.npy` ([`crate::report::dataset`]),
/// into `dir` (created if missing).
pub fn write_report(dir: &std::path::Path, rep: &RadiusReport) -> crate::Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| crate::Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_file(&dir.join("radius.json"), &json::to_json(rep))?;
    write_file(&dir.join("radius.csv"), &csv::to_csv(rep))?;
    write_file(&dir.join("report.html"), &html::to_html(rep)?)?;
    for r in &rep.inputs {
        let (Some(c), Some(eps)) = (&r.counterexample, r.attack_radius) else {
            continue;
        };
        let n_out = c.output.len();
        let (lo, hi) = rep.preprocess.eps_box(&r.pixels, eps, false);
        let prop = Property::robustness(lo, hi, r.label, n_out);
        crate::report::write_counterexample(
            &dir.join("cex"),
            &json::cex_stem(r.index),
            c,
            &prop,
            &rep.input_shape,
            "radius",
            rep.preprocess.picture().as_ref(),
        )?;
    }
    let found = rep
        .inputs
        .iter()
        .filter_map(|r| Some((r.label, r.counterexample.as_ref()?)));
    let rows = adversarial::dataset_rows(&rep.preprocess, found);
    crate::report::write_dataset(dir, "adversarial", &rows, &rep.input_shape)?;
    Ok(())
}
