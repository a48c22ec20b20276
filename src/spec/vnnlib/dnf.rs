//! Formulas in disjunctive normal form.
//!
//! A formula becomes a list of conjunctions ("terms"), each a list of atom ids (indices into
//! the atom table, which is filled in file order, so the ids in a term are in file order):
//! `atom → [[a]]`, `(or f g) → dnf(f) ++ dnf(g)`, `(and f g) → [s ++ t | s ∈ dnf(f), t ∈ dnf(g)]`.
//! The product can explode, so it is capped before anything is allocated.

use super::sexpr::SExpr;
use super::term::{comparison, Atom};
use super::{Decls, Located, Pos};

/// A conjunction of atoms, by id.
pub(in crate::spec) type Term = Vec<u32>;

/// At most this many conjunctions in the DNF of the whole file; real properties have a few
/// dozen. Beyond it the product of the `or`s is almost certainly not what the author meant.
pub(super) const MAX_TERMS: usize = 100_000;

/// At most this many atom references in all conjunctions together (bounds memory, ~200 MB).
const MAX_ATOM_REFS: usize = 50_000_000;

/// Converts one formula to DNF, appending its atoms to `atoms`.
pub(super) fn dnf(
    e: &SExpr<'_>,
    decls: &Decls,
    atoms: &mut Vec<Atom>,
) -> Result<Vec<Term>, Located> {
    let expected = "expected a formula: `and`, `or`, `true`, `false` or a comparison \
                    (`<=`, `>=`, `<`, `>`, `=`)";
    let (head, args) = match e {
        SExpr::Symbol("true", _) => return Ok(vec![Vec::new()]),
        SExpr::Symbol("false", _) => return Ok(Vec::new()),
        SExpr::List(items, _) => match items.split_first() {
            Some((head, args)) => (head, args),
            None => return Err(Located::new(e.pos(), format!("{expected}, found `()`"))),
        },
        SExpr::Symbol(..) => {
            return Err(Located::new(
                e.pos(),
                format!("{expected}, found {}", e.describe()),
            ))
        }
    };
    let op = head.symbol().unwrap_or("");
    match op {
        "and" | "or" if args.is_empty() => Err(Located::new(
            e.pos(),
            format!("`({op})` needs at least one formula"),
        )),
        "and" => {
            let mut acc = vec![Vec::new()];
            for arg in args {
                acc = product(acc, dnf(arg, decls, atoms)?, arg.pos())?;
            }
            Ok(acc)
        }
        "or" => {
            let (mut acc, mut refs) = (Vec::new(), 0usize);
            for arg in args {
                let terms = dnf(arg, decls, atoms)?;
                refs = refs.saturating_add(count_refs(&terms));
                acc.extend(terms);
                check_size(acc.len(), refs, arg.pos())?;
            }
            Ok(acc)
        }
        "<=" | ">=" | "<" | ">" | "=" => {
            let mut term = Vec::new();
            for atom in comparison(op, args, e.pos(), decls)? {
                let id = u32::try_from(atoms.len())
                    .map_err(|_| Located::new(e.pos(), "too many comparisons in one file"))?;
                atoms.push(atom);
                term.push(id);
            }
            Ok(vec![term])
        }
        _ => Err(Located::new(
            head.pos(),
            format!("{expected}, found {}", head.describe()),
        )),
    }
}

/// `[s ++ t | s ∈ a, t ∈ b]`, refused (at `pos`, the factor that makes it too big) when it
/// would exceed the caps.
pub(in crate::spec) fn product(a: Vec<Term>, b: Vec<Term>, pos: Pos) -> Result<Vec<Term>, Located> {
    let total = count_refs(&a)
        .saturating_mul(b.len())
        .saturating_add(count_refs(&b).saturating_mul(a.len()));
    check_size(a.len().saturating_mul(b.len()), total, pos)?;
    if let [t] = b.as_slice() {
        // The common case (a conjunction): extend in place, no copies.
        let mut a = a;
        a.iter_mut().for_each(|s| s.extend_from_slice(t));
        return Ok(a);
    }
    Ok(a.iter()
        .flat_map(|s| b.iter().map(move |t| [s.as_slice(), t].concat()))
        .collect())
}

pub(in crate::spec) fn count_refs(terms: &[Term]) -> usize {
    terms.iter().map(Vec::len).fold(0, usize::saturating_add)
}

pub(in crate::spec) fn check_size(terms: usize, refs: usize, pos: Pos) -> Result<(), Located> {
    let msg = if terms > MAX_TERMS {
        format!(
            "the property is too large: in disjunctive normal form it has {terms} conjunctions \
             (at most {MAX_TERMS} are supported)"
        )
    } else if refs > MAX_ATOM_REFS {
        format!(
            "the property is too large: in disjunctive normal form it has {refs} comparisons \
             (at most {MAX_ATOM_REFS} are supported)"
        )
    } else {
        return Ok(());
    };
    Err(Located::new(pos, msg))
}
