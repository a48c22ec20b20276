//! Batched PGD on chain networks: thousands of starts at once, every step a few matrix products
//! (forward, then the gradient backward), so a wide attack costs little more than a narrow one.
//!
//! Each start belongs to a target box with its subproblem's open disjuncts; its loss is the
//! margin `min_disjunct max_row (c·y − rhs)` (`<= 0` exactly at a counterexample), whose
//! subgradient is the active row's `c` pulled back through the network. Steps are signed and
//! scaled per input by the box width (Madry et al.), decaying linearly, projected onto the box.
//! Every point whose f64 margin is `<= 0` is replayed by [`crate::outcome::confirm`]; only a
//! confirmed one is returned.

use super::chain::Chain;
use super::witness::{open_disjuncts, Target};
use super::Ctx;
use crate::attack::Rng;
use crate::outcome::{confirm, Counterexample};
use ndarray::{Array2, Axis};

/// `starts` random starts (the first at the centre) in each target, `steps` steps each.
pub(crate) fn batched_pgd(
    ctx: &Ctx,
    chain: &Chain,
    targets: &[Target],
    starts: usize,
    steps: usize,
    rng: &mut Rng,
    closest: &mut f64,
) -> Option<Counterexample> {
    batched_pgd_with(
        ctx,
        chain,
        targets,
        starts,
        steps,
        rng,
        closest,
        Style::default(),
    )
}

/// Experiment knobs of [`batched_pgd`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    /// First and last step as a fraction of the width (geometric in between).
    pub first: f64,
    pub last: f64,
    /// Probability that a start coordinate is put on a face (half lower, half upper) rather
    /// than drawn uniformly.
    pub face: f64,
}

impl Default for Style {
    fn default() -> Self {
        // Measured on ACAS Xu 1_9 prop 7 (a counterexample on four faces of the box, margin
        // 1e-5): uniform starts hit it once in more than 20 000, these about once in 400.
        Style {
            first: 0.05,
            last: 1e-4,
            face: 0.7,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn batched_pgd_with(
    ctx: &Ctx,
    chain: &Chain,
    targets: &[Target],
    starts: usize,
    steps: usize,
    rng: &mut Rng,
    closest: &mut f64,
    style: Style,
) -> Option<Counterexample> {
    let n0 = ctx.n0;
    let p = targets.len() * starts;
    if p == 0 {
        return None;
    }
    let mut x = Array2::zeros((p, n0));
    let mut owner = Vec::with_capacity(p);
    for (t, tg) in targets.iter().enumerate() {
        for s in 0..starts {
            let mut row = x.row_mut(t * starts + s);
            for m in 0..n0 {
                let u = match s {
                    0 => 0.5,
                    _ if rng.uniform() < style.face => (rng.uniform() < 0.5) as u8 as f64,
                    _ => rng.uniform(),
                };
                row[m] = tg.lo[m] + u * (tg.hi[m] - tg.lo[m]);
            }
            owner.push(t);
        }
    }
    for step in 0..=steps {
        // Forward, keeping each layer's ReLU pattern.
        let mut h = x.clone();
        let mut masks = Vec::with_capacity(chain.layers.len());
        for layer in &chain.layers {
            let mut z = h.dot(&layer.w.t());
            z += &layer.b.view().insert_axis(Axis(0));
            if layer.relu {
                masks.push(Some(z.mapv(|v| v > 0.0)));
                z.mapv_inplace(|v| v.max(0.0));
            } else {
                masks.push(None);
            }
            h = z;
        }
        // Margins, hits, and the gradient of each point's active row.
        let mut g = Array2::zeros(h.raw_dim());
        for (i, y) in h.rows().into_iter().enumerate() {
            let tg = &targets[owner[i]];
            let sub = &ctx.subs[tg.sub];
            let mut best = (f64::INFINITY, usize::MAX);
            for k in open_disjuncts(tg.open) {
                let mut worst = (f64::NEG_INFINITY, usize::MAX);
                for s in sub.rows(k) {
                    let v = sub.c.row(s).dot(&y) - sub.rhs[s];
                    if v > worst.0 {
                        worst = (v, s);
                    }
                }
                if worst.0 < best.0 {
                    best = worst;
                }
            }
            *closest = closest.min(best.0);
            if best.0 <= 0.0 {
                if let Some(cex) = confirm(ctx.net, ctx.prop, x.row(i).as_slice().expect("row")) {
                    return Some(cex);
                }
            }
            if best.1 != usize::MAX {
                g.row_mut(i).assign(&sub.c.row(best.1));
            }
        }
        if step == steps {
            break;
        }
        // Backward to the input.
        for (layer, mask) in chain.layers.iter().zip(&masks).rev() {
            if let Some(mask) = mask {
                g.zip_mut_with(mask, |v, &on| {
                    if !on {
                        *v = 0.0;
                    }
                });
            }
            g = g.dot(&layer.w);
        }
        // Signed steps, decaying geometrically from a quarter of the width to 1/10000 of it (a
        // counterexample region can be that narrow).
        let frac =
            style.first * (style.last / style.first).powf(step as f64 / (steps - 1).max(1) as f64);
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            let tg = &targets[owner[i]];
            for m in 0..n0 {
                let d = g[[i, m]];
                let w = tg.hi[m] - tg.lo[m];
                let v = row[m] - frac * w * d.signum() * (d != 0.0) as u8 as f64;
                row[m] = v.clamp(tg.lo[m], tg.hi[m]);
            }
        }
    }
    None
}
