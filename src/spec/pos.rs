//! Positions and located messages shared by the VNN-LIB 1.0 and 2.0 front ends, and the one
//! reader of property files (UTF-8 checked, with the position of the first bad byte).

use crate::{Error, Result};
use std::path::Path;

/// A 1-based position in the file; columns count characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) col: usize,
}

impl Pos {
    /// The start of the file, for messages about the file as a whole.
    pub(crate) const START: Pos = Pos { line: 1, col: 1 };
}

/// A message at a position; becomes an [`Error::Spec`] once the path is known.
#[derive(Debug)]
pub(crate) struct Located {
    pub(crate) pos: Pos,
    pub(crate) msg: String,
}

impl Located {
    pub(crate) fn new(pos: Pos, msg: impl Into<String>) -> Self {
        Located {
            pos,
            msg: msg.into(),
        }
    }

    pub(crate) fn into_error(self, path: &Path) -> Error {
        Error::Spec {
            path: path.to_path_buf(),
            line: self.pos.line,
            col: self.pos.col,
            msg: self.msg,
        }
    }
}

/// Reads a property file as text (gzip-compressed when its name ends in `.gz`, see
/// [`Error::read`]); bytes that are not UTF-8 are an error at the position of the first one.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = Error::read(path)?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let valid_up_to = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
        let line = 1 + valid.matches('\n').count();
        let col = 1 + valid
            .rsplit('\n')
            .next()
            .unwrap_or_default()
            .chars()
            .count();
        Located::new(Pos { line, col }, "not valid UTF-8 text").into_error(path)
    })
}
