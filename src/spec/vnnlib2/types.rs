//! Element types (the ONNX tensor element types by their IR.md names, and `real`) and which
//! constants belong to each.

/// A tensor element type of the ONNX network theory, or `real` (the standard's real-valued
/// theory, §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementType {
    Real,
    Float16,
    Float32,
    Float64,
    BFloat16,
    Float8E4M3FN,
    Float8E4M3FNUZ,
    Float8E5M2,
    Float8E5M2FNUZ,
    Float4E2M1,
    Int4,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt4,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Complex64,
    Complex128,
    Bool,
    String,
}

/// Every element type with its name in queries.
const NAMES: &[(ElementType, &str)] = &[
    (ElementType::Real, "real"),
    (ElementType::Float16, "float16"),
    (ElementType::Float32, "float32"),
    (ElementType::Float64, "float64"),
    (ElementType::BFloat16, "bfloat16"),
    (ElementType::Float8E4M3FN, "float8e4m3fn"),
    (ElementType::Float8E4M3FNUZ, "float8e4m3fnuz"),
    (ElementType::Float8E5M2, "float8e5m2"),
    (ElementType::Float8E5M2FNUZ, "float8e5m2fnuz"),
    (ElementType::Float4E2M1, "float4e2m1"),
    (ElementType::Int4, "int4"),
    (ElementType::Int8, "int8"),
    (ElementType::Int16, "int16"),
    (ElementType::Int32, "int32"),
    (ElementType::Int64, "int64"),
    (ElementType::UInt4, "uint4"),
    (ElementType::UInt8, "uint8"),
    (ElementType::UInt16, "uint16"),
    (ElementType::UInt32, "uint32"),
    (ElementType::UInt64, "uint64"),
    (ElementType::Complex64, "complex64"),
    (ElementType::Complex128, "complex128"),
    (ElementType::Bool, "bool"),
    (ElementType::String, "string"),
];

/// What kind of number a constant is written as (the standard's `Element` judgement: `1` may be
/// a `float64` or an `int32`, `1.0` only a `float64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Literal {
    /// Digits only, no sign.
    Natural,
    /// `-` then digits.
    NegativeInteger,
    /// With a fractional part or an exponent.
    Decimal,
}

impl ElementType {
    /// The type a name in a declaration denotes; `Real` is read as `real` (see the module docs).
    pub fn from_name(s: &str) -> Option<Self> {
        if s == "Real" {
            return Some(ElementType::Real);
        }
        NAMES.iter().find(|(_, n)| *n == s).map(|(t, _)| *t)
    }

    /// The name as the standard writes it.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("?", |(_, n)| n)
    }

    /// Whether a constant written as `lit` belongs to this type; `Err` says why not.
    pub(super) fn admits(self, lit: Literal) -> Result<(), &'static str> {
        use ElementType as T;
        match self {
            T::Real
            | T::Float16
            | T::Float32
            | T::Float64
            | T::BFloat16
            | T::Float8E4M3FN
            | T::Float8E4M3FNUZ
            | T::Float8E5M2
            | T::Float8E5M2FNUZ
            | T::Float4E2M1
            | T::Complex64
            | T::Complex128 => Ok(()),
            T::Int4 | T::Int8 | T::Int16 | T::Int32 | T::Int64 => match lit {
                Literal::Decimal => Err("an integer type has no fractional constants"),
                _ => Ok(()),
            },
            T::UInt4 | T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64 => match lit {
                Literal::Natural => Ok(()),
                Literal::NegativeInteger => Err("an unsigned type has no negative constants"),
                Literal::Decimal => Err("an integer type has no fractional constants"),
            },
            T::Bool | T::String => Err("this type has no numeric constants"),
        }
    }

    /// Whether arithmetic and ordering are defined on this type.
    pub(super) fn is_numeric(self) -> bool {
        !matches!(self, ElementType::Bool | ElementType::String)
    }
}
