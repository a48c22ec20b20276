//! Sound bounds on every node of a network over an input box.
//!
//! Soundness convention: every bound returned here contains the value the *exact real-arithmetic*
//! network takes, for every input in the box. Floating-point error is accounted for by padding
//! outward (see [`crate::tolerances::gamma`]); each padding is stated where it is applied.

pub mod alpha;
pub mod dual;
pub mod f32_error;
pub mod interval;
pub mod lp;
pub mod relax;
mod round;
mod sums;

use crate::spec::LinearConstraint;
use crate::tolerances::{gamma, UNDERFLOW_PAD};

/// Element-wise lower and upper bounds of one node's value (flattened).
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl Bounds {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.lower.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Mean of `upper − lower`.
    pub fn mean_width(&self) -> f64 {
        let n = self.len().max(1) as f64;
        self.lower
            .iter()
            .zip(&self.upper)
            .map(|(l, u)| u - l)
            .sum::<f64>()
            / n
    }

    /// True when `v` lies inside the bounds (no tolerance).
    pub fn contains(&self, v: &[f64]) -> bool {
        v.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(&x, (&l, &u))| l <= x && x <= u)
    }
}

/// A sound lower bound of `a·y − b` over the box `y ∈ [lower, upper]`.
///
/// `min a·y = Σ_{a_i > 0} a_i·l_i + Σ_{a_i < 0} a_i·u_i`. The sum is computed in f64 and padded
/// down by `gamma(n) · Σ |a_i|·max(|l_i|,|u_i|) + |b|·2u`, which bounds its rounding error.
pub fn constraint_lower_bound(c: &LinearConstraint, y: &Bounds) -> f64 {
    let mut sum = -c.rhs;
    let mut mag = c.rhs.abs();
    for &(i, a) in &c.coeffs {
        let v = if a > 0.0 { y.lower[i] } else { y.upper[i] };
        sum += a * v;
        mag += (a * v).abs();
    }
    if !sum.is_finite() {
        return f64::NEG_INFINITY;
    }
    sum - gamma(c.coeffs.len() + 1) * mag - UNDERFLOW_PAD
}

/// The bound engines, from loosest and cheapest to tightest and dearest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Interval bound propagation.
    Interval,
    /// Wong–Kolter's dual network: lower ReLU slopes fixed to `u/(u − l)`.
    Dual,
    /// The dual network with the adaptive lower slope (1 if `u >= −l`, else 0; the choice of
    /// CROWN/DeepPoly), for intermediate and output bounds.
    #[default]
    Crown,
    /// Per-objective optimised lower slopes (projected gradient ascent on the bound), for every
    /// intermediate bound layer by layer and for the output.
    Alpha,
    /// The triangle LP relaxation over the `crown` intermediate bounds, solved through good_lp;
    /// its bound is recomputed from the solver's duals (see [`lp`]).
    Lp,
}

/// Settings of the dearer methods.
#[derive(Clone, Debug)]
pub struct BoundConfig {
    pub alpha: alpha::AlphaConfig,
    pub lp_backend: lp::Backend,
    /// Re-tighten every unstable ReLU's pre-activation bounds with LPs first (slow, tighter).
    pub lp_retighten: bool,
    /// When the dearer methods stop refining (alpha iterations, LP solves) and return the sound
    /// bounds they have so far.
    pub deadline: crate::deadline::Deadline,
}

impl Default for BoundConfig {
    fn default() -> Self {
        BoundConfig {
            alpha: Default::default(),
            lp_backend: Default::default(),
            lp_retighten: false,
            deadline: crate::deadline::Deadline::NONE,
        }
    }
}

impl Method {
    /// The lower slopes used for intermediate bounds.
    pub fn intermediate_slopes(self) -> dual::Slopes<'static> {
        match self {
            Method::Interval | Method::Dual => dual::Slopes::WongKolter,
            Method::Crown | Method::Alpha | Method::Lp => dual::Slopes::Adaptive,
        }
    }
}

/// `[I; −I]` for an output of `n` elements: lower bounds of these rows are the lower bounds and
/// negated upper bounds of every output.
pub fn plus_minus_identity(n: usize) -> ndarray::Array2<f64> {
    let mut c = ndarray::Array2::zeros((2 * n, n));
    for j in 0..n {
        c[[j, j]] = 1.0;
        c[[n + j, j]] = -1.0;
    }
    c
}

/// Sound bounds of every output over the box `[lower, upper]` with `method`. Each method's
/// result is intersected with the interval bounds (both are sound); `alpha` starts from the
/// `crown` slopes and keeps each row's best bound, so it is never looser than `crown`.
pub fn output_bounds(
    net: &crate::ir::Network,
    lower: &[f64],
    upper: &[f64],
    method: Method,
) -> Bounds {
    output_bounds_with(net, lower, upper, method, &BoundConfig::default())
}

/// [`output_bounds`] with explicit settings.
pub fn output_bounds_with(
    net: &crate::ir::Network,
    lower: &[f64],
    upper: &[f64],
    method: Method,
    cfg: &BoundConfig,
) -> Bounds {
    output_bounds_of(&dual::DualNetwork::new(net), lower, upper, method, cfg)
}

