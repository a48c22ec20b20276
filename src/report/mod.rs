//! Files a tester can use: each confirmed counterexample as VNN-COMP text, JSON, and a PNG when
//! the input is an image ([`image`] holds the image helpers the HTML radius report shares;
//! [`layout`] decides, in one place, how an input's values are laid out as an image); and
//! counterexamples with their true labels as a dataset for training ([`dataset`], as CSV and
//! NumPy [`npy`] arrays).
//!
//! Invariant: only [`crate::outcome::Counterexample`]s are written, so every file here describes
//! a point that [`crate::outcome::confirm`] has replayed in f32 and f64.

mod cex;
pub mod dataset;
pub mod image;
pub mod layout;
pub mod npy;

pub use cex::{constraint_text, write_counterexample, CexFiles, Picture};
pub use dataset::{write_dataset, DatasetFiles, DatasetRow};
pub use layout::Layout;
