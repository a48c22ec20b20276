//! One chunk of a batch, start to end: bound, try the free candidates, clip, refute by
//! combination, split. Chunks are independent, so they run on any thread and give the same
//! result whatever the thread count.

use super::bound::{form_min, Rows};
use super::branch::{choose, midpoint};
use super::clip::{clip, farkas};
use super::store::Store;
use super::witness::{candidates, check, open_disjuncts, Target};
use super::Ctx;
use crate::deadline::Deadline;
use crate::outcome::Counterexample;
use ndarray::Array2;

/// What one chunk gives back.
#[derive(Default)]
pub(crate) struct ChunkOut {
    pub children: Store,
    pub cex: Option<Counterexample>,
    pub bounded: u64,
    pub by_interval: u64,
    pub by_linear: u64,
    pub by_clip: u64,
    pub by_farkas: u64,
    pub stuck: u64,
    /// Share of the subproblems' volume decided (refuted or clipped away).
    pub decided: f64,
    /// The open domains with the lowest best-row bound (for PGD).
    pub worst: Vec<(f64, Target)>,
    /// The smallest margin seen at a candidate point.
    pub closest: f64,
}

/// The rows of the open disjuncts of the domains `which`, each domain's rows in order (`dom`
/// counts from 0 over `which`), and each row's index in its subproblem.
fn rows_of(ctx: &Ctx, doms: &Store, which: &[usize]) -> (Rows, Vec<usize>) {
    let n_out = ctx.net.output_len();
    let mut idx = Vec::new();
    let mut dom = Vec::new();
    for (i, &d) in which.iter().enumerate() {
        let sub = &ctx.subs[doms.sub[d] as usize];
        for k in open_disjuncts(doms.open[d]) {
            for s in sub.rows(k) {
                idx.push(s);
                dom.push(i as u32);
            }
        }
    }
    let mut rows = Rows {
        dom,
        c: Array2::zeros((idx.len(), n_out)),
        rhs: Vec::with_capacity(idx.len()),
    };
    for (r, &s) in idx.iter().enumerate() {
        let sub = &ctx.subs[doms.sub[which[rows.dom[r] as usize]] as usize];
        rows.c.row_mut(r).assign(&sub.c.row(s));
        rows.rhs.push(sub.rhs[s]);
    }
    (rows, idx)
}

/// Raises the stored bounds of the domains `which` with `lb` (rows laid out by [`rows_of`]),
/// then closes every disjunct with a row above 0.
fn merge(ctx: &Ctx, doms: &mut Store, which: &[usize], rows: &Rows, idx: &[usize], lb: &[f64]) {
    for r in 0..lb.len() {
        let d = which[rows.dom[r] as usize];
        let v = &mut doms.lb[d * ctx.rows + idx[r]];
        *v = v.max(lb[r]);
    }
    for &d in which {
        close_refuted(ctx, doms, d);
    }
}

/// Clears the bits of domain `d`'s disjuncts that have a row with a bound above 0.
fn close_refuted(ctx: &Ctx, doms: &mut Store, d: usize) {
    let sub = &ctx.subs[doms.sub[d] as usize];
    let lb = doms.lbs(d);
    let mut open = doms.open[d];
    for k in open_disjuncts(open) {
        if sub.rows(k).any(|s| lb[s] > 0.0) {
            open &= !(1u64 << k);
        }
    }
    doms.open[d] = open;
}

