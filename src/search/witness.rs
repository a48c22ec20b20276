//! Counterexamples that come free with the bounds.
//!
//! - The witness corner of each row: the corner of the box that minimises the row's linear
//!   form (`lo_m` where `a_m > 0`, `hi_m` where `a_m < 0`). Where the relaxation is exact (no
//!   unstable neuron left) the form is the row itself, and the corner is where it is smallest.
//! - The centre of every domain.
//!
//! All of a chunk's candidates are evaluated in one batched forward pass; a candidate whose
//! subproblem margin `max_s (c_s·y − rhs_s)` is `<= 0` there is replayed by
//! [`crate::outcome::confirm`], and only a confirmed one is returned.
//! - Short PGD runs on the domains closest to a violation (lowest bound), every few batches.

use super::store::Store;
use super::Ctx;
use crate::attack::{pgd_goal, Goal, PgdConfig, Rng};
use crate::deadline::Deadline;
use crate::outcome::{confirm, Counterexample};
use ndarray::Array2;

/// The corner minimising the form `a`, with the centre where a coefficient is zero.
fn corner(lo: &[f64], hi: &[f64], a: &[f64], out: &mut [f64]) {
    for m in 0..lo.len() {
        out[m] = if a[m] > 0.0 {
            lo[m]
        } else if a[m] < 0.0 {
            hi[m]
        } else {
            0.5 * lo[m] + 0.5 * hi[m]
        };
    }
}

/// Candidates of the domains `which` (indices into the chunk): for each, its centre (when
/// `centre`) and the witness corner of each row of its open disjuncts (when `forms` is given:
/// `stride` rows of `n₀` coefficients per chunk domain), then the `extra` points of open
/// domains. Returns the points (`P × n₀`) and the domain of each.
pub(crate) fn candidates(
    ctx: &Ctx,
    doms: &Store,
    which: &[usize],
    forms: Option<&[f64]>,
    centre: bool,
    extra: &[(usize, Vec<f64>)],
) -> (Array2<f64>, Vec<usize>) {
    let (n0, stride) = (ctx.n0, ctx.rows);
    let mut pts = Vec::new();
    let mut owner = Vec::new();
    let mut buf = vec![0.0; n0];
    for &d in which {
        let (l, h) = doms.bx(d);
        if centre {
            pts.extend(l.iter().zip(h).map(|(a, b)| 0.5 * a + 0.5 * b));
            owner.push(d);
        }
        if let Some(f) = forms {
            let sub = &ctx.subs[doms.sub[d] as usize];
            for i in open_disjuncts(doms.open[d]) {
                for s in sub.rows(i) {
                    let at = (d * stride + s) * n0;
                    corner(l, h, &f[at..at + n0], &mut buf);
                    pts.extend_from_slice(&buf);
                    owner.push(d);
                }
            }
        }
    }
    for (d, x) in extra {
        if doms.open[*d] != 0 {
            pts.extend_from_slice(x);
            owner.push(*d);
        }
    }
    let p = owner.len();
    (
        Array2::from_shape_vec((p, n0), pts).expect("n₀ per point"),
        owner,
    )
}

/// The indices of the set bits of `mask`.
pub(crate) fn open_disjuncts(mask: u64) -> impl Iterator<Item = usize> {
    (0..64).filter(move |i| mask >> i & 1 == 1)
}

/// Evaluates the points and returns the first confirmed counterexample (in point order): a
/// point is replayed when some open disjunct of its domain holds there in f64. `closest` is
/// lowered to the smallest margin seen.
pub(crate) fn check(
    ctx: &Ctx,
    doms: &Store,
    pts: &Array2<f64>,
    owner: &[usize],
    closest: &mut f64,
) -> Option<Counterexample> {
    if owner.is_empty() {
        return None;
    }
    let ys = ctx.eval_batch(pts);
    for (p, &d) in owner.iter().enumerate() {
        let sub = &ctx.subs[doms.sub[d] as usize];
        let y = ys.row(p);
        let margin = open_disjuncts(doms.open[d])
            .map(|i| {
                sub.rows(i)
                    .map(|s| sub.c.row(s).dot(&y) - sub.rhs[s])
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .fold(f64::INFINITY, f64::min);
        *closest = closest.min(margin);
        if margin <= 0.0 {
            if let Some(cex) = confirm(ctx.net, ctx.prop, pts.row(p).as_slice().expect("row")) {
                return Some(cex);
            }
        }
    }
    None
}

/// A box, its subproblem and the disjuncts open on it, for [`pgd_boxes`].
pub(crate) struct Target {
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    pub sub: usize,
    pub open: u64,
}

/// Short PGD runs (from the centre, then `restarts` random starts) inside each target box
/// against its open disjuncts (any one of them); the first confirmed counterexample.
pub(crate) fn pgd_boxes(
    ctx: &Ctx,
    targets: &[Target],
    cfg: &PgdConfig,
    rng: &mut Rng,
    until: Deadline,
) -> Option<Counterexample> {
    for t in targets {
        let sub = &ctx.subs[t.sub];
        let region = &ctx.prop.regions[sub.region];
        let disjuncts: Vec<_> = open_disjuncts(t.open)
            .map(|i| region.disjuncts[sub.disjuncts[i]].clone())
            .collect();
        let centre: Vec<f64> =
            t.lo.iter()
                .zip(&t.hi)
                .map(|(a, b)| 0.5 * a + 0.5 * b)
                .collect();
        for start in 0..=cfg.restarts {
            let x = match start {
                0 => centre.clone(),
                _ => (0..t.lo.len())
                    .map(|m| t.lo[m] + rng.uniform() * (t.hi[m] - t.lo[m]))
                    .collect(),
            };
            let goal = Goal {
                lower: &t.lo,
                upper: &t.hi,
                disjuncts: &disjuncts,
                start: x,
            };
            let mut cex = None;
            pgd_goal(ctx.net, &goal, cfg, until, &mut |x| {
                cex = confirm(ctx.net, ctx.prop, x);
                cex.is_some()
            });
            if cex.is_some() {
                return cex;
            }
            if until.expired() {
                return None;
            }
        }
    }
    None
}
