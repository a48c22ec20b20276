//! Files a tester can use: each confirmed counterexample as VNN-COMP text, JSON, and a PNG when
//! the input is an image ([`image`] holds the image helpers the HTML radius report shares;
//! [`layout`] decides, in one place, how an input's values are laid out as an image).
//!
//! Invariant: only [`crate::outcome::Counterexample`]s are written, so every file here describes
//! a point that [`crate::outcome::confirm`] has replayed in f32 and f64.

mod cex;
pub mod image;
pub mod layout;

pub use cex::{constraint_text, write_counterexample, CexFiles, Picture};
pub use layout::Layout;
