//! `radius.json`: every number of a radius run, with the settings that produced it.

use super::{EngineRadius, InputResult, RadiusReport};
use serde::Serialize;

#[derive(Serialize)]
struct Settings<'a> {
    norm: &'static str,
    engines: Vec<&'static str>,
    eps_max: f64,
    tolerance: f64,
    eps_grid: &'a [f64],
    /// Each certifier's budget per input, in seconds (null: no limit).
    time_budget_s: Option<f64>,
    attack: Attack,
    seed: u64,
    preprocess: Preprocess<'a>,
}

#[derive(Serialize)]
struct Attack {
    methods: &'static str,
    pgd_steps: usize,
    pgd_step_frac: f64,
    random_restarts: usize,
}

#[derive(Serialize)]
struct Preprocess<'a> {
    scale: f64,
    mean: &'a [f64],
    std: &'a [f64],
    /// The ε-ball is taken in pixel space (`raw / scale`) and clipped to this range before
    /// `(p − mean) / std`.
    clip: [f64; 2],
    /// How the network reads the file's channels-last values: `chw` (reordered channels
    /// first), `hwc` (as they are) or `flat` (no image, as they are).
    layout: &'static str,
}

#[derive(Serialize)]
struct Cex {
    /// The class that reaches the label's logit.
    class: usize,
    /// `max(y_class − y_label)`-style margin of the violated disjunct (`<= 0`), f32 and f64.
    margin_f32: f64,
    margin_f64: f64,
    /// Stem of the files in `cex/` (`.txt`, `.json`, `.png`).
    files: String,
}

#[derive(Serialize)]
struct Input<'a> {
    index: usize,
    label: usize,
    prediction: usize,
    correct: bool,
    certified_radius: f64,
    attack_radius: Option<f64>,
    /// `attack` (FGSM/PGD), `misclassified` (ε = 0) or `complete` (the complete certifier's
    /// search found a counterexample below the attack's radius).
    attack_by: Option<&'static str>,
    gap: Option<f64>,
    engines: &'a [EngineRadius],
    attack_time_s: f64,
    counterexample: Option<Cex>,
}

#[derive(Serialize)]
struct Report<'a> {
    certus_version: &'static str,
    network: &'a str,
    data: &'a str,
    input_shape: &'a [usize],
    settings: Settings<'a>,
    inputs: Vec<Input<'a>>,
    summary: &'a super::Summary,
}

/// The class a counterexample's disjunct stands for: disjunct `d` of the robustness property
/// of `label` is class `d`, or `d + 1` from the label on.
pub fn adversarial_class(label: usize, disjunct: usize) -> usize {
    if disjunct < label {
        disjunct
    } else {
        disjunct + 1
    }
}

/// The stem of the counterexample files of input `index`.
pub fn cex_stem(index: usize) -> String {
    format!("input_{index}")
}

fn input(r: &InputResult) -> Input<'_> {
    Input {
        index: r.index,
        label: r.label,
        prediction: r.prediction,
        correct: r.correct(),
        certified_radius: r.certified_radius,
        attack_radius: r.attack_radius,
        attack_by: r.attack_by,
        gap: r.gap(),
        engines: &r.radii,
        attack_time_s: r.attack_time_s,
        counterexample: r.counterexample.as_ref().map(|c| Cex {
            class: adversarial_class(r.label, c.disjunct),
            margin_f32: c.margin_f32,
            margin_f64: c.margin_f64,
            files: cex_stem(r.index),
        }),
    }
}

/// The report as pretty-printed JSON.
pub fn to_json(rep: &RadiusReport) -> String {
    let o = &rep.options;
    let body = Report {
        certus_version: env!("CARGO_PKG_VERSION"),
        network: &rep.network,
        data: &rep.data,
        input_shape: &rep.input_shape,
        settings: Settings {
            norm: "linf",
            engines: o.engines.iter().map(|e| e.name()).collect(),
            eps_max: o.eps_max,
            tolerance: o.tolerance,
            eps_grid: &o.eps_grid,
            time_budget_s: o.time_budget.map(|d| d.as_secs_f64()),
            attack: Attack {
                methods:
                    "fgsm, then pgd (untargeted margin) from the clean input and random starts",
                pgd_steps: o.pgd_steps,
                pgd_step_frac: o.pgd_step_frac,
                random_restarts: o.attack_restarts,
            },
            seed: o.seed,
            preprocess: Preprocess {
                scale: rep.preprocess.scale,
                mean: &rep.preprocess.mean,
                std: &rep.preprocess.std,
                clip: [0.0, 1.0],
                layout: rep.preprocess.layout_name(),
            },
        },
        inputs: rep.inputs.iter().map(input).collect(),
        summary: &rep.summary,
    };
    let mut s = serde_json::to_string_pretty(&body).expect("report serialises");
    s.push('\n');
    s
}
