//! A domain's bound along its search path: what stall-triggered re-rooting
//! ([`super::ReluSplitConfig::reroot_stall`]) counts. Its own module because the bounding
//! jobs ([`super::optimise::Job`]) carry it through the search ([`super::bab`]).

/// A domain's bound along its path, for stall-triggered re-rooting
/// ([`super::ReluSplitConfig::reroot_stall`]): the bound (its best row) when it last rose by more
/// than [`super::ReluSplitConfig::reroot_stall_gain`] of its distance to 0 (or when the path was last
/// re-rooted), and the splits since.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Path {
    pub anchor: f64,
    pub flat: usize,
}

impl Default for Path {
    fn default() -> Self {
        Path::anchored(f64::NEG_INFINITY)
    }
}

impl Path {
    /// A path whose bound is anchored at `v`, with no flat split since.
    pub fn anchored(v: f64) -> Path {
        Path { anchor: v, flat: 0 }
    }

    /// The path after a split whose domain got the bound `v`: a gain of more than `gain` of
    /// the anchor's distance to 0 (an open domain's bound is below 0) moves the anchor to `v`;
    /// anything less counts one more flat split.
    pub fn step(self, v: f64, gain: f64) -> Path {
        match !self.anchor.is_finite() || v - self.anchor > gain * self.anchor.abs() {
            true => Path::anchored(v),
            false => Path {
                flat: self.flat + 1,
                ..self
            },
        }
    }
}
