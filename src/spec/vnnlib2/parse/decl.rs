//! Network declarations (§3.1.1, §3.1.3) and the typing rules of equivalence statements
//! (§3.4.1: NetworkEq, NetworkIso).

use super::{Located, Parser, Pos, Symbol, Tok, MAX_ELEMENTS};
use crate::spec::vnnlib2::{ElementType, Equiv, NetworkDecl, TensorDecl, TensorKind};

impl Parser<'_> {
    /// The rest of `(declare-network NAME ...)`, its `(` at `open`.
    pub(super) fn network(&mut self, open: Pos) -> Result<(), Located> {
        let (name, name_pos) = self.word("a network name")?;
        let k = self.networks.len();
        self.declare(name, name_pos, Symbol::Network(k))?;
        self.networks.push(NetworkDecl {
            name: name.to_string(),
            equiv: None,
            inputs: Vec::new(),
            hidden: Vec::new(),
            outputs: Vec::new(),
            pos: open,
        });
        let mut equiv_pos = None;
        loop {
            let t = self.token("`(declare-input ...)`, `(declare-output ...)` or `)`")?;
            match t.tok {
                Tok::Close => break,
                Tok::Open => {}
                other => {
                    let msg = format!(
                        "expected `(declare-input ...)`, `(declare-hidden ...)`, \
                         `(declare-output ...)` or `)`, found {}",
                        other.describe()
                    );
                    return Err(Located::new(t.pos, msg));
                }
            }
            let (head, head_pos) = self.word("a declaration keyword")?;
            let net = &self.networks[k];
            let order_err = |what: &str, after: &str| {
                let msg = format!(
                    "`{what}` must come before every `{after}` of the network (the order is \
                     equivalence, inputs, hidden nodes, outputs)"
                );
                Err(Located::new(t.pos, msg))
            };
            match head {
                "equal-to" | "isomorphic-to" => {
                    if let Some(Pos { line, col }) = equiv_pos {
                        let msg = format!(
                            "a network has at most one `equal-to` or `isomorphic-to` (the first \
                             is at line {line}, column {col})"
                        );
                        return Err(Located::new(t.pos, msg));
                    }
                    if !net.inputs.is_empty() {
                        return order_err(head, "declare-input");
                    }
                    equiv_pos = Some(t.pos);
                    let target = self.equiv_target(head, k)?;
                    self.networks[k].equiv = Some(match head {
                        "equal-to" => Equiv::EqualTo(target),
                        _ => Equiv::IsomorphicTo(target),
                    });
                }
                "declare-input" => {
                    if !net.hidden.is_empty() {
                        return order_err(head, "declare-hidden");
                    }
                    if !net.outputs.is_empty() {
                        return order_err(head, "declare-output");
                    }
                    let i = self.tensor(k, TensorKind::Input, t.pos)?;
                    self.networks[k].inputs.push(i);
                }
                "declare-hidden" => {
                    if !net.outputs.is_empty() {
                        return order_err(head, "declare-output");
                    }
                    if net.inputs.is_empty() {
                        let msg = "`declare-hidden` comes after the network's inputs: declare \
                                   at least one `declare-input` first";
                        return Err(Located::new(t.pos, msg));
                    }
                    let i = self.tensor(k, TensorKind::Hidden, t.pos)?;
                    self.networks[k].hidden.push(i);
                }
                "declare-output" => {
                    if net.inputs.is_empty() {
                        let msg = "`declare-output` comes after the network's inputs: declare \
                                   at least one `declare-input` first";
                        return Err(Located::new(t.pos, msg));
                    }
                    let i = self.tensor(k, TensorKind::Output, t.pos)?;
                    self.networks[k].outputs.push(i);
                }
                other => {
                    let msg = format!(
                        "expected `declare-input`, `declare-hidden`, `declare-output`, \
                         `equal-to` or `isomorphic-to`, found `{other}`"
                    );
                    return Err(Located::new(head_pos, msg));
                }
            }
        }
        let net = &self.networks[k];
        if net.inputs.is_empty() || net.outputs.is_empty() {
            let msg = format!(
                "network `{name}` needs at least one `declare-input` and one `declare-output`"
            );
            return Err(Located::new(open, msg));
        }
        if let Some(equiv) = net.equiv {
            self.check_equiv(k, equiv, equiv_pos.unwrap_or(open))?;
        }
        Ok(())
    }

    /// The rest of `(equal-to N)`: `N` must be an earlier network without an equivalence.
    fn equiv_target(&mut self, head: &str, k: usize) -> Result<usize, Located> {
        let (target, pos) = self.word("the name of an earlier network")?;
        let j = match self.scope.get(target) {
            Some((Symbol::Network(j), _)) if *j != k => *j,
            Some((Symbol::Network(_), _)) => {
                return Err(Located::new(
                    pos,
                    format!("a network cannot be `{head}` itself"),
                ))
            }
            Some((Symbol::Tensor(_), _)) => {
                let msg = format!("`{target}` is a variable, not a network");
                return Err(Located::new(pos, msg));
            }
            None => {
                let msg = format!("`{head}` names `{target}`, which is not an earlier network");
                return Err(Located::new(pos, msg));
            }
        };
        if self.networks[j].equiv.is_some() {
            let msg = format!(
                "`{target}` has an `equal-to`/`isomorphic-to` of its own: name the network it \
                 refers to instead (the standard forbids chains)"
            );
            return Err(Located::new(pos, msg));
        }
        self.close(&format!("`({head} ...)`"))?;
        Ok(j)
    }

    /// NetworkEq / NetworkIso: inputs and outputs pairwise of equal shapes (and types for
    /// `equal-to`); for `equal-to`, hidden declarations of one ONNX node agree.
    fn check_equiv(&self, k: usize, equiv: Equiv, pos: Pos) -> Result<(), Located> {
        let (j, with_types) = match equiv {
            Equiv::EqualTo(j) => (j, true),
            Equiv::IsomorphicTo(j) => (j, false),
        };
        let (me, other) = (&self.networks[k], &self.networks[j]);
        let what = if with_types {
            "equal-to"
        } else {
            "isomorphic-to"
        };
        for (kind, mine, theirs) in [
            ("inputs", &me.inputs, &other.inputs),
            ("outputs", &me.outputs, &other.outputs),
        ] {
            if mine.len() != theirs.len() {
                let msg = format!(
                    "`{what} {}`: `{}` declares {} {kind} but `{}` declares {}",
                    other.name,
                    me.name,
                    mine.len(),
                    other.name,
                    theirs.len()
                );
                return Err(Located::new(pos, msg));
            }
            for (&a, &b) in mine.iter().zip(theirs.iter()) {
                let (a, b) = (&self.tensors[a], &self.tensors[b]);
                let types_differ = with_types && a.elem != b.elem;
                if a.shape != b.shape || types_differ {
                    let msg = format!(
                        "`{what} {}`: `{}` is `{} {:?}` but its counterpart `{}` is `{} {:?}` \
                         ({})",
                        other.name,
                        a.name,
                        a.type_name,
                        a.shape,
                        b.name,
                        b.type_name,
                        b.shape,
                        if with_types {
                            "equal networks need equal types and shapes"
                        } else {
                            "isomorphic networks need equal shapes"
                        }
                    );
                    return Err(Located::new(a.pos, msg));
                }
            }
        }
        if with_types {
            for &h in &me.hidden {
                let a = &self.tensors[h];
                let same_node = other
                    .hidden
                    .iter()
                    .map(|&g| &self.tensors[g])
                    .find(|b| b.onnx_name == a.onnx_name);
                if let Some(b) = same_node {
                    if a.shape != b.shape || a.elem != b.elem {
                        let msg = format!(
                            "`{}` and `{}` name the same ONNX node {:?} of equal networks but \
                             differ in type or shape",
                            a.name,
                            b.name,
                            a.onnx_name.as_deref().unwrap_or_default()
                        );
                        return Err(Located::new(a.pos, msg));
                    }
                }
            }
        }
        Ok(())
    }

    /// The rest of `(declare-input|hidden|output NAME TYPE [dims] ["onnx"])`; returns its
    /// index in `tensors`.
    fn tensor(&mut self, net: usize, kind: TensorKind, open: Pos) -> Result<usize, Located> {
        let (name, name_pos) = self.word("a variable name")?;
        let i = self.tensors.len();
        self.declare(name, name_pos, Symbol::Tensor(i))?;
        let (type_name, type_pos) = self.word("an element type such as `real` or `float32`")?;
        let Some(elem) = ElementType::from_name(type_name) else {
            let msg = format!(
                "unknown element type `{type_name}` (expected `real` or an ONNX element type \
                 such as `float32`, `float64`, `int64`)"
            );
            return Err(Located::new(type_pos, msg));
        };
        let shape = self.shape()?;
        let numel = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= MAX_ELEMENTS && self.slots + n <= MAX_ELEMENTS);
        let Some(numel) = numel else {
            let msg = format!(
                "`{name}` is too large: certus reads at most {MAX_ELEMENTS} tensor elements"
            );
            return Err(Located::new(name_pos, msg));
        };
        let onnx_name = if kind == TensorKind::Hidden {
            let t = self.token("the ONNX node output name, a string such as \"relu_1\"")?;
            match t.tok {
                Tok::Str(s) => Some(s),
                other => {
                    let msg = format!(
                        "expected the ONNX node output name as a string (e.g. \"relu_1\"), \
                         found {}",
                        other.describe()
                    );
                    return Err(Located::new(t.pos, msg));
                }
            }
        } else {
            None
        };
        if let Some(Tok::Word("initialized")) = self.lx.peek()?.map(|t| &t.tok) {
            let pos = self.lx.peek()?.map_or(open, |t| t.pos);
            let msg = "`initialized` is VNN-LIB 2.1, which certus does not read";
            return Err(Located::new(pos, msg));
        }
        self.close("the declaration")?;
        self.tensors.push(TensorDecl {
            name: name.to_string(),
            kind,
            network: net,
            elem,
            type_name: type_name.to_string(),
            shape,
            onnx_name,
            base: self.slots,
            pos: name_pos,
        });
        self.slots += numel;
        Ok(i)
    }

    /// `[]` or `[d1, d2, ...]` with positive dimensions.
    fn shape(&mut self) -> Result<Vec<usize>, Located> {
        self.expect(
            Tok::LBracket,
            "a shape such as `[1,10]` (or `[]` for a scalar)",
        )?;
        let mut dims = Vec::new();
        if self.peek_is(&Tok::RBracket)? {
            self.token("`]`")?;
            return Ok(dims);
        }
        loop {
            let (d, pos) = self.word("a dimension (a positive integer)")?;
            match d.parse::<usize>() {
                Ok(n) if n > 0 && super::is_digits(d) => dims.push(n),
                _ => {
                    let msg = format!("bad dimension `{d}` (expected a positive integer)");
                    return Err(Located::new(pos, msg));
                }
            }
            let t = self.token("`,` or `]`")?;
            match t.tok {
                Tok::Comma => {}
                Tok::RBracket => return Ok(dims),
                other => {
                    let msg = format!(
                        "expected `,` or `]` in the shape, found {}",
                        other.describe()
                    );
                    return Err(Located::new(t.pos, msg));
                }
            }
        }
    }
}
