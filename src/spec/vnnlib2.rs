//! VNN-LIB 2.0 front end (the standard of the VNNLIB organisation, v2.0, chapters 3 and 4): a
//! query file into a typed [`Query`], lowered into the [`Property`] normal form when it fits.
//!
//! A query is `(vnnlib-version <2.0>)`, then one or more `(declare-network NAME [(equal-to N) |
//! (isomorphic-to N)] (declare-input V TYPE [d,..])+ (declare-hidden V TYPE [d,..] "onnx")*
//! (declare-output V TYPE [d,..])+)`, then `(assert B)*`. Boolean expressions are `and`, `or`
//! (one or more operands) and the comparisons `<`, `<=`, `>`, `>=`, `==`, `!=` of two arithmetic
//! expressions; arithmetic is numbers, tensor elements `V[i,j]` (a scalar `[]` tensor is named
//! without indices), `(- a)`, `(+ a ..)`, `(- a b ..)` (left-associative) and `(* a ..)`.
//! The query is satisfiable (`sat`, the bad case) when some input assignment makes every
//! assertion true.
//!
//! Checked here, each an [`Error::Spec`] at the offending line and column, as the standard's
//! scoping and typing rules require: the version (2.0), names (`[A-Za-z][A-Za-z0-9_]*`, unique
//! across networks and variables, declared before use), element types (the ONNX names, e.g.
//! `float32`, and `real`), shapes (positive dimensions), indices (as many as the tensor has
//! dimensions, each below its dimension), types (both sides of a comparison and every operand
//! of an arithmetic operator of one element type; a constant must belong to it: `0.5` is no
//! `int32`), comparisons with no variable (not typable), `equal-to`/`isomorphic-to` (an earlier
//! network with no equivalence of its own, inputs and outputs of equal shapes, and for
//! `equal-to` equal types and equal hidden declarations of one ONNX node).
//!
//! Lowering ([`Query::lower`]) refuses, with the error the standard's chapter 5 requires,
//! what certus cannot decide soundly: element types other than `real` (certus proves properties
//! of the network over the reals, with its f64 weights; only `real` gives the standard's consent
//! to that reading, see [`SOUND_ELEMENT_TYPES`]) and polynomial terms (a product of two
//! variables, refused while parsing). Within that, see [`lower`] for what becomes of each
//! comparison and [`Support`] for the fragment the engines take today.
//!
//! Extensions (the standard leaves non-standard syntax to the solver): numbers may carry an
//! exponent (`1e-3`, as Python writes floats), `=` is read as `==` (the standard's prose writes
//! `=`, its grammar `==`), and `Real` as `real` (the standard's own test corpus writes `Real`).

pub mod assemble;
mod lex;
pub mod lower;
mod parse;
mod types;

pub use self::assemble::engine_network;
pub use self::lower::{Layout, Lowered, Part, Support};
pub use self::types::ElementType;

use super::pos::{read_text, Pos};
use crate::spec::Property;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The element types certus can analyse soundly: only `real`. Its proofs hold for the network
/// read over the reals (exact arithmetic on the weights as f64), not for its evaluation in
/// float32/float64, whose rounding can cross a threshold the real network does not (and ONNX
/// fixes no summation order); the standard requires an error for the others unless the query
/// consents to real arithmetic by declaring `real`.
pub const SOUND_ELEMENT_TYPES: &[ElementType] = &[ElementType::Real];

/// The VNN-LIB versions certus reads, lowest and highest (`supports --vnnlib-versions`).
pub const VERSIONS: (&str, &str) = ("1.0", "2.0");

/// A parsed and type-checked VNN-LIB 2.0 query.
#[derive(Clone, Debug)]
pub struct Query {
    /// The file it was read from (for error messages).
    pub path: PathBuf,
    /// `(major, minor)` of `(vnnlib-version <major.minor>)`.
    pub version: (u32, u32),
    /// The network declarations in file order.
    pub networks: Vec<NetworkDecl>,
    /// Every tensor declaration (inputs, hidden, outputs of every network) in file order; a
    /// tensor's elements are the "slots" `base .. base + numel` of one flat value vector.
    pub tensors: Vec<TensorDecl>,
    /// The assertions, with their arithmetic already linear.
    pub(crate) assertions: Vec<parse::Bool>,
}

/// `(declare-network NAME ...)`.
#[derive(Clone, Debug)]
pub struct NetworkDecl {
    pub name: String,
    /// `(equal-to N)` or `(isomorphic-to N)`, naming an earlier network by index.
    pub equiv: Option<Equiv>,
    /// Indices into [`Query::tensors`], in declaration order.
    pub inputs: Vec<usize>,
    pub hidden: Vec<usize>,
    pub outputs: Vec<usize>,
    pub(crate) pos: Pos,
}

/// A network equivalence statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Equiv {
    /// The same model file as network `.0`.
    EqualTo(usize),
    /// A model with the same graph structure as network `.0`'s (other weights).
    IsomorphicTo(usize),
}

