//! The library's one error type. Verdicts (`sat`/`unsat`/`unknown`) are values, never errors:
//! an [`Error`] means the input could not be read or does not make sense.

use std::path::PathBuf;

/// Everything that can go wrong before a question can be asked: reading files, importing a
/// network, parsing a property, or a property that does not fit its network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A network file is malformed or uses something we cannot lower into the IR.
    #[error("{}: {msg}", path.display())]
    Model { path: PathBuf, msg: String },
    /// A property file is malformed; `line` and `col` are 1-based.
    #[error("{}:{line}:{col}: {msg}", path.display())]
    Spec {
        path: PathBuf,
        line: usize,
        col: usize,
        msg: String,
    },
    /// Anything else that is the caller's fault (shapes that do not fit, bad arguments).
    #[error("{0}")]
    Invalid(String),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Model`] for `path`.
    pub fn model(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// Reads a whole file, naming it in the error.
    pub fn read(path: &std::path::Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
