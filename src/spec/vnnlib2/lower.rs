//! From a typed [`Query`] to the [`Property`] normal form over one *engine network*.
//!
//! The engine network takes every declared input of every network, concatenated in file order
//! (`X`), and returns ([`Layout`]) every declared output, then every declared hidden node, then
//! copies of the input elements that take part in a constraint relating several variables
//! (`Y`). Over that one network every query of linear arithmetic is an input box plus linear
//! constraints on `Y`:
//! - a comparison over one input element is a bound of the box (`c·x ⋈ r` divides by `c`,
//!   rounded outward);
//! - a comparison over outputs and hidden nodes, of any networks, is a constraint `a·Y <= b`;
//! - a comparison relating several input elements, or inputs with other variables, reads the
//!   inputs' copies in `Y` (so engines still see `a·Y <= b` over a box);
//! - `(== a b)` is `a <= b` and `a >= b`; `(!= a b)` is `(or (< a b) (> a b))`; strict
//!   comparisons are relaxed to non-strict ones. Refuting the relaxation refutes the query;
//!   a counterexample of the relaxation is re-checked exactly ([`Query::holds`]) before it is
//!   reported.
//!
//! The conjunction of all assertions goes to disjunctive normal form (as in VNN-LIB 1.0, at
//! most 100 000 conjunctions); conjunctions whose boxes are equal bit for bit share one
//! [`Region`]. A conjunction with an empty box (`lo > hi`, or `lo = hi` with a strict bound)
//! or a false constant comparison is dropped; none left means `unsat`. Every input element
//! needs a lower and an upper bound in every conjunction (branch and bound splits a box).

use super::super::pos::{Located, Pos};
use super::super::vnnlib::dnf::{self, Term};
use super::parse::{Bool, CmpOp, Linear};
use super::{Query, TensorKind, SOUND_ELEMENT_TYPES};
use crate::spec::Property;
use crate::Result;
use std::collections::HashMap;

/// Which queries the engine network can be assembled for today (one source of truth for the
/// refusals below and for `certus supports`).
#[derive(Clone, Copy, Debug)]
pub struct Support {
    /// Hidden-node declarations (theory H).
    pub hidden_nodes: bool,
    /// Networks with several inputs or outputs (theory MIO).
    pub multi_io: bool,
    /// Several network declarations (theories MENET, MINET, MNET).
    pub multi_network: bool,
    /// Comparisons relating several input elements or inputs with other variables (theories
    /// LIN and MNC): input copies among the engine outputs.
    pub input_relations: bool,
}

/// The fragment certus decides today: one single-input, single-output network, box bounds on
/// its inputs and linear constraints on its outputs. The rest needs the engine network to be a
/// DAG (a `Concat` of outputs, hidden nodes and input copies).
pub const SUPPORT: Support = Support {
    hidden_nodes: false,
    multi_io: false,
    multi_network: false,
    input_relations: false,
};

/// One part of the engine network's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// A declared output or hidden tensor (index into [`Query::tensors`]), all its elements.
    Tensor(usize),
    /// Copies of these engine-input elements (indices into `X`).
    Inputs(Vec<usize>),
}

/// How the engine network's input and output are laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The engine input: these declared input tensors, concatenated (every input of every
    /// network, in file order).
    pub inputs: Vec<usize>,
    /// The engine output: these parts, concatenated.
    pub outputs: Vec<Part>,
}

/// A query in normal form.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// Regions over the engine network (strict comparisons relaxed).
    pub property: Property,
    pub layout: Layout,
}

impl Layout {
    /// True when the engine network is the query's only network as it is: one declaration,
    /// its inputs and outputs in order, no hidden node, no input copy.
    pub fn is_plain(&self, q: &Query) -> bool {
        let [net] = q.networks.as_slice() else {
            return false;
        };
        let outs: Vec<Part> = net.outputs.iter().map(|&o| Part::Tensor(o)).collect();
        self.inputs == net.inputs && self.outputs == outs
    }

