//! Numbers, linear terms and comparison atoms.
//!
//! A term is `Σ c_k·v_k + d` over the declared variables. A comparison `(<= a b)` becomes the
//! atom `a − b <= 0`, i.e. `Σ c_k·v_k <= −d`, which is then classified as a bound on one
//! input, a constraint on the outputs, or a constant.

use super::sexpr::SExpr;
use super::{Decls, Located, Pos};
use crate::spec::{merge_terms, LinearConstraint};

/// A declared variable: input `X_k` or output `Y_k`. Inputs sort before outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Var {
    X(usize),
    Y(usize),
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Var::X(k) => write!(f, "X_{k}"),
            Var::Y(k) => write!(f, "Y_{k}"),
        }
    }
}

/// `X_<k>` or `Y_<k>` with `k` in decimal without leading zeros (`X_01` is not `X_1`).
pub(super) fn var_name(s: &str) -> Option<Var> {
    let (make, digits): (fn(usize) -> Var, &str) = if let Some(d) = s.strip_prefix("X_") {
        (Var::X, d)
    } else if let Some(d) = s.strip_prefix("Y_") {
        (Var::Y, d)
    } else {
        return None;
    };
    let canonical = digits == "0" || !digits.starts_with('0');
    if !canonical || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(make)
}

/// True when the token can only be meant as a number: it starts with a digit or `.`, or with
/// a sign followed by one (a lone `-` or `+` is the operator).
fn looks_numeric(s: &str) -> bool {
    let rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    rest.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// Parses `[+-] digits [. digits] [(e|E) [+-] digits]` (digits on at least one side of the
/// point) into the nearest f64; refuses anything else (Rust's own parser would also take
/// `inf` and `NaN`) and any number too large for an f64.
fn number(s: &str) -> Result<f64, String> {
    let bad =
        || format!("bad number `{s}` (expected a decimal such as `1`, `-0.5`, `.5` or `1.5e-3`)");
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) || !exponent_ok {
        return Err(bad());
    }
    let value: f64 = s.parse().map_err(|_| bad())?;
    if !value.is_finite() {
        return Err(format!("number `{s}` is too large for a 64-bit float"));
    }
    Ok(value)
}

/// `Σ coef·var + constant`. `vars` may hold repeats and zeros until [`Linear::normalize`].
#[derive(Clone, Debug, Default)]
struct Linear {
    vars: Vec<(Var, f64)>,
    constant: f64,
}

impl Linear {
    /// `c·self`; coefficients that become zero (`c = 0`, or underflow) are dropped.
    fn scale(mut self, c: f64) -> Self {
        self.vars.iter_mut().for_each(|(_, v)| *v *= c);
        self.vars.retain(|&(_, v)| v != 0.0);
        self.constant *= c;
        self
    }

    fn add(&mut self, other: Linear) {
        self.vars.extend(other.vars);
        self.constant += other.constant;
    }

    /// Sorts by variable, sums repeats and drops zero coefficients (`X_0 − X_0` is constant).
    fn normalize(mut self) -> Self {
        self.vars = merge_terms(self.vars);
        self
    }

    /// The value, if the term has no variables.
    fn as_constant(&self) -> Option<f64> {
        self.vars.is_empty().then_some(self.constant)
    }
}

/// Reads a linear term: a number, a declared variable, `(+ t ...)`, `(- t)`, `(- t t ...)`,
/// `(* ...)` with at most one non-constant factor, or `(/ t c ...)` with constant divisors.
fn linear(e: &SExpr<'_>, decls: &Decls) -> Result<Linear, Located> {
    let items = match e {
        SExpr::Symbol(s, pos) => {
            if looks_numeric(s) {
                let constant = number(s).map_err(|msg| Located::new(*pos, msg))?;
                return Ok(Linear {
                    vars: Vec::new(),
                    constant,
                });
            }
            let var = decls.lookup(s, *pos)?;
            return Ok(Linear {
                vars: vec![(var, 1.0)],
                constant: 0.0,
            });
        }
        SExpr::List(items, _) => items,
    };
    let expected = "expected a linear term: a number, a variable, or a `+`, `-`, `*` or `/` list";
    let (op, args, rest) = match items.split_first() {
        Some((head, args @ [_, rest @ ..])) => (head.symbol().unwrap_or(""), args, rest),
        _ => {
            return Err(Located::new(
                e.pos(),
                format!("{expected}, found {}", e.describe()),
            ))
        }
    };
    let mut first = linear(&args[0], decls)?.normalize();
    let terms = rest.iter().map(|a| linear(a, decls).map(Linear::normalize));
    match op {
        "+" => {
            for t in terms {
                first.add(t?);
            }
        }
        "-" if args.len() == 1 => first = first.scale(-1.0),
        "-" => {
            for t in terms {
                first.add(t?.scale(-1.0));
            }
        }
        "*" => {
            for (t, arg) in terms.zip(rest) {
                let t = t?;
                first = match (first.as_constant(), t.as_constant()) {
                    (_, Some(c)) => first.scale(c),
                    (Some(c), None) => t.scale(c),
                    (None, None) => {
                        let msg = "nonlinear term: at most one factor of `*` may contain variables";
                        return Err(Located::new(arg.pos(), msg));
                    }
                };
            }
        }
        "/" if args.len() >= 2 => {
            for (t, arg) in terms.zip(rest) {
                match t?.as_constant() {
                    Some(c) if c != 0.0 => first = first.scale(1.0 / c),
                    Some(_) => return Err(Located::new(arg.pos(), "division by zero")),
                    None => {
                        let msg = "nonlinear term: the divisor of `/` must be a constant";
                        return Err(Located::new(arg.pos(), msg));
                    }
                }
            }
        }
        _ => {
            let found = items[0].describe();
            return Err(Located::new(
                items[0].pos(),
                format!("{expected}, found {found}"),
            ));
        }
    }
    Ok(first.normalize())
}

