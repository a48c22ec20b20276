//! The search loop (see the module doc of [`super`]): pop a batch, bound it, try its free
//! candidates, clip, split, push; until every domain is refuted (`unsat`), a candidate is
//! confirmed (`sat`), the deadline passes (`timeout`) or a limit is hit (`unknown`).

use super::attack::batched_pgd;
use super::domain::{process, ChunkOut};
use super::store::Store;
use super::witness::{pgd_boxes, Target};
use super::{Ctx, Kernel, Progress, SearchConfig, SearchStats};
use crate::attack::{PgdConfig, Rng};
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::{confirm, Verdict};
use crate::spec::Property;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Reports progress at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Decides `prop` on `net` by input-split branch and bound (the property must fit the network).
/// `progress` is called about twice a second. The verdict comes with counts of the work done.
pub fn search(
    net: &Network,
    prop: &Property,
    cfg: &SearchConfig,
    deadline: Deadline,
    mut progress: Option<&mut (dyn FnMut(&Progress) + Send)>,
) -> (Verdict, SearchStats) {
    let t0 = Instant::now();
    let ctx = Ctx::new(net, prop, cfg);
    let mut stats = SearchStats {
        chain: matches!(ctx.kernel, Kernel::Chain(_)),
        ..Default::default()
    };
    let mut store = Store::new(ctx.n0, ctx.rows, ctx.pstride);
    let unknown = ctx.unknown_bounds();
    for (s, sub) in ctx.subs.iter().enumerate() {
        let region = &prop.regions[sub.region];
        if region
            .lower
            .iter()
            .zip(&region.upper)
            .any(|(l, u)| l.partial_cmp(u).is_none_or(|o| o.is_gt()))
        {
            continue; // an empty box holds no input
        }
        if (0..sub.disjuncts.len()).any(|i| sub.rows(i).is_empty()) {
            // An empty conjunction holds everywhere: any input of the box violates.
            let centre: Vec<f64> = region
                .lower
                .iter()
                .zip(&region.upper)
                .map(|(l, u)| 0.5 * l + 0.5 * u)
                .collect();
            if let Some(cex) = confirm(net, prop, &centre) {
                return (Verdict::Sat(Box::new(cex)), stats);
            }
        }
        // The box holds the f64 nearest to the file's decimals: widen it by one ulp outward so
        // that the proof covers the exact decimal box.
        let lo: Vec<f64> = region.lower.iter().map(|v| v.next_down()).collect();
        let hi: Vec<f64> = region.upper.iter().map(|v| v.next_up()).collect();
        store.push(
            &lo,
            &hi,
            s as u32,
            sub.all_open(),
            &vec![f64::NEG_INFINITY; ctx.rows],
            0,
            f32::NEG_INFINITY,
            &unknown,
        );
    }
    let mut rng = Rng::new(0x5EED);
    let mut closest = f64::INFINITY;
    if cfg.root_attack {
        if let Some(p) = progress.as_mut() {
            p(&Progress {
                phase: "attack",
                done: 0,
                open: store.len(),
                worst: None,
                decided: 0.0,
                closest: None,
                rerooted: 0,
                elapsed: t0.elapsed(),
            });
        }
        let targets: Vec<Target> = (0..store.len())
            .map(|d| {
                let (lo, hi) = store.bx(d);
                Target {
                    lo: lo.to_vec(),
                    hi: hi.to_vec(),
                    sub: store.sub[d] as usize,
                    open: store.open[d],
                }
            })
            .collect();
        let found = match &ctx.kernel {
            Kernel::Chain(chain) => batched_pgd(
                &ctx,
                chain,
                &targets,
                cfg.root_starts,
                cfg.attack_steps,
                &mut rng,
                &mut closest,
            ),
            Kernel::General(_) => {
                let pgd = PgdConfig {
                    steps: 50,
                    restarts: cfg.root_starts.min(20),
                    step_frac: 0.1,
                };
                pgd_boxes(&ctx, &targets, &pgd, &mut rng, deadline)
            }
        };
        if let Some(cex) = found {
            return (Verdict::Sat(Box::new(cex)), stats);
        }
    }
    let t_search = Instant::now();
    let mut decided = 0.0;
    let mut last_report = Instant::now();
    let verdict = loop {
        if deadline.expired() {
            break Verdict::Timeout;
        }
        if store.is_empty() {
            break match stats.stuck {
                0 => Verdict::Unsat,
                n => Verdict::Unknown(format!(
                    "{n} input boxes could not be split further in floating point without being refuted or falsified"
                )),
            };
        }
        if cfg.max_bounded > 0 && stats.domains >= cfg.max_bounded {
            break Verdict::Unknown(format!(
                "the budget of {} bounded domains is spent",
                cfg.max_bounded
            ));
        }
        if store.len() > cfg.max_domains {
            break Verdict::Unknown(format!(
                "the domain limit ({}) was reached with {} domains open",
                cfg.max_domains,
                store.len()
            ));
        }
        if cfg.reorder_every > 0 && stats.batches.is_multiple_of(cfg.reorder_every as u64) {
            store.promising_last();
        }
        let batch = store.pop(cfg.batch);
        // Split several inputs at once while the frontier is small, so that batches stay full.
        let mut split = 1;
        if cfg.multi_split && store.len() + batch.len() < cfg.batch / 10 {
            while split < ctx.n0 && (batch.len() << (split + 1)) <= cfg.batch {
                split += 1;
            }
        }
        let chunks = split_chunks(batch, cfg.chunk);
        let outs: Vec<ChunkOut> = chunks
            .into_par_iter()
            .map(|c| process(&ctx, c, split, deadline))
            .collect();
        stats.batches += 1;
        let mut worst: Vec<(f64, Target)> = Vec::new();
        let mut cex = None;
        for mut o in outs {
            stats.domains += o.bounded;
            stats.by_interval += o.by_interval;
            stats.by_linear += o.by_linear;
            stats.by_clip += o.by_clip;
            stats.by_farkas += o.by_farkas;
            stats.stuck += o.stuck;
            decided += o.decided;
            if cex.is_none() {
                cex = o.cex.take();
            }
            closest = closest.min(o.closest);
            store.append(&mut o.children);
            worst.append(&mut o.worst);
        }
        if let Some(c) = cex {
            break Verdict::Sat(Box::new(c));
        }
        stats.max_open = stats.max_open.max(store.len());
        if cfg.pgd_every > 0
            && stats.batches.is_multiple_of(cfg.pgd_every as u64)
            && !worst.is_empty()
        {
            worst.sort_by(|a, b| a.0.total_cmp(&b.0));
            worst.truncate(cfg.pgd_domains);
            let targets: Vec<Target> = worst.into_iter().map(|(_, t)| t).collect();
            let found = match &ctx.kernel {
                Kernel::Chain(chain) => batched_pgd(
                    &ctx,
                    chain,
                    &targets,
                    cfg.pgd_starts,
                    cfg.attack_steps,
                    &mut rng,
                    &mut closest,
                ),
                Kernel::General(_) => {
                    let pgd = PgdConfig {
                        steps: 10,
                        restarts: 2,
                        step_frac: 0.25,
                    };
                    pgd_boxes(&ctx, &targets, &pgd, &mut rng, deadline)
                }
            };
            if let Some(c) = found {
                break Verdict::Sat(Box::new(c));
            }
        }
        if let Some(p) = progress.as_mut() {
            if last_report.elapsed() >= PROGRESS_EVERY {
                last_report = Instant::now();
                p(&Progress {
                    phase: "search",
                    done: stats.domains,
                    open: store.len(),
                    worst: worst_bound(&store),
                    decided: decided / ctx.subs.len().max(1) as f64,
                    closest: Some(closest).filter(|v| v.is_finite()),
                    rerooted: 0,
                    elapsed: t0.elapsed(),
                });
            }
        }
    };
    stats.time = t_search.elapsed();
    stats.decided = decided / ctx.subs.len().max(1) as f64;
    (verdict, stats)
}

/// The lowest best-row bound among the stored domains.
fn worst_bound(store: &Store) -> Option<f64> {
    (0..store.len())
        .map(|d| {
            store
                .lbs(d)
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .min_by(f64::total_cmp)
}

/// The batch in chunks of `chunk` domains (the last may be smaller), in order.
fn split_chunks(mut batch: Store, chunk: usize) -> Vec<Store> {
    let mut out = Vec::new();
    while batch.len() > chunk {
        let tail = batch.split_off(chunk);
        out.push(batch);
        batch = tail;
    }
    out.push(batch);
    out
}
