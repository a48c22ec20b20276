//! Falsification: search the input box for a point that reaches the bad case.
//!
//! Projected gradient descent (Madry et al., ICLR 2018) on the violation margin
//! `m(y) = max_k (a_k·y − b_k)` of one disjunct: the bad case is reached exactly when `m <= 0`.
//! Steps are signed gradient steps scaled per coordinate by the box width, projected back onto
//! the box, from the centre and from random starts. Nothing found here is reported before
//! [`crate::outcome::confirm`] has replayed it on the network.

pub mod cw;
pub mod fgsm;
pub mod goal;
mod grad;
pub mod jsma;
pub mod lbfgs;
pub mod search;

pub use goal::{pgd_goal, Goal};
pub use grad::gradient;
pub use search::{find_counterexamples, AttackMethod, SearchOptions};

use crate::deadline::Deadline;
use crate::ir::Network;
use crate::spec::{Disjunct, Region};

/// A small deterministic generator (SplitMix64): reproducible runs without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Settings of one PGD run.
#[derive(Clone, Debug)]
pub struct PgdConfig {
    /// Gradient steps per start.
    pub steps: usize,
    /// Random starts (the box centre is always tried first).
    pub restarts: usize,
    /// First step size, as a fraction of each coordinate's box width; decays linearly to 1/20 of it.
    pub step_frac: f64,
}

impl Default for PgdConfig {
    fn default() -> Self {
        PgdConfig {
            steps: 50,
            restarts: 10,
            step_frac: 0.1,
        }
    }
}

/// The margin of `d` at `x` and its gradient with respect to `x`.
pub fn margin_and_gradient(net: &Network, d: &Disjunct, x: &[f64]) -> (f64, Vec<f64>) {
    goal::min_margin_and_gradient(net, std::slice::from_ref(d), x)
}

/// Runs PGD against disjunct `d` of `region`, from the box centre and then `cfg.restarts`
/// random starts; calls `found(x)` for every point whose f64 margin is `<= 0` and stops as soon
/// as it returns true (the point was confirmed). Gives up at `deadline`. Returns the smallest
/// margin seen.
pub fn pgd(
    net: &Network,
    region: &Region,
    d: &Disjunct,
    cfg: &PgdConfig,
    rng: &mut Rng,
    deadline: Deadline,
    found: &mut dyn FnMut(&[f64]) -> bool,
) -> f64 {
    let mut best = f64::INFINITY;
    let hit = std::cell::Cell::new(false);
    let mut accept = |x: &[f64]| {
        hit.set(found(x));
        hit.get()
    };
    for start in 0..=cfg.restarts {
        let mut goal = Goal::new(region, std::slice::from_ref(d));
        if start > 0 {
            let x = (0..region.lower.len())
                .map(|i| region.lower[i] + rng.uniform() * goal.width(i))
                .collect();
            goal = goal.with_start(x);
        }
        best = best.min(pgd_goal(net, &goal, cfg, deadline, &mut accept));
        if hit.get() || deadline.expired() {
            break;
        }
    }
    best
}
