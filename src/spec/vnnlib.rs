//! VNN-LIB 1.0 front end: a property file into the [`Property`] normal form.
//!
//! A file states the *bad* case (the VNN-COMP convention): `(declare-const X_k Real)` declares
//! input `k`, `(declare-const Y_k Real)` output `k`, and the property is violated (`sat`) when
//! some input satisfies every `(assert F)`. Formulas are built from `and`, `or`, `true`,
//! `false` and comparisons `<=`, `>=`, `<`, `>`, `=` between linear terms (numbers, variables,
//! `+`, `-`, `*` and `/` by constants). The SMT-LIB commands `set-logic`, `set-info`,
//! `set-option`, `check-sat`, `get-model` and `exit` are accepted and ignored.
//!
//! The conjunction of all asserts is put in disjunctive normal form (at most 100 000
//! conjunctions). In each conjunction, a comparison over one input is a box bound (the tightest
//! wins), one over outputs only a [`LinearConstraint`](super::LinearConstraint), and one over
//! constants is evaluated (true is dropped, false drops the conjunction). Conjunctions with
//! bitwise-equal boxes form one [`Region`] whose disjuncts are their output constraints in file
//! order; each box keeps only its own constraints (other tools once leaked a box across `or`
//! branches). If every conjunction is false the property has no region: it holds.
//!
//! Strict comparisons `<` and `>` are read as `<=` and `>=`, as VNN-COMP does. Proofs stay
//! sound: refuting the non-strict constraint refutes the strict one. Counterexamples are checked
//! against the non-strict form, so one lying exactly on the boundary of a strict comparison
//! (a set of measure zero) counts as a violation.
//!
//! Refused, with a one-line [`Error::Spec`] naming the line and column: comparisons that mix
//! inputs and outputs or involve several inputs (general linear input constraints), undeclared
//! variables, gaps in `X_0, X_1, ...` or `Y_0, ...`, an input without both a lower and an upper
//! bound, an empty box, and numbers that are not finite f64s.

pub(super) mod dnf;
mod sexpr;
mod term;

use self::dnf::Term;
use self::sexpr::SExpr;
use self::term::{var_name, Atom, AtomKind, Var};
pub(super) use super::pos::{Located, Pos};
use crate::spec::{Property, Region, RegionsByBox};
use crate::Result;
use std::collections::hash_map::{Entry, HashMap};
use std::path::Path;

/// Parses a VNN-LIB file into the normal form. A VNN-LIB 2.0 query (one that starts with
/// `(vnnlib-version <2.0>)`) is read by [`super::vnnlib2`] and lowered into the same form.
pub fn parse_file(path: &Path) -> Result<Property> {
    let text = super::pos::read_text(path)?;
    if super::vnnlib2::is_v2(&text) {
        return super::vnnlib2::parse_str(&text, path)?.property(path);
    }
    parse_str(&text, path)
}

/// Parses VNN-LIB text; `path` is only used in error messages.
pub fn parse_str(text: &str, path: &Path) -> Result<Property> {
    parse(text).map_err(|e| e.into_error(path))
}

fn parse(text: &str) -> Result<Property, Located> {
    let mut decls = Decls::default();
    let mut atoms: Vec<Atom> = Vec::new();
    // The DNF of all asserts is `{common ++ b | b ∈ branches}`: asserts that are one
    // conjunction (the ~1600 box bounds of an MNIST file) are gathered once in `common`, and
    // only asserts with several conjunctions (top-level `or`s) are multiplied out.
    let mut common: Term = Vec::new();
    let mut branches: Vec<Term> = vec![Vec::new()];
    let mut branched = false;
    for command in sexpr::parse(text)? {
        let expected = "expected a command `(declare-const ...)` or `(assert ...)`";
        let SExpr::List(items, pos) = &command else {
            let msg = format!("{expected}, found {}", command.describe());
            return Err(Located::new(command.pos(), msg));
        };
        let (head, args) = match items.split_first() {
            Some((head, args)) => (head.symbol(), args),
            None => return Err(Located::new(*pos, format!("{expected}, found `()`"))),
        };
        match head {
            Some("declare-const") => decls.declare(args, *pos)?,
            Some("assert") => {
                let [formula] = args else {
                    return Err(Located::new(*pos, "`assert` takes exactly one formula"));
                };
                match <[Term; 1]>::try_from(dnf::dnf(formula, &decls, &mut atoms)?) {
                    Ok([term]) => common.extend(term),
                    Err(terms) => {
                        branched = true;
                        branches = dnf::product(branches, terms, formula.pos())?;
                    }
                }
            }
            Some("set-logic" | "set-info" | "set-option" | "check-sat" | "get-model" | "exit") => {}
            _ => {
                let msg = format!("{expected}, found {}", items[0].describe());
                return Err(Located::new(items[0].pos(), msg));
            }
        }
    }
    let n_inputs = decls.count(&decls.inputs, "X", "inputs")?;
    let n_outputs = decls.count(&decls.outputs, "Y", "outputs")?;
    let regions = regions(n_inputs, &decls, &atoms, &common, &branches, branched)?;
    Ok(Property {
        n_inputs,
        n_outputs,
        regions,
    })
}

