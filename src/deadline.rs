//! The one time-budget type every engine receives: a point in time by which an answer is due,
//! or none. It is made once at the edge (from `--timeout` seconds) and passed down unchanged;
//! engines check [`Deadline::expired`] inside their long loops and hand the same value (or an
//! earlier one, [`Deadline::share`]) to what they call.
//!
//! A deadline is the engines' one stop signal: it also counts as passed once the process has
//! reached its memory limit ([`crate::memory::watch`]), so every loop that checks the time
//! stops for memory too, and `verify` then reports the memory limit as the reason.

use std::time::{Duration, Instant};

/// Budgets longer than this many seconds (about 31 years) mean "no limit": an `Instant` that
/// far ahead may not be representable, and no query is meant to run that long.
pub const MAX_SECS: f64 = 1e9;

/// A point in time by which an answer is due, or none (no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No limit.
    pub const NONE: Deadline = Deadline(None);

    /// `d` from now; no limit when that instant cannot be represented.
    pub fn after(d: Duration) -> Self {
        Deadline(Instant::now().checked_add(d))
    }

    /// `secs` seconds from now. `secs` must be a positive number (an error message says what
    /// was wrong otherwise); more than [`MAX_SECS`] (infinity included) means no limit.
    pub fn after_secs(secs: f64) -> Result<Self, String> {
        let d = parse_budget(secs)?;
        Ok(d.map_or(Deadline::NONE, Deadline::after))
    }

    /// True once the deadline has passed (never without a limit), or once the process has
    /// reached its memory limit ([`crate::memory::exceeded`]).
    pub fn expired(&self) -> bool {
        crate::memory::exceeded() || self.0.is_some_and(|t| Instant::now() >= t)
    }

    /// The time left (zero once expired, or past the memory limit); `None` without a limit.
    pub fn remaining(&self) -> Option<Duration> {
        if crate::memory::exceeded() {
            return Some(Duration::ZERO);
        }
        self.0.map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// The instant itself; `None` without a limit.
    pub fn instant(&self) -> Option<Instant> {
        self.0
    }

    /// The earlier of the two.
    pub fn min(self, other: Deadline) -> Deadline {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (a, b) => Deadline(a.or(b)),
        }
    }

    /// A deadline `frac` (in `[0, 1]`) of the way from now to this one, for a phase that may use
    /// only a share of what is left; `cap` bounds it when there is no limit.
    pub fn share(&self, frac: f64, cap: Duration) -> Deadline {
        let left = self.remaining().unwrap_or(cap).min(cap);
        // A share beyond `MAX_SECS` is no limit (as in `parse_budget`); this also keeps
        // `Duration::MAX` as a cap ("none") from overflowing.
        let secs = left.as_secs_f64() * frac.clamp(0.0, 1.0);
        if secs > MAX_SECS {
            return *self;
        }
        Deadline::after(Duration::from_secs_f64(secs)).min(*self)
    }
}

/// A time budget in seconds as a duration: `Err` (with the reason) unless it is a positive
/// number; `Ok(None)` (no limit) above [`MAX_SECS`]. The one parser of `--timeout`-like options.
pub fn parse_budget(secs: f64) -> Result<Option<Duration>, String> {
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("must be a positive number of seconds, got {secs}"));
    }
    if secs > MAX_SECS {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_and_bad_budgets() {
        assert_eq!(Deadline::after_secs(1e19), Ok(Deadline::NONE));
        assert_eq!(Deadline::after_secs(f64::INFINITY), Ok(Deadline::NONE));
        assert!(Deadline::after_secs(1e300).unwrap().remaining().is_none());
        assert!(Deadline::after_secs(-1.0).is_err());
        assert!(Deadline::after_secs(0.0).is_err());
        assert!(Deadline::after_secs(f64::NAN).is_err());
        assert!(!Deadline::NONE.expired());
        assert!(Deadline::after(Duration::ZERO).expired());
        let d = Deadline::after_secs(10.0).unwrap();
        assert!(d.remaining().unwrap() <= Duration::from_secs(10));
        let half = d.share(0.5, Duration::from_secs(100));
        assert!(half.remaining().unwrap() <= Duration::from_secs(5));
        assert_eq!(Deadline::NONE.min(d), d);
        assert!(Deadline::NONE.share(0.5, Duration::from_secs(4)).instant() > Some(Instant::now()));
        assert_eq!(Deadline::NONE.share(1.0, Duration::MAX), Deadline::NONE);
        assert_eq!(Deadline::NONE.share(0.1, Duration::MAX), Deadline::NONE);
    }
}
