//! The outcome vocabulary every engine answers in: a [`Verdict`], a [`Counterexample`], and
//! [`confirm`], the one gate a counterexample passes before anything reports it. A leaf module:
//! it knows the IR and the property, and no engine.

use crate::ir::Network;
use crate::spec::Property;

/// The answer to "is the bad case reachable?".
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The property holds: no input in any region reaches the bad case.
    Unsat,
    /// The bad case is reachable; the counterexample has been replayed.
    Sat(Box<Counterexample>),
    /// No answer, with the reason (an incomplete engine ran out of ideas, a depth or memory
    /// limit, an op with no exact encoding).
    Unknown(String),
    /// The time budget ran out.
    Timeout,
}

impl Verdict {
    /// The VNN-COMP word for this verdict.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Unsat => "unsat",
            Verdict::Sat(_) => "sat",
            Verdict::Unknown(_) => "unknown",
            Verdict::Timeout => "timeout",
        }
    }
}

/// A confirmed counterexample: `input` lies in region `region`'s box and the network's output
/// satisfies disjunct `disjunct` in both f64 and f32 arithmetic, with no tolerance.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Counterexample {
    /// The input, flattened row-major; f32-representable whenever the box allows it.
    pub input: Vec<f64>,
    /// The output computed in f32 (what onnxruntime reports), widened to f64.
    pub output: Vec<f64>,
    /// The output computed in f64.
    pub output_f64: Vec<f64>,
    pub region: usize,
    pub disjunct: usize,
    /// The violated disjunct's margin `max_k (a_k·y − b_k)` in f32 and in f64 (both `<= 0`).
    pub margin_f32: f64,
    pub margin_f64: f64,
}

/// Rounds `x` to the nearest f32 that stays inside `[l, u]` (when one exists there; otherwise
/// keeps the f64 value clipped to the box, which onnxruntime would round, see the README).
fn round_into_box(x: f64, l: f64, u: f64) -> f64 {
    let x = x.clamp(l, u);
    let mut v = x as f32;
    if (v as f64) < l {
        v = v.next_up();
    }
    if (v as f64) > u {
        v = v.next_down();
    }
    if (v as f64) < l || (v as f64) > u {
        x
    } else {
        v as f64
    }
}

/// Replays `x` on the network and checks it against every region and disjunct of `prop`.
/// Returns the first one it violates, or `None`. The point is first rounded to f32 inside the
/// box, so the reported input is exactly the one that was checked.
pub fn confirm(net: &Network, prop: &Property, x: &[f64]) -> Option<Counterexample> {
    for (r, region) in prop.regions.iter().enumerate() {
        if x.len() != region.lower.len() {
            return None;
        }
        let input: Vec<f64> = (0..x.len())
            .map(|i| round_into_box(x[i], region.lower[i], region.upper[i]))
            .collect();
        if !region.contains(&input) {
            continue;
        }
        let y64 = net.eval_f64(&input);
        let y32: Vec<f64> = net.eval_f32(&input).into_iter().map(f64::from).collect();
        if y64.iter().chain(&y32).any(|v| !v.is_finite()) {
            continue;
        }
        for (d, disjunct) in region.disjuncts.iter().enumerate() {
            let (m64, m32) = (disjunct.margin(&y64), disjunct.margin(&y32));
            if m64 <= 0.0 && m32 <= 0.0 {
                return Some(Counterexample {
                    input,
                    output: y32,
                    output_f64: y64,
                    region: r,
                    disjunct: d,
                    margin_f32: m32,
                    margin_f64: m64,
                });
            }
        }
    }
    None
}

impl Counterexample {
    /// The VNN-COMP text: `((X_0 v)` / ` (X_1 v)` ... ` (Y_m v))`, inputs then outputs.
    /// Values use Rust's shortest round-trip formatting, so parsing them gives the same f64.
    pub fn vnncomp_text(&self) -> String {
        let mut lines = Vec::with_capacity(self.input.len() + self.output.len());
        for (i, v) in self.input.iter().enumerate() {
            lines.push(format!("(X_{i} {})", fmt_num(*v)));
        }
        for (i, v) in self.output.iter().enumerate() {
            lines.push(format!("(Y_{i} {})", fmt_num(*v)));
        }
        format!("({})", lines.join("\n "))
    }
}

/// A number as VNN-COMP tools print it: plain decimal or scientific, never `inf`/`NaN`
/// (counterexamples are finite by construction).
fn fmt_num(v: f64) -> String {
    if v == 0.0 || (1e-4..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}
