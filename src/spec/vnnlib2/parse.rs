//! The grammar of chapter 3 (§3.1, the LBNF in the standard's `syntax/grammar.cf`), read by
//! recursive descent with the scoping (§3.3) and typing (§3.4) rules checked as each piece is
//! read, so every error points at the token that breaks a rule. Arithmetic is turned into
//! linear forms on the spot (a product of two variable terms is refused: polynomial arithmetic).

use super::super::pos::{Located, Pos};
use super::lex::{Lexer, Tok, Token};
use super::types::{ElementType, Literal};
use super::{NetworkDecl, Query, TensorDecl};
use crate::spec::merge_terms;
use std::collections::HashMap;
use std::path::Path;

/// Boolean and arithmetic lists nested deeper than this are refused, so that recursion cannot
/// overflow the stack on a hostile file (real queries nest a few levels).
const MAX_DEPTH: usize = 256;

/// At most this many elements in one declared tensor (and in all together): far above any
/// network certus can analyse, and it keeps a hostile shape like `[1000000,1000000]` from
/// allocating anything.
const MAX_ELEMENTS: usize = 1 << 28;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// `Σ c·slot + constant`; slots sorted and distinct, coefficients non-zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Linear {
    pub(crate) vars: Vec<(usize, f64)>,
    pub(crate) constant: f64,
}

impl Linear {
    fn scale(mut self, c: f64) -> Self {
        self.vars.iter_mut().for_each(|(_, v)| *v *= c);
        self.vars.retain(|&(_, v)| v != 0.0);
        self.constant *= c;
        self
    }

    fn add(mut self, other: Linear) -> Self {
        self.vars.extend(other.vars);
        self.constant += other.constant;
        self.normalize()
    }

    fn normalize(mut self) -> Self {
        self.vars = merge_terms(self.vars);
        self
    }

    /// The value at `values` (one per slot), in f64.
    pub(crate) fn eval(&self, values: &[f64]) -> f64 {
        self.vars.iter().map(|&(s, c)| c * values[s]).sum::<f64>() + self.constant
    }
}

/// A comparison `lhs op rhs`, kept as `lin = lhs − rhs` and `lin op 0`.
#[derive(Clone, Debug)]
pub(crate) struct Cmp {
    pub(crate) op: CmpOp,
    pub(crate) lin: Linear,
    pub(crate) pos: Pos,
}

/// A type-checked boolean expression.
#[derive(Clone, Debug)]
pub(crate) enum Bool {
    And(Vec<Bool>),
    Or(Vec<Bool>),
    Cmp(Cmp),
}

impl Bool {
    /// Exact truth value at `values` (strict comparisons strict).
    pub(crate) fn holds(&self, values: &[f64]) -> bool {
        match self {
            Bool::And(bs) => bs.iter().all(|b| b.holds(values)),
            Bool::Or(bs) => bs.iter().any(|b| b.holds(values)),
            Bool::Cmp(c) => {
                let v = c.lin.eval(values);
                match c.op {
                    CmpOp::Lt => v < 0.0,
                    CmpOp::Le => v <= 0.0,
                    CmpOp::Gt => v > 0.0,
                    CmpOp::Ge => v >= 0.0,
                    CmpOp::Eq => v == 0.0,
                    CmpOp::Ne => v != 0.0,
                }
            }
        }
    }
}

/// A name in scope: a network or a tensor (by index).
#[derive(Clone, Copy)]
enum Symbol {
    Network(usize),
    Tensor(usize),
}

/// The element type a comparison has so far: from its first variable, with that variable's
/// name for messages.
struct CmpType {
    ty: Option<(ElementType, String)>,
    literals: Vec<(Literal, String, Pos)>,
}

struct Parser<'a> {
    lx: Lexer<'a>,
    depth: usize,
    /// Where each enclosing `(` is, innermost last.
    open: Vec<Pos>,
    scope: HashMap<String, (Symbol, Pos)>,
    networks: Vec<NetworkDecl>,
    tensors: Vec<TensorDecl>,
    slots: usize,
}

/// Reads a whole query.
pub(super) fn query(text: &str, path: &Path) -> Result<Query, Located> {
    let mut p = Parser {
        lx: Lexer::new(text),
        depth: 0,
        open: Vec::new(),
        scope: HashMap::new(),
        networks: Vec::new(),
        tensors: Vec::new(),
        slots: 0,
    };
    let version = p.version()?;
    let mut assertions = Vec::new();
    while let Some(open) = p.next()? {
        if open.tok != Tok::Open {
            let msg = format!(
                "expected `(declare-network ...)` or `(assert ...)`, found {}",
                open.tok.describe()
            );
            return Err(Located::new(open.pos, msg));
        }
        let (head, pos) = p.word("`declare-network` or `assert`")?;
        match head {
            "declare-network" if assertions.is_empty() => p.network(open.pos)?,
            "declare-network" => {
                let msg = "network declarations must all come before the first assertion \
                           (the standard does not allow them to be interleaved)";
                return Err(Located::new(open.pos, msg));
            }
            "assert" if p.networks.is_empty() => {
                let msg = "expected `(declare-network ...)` before any assertion: a query \
                           declares at least one network";
                return Err(Located::new(open.pos, msg));
            }
            "assert" => {
                let b = p.boolean()?;
                p.close("the end of `(assert ...)`: it takes one boolean expression")?;
                assertions.push(b);
            }
            other => {
                let msg = format!(
                    "expected `declare-network` or `assert`, found `{other}` (VNN-LIB 2.0 has no \
                     `declare-const`, `check-sat` or other SMT-LIB commands)"
                );
                return Err(Located::new(pos, msg));
            }
        }
    }
    if p.networks.is_empty() {
        let msg = "the query declares no network (expected `(declare-network ...)`)";
        return Err(Located::new(p.lx.end_pos(), msg));
    }
    Ok(Query {
        path: path.to_path_buf(),
        version,
        networks: p.networks,
        tensors: p.tensors,
        assertions,
    })
}

