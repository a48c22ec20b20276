//! Boolean and arithmetic expressions (§3.1.2) with their typing rules (§3.4.2: Comparison,
//! N-ary Boolean, Negation, N-ary Arithmetic, Constant, Variable).

use super::{Bool, Cmp, CmpOp, CmpType, Linear, Located, Parser, Pos, Symbol, Tok, MAX_DEPTH};
use crate::spec::vnnlib2::types::Literal;

impl Parser<'_> {
    /// Counts one more level of nesting at `pos`.
    fn enter(&mut self, pos: Pos) -> Result<(), Located> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let msg = format!("expressions nested deeper than {MAX_DEPTH} levels");
            return Err(Located::new(pos, msg));
        }
        Ok(())
    }

    /// A boolean expression: `(and b ..)`, `(or b ..)` or a comparison.
    pub(super) fn boolean(&mut self) -> Result<Bool, Located> {
        let expected = "a boolean expression: `(and ...)`, `(or ...)` or a comparison \
                        `(<= a b)` (also `<`, `>`, `>=`, `==`, `!=`)";
        let open = self.token(expected)?;
        if open.tok != Tok::Open {
            let msg = format!("expected {expected}, found {}", open.tok.describe());
            return Err(Located::new(open.pos, msg));
        }
        self.enter(open.pos)?;
        let (head, head_pos) = self.word(expected)?;
        let op = match head {
            "and" | "or" => {
                let mut items = Vec::new();
                while !self.peek_is(&Tok::Close)? {
                    items.push(self.boolean()?);
                }
                self.token("`)`")?;
                if items.is_empty() {
                    let msg = format!("`({head})` needs at least one boolean expression");
                    return Err(Located::new(open.pos, msg));
                }
                self.depth -= 1;
                return Ok(if head == "and" {
                    Bool::And(items)
                } else {
                    Bool::Or(items)
                });
            }
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            "==" | "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            other => {
                let hint = match other {
                    "not" | "=>" | "xor" | "ite" => " (VNN-LIB 2.0 has only `and` and `or`)",
                    _ => "",
                };
                let msg = format!("expected {expected}, found `{other}`{hint}");
                return Err(Located::new(head_pos, msg));
            }
        };
        let mut ty = CmpType {
            ty: None,
            literals: Vec::new(),
        };
        let lhs = self.arith(&mut ty)?;
        let rhs = self.arith(&mut ty)?;
        self.close(&format!(
            "the comparison `({head} ...)`: it compares exactly two expressions"
        ))?;
        self.depth -= 1;
        let Some((elem, first_var)) = ty.ty else {
            let msg = "a comparison without variables has no type (the standard does not allow \
                       comparing constants)";
            return Err(Located::new(open.pos, msg));
        };
        if !elem.is_numeric() {
            let msg = format!(
                "`{first_var}` has type `{}`, on which there is no arithmetic or ordering",
                elem.name()
            );
            return Err(Located::new(open.pos, msg));
        }
        for (lit, text, pos) in ty.literals {
            if let Err(why) = elem.admits(lit) {
                let msg = format!(
                    "the constant `{text}` is not of type `{}` (the type of `{first_var}`): {why}",
                    elem.name()
                );
                return Err(Located::new(pos, msg));
            }
        }
        let lin = lhs.add(rhs.scale(-1.0));
        let finite = lin.constant.is_finite() && lin.vars.iter().all(|(_, c)| c.is_finite());
        if !finite {
            let msg = "arithmetic overflow: a coefficient or constant of this comparison is not \
                       finite";
            return Err(Located::new(open.pos, msg));
        }
        Ok(Bool::Cmp(Cmp {
            op,
            lin,
            pos: open.pos,
        }))
    }

    /// An arithmetic expression as a linear form, recording types in `ty`.
    fn arith(&mut self, ty: &mut CmpType) -> Result<Linear, Located> {
        let expected = "an arithmetic expression: a number, a variable, or a `+`, `-` or `*` list";
        let t = self.token(expected)?;
        let (head, open) = match t.tok {
            Tok::Word(w) if looks_numeric(w) => {
                let (value, lit) = number(w).map_err(|m| Located::new(t.pos, m))?;
                ty.literals.push((lit, w.to_string(), t.pos));
                return Ok(Linear {
                    vars: Vec::new(),
                    constant: value,
                });
            }
            Tok::Word(w) => return self.variable(w, t.pos, ty),
            Tok::Open => {
                self.enter(t.pos)?;
                (self.word(expected)?, t.pos)
            }
            other => {
                let msg = format!("expected {expected}, found {}", other.describe());
                return Err(Located::new(t.pos, msg));
            }
        };
        let mut args = Vec::new();
        while !self.peek_is(&Tok::Close)? {
            let pos = self.lx.peek()?.map_or(open, |t| t.pos);
            args.push((self.arith(ty)?, pos));
        }
        self.token("`)`")?;
        self.depth -= 1;
        let mut args = args.into_iter();
        let Some((first, _)) = args.next() else {
            let msg = format!("`({})` needs at least one operand", head.0);
            return Err(Located::new(open, msg));
        };
        Ok(match head.0 {
            "-" if args.len() == 0 => first.scale(-1.0),
            "-" => args.fold(first, |acc, (t, _)| acc.add(t.scale(-1.0))),
            "+" => args.fold(first, |acc, (t, _)| acc.add(t)),
            "*" => {
                let mut acc = first;
                for (t, pos) in args {
                    acc = match (acc.vars.is_empty(), t.vars.is_empty()) {
                        (_, true) => acc.scale(t.constant),
                        (true, false) => t.scale(acc.constant),
                        (false, false) => {
                            let msg = "polynomial term: a product of two expressions with \
                                       variables (theory POLY); certus decides linear arithmetic \
                                       only";
                            return Err(Located::new(pos, msg));
                        }
                    };
                }
                acc
            }
            other => {
                let hint = if other == "/" {
                    " (VNN-LIB 2.0 has no division; multiply by the reciprocal)"
                } else {
                    ""
                };
                let msg = format!("expected `+`, `-` or `*`, found `{other}`{hint}");
                return Err(Located::new(head.1, msg));
            }
        })
    }

    /// A variable `V` or `V[i, j, ..]` whose name `name` is at `pos`.
    fn variable(&mut self, name: &str, pos: Pos, ty: &mut CmpType) -> Result<Linear, Located> {
        let t = match self.scope.get(name) {
            Some((Symbol::Tensor(i), _)) => *i,
            Some((Symbol::Network(_), _)) => {
                let msg = format!("`{name}` is a network, not a variable");
                return Err(Located::new(pos, msg));
            }
            None => {
                let msg = format!(
                    "undeclared variable `{name}` (declare it in a `declare-network` first)"
                );
                return Err(Located::new(pos, msg));
            }
        };
        let mut indices = Vec::new();
        if self.peek_is(&Tok::LBracket)? {
            self.token("`[`")?;
            loop {
                let (w, ipos) = self.word("an index (a natural number)")?;
                let i = w
                    .parse::<usize>()
                    .ok()
                    .filter(|_| super::is_digits(w))
                    .ok_or_else(|| {
                        Located::new(ipos, format!("bad index `{w}` (expected a natural number)"))
                    })?;
                indices.push((i, ipos));
                let sep = self.token("`,` or `]`")?;
                match sep.tok {
                    Tok::Comma => {}
                    Tok::RBracket => break,
                    other => {
                        let msg = format!(
                            "expected `,` or `]` in the index, found {}",
                            other.describe()
                        );
                        return Err(Located::new(sep.pos, msg));
                    }
                }
            }
        }
        let decl = &self.tensors[t];
        if indices.len() != decl.shape.len() {
            let msg = if decl.shape.is_empty() {
                format!("`{name}` is a scalar (shape `[]`): name it without indices")
            } else {
                format!(
                    "`{name}` has shape {:?}: it takes {} indices, found {}",
                    decl.shape,
                    decl.shape.len(),
                    indices.len()
                )
            };
            return Err(Located::new(pos, msg));
        }
        let mut flat = 0;
        for (k, &(i, ipos)) in indices.iter().enumerate() {
            if i >= decl.shape[k] {
                let msg = format!(
                    "index {i} is out of range: dimension {k} of `{name}` has size {} (shape {:?})",
                    decl.shape[k], decl.shape
                );
                return Err(Located::new(ipos, msg));
            }
            flat = flat * decl.shape[k] + i;
        }
        match &ty.ty {
            None => ty.ty = Some((decl.elem, name.to_string())),
            Some((elem, first)) if *elem != decl.elem => {
                let msg = format!(
                    "type mismatch: `{name}` has type `{}` but `{first}` in the same comparison \
                     has type `{}` (the standard allows no coercion)",
                    decl.type_name,
                    elem.name()
                );
                return Err(Located::new(pos, msg));
            }
            Some(_) => {}
        }
        Ok(Linear {
            vars: vec![(decl.base + flat, 1.0)],
            constant: 0.0,
        })
    }
}

/// A word that can only be meant as a number: a digit, or `-`/`.` then a digit.
fn looks_numeric(s: &str) -> bool {
    let rest = s.strip_prefix('-').unwrap_or(s);
    rest.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// `-? digits (. digits)? ((e|E) [+-]? digits)?` (the exponent is an extension) into the
/// nearest f64 and the kind of literal it is.
fn number(s: &str) -> Result<(f64, Literal), String> {
    let bad = || {
        format!("bad number `{s}` (expected digits with an optional `-`, `.` part and exponent, e.g. `-0.5`)")
    };
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let exponent_ok =
        exponent.is_none_or(|e| super::is_digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    if !super::is_digits(int) || frac.is_some_and(|f| !super::is_digits(f)) || !exponent_ok {
        return Err(bad());
    }
    let value: f64 = s.parse().map_err(|_| bad())?;
    if !value.is_finite() {
        return Err(format!("number `{s}` is too large for a 64-bit float"));
    }
    let lit = if frac.is_some() || exponent.is_some() {
        Literal::Decimal
    } else if s.starts_with('-') {
        Literal::NegativeInteger
    } else {
        Literal::Natural
    };
    Ok((value, lit))
}
