//! certus: a formal neural-network verifier.
//!
//! A network ([`ir::Network`], imported by [`import`]) and a property ([`spec::Property`],
//! parsed from VNN-LIB by [`spec::vnnlib`]) go into [`verify`], which combines sound bounds
//! ([`bounds`]) and falsification ([`attack`]) into a verdict.

pub mod deadline;
pub mod error;
pub mod ir;
pub mod memory;
pub mod outcome;
pub mod tolerances;

pub use error::{Error, Result};
pub mod attack;
pub mod bench;
pub mod bounds;
pub mod dlv;
pub mod import;
pub mod radius;
pub mod relusplit;
pub mod report;
pub mod search;
pub mod smt;
pub mod spec;
pub mod verify;
