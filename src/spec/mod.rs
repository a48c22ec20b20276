//! Properties in one normal form, shared by every engine.
//!
//! A [`Property`] describes the *bad* case (the VNN-COMP convention): it is violated (`sat`)
//! when some region has an input `x` inside its box whose output `y = f(x)` satisfies one of the
//! region's disjuncts, each a conjunction of linear constraints `a·y <= b`.
//! A VNN-LIB `(or (and box1 ...) (and box2 ...))` over inputs becomes several regions, each
//! keeping its own box and its own output constraints.

mod pos;
pub mod vnnlib;
pub mod vnnlib2;

use crate::ir::Network;
use crate::{Error, Result};
use std::collections::hash_map::{Entry, HashMap};

/// `Σ coeffs[i].1 · y[coeffs[i].0] <= rhs` over the flattened network output.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearConstraint {
    /// Sparse coefficients `(output index, coefficient)`, indices distinct and sorted.
    pub coeffs: Vec<(usize, f64)>,
    pub rhs: f64,
}

impl LinearConstraint {
    /// `a·y − b`: `<= 0` when the constraint holds at `y`.
    pub fn slack<T: Copy + Into<f64>>(&self, y: &[T]) -> f64 {
        self.coeffs
            .iter()
            .map(|&(i, c)| c * y[i].into())
            .sum::<f64>()
            - self.rhs
    }
}

/// A conjunction of linear output constraints; empty means "always true".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Disjunct {
    pub constraints: Vec<LinearConstraint>,
}

impl Disjunct {
    /// `max_k (a_k·y − b_k)`: `<= 0` exactly when every constraint holds (the bad case is hit).
    /// `-inf` for the empty conjunction.
    pub fn margin<T: Copy + Into<f64>>(&self, y: &[T]) -> f64 {
        self.constraints
            .iter()
            .map(|c| c.slack(y))
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// True when `y` satisfies every constraint (with no tolerance).
    pub fn holds<T: Copy + Into<f64>>(&self, y: &[T]) -> bool {
        self.margin(y) <= 0.0
    }
}

/// One input box with its own disjunction of output constraints.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// Lower bounds of the flattened input, each the f64 nearest to the file's number.
    pub lower: Vec<f64>,
    /// Upper bounds, `lower[i] <= upper[i]`.
    pub upper: Vec<f64>,
    /// The bad case: any one of these is reached.
    pub disjuncts: Vec<Disjunct>,
}

impl Region {
    /// True when `x` lies in the box (no tolerance).
    pub fn contains(&self, x: &[f64]) -> bool {
        x.len() == self.lower.len()
            && x.iter()
                .zip(self.lower.iter().zip(&self.upper))
                .all(|(&v, (&l, &u))| l <= v && v <= u)
    }

    /// The box every proof is made over: `[lower, upper]` widened by one ulp outward. The
    /// bounds hold the f64 nearest to the file's decimals (rounded to nearest, so within half
    /// an ulp), and the widened box contains the exact decimal box. This is the one place a box
    /// is widened for proofs; attacks and the replay of counterexamples use the box as it is.
    pub fn proof_box(&self) -> (Vec<f64>, Vec<f64>) {
        (
            self.lower.iter().map(|v| v.next_down()).collect(),
            self.upper.iter().map(|v| v.next_up()).collect(),
        )
    }
}

/// A linear combination's terms sorted by variable, repeats summed and zero coefficients
/// dropped (`X_0 − X_0` has no terms): the one normal form both VNN-LIB front ends use.
pub(crate) fn merge_terms<K: Ord + Copy>(
    terms: impl IntoIterator<Item = (K, f64)>,
) -> Vec<(K, f64)> {
    let mut v: Vec<(K, f64)> = terms.into_iter().collect();
    v.sort_by_key(|&(k, _)| k);
    let mut out: Vec<(K, f64)> = Vec::with_capacity(v.len());
    for (k, c) in v {
        match out.last_mut() {
            Some((last, sum)) if *last == k => *sum += c,
            _ => out.push((k, c)),
        }
    }
    out.retain(|&(_, c)| c != 0.0);
    out
}

/// Regions collected from a property's branches: a branch whose box equals an earlier one's
/// (bit for bit) adds its disjunct to that region, so each box is bounded once.
#[derive(Default)]
pub(crate) struct RegionsByBox {
    regions: Vec<Region>,
    index: HashMap<Vec<u64>, usize>,
}

impl RegionsByBox {
    /// Adds the disjunct `constraints` over the box `[lower, upper]`.
    pub(crate) fn add(
        &mut self,
        lower: Vec<f64>,
        upper: Vec<f64>,
        constraints: Vec<LinearConstraint>,
    ) {
        let disjunct = Disjunct { constraints };
        let key: Vec<u64> = (lower.iter().chain(&upper)).map(|v| v.to_bits()).collect();
        match self.index.entry(key) {
            Entry::Occupied(i) => self.regions[*i.get()].disjuncts.push(disjunct),
            Entry::Vacant(slot) => {
                slot.insert(self.regions.len());
                self.regions.push(Region {
                    lower,
                    upper,
                    disjuncts: vec![disjunct],
                });
            }
        }
    }

    /// The regions, in the order their boxes first appeared.
    pub(crate) fn into_regions(self) -> Vec<Region> {
        self.regions
    }
}

/// A property: violated when any region's bad case is reachable.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// Number of declared inputs `X_0 .. X_{n-1}`.
    pub n_inputs: usize,
    /// Number of declared outputs `Y_0 .. Y_{m-1}`.
    pub n_outputs: usize,
    pub regions: Vec<Region>,
}

impl Property {
    /// The VNN-COMP robustness property of a classifier with `n_outputs` classes over the box
    /// `[lower, upper]`: the bad case is "some other class `j` scores at least `label`'s", one
    /// disjunct `y_label − y_j <= 0` per `j ≠ label`. One region.
    pub fn robustness(lower: Vec<f64>, upper: Vec<f64>, label: usize, n_outputs: usize) -> Self {
        let disjuncts = (0..n_outputs)
            .filter(|&j| j != label)
            .map(|j| {
                let mut coeffs = vec![(label, 1.0), (j, -1.0)];
                coeffs.sort_by_key(|c| c.0);
                Disjunct {
                    constraints: vec![LinearConstraint { coeffs, rhs: 0.0 }],
                }
            })
            .collect();
        Property {
            n_inputs: lower.len(),
            n_outputs,
            regions: vec![Region {
                lower,
                upper,
                disjuncts,
            }],
        }
    }

    /// Checks that the property talks about this network: as many declared inputs and outputs
    /// as the network's flattened input and output.
    pub fn check_fits(&self, net: &Network) -> Result<()> {
        if self.n_inputs != net.input_len() {
            return Err(Error::Invalid(format!(
                "the property declares {} inputs (X_0..X_{}) but the network takes {} (shape {:?})",
                self.n_inputs,
                self.n_inputs.saturating_sub(1),
                net.input_len(),
                net.input_shape()
            )));
        }
        if self.n_outputs != net.output_len() {
            return Err(Error::Invalid(format!(
                "the property declares {} outputs (Y_0..Y_{}) but the network has {} (shape {:?})",
                self.n_outputs,
                self.n_outputs.saturating_sub(1),
                net.output_len(),
                net.output_shape()
            )));
        }
        Ok(())
    }
}
