//! Dataset-level numbers of a radius run.
//!
//! Conventions: accuracies are fractions of *all* inputs; a misclassified input has radius 0
//! and counts in means and medians as 0; gaps are over correctly classified inputs that the
//! attack broke.

use super::{Certifier, InputResult, RadiusOptions};

/// One engine's numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EngineSummary {
    pub engine: Certifier,
    /// At each ε of the grid: the fraction of inputs correctly classified and certified at ε.
    pub certified_accuracy: Vec<f64>,
    pub median_radius: Option<f64>,
    pub mean_radius: Option<f64>,
    /// Median of `attack_radius − radius`.
    pub median_gap: Option<f64>,
    /// Mean seconds per input.
    pub time_per_input_s: Option<f64>,
}

/// The whole dataset.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub correct: usize,
    pub clean_accuracy: Option<f64>,
    pub eps_grid: Vec<f64>,
    /// Best of the engines at each ε (every engine is sound, so the best one is).
    pub certified_accuracy: Vec<f64>,
    /// At each ε: the fraction correctly classified that the attack did not break at ε (an
    /// upper bound on the true robust accuracy, as certified accuracy is a lower bound).
    pub empirical_robust_accuracy: Vec<f64>,
    pub median_radius: Option<f64>,
    pub mean_radius: Option<f64>,
    pub median_attack_radius: Option<f64>,
    pub median_gap: Option<f64>,
    pub mean_gap: Option<f64>,
    /// Inputs with an attack radius.
    pub attacked: usize,
    pub attack_time_per_input_s: Option<f64>,
    /// Inputs whose certified radius is not below their attack radius. Always 0 for sound
    /// engines; anything else is a bug.
    pub soundness_violations: usize,
    pub engines: Vec<EngineSummary>,
}

/// The median (mean of the two middle values for an even count); `None` when empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

/// The mean; `None` when empty.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Fraction of `inputs` with `radius(i) >= ε` (and correctly classified), at each grid ε.
fn accuracy(
    inputs: &[InputResult],
    grid: &[f64],
    ok: impl Fn(&InputResult, f64) -> bool,
) -> Vec<f64> {
    let n = inputs.len().max(1) as f64;
    grid.iter()
        .map(|&e| inputs.iter().filter(|r| r.correct() && ok(r, e)).count() as f64 / n)
        .collect()
}

impl Summary {
    /// The summary of `inputs`, with engines in `opts.engines` order.
    pub fn new(inputs: &[InputResult], opts: &RadiusOptions) -> Self {
        let grid = opts.eps_grid.clone();
        let n = inputs.len();
        let correct = inputs.iter().filter(|r| r.correct()).count();
        let best: Vec<f64> = inputs.iter().map(|r| r.certified_radius).collect();
        let gaps: Vec<f64> = inputs.iter().filter_map(InputResult::gap).collect();
        let engines = opts
            .engines
            .iter()
            .enumerate()
            .map(|(k, &engine)| {
                let radii: Vec<f64> = inputs.iter().map(|r| r.radii[k].radius).collect();
                let times: Vec<f64> = inputs.iter().map(|r| r.radii[k].time_s).collect();
                let gaps = inputs
                    .iter()
                    .filter(|r| r.correct())
                    .filter_map(|r| r.attack_radius.map(|a| a - r.radii[k].radius))
                    .collect();
                EngineSummary {
                    engine,
                    certified_accuracy: accuracy(inputs, &grid, |r, e| r.radii[k].radius >= e),
                    median_radius: median(radii.clone()),
                    mean_radius: mean(&radii),
                    median_gap: median(gaps),
                    time_per_input_s: mean(&times),
                }
            })
            .collect();
        let attack_times: Vec<f64> = inputs.iter().map(|r| r.attack_time_s).collect();
        Summary {
            count: n,
            correct,
            clean_accuracy: (n > 0).then(|| correct as f64 / n as f64),
            certified_accuracy: accuracy(inputs, &grid, |r, e| r.certified_radius >= e),
            empirical_robust_accuracy: accuracy(inputs, &grid, |r, e| {
                r.attack_radius.is_none_or(|a| a > e)
            }),
            eps_grid: grid,
            median_radius: median(best.clone()),
            mean_radius: mean(&best),
            median_attack_radius: median(inputs.iter().filter_map(|r| r.attack_radius).collect()),
            median_gap: median(gaps.clone()),
            mean_gap: mean(&gaps),
            attacked: inputs.iter().filter(|r| r.attack_radius.is_some()).count(),
            attack_time_per_input_s: mean(&attack_times),
            soundness_violations: inputs
                .iter()
                .filter(|r| r.correct() && r.attack_radius.is_some_and(|a| r.certified_radius >= a))
                .count(),
            engines,
        }
    }
}
