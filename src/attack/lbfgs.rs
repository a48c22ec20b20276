//! Minimal-perturbation counterexamples by box-constrained L-BFGS (Szegedy et al., "Intriguing
//! properties of neural networks", ICLR 2014): the smallest change of the start point `s` that
//! reaches the bad case, found by minimising, over the box,
//!
//! ```text
//!   F_c(x) = c·Σ_i ((x_i − s_i)/ρ_i)² + max(m(x), −κ)
//! ```
//!
//! for the weight `c` a line search finds: the larger `c`, the closer the minimiser stays to `s`,
//! so the largest `c` whose minimiser still reaches the bad case gives the smallest perturbation.
//! This is Szegedy's `c·|r| + loss_f(x + r, l)` with the squared L2 norm (smooth at `r = 0`, as
//! every implementation has it) and the margin `m` of [`super::goal`] as the loss (`m <= 0` is
//! the bad case), hinged at `−κ` as Carlini and Wagner do, so that the minimiser lies a little
//! inside the bad case and survives the f32 replay. `ρ_i = max(s_i − l_i, u_i − s_i)` is how
//! far the box lets input `i` move from `s`, so inputs of different ranges weigh alike; for an
//! L∞ ball of radius ε it is ε for every input, and the distance term is `‖x − s‖₂² / ε²`.
//!
//! The inner solver is L-BFGS with the box handled by projection (the projected quasi-Newton
//! method of Kim, Sra and Dhillon, 2010, rather than the generalised Cauchy point of L-BFGS-B):
//! coordinates at a bound whose gradient points outward are held, the two-loop recursion gives a
//! quasi-Newton direction in the others, and a backtracking line search along the projected path
//! `P(z + α·d)` takes the first step with Armijo's sufficient decrease.
//!
//! The line search over `c` starts at `c_start`, multiplies (after a success) or divides (after a
//! failure) by `c_factor` until it brackets the change, then bisects geometrically. A success is
//! a minimiser that `replays` (the caller's [`crate::outcome::confirm`]); the nearest replayed
//! point is kept, and finally the segment from `s` to it is bisected for the nearest point on it
//! that still replays.

use super::goal::Goal;
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::tolerances::{LBFGS_ARMIJO, LBFGS_CURVATURE, LBFGS_DECREASE_TOL, LBFGS_GRADIENT_TOL};
use std::collections::VecDeque;

/// Settings of [`lbfgs`].
#[derive(Clone, Debug)]
pub struct LbfgsConfig {
    /// L-BFGS iterations per value of `c`.
    pub iterations: usize,
    /// Correction pairs `(s, y)` kept.
    pub memory: usize,
    /// First weight of the distance term.
    pub c_start: f64,
    /// Step of the bracketing phase of the search over `c`.
    pub c_factor: f64,
    /// Values of `c` tried at most (each one L-BFGS run).
    pub c_rounds: usize,
    /// The bisection over `c` stops when the bracket's ratio is below this.
    pub c_ratio: f64,
    /// Confidence `κ`: the margin term stops pulling at `m = −κ`.
    pub kappa: f64,
    /// Bisection steps along the segment from the start to the nearest replayed point.
    pub refine_steps: usize,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            iterations: 100,
            memory: 8,
            c_start: 1.0,
            c_factor: 10.0,
            c_rounds: 14,
            c_ratio: 1.1,
            kappa: 1e-3,
            refine_steps: 20,
        }
    }
}

/// `F_c` in the scaled coordinates `z_i = (x_i − s_i)/ρ_i` of the inputs that can move.
struct Objective<'a> {
    net: &'a Network,
    goal: &'a Goal<'a>,
    /// The inputs with `ρ > 0`, their `ρ`, and the box in `z`.
    idx: Vec<usize>,
    rho: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    c: f64,
    kappa: f64,
}

