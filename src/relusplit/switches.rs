//! [`ReluSplitConfig`] from `key=value` text (`--relu-split-opt`), for measuring each ingredient.

use super::{Branching, ReluSplitConfig};

impl ReluSplitConfig {
    /// The switches [`ReluSplitConfig::set`] knows, for help texts.
    pub const KEYS: &'static str =
        "batch, iterations, conv-iterations, lr-alpha, lr-beta, lr-decay, beta, tangents, \
        branching (babsr|kfsb), k, kfsb-reuse, root-iterations, root-intermediate-iterations, root-lp, \
        exact-leaves, candidates, reroot-depth, reroot-first, reroot-stall (splits, 0: off), \
        reroot-stall-gain, reroot-stall-share, reroot-iterations, refine (a share of the time, \
        0: off), refine-leaves, refine-max-leaves, refine-again (a share, 0: off), refine-stall, \
        refine-stall-decided, refine-again-after (seconds), refine-again-leaves, refine-layers, \
        refine-last, refine-decay, refine-weigh, refine-sides (a ratio, 0: off), refine-by-size, refine-first (seconds, 0: no cap), refine-conv, f32-dots, max-domains, budget";

    /// Sets one switch from text (`on`/`off` for switches, a number, or `babsr`/`kfsb`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let flag = || match value {
            "on" | "true" | "1" | "yes" => Ok(true),
            "off" | "false" | "0" | "no" => Ok(false),
            _ => Err(format!("{key}: expected on or off, got `{value}`")),
        };
        let count = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{key}: expected a whole number, got `{value}`"))
        };
        let positive = || match count()? {
            0 => Err(format!("{key}: must be at least 1")),
            n => Ok(n),
        };
        let rate = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|r| *r >= 0.0 && r.is_finite())
                .ok_or_else(|| format!("{key}: expected a number >= 0, got `{value}`"))
        };
        match key {
            "batch" => self.batch = positive()?,
            "iterations" => self.iterations = count()?,
            "conv-iterations" => self.conv_iterations = count()?,
            "lr-alpha" => self.lr_alpha = rate()?,
            "lr-beta" => self.lr_beta = rate()?,
            "lr-decay" => self.lr_decay = rate()?,
            "beta" => self.beta = flag()?,
            "tangents" => self.tangents = flag()?,
            "branching" => {
                self.branching = match value {
                    "babsr" => Branching::Babsr,
                    "kfsb" => Branching::Kfsb { k: self.k() },
                    _ => return Err(format!("branching: expected babsr or kfsb, got `{value}`")),
                }
            }
            "k" => self.branching = Branching::Kfsb { k: positive()? },
            "kfsb-reuse" => self.kfsb_reuse = flag()?,
            "root-iterations" => self.root_iterations = count()?,
            "root-intermediate-iterations" => self.root_intermediate_iterations = count()?,
            "root-lp" => self.root_lp = flag()?,
            "exact-leaves" => self.exact_leaves = flag()?,
            "candidates" => self.candidates = flag()?,
            "reroot-depth" => self.reroot_depth = count()?,
            "reroot-first" => self.reroot_first = flag()?,
            "reroot-stall" => self.reroot_stall = count()?,
            "reroot-stall-gain" => self.reroot_stall_gain = rate()?,
            "reroot-stall-share" => self.reroot_stall_share = rate()?.min(1.0),
            "reroot-iterations" => self.reroot_iterations = count()?,
            "refine" => {
                self.refine = match value {
                    "on" => 0.3,
                    "off" => 0.0,
                    _ => rate()?.min(1.0),
                }
            }
            "refine-leaves" => self.refine_leaves = positive()?,
            "refine-max-leaves" => self.refine_max_leaves = positive()?,
            "refine-again" => self.refine_again = rate()?.min(1.0),
            "refine-stall" => self.refine_stall = rate()?.min(1.0),
            "refine-stall-decided" => self.refine_stall_decided = rate()?.min(1.0),
            "refine-again-after" => self.refine_again_after = rate()?,
            "refine-again-leaves" => self.refine_again_leaves = positive()?,
            "refine-layers" => self.refine_layers = positive()?,
            "refine-last" => self.refine_last = flag()?,
            "refine-decay" => {
                self.refine_decay = rate()?;
                if self.refine_decay <= 0.0 {
                    return Err(format!("{key}: must be above 0"));
                }
            }
            "refine-weigh" => self.refine_weigh = flag()?,
            "refine-sides" => {
                self.refine_sides = rate()?;
                if self.refine_sides > 0.0 && self.refine_sides < 1.0 {
                    return Err(format!("{key}: must be 0 (off) or at least 1"));
                }
            }
            "refine-by-size" => self.refine_by_size = flag()?,
            "refine-first" => self.refine_first = rate()?,
            "refine-conv" => self.refine_conv = flag()?,
            "f32-dots" => self.f32_dots = flag()?,
            "max-domains" => self.max_domains = positive()?,
            "budget" => self.budget = positive()? as u64,
            _ => {
                return Err(format!(
                    "unknown relu-split switch `{key}` (known: {})",
                    Self::KEYS
                ))
            }
        }
        Ok(())
    }

    /// Applies `key=value` pairs separated by commas.
    pub fn apply(&mut self, list: &str) -> Result<(), String> {
        crate::search::apply_pairs(list, |k, v| self.set(k, v))
    }

    /// kFSB's `k` (the default's when branching is BaBSR).
    fn k(&self) -> usize {
        match self.branching {
            Branching::Kfsb { k } => k,
            Branching::Babsr => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_parse_and_bad_ones_are_named() {
        let mut c = ReluSplitConfig::default();
        c.apply("beta=off, branching=babsr, batch=8, root-lp=on")
            .unwrap();
        assert!(!c.beta && c.root_lp && c.batch == 8);
        assert_eq!(c.branching, Branching::Babsr);
        c.apply("refine=0.2, refine-leaves=8").unwrap();
        assert!(c.refine == 0.2 && c.refine_leaves == 8);
        c.apply("refine-max-leaves=256, refine-again=0.5, refine-stall=0.2")
            .unwrap();
        c.apply("refine-stall-decided=0.1, refine-again-after=30, refine-again-leaves=512")
            .unwrap();
        assert!(c.refine_max_leaves == 256 && c.refine_again == 0.5 && c.refine_stall == 0.2);
        assert!(c.refine_stall_decided == 0.1 && c.refine_again_after == 30.0);
        assert_eq!(c.refine_again_leaves, 512);
        c.apply("refine-weigh=on,refine-sides=2.5,refine-by-size=on,refine-first=90")
            .unwrap();
        assert!(c.refine_weigh && c.refine_sides == 2.5 && c.refine_by_size);
        assert_eq!(c.refine_first, 90.0);
        assert!(c
            .apply("refine-sides=0.5")
            .unwrap_err()
            .contains("at least 1"));
        c.apply("refine-decay=0.3").unwrap();
        assert!(c.refine_decay == 0.3);
        assert!(c.apply("refine-decay=0").unwrap_err().contains("above 0"));
        c.apply("refine=on").unwrap();
        assert!(c.refine > 0.0);
        assert!(c.apply("refine=-1").unwrap_err().contains("refine"));
        c.apply("f32-dots=off,refine-conv=on").unwrap();
        assert!(!c.f32_dots && c.refine_conv);
        c.apply("kfsb-reuse=off,conv-iterations=7").unwrap();
        assert!(!c.kfsb_reuse && c.conv_iterations == 7);
        c.apply("reroot-stall=4,reroot-stall-gain=0.02,reroot-stall-share=0.5")
            .unwrap();
        assert!(c.reroot_stall == 4 && c.reroot_stall_gain == 0.02);
        assert_eq!(c.reroot_stall_share, 0.5);
        c.apply("k=5").unwrap();
        assert_eq!(c.branching, Branching::Kfsb { k: 5 });
        assert!(c.apply("beta=maybe").unwrap_err().contains("beta"));
        assert!(c.apply("nonsense=1").unwrap_err().contains("nonsense"));
        assert!(c.apply("batch=0").unwrap_err().contains("at least 1"));
    }
}