/// What one comparison means for the normal form.
#[derive(Clone, Debug)]
pub(super) enum AtomKind {
    /// A comparison of constants: true atoms are dropped, false ones drop their conjunction.
    Const(bool),
    /// `X_k <= value`.
    Upper(usize, f64),
    /// `X_k >= value`.
    Lower(usize, f64),
    /// A constraint over the outputs only.
    Output(LinearConstraint),
}

/// One comparison, with the position of its list for error messages.
#[derive(Clone, Debug)]
pub(super) struct Atom {
    pub(super) kind: AtomKind,
    pub(super) pos: Pos,
}

/// Reads a comparison list `(op a b ...)` whose `op` is one of `<=`, `<`, `>=`, `>`, `=`.
/// Chains `(<= a b c)` mean `a <= b` and `b <= c` (as in SMT-LIB); `=` gives both `<=` and
/// `>=`. Strict comparisons are read as non-strict (see the module docs for why).
pub(super) fn comparison(
    op: &str,
    args: &[SExpr<'_>],
    pos: Pos,
    decls: &Decls,
) -> Result<Vec<Atom>, Located> {
    if args.len() < 2 {
        return Err(Located::new(
            pos,
            format!("`{op}` needs two terms to compare"),
        ));
    }
    let terms = args
        .iter()
        .map(|a| linear(a, decls))
        .collect::<Result<Vec<_>, _>>()?;
    let mut atoms = Vec::new();
    for pair in terms.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let at_most = |lo: &Linear, hi: &Linear| {
            let mut diff = lo.clone();
            diff.add(hi.clone().scale(-1.0));
            classify(diff.normalize(), pos)
        };
        match op {
            "<=" | "<" => atoms.push(at_most(a, b)?),
            ">=" | ">" => atoms.push(at_most(b, a)?),
            _ => {
                atoms.push(at_most(a, b)?);
                atoms.push(at_most(b, a)?);
            }
        }
    }
    Ok(atoms)
}

/// Classifies the normalised atom `Σ c·v + d <= 0`.
fn classify(diff: Linear, pos: Pos) -> Result<Atom, Located> {
    let finite = diff.constant.is_finite() && diff.vars.iter().all(|(_, c)| c.is_finite());
    if !finite {
        let msg = "arithmetic overflow: a coefficient or constant of this comparison is not finite";
        return Err(Located::new(pos, msg));
    }
    // `+ 0.0` turns −0.0 into 0.0, so that equal boxes are also bitwise equal.
    let rhs = -diff.constant + 0.0;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &(v, c) in &diff.vars {
        match v {
            Var::X(k) => xs.push((k, c)),
            Var::Y(k) => ys.push((k, c)),
        }
    }
    let kind = match (xs.as_slice(), ys.is_empty()) {
        ([], true) => AtomKind::Const(rhs >= 0.0),
        ([], false) => AtomKind::Output(LinearConstraint { coeffs: ys, rhs }),
        (&[(k, c)], true) => {
            // c·X_k <= rhs: divide by c, flipping the comparison when c < 0.
            let value = rhs / c + 0.0;
            if !value.is_finite() {
                let msg = format!("arithmetic overflow: the bound on X_{k} is not finite");
                return Err(Located::new(pos, msg));
            }
            if c > 0.0 {
                AtomKind::Upper(k, value)
            } else {
                AtomKind::Lower(k, value)
            }
        }
        _ => {
            let names: Vec<String> = diff.vars.iter().map(|(v, _)| v.to_string()).collect();
            let what = if !ys.is_empty() {
                "mixes inputs and outputs"
            } else {
                "involves several inputs"
            };
            let msg = format!(
                "general linear input constraints are not supported: this comparison {what} ({}); \
                 inputs may only be bounded one at a time, e.g. `(<= X_0 1)`",
                names.join(", ")
            );
            return Err(Located::new(pos, msg));
        }
    };
    Ok(Atom { kind, pos })
}
