//! One interface over the bound engines for the verifier: sound lower bounds of `a·y − b` for a
//! list of output constraints over an input box.

use crate::bounds::dual::DualNetwork;
use crate::bounds::f32_error::{constraint_slack, f32_errors};
use crate::bounds::{constraint_lower_bound, objective_lower, BoundConfig, Method};
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::spec::LinearConstraint;
use ndarray::Array2;

/// The engines of one network, prepared once.
pub struct Bounder<'a> {
    net: &'a Network,
    method: Method,
    dual: DualNetwork<'a>,
    n_out: usize,
    cfg: BoundConfig,
}

impl<'a> Bounder<'a> {
    /// Prepares `method` for `net`.
    pub fn new(net: &'a Network, method: Method) -> Self {
        Bounder {
            net,
            method,
            dual: DualNetwork::new(net),
            n_out: net.output_len(),
            cfg: BoundConfig::default(),
        }
    }

    /// Sound lower bounds of `a_k·y − b_k` for each constraint, over inputs in `[lower, upper]`,
    /// less the constraint's f32 slack ([`crate::bounds::f32_error`]): a bound `> 0` proves
    /// that neither the exact network nor any f32 evaluation of it meets the constraint there.
    /// Every method also takes the interval bound and keeps the larger (both are sound). The
    /// dearer methods stop refining at `deadline` and return the sound bounds they have.
    pub fn lower_bounds(
        &self,
        lower: &[f64],
        upper: &[f64],
        cons: &[&LinearConstraint],
        deadline: Deadline,
    ) -> Vec<f64> {
        let all = self.dual.interval().all(lower, upper);
        let out = all.last().expect("a network has nodes");
        // Rounding: each slack is rounded up, and `(lb − slack).next_down()` below it.
        let out_err = f32_errors(self.net, &all)
            .pop()
            .expect("a network has nodes");
        let slack: Vec<f64> = (cons.iter())
            .map(|c| constraint_slack(c, &out_err, out))
            .collect();
        let less_slack = |lb: Vec<f64>| -> Vec<f64> {
            (lb.into_iter().zip(&slack))
                .map(|(v, s)| (v - s).next_down())
                .collect()
        };
        let mut lb: Vec<f64> = cons
            .iter()
            .map(|c| constraint_lower_bound(c, out))
            .collect();
        let interval_only = match self.method {
            Method::Interval => true,
            Method::Dual | Method::Crown | Method::Alpha | Method::Lp => false,
        };
        if interval_only || cons.is_empty() {
            return less_slack(lb);
        }
        let mut rows = Array2::zeros((cons.len(), self.n_out));
        for (r, c) in cons.iter().enumerate() {
            for &(i, a) in &c.coeffs {
                rows[[r, i]] = a;
            }
        }
        let cfg = BoundConfig {
            deadline,
            ..self.cfg.clone()
        };
        let (ay, last) = objective_lower(&self.dual, lower, upper, &rows, self.method, &cfg);
        // Also the interval bound over the tightened output bounds.
        for (v, c) in lb.iter_mut().zip(cons) {
            *v = v.max(constraint_lower_bound(c, &last));
        }
        for ((v, c), a) in lb.iter_mut().zip(cons).zip(ay) {
            // lb(a·y) − b, rounded down: the difference of two floats is exact to within
            // half an ulp, so one `next_down` keeps it a lower bound.
            *v = v.max((a - c.rhs).next_down());
        }
        less_slack(lb)
    }
}