/// The declared variables, each with the position of its name.
#[derive(Default)]
struct Decls {
    inputs: HashMap<usize, Pos>,
    outputs: HashMap<usize, Pos>,
}

impl Decls {
    /// Records `(declare-const <name> Real)`, given its arguments.
    fn declare(&mut self, args: &[SExpr<'_>], pos: Pos) -> Result<(), Located> {
        let [name, ty] = args else {
            return Err(Located::new(pos, "expected `(declare-const <name> Real)`"));
        };
        let var = name.symbol().and_then(var_name).ok_or_else(|| {
            let msg = format!(
                "expected a variable name `X_<k>` (input) or `Y_<k>` (output), found {}",
                name.describe()
            );
            Located::new(name.pos(), msg)
        })?;
        if ty.symbol() != Some("Real") {
            let msg = format!("expected the type `Real`, found {}", ty.describe());
            return Err(Located::new(ty.pos(), msg));
        }
        let (map, k) = match var {
            Var::X(k) => (&mut self.inputs, k),
            Var::Y(k) => (&mut self.outputs, k),
        };
        match map.entry(k) {
            Entry::Occupied(first) => {
                let Pos { line, col } = *first.get();
                let msg = format!("{var} is declared twice (first at line {line}, column {col})");
                Err(Located::new(name.pos(), msg))
            }
            Entry::Vacant(slot) => {
                slot.insert(name.pos());
                Ok(())
            }
        }
    }

    /// The variable a symbol in a term names, which must already be declared.
    fn lookup(&self, s: &str, pos: Pos) -> Result<Var, Located> {
        let declared = |v| match v {
            Var::X(k) => self.inputs.contains_key(&k),
            Var::Y(k) => self.outputs.contains_key(&k),
        };
        let msg = match var_name(s) {
            Some(v) if declared(v) => return Ok(v),
            Some(v) => {
                format!("undeclared variable `{v}` (expected `(declare-const {v} Real)` first)")
            }
            None => {
                format!("unknown symbol `{s}` (expected a number or a declared X_<k> or Y_<k>)")
            }
        };
        Err(Located::new(pos, msg))
    }

    /// `max k + 1` over `map`, which must hold every index from 0 to its largest.
    fn count(&self, map: &HashMap<usize, Pos>, prefix: &str, what: &str) -> Result<usize, Located> {
        let Some((&max, &max_pos)) = map.iter().max_by_key(|&(k, _)| *k) else {
            let msg = format!("no {what} declared (expected `(declare-const {prefix}_0 Real)`)");
            return Err(Located::new(Pos { line: 1, col: 1 }, msg));
        };
        // Stops at the first gap, so at most `map.len() + 1` lookups whatever `max` is.
        if let Some(missing) = (0..max).find(|k| !map.contains_key(k)) {
            let msg = format!(
                "{prefix}_{max} is declared but {prefix}_{missing} is not: the {what} must be \
                 {prefix}_0, {prefix}_1, ... with no gap"
            );
            return Err(Located::new(max_pos, msg));
        }
        Ok(max + 1)
    }
}

/// An input box being tightened, with the atom that set each bound (for error positions).
#[derive(Clone)]
struct Bounds {
    lower: Vec<f64>,
    upper: Vec<f64>,
    lower_by: Vec<Option<u32>>,
    upper_by: Vec<Option<u32>>,
}

impl Bounds {
    fn unbounded(n: usize) -> Self {
        Bounds {
            lower: vec![f64::NEG_INFINITY; n],
            upper: vec![f64::INFINITY; n],
            lower_by: vec![None; n],
            upper_by: vec![None; n],
        }
    }