impl<'a> Parser<'a> {
    /// The next token, keeping track of the open parentheses.
    fn next(&mut self) -> Result<Option<Token<'a>>, Located> {
        let t = self.lx.next_token()?;
        match t.as_ref().map(|t| (&t.tok, t.pos)) {
            Some((Tok::Open, pos)) => self.open.push(pos),
            Some((Tok::Close, _)) => {
                self.open.pop();
            }
            _ => {}
        }
        Ok(t)
    }

    /// The next token; at the end of the file, an error at the innermost unclosed `(` (or at
    /// the end) naming what was expected.
    fn token(&mut self, expected: &str) -> Result<Token<'a>, Located> {
        match self.next()? {
            Some(t) => Ok(t),
            None => Err(match self.open.last() {
                Some(&pos) => Located::new(
                    pos,
                    format!(
                        "this `(` is never closed (expected {expected} before the end of the file)"
                    ),
                ),
                None => Located::new(
                    self.lx.end_pos(),
                    format!("unexpected end of file: expected {expected}"),
                ),
            }),
        }
    }

    fn word(&mut self, expected: &str) -> Result<(&'a str, Pos), Located> {
        let t = self.token(expected)?;
        match t.tok {
            Tok::Word(w) => Ok((w, t.pos)),
            other => Err(Located::new(
                t.pos,
                format!("expected {expected}, found {}", other.describe()),
            )),
        }
    }

    fn expect(&mut self, want: Tok<'static>, expected: &str) -> Result<Pos, Located> {
        let t = self.token(expected)?;
        if t.tok == want {
            Ok(t.pos)
        } else {
            Err(Located::new(
                t.pos,
                format!("expected {expected}, found {}", t.tok.describe()),
            ))
        }
    }

    fn close(&mut self, what: &str) -> Result<Pos, Located> {
        self.expect(Tok::Close, &format!("`)` closing {what}"))
    }

    fn peek_is(&mut self, want: &Tok<'_>) -> Result<bool, Located> {
        Ok(self.lx.peek()?.is_some_and(|t| &t.tok == want))
    }

    /// `(vnnlib-version <2.0>)`.
    fn version(&mut self) -> Result<(u32, u32), Located> {
        self.expect(Tok::Open, "`(vnnlib-version <2.0>)` first")?;
        let (kw, pos) = self.word("`vnnlib-version`")?;
        if kw != "vnnlib-version" {
            let msg = format!("expected `(vnnlib-version <2.0>)` first, found `{kw}`");
            return Err(Located::new(pos, msg));
        }
        let (v, vpos) = self.word("a version such as `<2.0>`")?;
        let parsed = v
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .and_then(|r| r.split_once('.'))
            .filter(|(a, b)| is_digits(a) && is_digits(b))
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
        let Some(version) = parsed else {
            let msg = format!("bad version `{v}` (expected `<major.minor>`, e.g. `<2.0>`)");
            return Err(Located::new(vpos, msg));
        };
        if version != (2, 0) {
            let msg = format!(
                "unsupported VNN-LIB version {}.{}: certus reads VNN-LIB {} to {} (a 1.0 file \
                 has no `vnnlib-version` header)",
                version.0,
                version.1,
                super::VERSIONS.0,
                super::VERSIONS.1
            );
            return Err(Located::new(vpos, msg));
        }
        self.close("`(vnnlib-version ...)`")?;
        Ok(version)
    }

    /// Declares `name` (networks and tensors share one namespace).
    fn declare(&mut self, name: &str, pos: Pos, sym: Symbol) -> Result<(), Located> {
        check_name(name, pos)?;
        if let Some((_, first)) = self.scope.get(name) {
            let msg = format!(
                "`{name}` is declared twice (first at line {}, column {}); network and variable \
                 names must all be distinct",
                first.line, first.col
            );
            return Err(Located::new(pos, msg));
        }
        self.scope.insert(name.to_string(), (sym, pos));
        Ok(())
    }
}

/// `[A-Za-z][A-Za-z0-9_]*`, and not a keyword.
fn check_name(name: &str, pos: Pos) -> Result<(), Located> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        let msg = format!(
            "bad name `{name}`: names start with a letter and hold only letters, digits and `_`"
        );
        return Err(Located::new(pos, msg));
    }
    if matches!(name, "and" | "or" | "assert") {
        return Err(Located::new(
            pos,
            format!("`{name}` is a keyword, not a name"),
        ));
    }
    Ok(())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

mod decl;
mod expr;