/// [`output_bounds_with`] on a prepared dual network: callers bounding many boxes of one
/// network keep one, so that what its passes cache (the f32 weights) is made once.
pub fn output_bounds_of(
    dn: &dual::DualNetwork,
    lower: &[f64],
    upper: &[f64],
    method: Method,
    cfg: &BoundConfig,
) -> Bounds {
    let net = dn.network();
    let ibp = dn.interval().output(lower, upper);
    if method == Method::Interval {
        return ibp;
    }
    let n = net.output_len();
    let (rows, last) = objective_lower(dn, lower, upper, &plus_minus_identity(n), method, cfg);
    Bounds {
        lower: (0..n)
            .map(|j| rows[j].max(last.lower[j]).max(ibp.lower[j]))
            .collect(),
        upper: (0..n)
            .map(|j| (-rows[n + j]).min(last.upper[j]).min(ibp.upper[j]))
            .collect(),
    }
}

/// Sound lower bounds of each row of `rows` applied to the network output, over the box, with
/// one of the dual-network methods (not `Interval`), and the output node's own bounds from the
/// same computation.
///
/// `lp` runs over the `crown` intermediate bounds and `alpha` over its own optimised ones, neither
/// always tighter than Wong–Kolter's; each row is floored by the `dual` bound and, for `alpha`,
/// by the `crown` one (all are sound), so `dual ⊇ alpha`, `dual ⊇ lp`, `crown ⊇ alpha` and
/// `crown ⊇ lp` always hold (the LP's own crown pass is the first `best`) when `cfg.deadline`
/// does not pass first. Every pass stops at it (see [`dual::DualNetwork::all_bounds_by`]), so
/// the bounds are then only sound, down to interval bounds with a deadline already passed.
pub fn objective_lower(
    dn: &dual::DualNetwork,
    lower: &[f64],
    upper: &[f64],
    rows: &ndarray::Array2<f64>,
    method: Method,
    cfg: &BoundConfig,
) -> (Vec<f64>, Bounds) {
    use rayon::prelude::*;
    let slopes = method.intermediate_slopes();
    let (mut all, mut best) = match method {
        Method::Alpha => {
            let all = alpha::all_bounds(dn, lower, upper, &cfg.alpha, cfg.deadline);
            let best = dn.output_lower(&all, rows, slopes);
            (all, best)
        }
        Method::Interval | Method::Dual | Method::Crown | Method::Lp => {
            dn.all_bounds_and_output(lower, upper, rows, slopes, cfg.deadline)
        }
    };
    let raise = |best: &mut Vec<f64>, other: Vec<f64>| {
        best.iter_mut().zip(other).for_each(|(b, o)| *b = b.max(o));
    };
    match method {
        Method::Interval | Method::Dual | Method::Crown => {}
        Method::Alpha => {
            let opt = alpha::optimise(dn, &all, rows, &cfg.alpha, cfg.deadline);
            raise(&mut best, opt)
        }
        // Past the deadline no model is built and no further LP is solved: the rows keep the
        // crown bound (and the Wong–Kolter floor below).
        Method::Lp if !cfg.deadline.expired() => {
            if cfg.lp_retighten {
                let f32 = dn.keeps_f32();
                lp::retighten_relu_inputs(
                    dn.network(),
                    &mut all,
                    cfg.lp_backend,
                    cfg.deadline,
                    f32,
                );
            }
            if !cfg.deadline.expired() {
                let model = lp::TriangleLp::new(dn.network(), &all);
                let lp_rows: Vec<f64> = (0..rows.nrows())
                    .into_par_iter()
                    .map(|r| match cfg.deadline.expired() {
                        true => f64::NEG_INFINITY,
                        false => model.lower_bound(&rows.row(r).to_vec(), cfg.lp_backend),
                    })
                    .collect();
                raise(&mut best, lp_rows);
            }
        }
        Method::Lp => {}
    }
    let mut last = all.pop().expect("a network has nodes");
    // The floors: Wong–Kolter for alpha and LP, and the crown pass for alpha (whose own
    // intermediate bounds are optimised, so its crown-slope pass above is a different one).
    let floors: &[dual::Slopes] = match method {
        Method::Alpha => &[dual::Slopes::WongKolter, dual::Slopes::Adaptive],
        Method::Lp => &[dual::Slopes::WongKolter],
        Method::Interval | Method::Dual | Method::Crown => &[],
    };
    for &floor in floors {
        let (fb, fb_rows) = dn.all_bounds_and_output(lower, upper, rows, floor, cfg.deadline);
        raise(&mut best, fb_rows);
        let fb_last = fb.last().expect("a network has nodes");
        for j in 0..last.len() {
            last.lower[j] = last.lower[j].max(fb_last.lower[j]);
            last.upper[j] = last.upper[j].min(fb_last.upper[j]);
        }
    }
    (best, last)
}