    /// Tightens the box by atom `id`; false when the atom is a constant `false`.
    fn apply(&mut self, id: u32, atom: &Atom) -> bool {
        match atom.kind {
            AtomKind::Const(holds) => return holds,
            AtomKind::Upper(k, v) if v < self.upper[k] => {
                self.upper[k] = v;
                self.upper_by[k] = Some(id);
            }
            AtomKind::Lower(k, v) if v > self.lower[k] => {
                self.lower[k] = v;
                self.lower_by[k] = Some(id);
            }
            AtomKind::Upper(..) | AtomKind::Lower(..) | AtomKind::Output(_) => {}
        }
        true
    }

    /// Every input bounded on both sides, and no lower bound above its upper bound.
    /// `fallback` positions an error about an input that has no bound at all.
    fn check(&self, atoms: &[Atom], fallback: impl Fn(usize) -> Pos) -> Result<(), Located> {
        let pos_of = |id: u32| atoms[id as usize].pos;
        for k in 0..self.lower.len() {
            let (lo, hi) = (self.lower[k], self.upper[k]);
            let (lo_by, hi_by) = (self.lower_by[k], self.upper_by[k]);
            if lo > hi {
                let pos = pos_of(lo_by.max(hi_by).unwrap_or_default());
                let msg = format!("empty input box: X_{k} >= {lo} and X_{k} <= {hi}");
                return Err(Located::new(pos, msg));
            }
            let missing = match (lo_by, hi_by) {
                (Some(_), Some(_)) => continue,
                (Some(_), None) => "no upper bound",
                (None, Some(_)) => "no lower bound",
                (None, None) => "no bounds",
            };
            let pos = lo_by.or(hi_by).map_or_else(|| fallback(k), pos_of);
            let msg = format!(
                "input X_{k} has {missing}: every input needs `(<= X_{k} c)` and `(>= X_{k} c)`"
            );
            return Err(Located::new(pos, msg));
        }
        Ok(())
    }
}

/// Builds the regions from the DNF `{common ++ b | b ∈ branches}` (see [`parse`]).
fn regions(
    n_inputs: usize,
    decls: &Decls,
    atoms: &[Atom],
    common: &[u32],
    branches: &[Term],
    branched: bool,
) -> Result<Vec<Region>, Located> {
    let mut base = Bounds::unbounded(n_inputs);
    let mut base_outputs = Vec::new();
    for &id in common {
        if !base.apply(id, &atoms[id as usize]) {
            return Ok(Vec::new());
        }
        if let AtomKind::Output(_) = atoms[id as usize].kind {
            base_outputs.push(id);
        }
    }
    let mut regions = RegionsByBox::default();
    'terms: for term in branches {
        let mut bounds = base.clone();
        let mut outputs = base_outputs.clone();
        for &id in term {
            if !bounds.apply(id, &atoms[id as usize]) {
                continue 'terms;
            }
            if let AtomKind::Output(_) = atoms[id as usize].kind {
                outputs.push(id);
            }
        }
        // An input with no bound at all: point at this `or` branch, else at the declaration.
        let fallback = |k| match term.first() {
            Some(&id) if branched => atoms[id as usize].pos,
            _ => decls
                .inputs
                .get(&k)
                .copied()
                .unwrap_or(Pos { line: 1, col: 1 }),
        };
        bounds.check(atoms, fallback)?;
        outputs.sort_unstable();
        let constraints = (outputs.iter())
            .filter_map(|&id| match &atoms[id as usize].kind {
                AtomKind::Output(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        regions.add(bounds.lower, bounds.upper, constraints);
    }
    Ok(regions.into_regions())
}
