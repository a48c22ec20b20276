//! Conjunctions into regions: each atom classified against the layout, each conjunction's box
//! tightened and checked, equal boxes merged.

use super::{Atom, Layout, Located, Part, Query, Term, Var};
use crate::spec::{merge_terms, LinearConstraint, Property, RegionsByBox};
use std::collections::HashMap;

/// What one atom means for the normal form.
enum Kind {
    /// No variables: true atoms are dropped, false ones drop their conjunction.
    Const(bool),
    /// `X_k <= v` (`<` when strict).
    Upper(usize, f64, bool),
    /// `X_k >= v` (`>` when strict).
    Lower(usize, f64, bool),
    /// A constraint on the engine output.
    Output(LinearConstraint),
}

/// A box being tightened, with the strictness and the atom of each bound.
#[derive(Clone)]
struct Bounds {
    lower: Vec<f64>,
    upper: Vec<f64>,
    lower_strict: Vec<bool>,
    upper_strict: Vec<bool>,
    lower_by: Vec<Option<u32>>,
    upper_by: Vec<Option<u32>>,
}

impl Bounds {
    fn unbounded(n: usize) -> Self {
        Bounds {
            lower: vec![f64::NEG_INFINITY; n],
            upper: vec![f64::INFINITY; n],
            lower_strict: vec![false; n],
            upper_strict: vec![false; n],
            lower_by: vec![None; n],
            upper_by: vec![None; n],
        }
    }

    /// Tightens by atom `id`; false when the atom is a false constant.
    fn apply(&mut self, id: u32, kind: &Kind) -> bool {
        match *kind {
            Kind::Const(holds) => return holds,
            Kind::Upper(k, v, strict) => {
                if v < self.upper[k] || (v == self.upper[k] && strict) {
                    self.upper[k] = v;
                    self.upper_strict[k] = strict;
                    self.upper_by[k] = Some(id);
                }
            }
            Kind::Lower(k, v, strict) => {
                if v > self.lower[k] || (v == self.lower[k] && strict) {
                    self.lower[k] = v;
                    self.lower_strict[k] = strict;
                    self.lower_by[k] = Some(id);
                }
            }
            Kind::Output(_) => {}
        }
        true
    }

    /// True when some element's interval is empty (`lo > hi`, or `lo = hi` and one side strict).
    fn is_empty(&self) -> bool {
        (0..self.lower.len()).any(|k| {
            let (lo, hi) = (self.lower[k], self.upper[k]);
            lo > hi || (lo == hi && (self.lower_strict[k] || self.upper_strict[k]))
        })
    }
}

