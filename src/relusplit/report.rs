//! Progress of the ReLU-split search, for [`crate::verify::verify_with`]'s callback.

use crate::search::Progress;
use std::time::{Duration, Instant};

/// Time between two progress reports.
const EVERY: Duration = Duration::from_millis(500);

/// Turns the search's counts into [`Progress`] reports, at most every [`EVERY`]. The share
/// decided is that of the split tree: each subproblem holds `1/n` of it, and a domain with
/// `d` splits holds `2^−d` of its subproblem's (the two children of a split share it equally).
pub(crate) struct Reporter<'a> {
    callback: Option<&'a mut (dyn FnMut(&Progress) + Send)>,
    t0: Instant,
    last: Instant,
    /// The share of the split tree decided so far, in [0, 1].
    pub decided: f64,
    /// One subproblem's share of the tree.
    pub share: f64,
    /// Domains given a root of their own, as of the last [`Reporter::tick`].
    rerooted: u64,
}

impl<'a> Reporter<'a> {
    pub fn new(
        callback: Option<&'a mut (dyn FnMut(&Progress) + Send)>,
        subproblems: usize,
    ) -> Self {
        let now = Instant::now();
        Reporter {
            callback,
            t0: now,
            last: now,
            decided: 0.0,
            share: 1.0 / subproblems.max(1) as f64,
            rerooted: 0,
        }
    }

    /// Counts a decided domain with `splits` splits.
    pub fn decide(&mut self, splits: usize) {
        self.decided += self.share * 0.5f64.powi(splits.min(1074) as i32);
    }

    /// Reports `phase` now (a phase change is always shown).
    pub fn phase(&mut self, phase: &'static str, done: u64, open: usize) {
        self.send(phase, done, open, None);
    }

    /// Reports `phase` now with `worst`, the lowest bound of the subproblems left (e.g. at the
    /// root, before and after refinement).
    pub fn phase_bound(&mut self, phase: &'static str, done: u64, open: usize, worst: f64) {
        self.send(phase, done, open, Some(worst));
    }

    /// Reports the search's state when [`EVERY`] has passed since the last report; `worst` is
    /// the lowest bound among the stored domains, `rerooted` the domains given roots of their own.
    pub fn tick(
        &mut self,
        done: u64,
        rerooted: u64,
        open: usize,
        worst: impl FnOnce() -> Option<f64>,
    ) {
        self.rerooted = rerooted;
        if self.callback.is_some() && self.last.elapsed() >= EVERY {
            self.send("search", done, open, worst());
        }
    }

    fn send(&mut self, phase: &'static str, done: u64, open: usize, worst: Option<f64>) {
        if let Some(cb) = self.callback.as_mut() {
            self.last = Instant::now();
            cb(&Progress {
                phase,
                done,
                open,
                worst,
                decided: self.decided.min(1.0),
                closest: None,
                rerooted: self.rerooted,
                elapsed: self.t0.elapsed(),
            });
        }
    }
}