    /// The value of every slot given the engine network's input `x` and output `y`.
    pub fn slot_values(&self, q: &Query, x: &[f64], y: &[f64]) -> Vec<f64> {
        let mut v = vec![0.0; q.slot_count()];
        let mut at = 0;
        for &t in &self.inputs {
            let t = &q.tensors[t];
            v[t.base..t.base + t.numel()].copy_from_slice(&x[at..at + t.numel()]);
            at += t.numel();
        }
        let mut at = 0;
        for part in &self.outputs {
            match part {
                Part::Tensor(t) => {
                    let t = &q.tensors[*t];
                    v[t.base..t.base + t.numel()].copy_from_slice(&y[at..at + t.numel()]);
                    at += t.numel();
                }
                Part::Inputs(ix) => at += ix.len(),
            }
        }
        v
    }

    /// Why this layout cannot be assembled today, if it cannot ([`SUPPORT`]).
    pub fn unsupported(&self, q: &Query) -> Option<String> {
        let why = if !SUPPORT.multi_network && q.networks.len() > 1 {
            "several networks (theories MENET, MINET, MNET)"
        } else if !SUPPORT.hidden_nodes && q.networks.iter().any(|n| !n.hidden.is_empty()) {
            "hidden-node declarations (theory H)"
        } else if !SUPPORT.multi_io
            && q.networks
                .iter()
                .any(|n| n.inputs.len() > 1 || n.outputs.len() > 1)
        {
            "networks with several inputs or outputs (theory MIO)"
        } else if !SUPPORT.input_relations
            && self.outputs.iter().any(|p| matches!(p, Part::Inputs(_)))
        {
            "comparisons that relate several input elements, or inputs with outputs (theories \
             LIN, MNC)"
        } else {
            return None;
        };
        Some(format!(
            "certus does not decide queries with {why} yet: it needs the engine network to \
             expose them as outputs (see `certus supports`)"
        ))
    }
}

/// `Σ c·slot <= rhs` (`<` when strict), with where it was written.
struct Atom {
    lin: Vec<(usize, f64)>,
    rhs: f64,
    strict: bool,
    pos: Pos,
}

impl Query {
    /// Lowers the query into normal form (see the module docs). Errors: element types certus
    /// cannot analyse soundly, an input element without a box bound, a DNF that is too large,
    /// and queries outside [`SUPPORT`].
    pub fn lower(&self) -> Result<Lowered> {
        if let Some(t) = (self.tensors.iter()).find(|t| !SOUND_ELEMENT_TYPES.contains(&t.elem)) {
            return Err(self.error(
                t.pos,
                format!(
                    "`{}` is declared `{}`, and certus cannot analyse {} networks soundly: its \
                     proofs hold for the network over the real numbers. Declare the variables \
                     `real` to consent to that reading (the VNN-LIB 2.0 standard requires this \
                     error, chapter 5)",
                    t.name,
                    t.type_name,
                    t.elem.name()
                ),
            ));
        }
        let mut atoms = Vec::new();
        let mut common: Term = Vec::new();
        let mut branches: Vec<Term> = vec![Vec::new()];
        for a in &self.assertions {
            let terms = dnf_of(a, &mut atoms).map_err(|e| e.into_error(&self.path))?;
            match <[Term; 1]>::try_from(terms) {
                Ok([t]) => common.extend(t),
                Err(terms) => {
                    branches = dnf::product(branches, terms, bool_pos(a))
                        .map_err(|e| e.into_error(&self.path))?;
                }
            }
        }
        let layout = self.layout(&atoms);
        if let Some(why) = layout.unsupported(self) {
            let pos = self.networks.first().map_or(Pos::START, |n| n.pos);
            return Err(self.error(pos, why));
        }
        let property = self
            .regions(&layout, &atoms, &common, &branches)
            .map_err(|e| e.into_error(&self.path))?;
        Ok(Lowered { property, layout })
    }

    fn is_input(&self, slot: usize) -> bool {
        self.tensors[self.tensor_of(slot)].kind == TensorKind::Input
    }

    /// The tensor whose elements include `slot`.
    fn tensor_of(&self, slot: usize) -> usize {
        self.tensors.partition_point(|t| t.base <= slot) - 1
    }

    /// `X[0,3]` for a slot.
    pub fn element_name(&self, slot: usize) -> String {
        let t = &self.tensors[self.tensor_of(slot)];
        if t.shape.is_empty() {
            return t.name.clone();
        }
        let mut rest = slot - t.base;
        let mut idx = vec![0; t.shape.len()];
        for (k, &d) in t.shape.iter().enumerate().rev() {
            idx[k] = rest % d;
            rest /= d;
        }
        let idx: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
        format!("{}[{}]", t.name, idx.join(","))
    }