/// Bounds, tries, clips and splits one chunk of domains; `split` inputs at a time. Does nothing
/// once the deadline has passed (the search then answers `timeout`), so that a batch never
/// holds the answer back by more than one chunk's work.
pub(crate) fn process(ctx: &Ctx, mut doms: Store, split: usize, deadline: Deadline) -> ChunkOut {
    let cfg = ctx.cfg;
    let (n0, stride) = (ctx.n0, ctx.rows);
    if deadline.expired() {
        return ChunkOut {
            children: doms,
            closest: f64::INFINITY,
            ..Default::default()
        };
    }
    let b = doms.len();
    let mut out = ChunkOut {
        children: Store::new(n0, stride, ctx.pstride),
        bounded: b as u64,
        closest: f64::INFINITY,
        ..Default::default()
    };
    let volume = |d: usize, doms: &Store| -> f64 {
        let (lo, hi) = doms.bx(d);
        let root = &ctx.root_width[doms.sub[d] as usize];
        (0..n0)
            .map(|m| {
                if root[m] > 0.0 {
                    (hi[m] - lo[m]) / root[m]
                } else {
                    1.0
                }
            })
            .product()
    };
    let all: Vec<usize> = (0..b).collect();
    if cfg.interval_first || !cfg.linear {
        let (rows, idx) = rows_of(ctx, &doms, &all);
        let lb = ctx.interval_rows(doms.lo_mat(), doms.hi_mat(), &rows);
        merge(ctx, &mut doms, &all, &rows, &idx, &lb);
        let done: Vec<usize> = all.iter().copied().filter(|&d| doms.open[d] == 0).collect();
        out.by_interval = done.len() as u64;
        out.decided += done.iter().map(|&d| volume(d, &doms)).sum::<f64>();
    }
    // Linear bounds and forms on what is open: `stride` rows of `n₀` coefficients per domain.
    let mut fa = vec![0.0; b * stride * n0];
    let mut fk = vec![f64::NEG_INFINITY; b * stride];
    let mut has_form = vec![false; b];
    let full = ctx.intermediate();
    let cheap = super::bound::Intermediate {
        backward: false,
        ..full
    };
    let stages: &[_] = match cfg.staged && full.forward && full.backward {
        true => &[cheap, full],
        false => &[full],
    };
    for &inter in stages.iter().filter(|_| cfg.linear) {
        let which: Vec<usize> = (0..b).filter(|&d| doms.open[d] != 0).collect();
        if which.is_empty() {
            break;
        }
        let mut lo = Array2::zeros((which.len(), n0));
        let mut hi = Array2::zeros((which.len(), n0));
        for (i, &d) in which.iter().enumerate() {
            let (l, h) = doms.bx(d);
            lo.row_mut(i).assign(&ndarray::ArrayView1::from(l));
            hi.row_mut(i).assign(&ndarray::ArrayView1::from(h));
        }
        let (rows, idx) = rows_of(ctx, &doms, &which);
        let ps = ctx.pstride;
        let parent = (ps > 0).then(|| {
            let mut p = Array2::<f32>::zeros((which.len(), ps));
            for (i, &d) in which.iter().enumerate() {
                p.row_mut(i).assign(&ndarray::ArrayView1::from(doms.pbs(d)));
            }
            p
        });
        let res = ctx.linear_rows(
            lo.view(),
            hi.view(),
            &rows,
            inter,
            parent.as_ref().map(|p| p.view()),
            deadline,
        );
        if let Some(kept) = &res.bounds {
            for (i, &d) in which.iter().enumerate() {
                doms.pb[d * ps..(d + 1) * ps]
                    .copy_from_slice(kept.row(i).as_slice().expect("row-major"));
            }
        }
        merge(ctx, &mut doms, &which, &rows, &idx, &res.lb);
        let done: Vec<usize> = which
            .iter()
            .copied()
            .filter(|&d| doms.open[d] == 0)
            .collect();
        out.by_linear += done.len() as u64;
        out.decided += done.iter().map(|&d| volume(d, &doms)).sum::<f64>();
        for (r, &s) in idx.iter().enumerate() {
            let d = which[rows.dom[r] as usize];
            has_form[d] = true;
            fk[d * stride + s] = res.k[r];
            fa[(d * stride + s) * n0..(d * stride + s + 1) * n0]
                .copy_from_slice(res.a.row(r).as_slice().expect("row-major"));
        }
    }
    // Contraction and refutation by combination, then the free candidates of what is open:
    // centres, witness corners, and the combination's witness of each several-row disjunct.
    let mut lp_points: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut witness = Vec::new();
    for (d, &form) in has_form.iter().enumerate() {
        if doms.open[d] == 0 || !form || !(cfg.clip || cfg.farkas) {
            continue;
        }
        let before = volume(d, &doms);
        match contract(ctx, &mut doms, d, &fa, &fk, &mut witness, &mut lp_points) {
            Contracted::Open => out.decided += before - volume(d, &doms),
            Contracted::ByClip => {
                out.by_clip += 1;
                out.decided += before;
            }
            Contracted::ByFarkas => {
                out.by_farkas += 1;
                out.decided += before;
            }
        }
    }
    let which: Vec<usize> = (0..b).filter(|&d| doms.open[d] != 0).collect();
    if cfg.centre || cfg.witness {
        let forms = (cfg.witness && cfg.linear).then_some(&fa[..]);
        let (pts, owner) = candidates(ctx, &doms, &which, forms, cfg.centre, &lp_points);
        if let Some(c) = check(ctx, &doms, &pts, &owner, &mut out.closest) {
            out.cex = Some(c);
            return out;
        }
    }
    let mut dims = Vec::new();
    let (mut sel_a, mut sel_lb) = (Vec::new(), Vec::new());
    for &d in &which {
        let sub = &ctx.subs[doms.sub[d] as usize];
        // The rows of the open disjuncts, for branching.
        sel_a.clear();
        sel_lb.clear();
        for k in open_disjuncts(doms.open[d]) {
            for s in sub.rows(k) {
                sel_a.extend_from_slice(&fa[(d * stride + s) * n0..(d * stride + s + 1) * n0]);
                sel_lb.push(doms.lb[d * stride + s]);
            }
        }
        // The domain's bound on its margin: the weakest open disjunct's best row.
        let score = open_disjuncts(doms.open[d])
            .map(|k| {
                sub.rows(k)
                    .map(|s| doms.lb[d * stride + s])
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .fold(f64::INFINITY, f64::min);
        let (lo, hi) = doms.bx(d);
        choose(
            cfg.branching,
            lo,
            hi,
            has_form[d].then_some(&sel_a[..]),
            &sel_lb,
            split,
            &mut dims,
        );
        if dims.is_empty() {
            out.stuck += 1;
            continue;
        }
        if cfg.pgd_every > 0 {
            let best = sel_lb.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let t = Target {
                lo: lo.to_vec(),
                hi: hi.to_vec(),
                sub: doms.sub[d] as usize,
                open: doms.open[d],
            };
            out.worst.push((best, t));
        }
        let (mut cl, mut ch) = (lo.to_vec(), hi.to_vec());
        for mask in 0..1usize << dims.len() {
            for (bit, &j) in dims.iter().enumerate() {
                let mid = midpoint(lo[j], hi[j]).expect("chosen inputs can be split");
                (cl[j], ch[j]) = if mask >> bit & 1 == 0 {
                    (lo[j], mid)
                } else {
                    (mid, hi[j])
                };
            }
            let lb = &doms.lb[d * stride..(d + 1) * stride];
            let depth = doms.depth[d].saturating_add(1);
            out.children.push(
                &cl,
                &ch,
                doms.sub[d],
                doms.open[d],
                lb,
                depth,
                score as f32,
                doms.pbs(d),
            );
        }
    }
    if cfg.pgd_every > 0 {
        out.worst.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.worst.truncate(cfg.pgd_domains);
    }
    out
}

/// What [`contract`] did to a domain.
enum Contracted {
    /// Still open (perhaps smaller).
    Open,
    ByClip,
    ByFarkas,
}

/// Clips domain `d`'s box with the forms of each open disjunct (a disjunct whose box empties,
/// or whose forms' bounds over its clipped box refute a row, or that a combination of its rows
/// refutes, is closed); the new box is the hull of the open disjuncts' clipped boxes, which
/// holds every counterexample of the domain.
/// A several-row disjunct that stays open leaves its combination's witness in `points`.
fn contract(
    ctx: &Ctx,
    doms: &mut Store,
    d: usize,
    fa: &[f64],
    fk: &[f64],
    witness: &mut Vec<f64>,
    points: &mut Vec<(usize, Vec<f64>)>,
) -> Contracted {
    let cfg = ctx.cfg;
    let (n0, stride) = (ctx.n0, ctx.rows);
    let sub = &ctx.subs[doms.sub[d] as usize];
    let (lo0, hi0) = {
        let (l, h) = doms.bx(d);
        (l.to_vec(), h.to_vec())
    };
    let (mut hull_lo, mut hull_hi) = (vec![f64::INFINITY; n0], vec![f64::NEG_INFINITY; n0]);
    let mut open = doms.open[d];
    let mut by_farkas = false;
    for k in open_disjuncts(open) {
        let rows = sub.rows(k);
        let forms = &fa[(d * stride + rows.start) * n0..(d * stride + rows.end) * n0];
        let ks = &fk[d * stride + rows.start..d * stride + rows.end];
        let (mut lo, mut hi) = (lo0.clone(), hi0.clone());
        let mut closed = cfg.clip && !clip(&mut lo, &mut hi, forms, ks);
        if cfg.clip && !closed {
            // The forms' bounds over the smaller box.
            let xmax: Vec<f64> = lo
                .iter()
                .zip(&hi)
                .map(|(l, h)| l.abs().max(h.abs()))
                .collect();
            for (i, s) in rows.clone().enumerate() {
                let v = form_min(&forms[i * n0..(i + 1) * n0], ks[i], &lo, &hi, &xmax);
                let lb = &mut doms.lb[d * stride + s];
                *lb = lb.max(v);
                closed |= *lb > 0.0;
            }
        }
        if !closed && cfg.farkas && rows.len() > 1 {
            if farkas(&lo, &hi, forms, ks, witness) {
                closed = true;
                by_farkas = true;
            } else if cfg.witness && witness.len() == n0 {
                points.push((d, witness.clone()));
            }
        }
        if closed {
            open &= !(1u64 << k);
            continue;
        }
        for m in 0..n0 {
            hull_lo[m] = hull_lo[m].min(lo[m]);
            hull_hi[m] = hull_hi[m].max(hi[m]);
        }
    }
    doms.open[d] = open;
    if open == 0 {
        return if by_farkas {
            Contracted::ByFarkas
        } else {
            Contracted::ByClip
        };
    }
    let at = d * n0..(d + 1) * n0;
    doms.lo[at.clone()].copy_from_slice(&hull_lo);
    doms.hi[at].copy_from_slice(&hull_hi);
    Contracted::Open
}