/// What a tensor declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    Input,
    Hidden,
    Output,
}

/// `(declare-input|declare-hidden|declare-output NAME TYPE [d,..] ["onnx"])`.
#[derive(Clone, Debug)]
pub struct TensorDecl {
    pub name: String,
    pub kind: TensorKind,
    /// The network (index into [`Query::networks`]).
    pub network: usize,
    pub elem: ElementType,
    /// The type as written (`Real` stays `Real` when printed back).
    pub type_name: String,
    /// Dimensions; empty for a scalar.
    pub shape: Vec<usize>,
    /// The ONNX node output a hidden declaration names.
    pub onnx_name: Option<String>,
    /// The first slot of this tensor's elements (row-major).
    pub base: usize,
    pub(crate) pos: Pos,
}

impl TensorDecl {
    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// `NAME TYPE [d1,d2]`, the standard's assignment header.
    pub fn header(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        format!("{} {} [{}]", self.name, self.type_name, dims.join(","))
    }
}

/// True when `text` starts (after whitespace and comments) with `(vnnlib-version`: a VNN-LIB 2
/// query rather than a 1.0 file.
pub fn is_v2(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        match rest.strip_prefix(';') {
            Some(comment) => rest = comment.split_once('\n').map_or("", |(_, r)| r),
            None => break,
        }
    }
    rest.strip_prefix('(')
        .is_some_and(|r| r.trim_start().starts_with("vnnlib-version"))
}

/// True when the file (decompressed if `.gz`) is a VNN-LIB 2 query; false also when it cannot
/// be read (the parser that reads it next reports why).
pub fn is_v2_file(path: &Path) -> bool {
    read_text(path).is_ok_and(|t| is_v2(&t))
}

/// Reads and type-checks a VNN-LIB 2.0 query file (`.gz` files are decompressed).
pub fn parse_file(path: &Path) -> Result<Query> {
    let text = read_text(path)?;
    parse_str(&text, path)
}

/// Same from text; `path` names the file in errors.
pub fn parse_str(text: &str, path: &Path) -> Result<Query> {
    parse::query(text, path).map_err(|e| e.into_error(path))
}

impl Query {
    /// The normal form of a query about one network whose inputs and outputs the property
    /// addresses directly (what `bounds`, `bench` and the VNN-COMP form of `verify` take).
    /// Strict comparisons are relaxed to non-strict ones here, as in VNN-LIB 1.0; `certus
    /// verify` re-checks them exactly ([`Query::holds`]).
    pub fn property(&self, path: &Path) -> Result<Property> {
        let lowered = self.lower()?;
        if !lowered.layout.is_plain(self) {
            return Err(Error::Invalid(format!(
                "{}: this query declares several networks, hidden nodes or constraints across \
                 inputs; use `certus verify QUERY --network NAME=MODEL ...`",
                path.display()
            )));
        }
        Ok(lowered.property)
    }

    /// Evaluates every assertion exactly as written (strict comparisons strict, `!=` as
    /// disequality) on `values`, one per slot (see [`TensorDecl::base`]), in f64.
    pub fn holds(&self, values: &[f64]) -> bool {
        self.assertions.iter().all(|a| a.holds(values))
    }

    /// Total number of slots (elements of every declared tensor).
    pub fn slot_count(&self) -> usize {
        self.tensors.last().map_or(0, |t| t.base + t.numel())
    }

    /// The network declarations that need a model on the command line: those without
    /// `equal-to` (an `equal-to` network uses the model of the one it names).
    pub fn networks_needing_models(&self) -> impl Iterator<Item = (usize, &NetworkDecl)> {
        (self.networks.iter().enumerate())
            .filter(|(_, n)| !matches!(n.equiv, Some(Equiv::EqualTo(_))))
    }

    /// The network whose model network `k` uses (itself, or the one it is `equal-to`).
    pub fn model_of(&self, k: usize) -> usize {
        match self.networks[k].equiv {
            Some(Equiv::EqualTo(j)) => j,
            _ => k,
        }
    }

    /// The standard's command-line assignment: for every declared tensor in file order, its
    /// header `NAME TYPE [dims]` and then one value per line, row-major.
    pub fn assignment_text(&self, values: &[f64]) -> String {
        let mut out = String::new();
        for t in &self.tensors {
            out.push_str(&t.header());
            out.push('\n');
            for v in &values[t.base..t.base + t.numel()] {
                // `Display` never uses an exponent, so the number is in the standard's syntax;
                // `+ 0.0` prints −0 as 0.
                out.push_str(&format!("{}\n", v + 0.0));
            }
        }
        out
    }

    pub(crate) fn error(&self, pos: Pos, msg: impl Into<String>) -> Error {
        super::pos::Located::new(pos, msg).into_error(&self.path)
    }
}
