//! What the attacks of [`super::fgsm`], [`super::cw`], [`super::jsma`] and [`pgd_goal`] aim at:
//! an input box, a start point in it, and a set of disjuncts any one of which is the bad case.
//!
//! The objective is `m(x) = min_d max_k (a_k·y − b_k)` over the chosen disjuncts: the bad case is
//! reached exactly when `m(x) <= 0`. Aiming at one disjunct is the targeted attack; aiming at
//! all of a robustness property's disjuncts ("some other class wins") is the untargeted one.

use super::{gradient, PgdConfig};
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::spec::{Disjunct, Region};

/// A box, a start point inside it, and the disjuncts to reach.
#[derive(Clone, Debug)]
pub struct Goal<'a> {
    pub lower: &'a [f64],
    pub upper: &'a [f64],
    pub disjuncts: &'a [Disjunct],
    /// Inside the box.
    pub start: Vec<f64>,
}

impl<'a> Goal<'a> {
    /// Every disjunct of `region`, starting from the centre of its box.
    pub fn region(region: &'a Region) -> Self {
        Self::new(region, &region.disjuncts)
    }

    /// Disjunct `d` of `region` only, starting from the centre of its box.
    pub fn disjunct(region: &'a Region, d: usize) -> Self {
        Self::new(region, std::slice::from_ref(&region.disjuncts[d]))
    }

    /// The given disjuncts of `region`, starting from the centre of its box.
    pub fn new(region: &'a Region, disjuncts: &'a [Disjunct]) -> Self {
        let start = region
            .lower
            .iter()
            .zip(&region.upper)
            .map(|(l, u)| 0.5 * (l + u))
            .collect();
        Goal {
            lower: &region.lower,
            upper: &region.upper,
            disjuncts,
            start,
        }
    }

    /// The same goal from another start (projected onto the box).
    pub fn with_start(mut self, mut x: Vec<f64>) -> Self {
        self.project(&mut x);
        self.start = x;
        self
    }

    /// Clamps `x` into the box.
    pub fn project(&self, x: &mut [f64]) {
        for (i, v) in x.iter_mut().enumerate() {
            *v = v.clamp(self.lower[i], self.upper[i]);
        }
    }

    /// Width of the box along input `i`.
    pub fn width(&self, i: usize) -> f64 {
        self.upper[i] - self.lower[i]
    }

    /// `m(x)` and a (sub)gradient of it: that of the active constraint of the disjunct with the
    /// smallest margin. `+inf` with a zero gradient when there is no disjunct.
    pub fn margin_and_gradient(&self, net: &Network, x: &[f64]) -> (f64, Vec<f64>) {
        min_margin_and_gradient(net, self.disjuncts, x)
    }

    /// `m(x)` alone.
    pub fn margin(&self, net: &Network, x: &[f64]) -> f64 {
        let y = net.eval_f64(x);
        self.disjuncts
            .iter()
            .map(|d| d.margin(&y))
            .fold(f64::INFINITY, f64::min)
    }
}

/// `min_d max_k (a_k·y − b_k)` over `disjuncts` at `x`, and a (sub)gradient of it: that of the
/// active constraint of the disjunct with the smallest margin (`+inf` and a zero gradient when
/// there is no disjunct; `−inf` and a zero gradient for an empty conjunction).
pub fn min_margin_and_gradient(
    net: &Network,
    disjuncts: &[Disjunct],
    x: &[f64],
) -> (f64, Vec<f64>) {
    let vals = net.eval_all::<f64>(x);
    let y = vals.last().expect("a network has nodes");
    let mut best = (f64::INFINITY, None);
    for d in disjuncts {
        let mut worst = (f64::NEG_INFINITY, None);
        for c in &d.constraints {
            let s = c.slack(y);
            if s > worst.0 {
                worst = (s, Some(c));
            }
        }
        if worst.0 < best.0 {
            best = worst;
        }
    }
    let mut dy = vec![0.0; y.len()];
    match best.1 {
        Some(c) => c.coeffs.iter().for_each(|&(i, a)| dy[i] = a),
        None => return (best.0, vec![0.0; x.len()]),
    }
    (best.0, gradient(net, &vals, &dy))
}

/// `−sign(g)`: the direction that decreases the margin along one input.
pub(crate) fn descent_sign(g: f64) -> f64 {
    if g > 0.0 {
        -1.0
    } else if g < 0.0 {
        1.0
    } else {
        0.0
    }
}

/// One projected-gradient-descent run (Madry et al.) from `goal.start`: `cfg.steps` signed
/// steps, each input moved by a decaying fraction of its box width (`cfg.step_frac`, down to
/// 1/20 of it), projected onto the box; `cfg.restarts` is ignored (the caller chooses starts).
/// Calls `found(x)` at every point with `m(x) <= 0` and returns as soon as it answers true;
/// returns the smallest margin seen. Stops at `deadline`.
pub fn pgd_goal(
    net: &Network,
    goal: &Goal,
    cfg: &PgdConfig,
    deadline: Deadline,
    found: &mut dyn FnMut(&[f64]) -> bool,
) -> f64 {
    let mut x = goal.start.clone();
    let mut best = f64::INFINITY;
    for step in 0..=cfg.steps {
        if deadline.expired() {
            break;
        }
        let (m, g) = goal.margin_and_gradient(net, &x);
        best = best.min(m);
        if m <= 0.0 && found(&x) {
            return m;
        }
        let frac = cfg.step_frac * (1.0 - 0.95 * step as f64 / cfg.steps.max(1) as f64);
        for (i, v) in x.iter_mut().enumerate() {
            *v += descent_sign(g[i]) * frac * goal.width(i);
        }
        goal.project(&mut x);
    }
    best
}