impl Objective<'_> {
    fn x_of(&self, z: &[f64]) -> Vec<f64> {
        let mut x = self.goal.start.clone();
        for (k, &i) in self.idx.iter().enumerate() {
            x[i] = self.goal.start[i] + self.rho[k] * z[k];
        }
        // `s + ρ·z` may round just past a face the clamped `z` sits on.
        self.goal.project(&mut x);
        x
    }

    /// `F_c(z)` and the margin at `z`.
    fn value(&self, z: &[f64]) -> (f64, f64) {
        let m = self.goal.margin(self.net, &self.x_of(z));
        (self.c * dot(z, z) + m.max(-self.kappa), m)
    }

    /// `F_c(z)`, the margin, and `∇F_c = 2c·z + ρ ⊙ ∇m` (no margin term where the hinge is flat).
    fn value_grad(&self, z: &[f64]) -> (f64, f64, Vec<f64>) {
        let (m, gx) = self.goal.margin_and_gradient(self.net, &self.x_of(z));
        let active = m > -self.kappa;
        let g = (0..z.len())
            .map(|k| {
                let gm = if active {
                    self.rho[k] * gx[self.idx[k]]
                } else {
                    0.0
                };
                2.0 * self.c * z[k] + gm
            })
            .collect();
        (self.c * dot(z, z) + m.max(-self.kappa), m, g)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The two-loop recursion: `H·q` for the L-BFGS inverse-Hessian estimate `H` of the pairs in
/// `mem` (oldest first; each `(s, y, 1/(s·y))`), scaled initially by `γ = s·y / y·y` of the
/// newest pair (Nocedal & Wright, Algorithm 7.4).
fn two_loop(q: &[f64], mem: &VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q = q.to_vec();
    let mut alphas = Vec::with_capacity(mem.len());
    for (s, y, r) in mem.iter().rev() {
        let a = r * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
        alphas.push(a);
    }
    let gamma = mem.back().map_or(1.0, |(s, y, _)| dot(s, y) / dot(y, y));
    q.iter_mut().for_each(|v| *v *= gamma);
    for ((s, y, r), a) in mem.iter().zip(alphas.iter().rev()) {
        let b = r * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
    }
    q
}

/// One projected L-BFGS run from `z = 0` (the start point). Every point evaluated whose margin
/// is at most `−κ/2` (inside the bad case with room for the f32 replay) is offered to `note`.
fn minimise(
    f_c: &Objective,
    cfg: &LbfgsConfig,
    deadline: Deadline,
    note: &mut dyn FnMut(&[f64], f64),
) {
    let k = f_c.idx.len();
    let mut z = vec![0.0; k];
    let (mut f, m, mut g) = f_c.value_grad(&z);
    let mut offer = |z: &[f64], m: f64| {
        if m <= -0.5 * f_c.kappa {
            note(&f_c.x_of(z), dot(z, z));
        }
    };
    offer(&z, m);
    let mut mem: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
    for _ in 0..cfg.iterations {
        if deadline.expired() {
            return;
        }
        // Held coordinates: at a bound, with the gradient pushing out of the box.
        let free: Vec<bool> = (0..k)
            .map(|i| !((z[i] <= f_c.lo[i] && g[i] > 0.0) || (z[i] >= f_c.hi[i] && g[i] < 0.0)))
            .collect();
        let gf: Vec<f64> = (0..k).map(|i| if free[i] { g[i] } else { 0.0 }).collect();
        if gf.iter().all(|v| v.abs() <= LBFGS_GRADIENT_TOL) {
            return;
        }
        let mut d: Vec<f64> = two_loop(&gf, &mem).iter().map(|v| -v).collect();
        (0..k).filter(|&i| !free[i]).for_each(|i| d[i] = 0.0);
        if dot(&gf, &d) >= 0.0 {
            // Not a descent direction (a kink spoiled the estimate): steepest descent.
            mem.clear();
            d = gf.iter().map(|v| -v).collect();
        }
        // Without curvature pairs, the first trial moves the leading coordinate by one reach.
        let mut alpha = match mem.is_empty() {
            true => 1.0 / d.iter().fold(0.0f64, |a, v| a.max(v.abs())),
            false => 1.0,
        };
        let mut step = None;
        for _ in 0..40 {
            let zn: Vec<f64> = (0..k)
                .map(|i| (z[i] + alpha * d[i]).clamp(f_c.lo[i], f_c.hi[i]))
                .collect();
            let (fz, mz) = f_c.value(&zn);
            offer(&zn, mz);
            // Armijo along the projected path: F(z') <= F(z) + c1·∇F·(z' − z).
            let predicted: f64 = (0..k).map(|i| g[i] * (zn[i] - z[i])).sum();
            if fz < f && fz <= f + LBFGS_ARMIJO * predicted {
                step = Some(zn);
                break;
            }
            alpha *= 0.5;
        }
        let Some(zn) = step else {
            return;
        };
        let (fz, _, gz) = f_c.value_grad(&zn);
        let s: Vec<f64> = (0..k).map(|i| zn[i] - z[i]).collect();
        let y: Vec<f64> = (0..k).map(|i| gz[i] - g[i]).collect();
        let sy = dot(&s, &y);
        if sy > LBFGS_CURVATURE * dot(&s, &s) {
            mem.push_back((s, y, 1.0 / sy));
            if mem.len() > cfg.memory {
                mem.pop_front();
            }
        }
        let stalled = f - fz <= LBFGS_DECREASE_TOL * f.abs().max(1.0);
        (z, f, g) = (zn, fz, gz);
        if stalled {
            return;
        }
    }
}

/// Searches the nearest point to `goal.start` in the box that reaches the bad case and
/// `replays` (the caller's replay: it answers whether a point is a real counterexample), by the
/// method of the [module docs](self). Returns the nearest replayed point found (in plain L2
/// distance), or `None`. Stops at `deadline` with what it has.
pub fn lbfgs(
    net: &Network,
    goal: &Goal,
    cfg: &LbfgsConfig,
    deadline: Deadline,
    replays: &mut dyn FnMut(&[f64]) -> bool,
) -> Option<Vec<f64>> {
    let s = &goal.start;
    if goal.margin(net, s) <= 0.0 && replays(s) {
        return Some(s.clone());
    }
    let (mut idx, mut rho, mut lo, mut hi) = (vec![], vec![], vec![], vec![]);
    for (i, &si) in s.iter().enumerate() {
        let r = (si - goal.lower[i]).max(goal.upper[i] - si);
        if r > 0.0 {
            idx.push(i);
            rho.push(r);
            lo.push((goal.lower[i] - si) / r);
            hi.push((goal.upper[i] - si) / r);
        }
    }
    let dist = |x: &[f64]| x.iter().zip(s).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
    let mut best: Option<(f64, Vec<f64>)> = None;
    let (mut ok_c, mut bad_c): (Option<f64>, Option<f64>) = (None, None);
    let mut c = cfg.c_start;
    for _ in 0..cfg.c_rounds {
        if deadline.expired() {
            break;
        }
        let f_c = Objective {
            net,
            goal,
            idx: idx.clone(),
            rho: rho.clone(),
            lo: lo.clone(),
            hi: hi.clone(),
            c,
            kappa: cfg.kappa,
        };
        // The run's nearest point inside the bad case (by the scaled distance it minimises).
        let mut cand: Option<(f64, Vec<f64>)> = None;
        minimise(&f_c, cfg, deadline, &mut |x, d| {
            if cand.as_ref().is_none_or(|(b, _)| d < *b) {
                cand = Some((d, x.to_vec()));
            }
        });
        let hit = cand.filter(|(_, x)| replays(x)).map(|(_, x)| x);
        match hit {
            Some(x) => {
                let d = dist(&x);
                if best.as_ref().is_none_or(|(b, _)| d < *b) {
                    best = Some((d, x));
                }
                ok_c = Some(ok_c.map_or(c, |o| o.max(c)));
            }
            None => bad_c = Some(bad_c.map_or(c, |b| b.min(c))),
        }
        c = match (ok_c, bad_c) {
            (Some(o), Some(b)) if b <= o * cfg.c_ratio => break,
            (Some(o), Some(b)) => (o * b).sqrt(),
            (Some(o), None) => o * cfg.c_factor,
            (None, Some(b)) => b / cfg.c_factor,
            (None, None) => unreachable!("every round is a success or a failure"),
        };
    }
    let (_, x) = best?;
    // The segment from `s` to `x` lies in the box; bisect for its nearest point that replays.
    let (mut t_out, mut t_in, mut out) = (0.0, 1.0, x.clone());
    for _ in 0..cfg.refine_steps {
        if deadline.expired() {
            break;
        }
        let t = 0.5 * (t_out + t_in);
        let p: Vec<f64> = (0..s.len()).map(|i| s[i] + t * (x[i] - s[i])).collect();
        if goal.margin(net, &p) <= 0.0 && replays(&p) {
            (t_in, out) = (t, p);
        } else {
            t_out = t;
        }
    }
    Some(out)
}