impl Query {
    /// The regions of the DNF `{common ++ b | b ∈ branches}` over the engine network.
    pub(super) fn regions(
        &self,
        layout: &Layout,
        atoms: &[Atom],
        common: &[u32],
        branches: &[Term],
    ) -> Result<Property, Located> {
        let x_index = layout.x_index(self);
        let n_inputs = layout.inputs.len();
        // Engine-output index of every output/hidden slot and of every copied input element.
        let mut y_of_slot = HashMap::new();
        let mut y_of_x = HashMap::new();
        let mut at = 0;
        for part in &layout.outputs {
            match part {
                Part::Tensor(t) => {
                    let t = &self.tensors[*t];
                    for k in 0..t.numel() {
                        y_of_slot.insert(t.base + k, at + k);
                    }
                    at += t.numel();
                }
                Part::Inputs(ix) => {
                    for &x in ix {
                        y_of_x.insert(x, at);
                        at += 1;
                    }
                }
            }
        }
        let n_outputs = at;
        let kinds = atoms
            .iter()
            .map(|a| self.classify(a, &x_index, &y_of_slot, &y_of_x))
            .collect::<Result<Vec<Kind>, Located>>()?;

        let mut base = Bounds::unbounded(n_inputs);
        let mut base_outputs = Vec::new();
        for &id in common {
            if !base.apply(id, &kinds[id as usize]) {
                return Ok(Property {
                    n_inputs,
                    n_outputs,
                    regions: Vec::new(),
                });
            }
            if let Kind::Output(_) = kinds[id as usize] {
                base_outputs.push(id);
            }
        }
        let mut regions = RegionsByBox::default();
        'terms: for term in branches {
            let mut bounds = base.clone();
            let mut outputs = base_outputs.clone();
            for &id in term {
                if !bounds.apply(id, &kinds[id as usize]) {
                    continue 'terms;
                }
                if let Kind::Output(_) = kinds[id as usize] {
                    outputs.push(id);
                }
            }
            if bounds.is_empty() {
                continue;
            }
            self.check_bounded(&bounds, atoms, term, &layout.inputs)?;
            outputs.sort_unstable();
            let constraints = (outputs.iter())
                .filter_map(|&id| match &kinds[id as usize] {
                    Kind::Output(c) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            regions.add(bounds.lower, bounds.upper, constraints);
        }
        let regions = regions.into_regions();
        Ok(Property {
            n_inputs,
            n_outputs,
            regions,
        })
    }

    /// What atom `a` means over the engine network.
    fn classify(
        &self,
        a: &Atom,
        x_index: &HashMap<usize, usize>,
        y_of_slot: &HashMap<usize, usize>,
        y_of_x: &HashMap<usize, usize>,
    ) -> Result<Kind, Located> {
        let vars = merge_terms(a.lin.iter().map(|&(s, c)| match x_index.get(&s) {
            Some(&x) => (Var::X(x), c),
            None => (Var::Y(s), c),
        }));
        match vars.as_slice() {
            [] => Ok(Kind::Const(if a.strict {
                0.0 < a.rhs
            } else {
                0.0 <= a.rhs
            })),
            &[(Var::X(k), c)] => {
                // c·x <= r: x <= r/c when c > 0, x >= r/c when c < 0. Unless |c| = 1 the
                // quotient is rounded, so it is moved one ulp outward (the box may only grow).
                let q = a.rhs / c + 0.0;
                let exact = c.abs() == 1.0;
                if !q.is_finite() {
                    let msg = format!(
                        "arithmetic overflow: the bound on {} is not finite",
                        self.element_name(a.lin[0].0)
                    );
                    return Err(Located::new(a.pos, msg));
                }
                Ok(if c > 0.0 {
                    Kind::Upper(k, if exact { q } else { q.next_up() }, a.strict)
                } else {
                    Kind::Lower(k, if exact { q } else { q.next_down() }, a.strict)
                })
            }
            vars => {
                let mut coeffs: Vec<(usize, f64)> = vars
                    .iter()
                    .map(|&(v, c)| match v {
                        Var::X(x) => (y_of_x[&x], c),
                        Var::Y(s) => (y_of_slot[&s], c),
                    })
                    .collect();
                coeffs.sort_unstable_by_key(|&(i, _)| i);
                Ok(Kind::Output(LinearConstraint { coeffs, rhs: a.rhs }))
            }
        }
    }

    /// Every input element bounded on both sides in this conjunction.
    fn check_bounded(
        &self,
        b: &Bounds,
        atoms: &[Atom],
        term: &[u32],
        inputs: &[usize],
    ) -> Result<(), Located> {
        let Some(k) =
            (0..b.lower.len()).find(|&k| b.lower_by[k].is_none() || b.upper_by[k].is_none())
        else {
            return Ok(());
        };
        let missing = match (b.lower_by[k], b.upper_by[k]) {
            (Some(_), None) => "no upper bound",
            (None, Some(_)) => "no lower bound",
            _ => "no bounds",
        };
        let slot = inputs[k];
        let pos = (b.lower_by[k].or(b.upper_by[k]))
            .or(term.first().copied())
            .map_or_else(
                || self.tensors[self.tensor_of(slot)].pos,
                |id| atoms[id as usize].pos,
            );
        let name = self.element_name(slot);
        let msg = format!(
            "input {name} has {missing} here: certus searches an input box, so every input \
             element needs a lower and an upper bound, e.g. `(>= {name} 0.0)` and `(<= {name} 1.0)`"
        );
        Err(Located::new(pos, msg))
    }
}
