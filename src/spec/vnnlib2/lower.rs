//! From a typed [`Query`] to the [`Property`] normal form over one *engine network*.
//!
//! The engine network takes every declared input element of every network, in file order
//! (`X`), and returns ([`Layout`]) every declared output, then every declared hidden node, then
//! copies of the input elements that take part in a constraint relating several variables
//! (`Y`). Over that one network every query of linear arithmetic is an input box plus linear
//! constraints on `Y`:
//! - a comparison over one input element is a bound of the box (`c·x ⋈ r` divides by `c`,
//!   rounded outward);
//! - a comparison over outputs and hidden nodes, of any networks, is a constraint `a·Y <= b`;
//! - a comparison relating several input elements, or inputs with other variables, reads the
//!   inputs' copies in `Y` (so engines still see `a·Y <= b` over a box);
//! - two input elements that a top-level `(== a b)` (or a `<=` and a `>=`) makes equal share one
//!   engine input element ([`Layout::aliases`]): `f(x)` against `f(x')` with `x'_i = x_i`
//!   splits one dimension per shared element, not two;
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
use crate::spec::{merge_terms, Property};
use crate::Result;
use std::collections::{BTreeMap, HashMap};

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

/// The fragment certus decides: any number of networks (each with any number of inputs and
/// outputs, and hidden nodes the importer exposes), box bounds on the inputs, and linear
/// constraints over everything (see [`super::assemble`]).
pub const SUPPORT: Support = Support {
    hidden_nodes: true,
    multi_io: true,
    multi_network: true,
    input_relations: true,
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
    /// The engine input: element `k` is input slot `inputs[k]`. Every declared input element
    /// of every network, in file order, except those a top-level equality identifies with an
    /// earlier one (see `aliases`).
    pub inputs: Vec<usize>,
    /// Input slots that a top-level `(== a b)` between two input elements makes equal to an
    /// earlier slot, each with that slot: they read the same engine input element, so branch
    /// and bound splits one dimension, not two (the set of solutions is the same).
    pub aliases: BTreeMap<usize, usize>,
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
        let ins = net.inputs.iter().flat_map(|&t| q.slots(t));
        self.aliases.is_empty() && self.inputs.iter().copied().eq(ins) && self.outputs == outs
    }

    /// The engine-input element of every declared input slot.
    pub fn x_index(&self, q: &Query) -> HashMap<usize, usize> {
        let mut map: HashMap<usize, usize> = (self.inputs.iter().enumerate())
            .map(|(k, &s)| (s, k))
            .collect();
        for t in q.tensors.iter().filter(|t| t.kind == TensorKind::Input) {
            for s in t.base..t.base + t.numel() {
                if let Some(rep) = self.aliases.get(&s) {
                    map.insert(s, map[rep]);
                }
            }
        }
        map
    }

    /// The value of every slot given the engine network's input `x` and output `y`.
    pub fn slot_values(&self, q: &Query, x: &[f64], y: &[f64]) -> Vec<f64> {
        let mut v = vec![0.0; q.slot_count()];
        for (s, k) in self.x_index(q) {
            v[s] = x[k];
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
        let layout = self.layout(&atoms, &common);
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

    /// The engine network's layout for these atoms, `common` the ids of those that hold in
    /// every conjunction.
    fn layout(&self, atoms: &[Atom], common: &[u32]) -> Layout {
        let aliases = self.aliases(atoms, common);
        let inputs: Vec<usize> = (self.networks.iter())
            .flat_map(|n| n.inputs.iter().flat_map(|&t| self.slots(t)))
            .filter(|s| !aliases.contains_key(s))
            .collect();
        let mut outputs: Vec<Part> = (self.networks.iter())
            .flat_map(|n| n.outputs.iter().map(|&o| Part::Tensor(o)))
            .collect();
        outputs
            .extend((self.networks.iter()).flat_map(|n| n.hidden.iter().map(|&h| Part::Tensor(h))));
        let mut layout = Layout {
            inputs,
            aliases,
            outputs,
        };
        let x_index = layout.x_index(self);
        let mut copied: Vec<usize> = Vec::new();
        for a in atoms {
            let vars = merge_terms(a.lin.iter().map(|&(s, c)| match x_index.get(&s) {
                Some(&x) => (Var::X(x), c),
                None => (Var::Y(s), c),
            }));
            if vars.len() > 1 {
                copied.extend(vars.iter().filter_map(|v| match v.0 {
                    Var::X(x) => Some(x),
                    Var::Y(_) => None,
                }));
            }
        }
        copied.sort_unstable();
        copied.dedup();
        if !copied.is_empty() {
            layout.outputs.push(Part::Inputs(copied));
        }
        layout
    }

    /// Input slots made equal by atom pairs `x_i − x_j <= 0`, `x_j − x_i <= 0` (an `==`, or a
    /// `<=` and a `>=`) that hold in every conjunction: each slot to the first of its class.
    fn aliases(&self, atoms: &[Atom], common: &[u32]) -> BTreeMap<usize, usize> {
        let mut halves: HashMap<(usize, usize), [bool; 2]> = HashMap::new();
        for &id in common {
            let a = &atoms[id as usize];
            if let [(i, c), (j, d)] = a.lin[..] {
                if !a.strict && a.rhs == 0.0 && c == -d && self.is_input(i) && self.is_input(j) {
                    halves.entry((i, j)).or_default()[usize::from(c < 0.0)] = true;
                }
            }
        }
        // Union-find with the smallest slot as the root.
        let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
        fn root(parent: &BTreeMap<usize, usize>, mut s: usize) -> usize {
            while let Some(&p) = parent.get(&s) {
                s = p;
            }
            s
        }
        for (&(i, j), h) in &halves {
            if h[0] && h[1] {
                let (ri, rj) = (root(&parent, i), root(&parent, j));
                if ri != rj {
                    parent.insert(ri.max(rj), ri.min(rj));
                }
            }
        }
        let slots: Vec<usize> = parent.keys().copied().collect();
        slots.into_iter().map(|s| (s, root(&parent, s))).collect()
    }

    /// The slots of tensor `t`.
    fn slots(&self, t: usize) -> std::ops::Range<usize> {
        let t = &self.tensors[t];
        t.base..t.base + t.numel()
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

/// A variable of the engine network: input element or (output/hidden) slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Var {
    X(usize),
    Y(usize),
}

mod regions;