    /// The engine network's layout for these atoms.
    fn layout(&self, atoms: &[Atom]) -> Layout {
        let inputs: Vec<usize> = (self.networks.iter())
            .flat_map(|n| n.inputs.clone())
            .collect();
        let mut outputs: Vec<Part> = (self.networks.iter())
            .flat_map(|n| n.outputs.iter().map(|&o| Part::Tensor(o)))
            .collect();
        outputs
            .extend((self.networks.iter()).flat_map(|n| n.hidden.iter().map(|&h| Part::Tensor(h))));
        let x_index = self.x_index(&inputs);
        let mut copied: Vec<usize> = atoms
            .iter()
            .filter(|a| a.lin.len() > 1 && a.lin.iter().any(|&(s, _)| self.is_input(s)))
            .flat_map(|a| a.lin.iter().filter(|&&(s, _)| self.is_input(s)))
            .map(|&(s, _)| x_index[&s])
            .collect();
        copied.sort_unstable();
        copied.dedup();
        if !copied.is_empty() {
            outputs.push(Part::Inputs(copied));
        }
        Layout { inputs, outputs }
    }

    /// Engine-input index of every input slot.
    fn x_index(&self, inputs: &[usize]) -> HashMap<usize, usize> {
        let mut map = HashMap::new();
        let mut at = 0;
        for &t in inputs {
            let t = &self.tensors[t];
            for k in 0..t.numel() {
                map.insert(t.base + k, at + k);
            }
            at += t.numel();
        }
        map
    }
}

/// Where a boolean expression starts (for "too large" errors).
fn bool_pos(b: &Bool) -> Pos {
    match b {
        Bool::Cmp(c) => c.pos,
        Bool::And(bs) | Bool::Or(bs) => bs.first().map_or(Pos::START, bool_pos),
    }
}

/// DNF of `b` over atom ids, appending its atoms (see `vnnlib::dnf` for the caps).
fn dnf_of(b: &Bool, atoms: &mut Vec<Atom>) -> Result<Vec<Term>, Located> {
    let push = |atoms: &mut Vec<Atom>, lin: &Linear, sign: f64, strict: bool, pos: Pos| {
        let id = u32::try_from(atoms.len())
            .map_err(|_| Located::new(pos, "too many comparisons in one query"))?;
        // sign·(Σ c·v + d) <= 0  ⇔  Σ sign·c·v <= −sign·d; `+ 0.0` turns −0 into 0.
        atoms.push(Atom {
            lin: lin.vars.iter().map(|&(s, c)| (s, sign * c)).collect(),
            rhs: -sign * lin.constant + 0.0,
            strict,
            pos,
        });
        Ok::<u32, Located>(id)
    };
    match b {
        Bool::And(bs) => {
            let mut acc = vec![Vec::new()];
            for b in bs {
                acc = dnf::product(acc, dnf_of(b, atoms)?, bool_pos(b))?;
            }
            Ok(acc)
        }
        Bool::Or(bs) => {
            let (mut acc, mut refs) = (Vec::new(), 0usize);
            for b in bs {
                let terms = dnf_of(b, atoms)?;
                refs = refs.saturating_add(dnf::count_refs(&terms));
                acc.extend(terms);
                dnf::check_size(acc.len(), refs, bool_pos(b))?;
            }
            Ok(acc)
        }
        Bool::Cmp(c) => {
            let (lin, pos) = (&c.lin, c.pos);
            Ok(match c.op {
                CmpOp::Le => vec![vec![push(atoms, lin, 1.0, false, pos)?]],
                CmpOp::Lt => vec![vec![push(atoms, lin, 1.0, true, pos)?]],
                CmpOp::Ge => vec![vec![push(atoms, lin, -1.0, false, pos)?]],
                CmpOp::Gt => vec![vec![push(atoms, lin, -1.0, true, pos)?]],
                CmpOp::Eq => vec![vec![
                    push(atoms, lin, 1.0, false, pos)?,
                    push(atoms, lin, -1.0, false, pos)?,
                ]],
                CmpOp::Ne => vec![
                    vec![push(atoms, lin, 1.0, true, pos)?],
                    vec![push(atoms, lin, -1.0, true, pos)?],
                ],
            })
        }
    }
}

mod regions;
