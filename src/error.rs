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

    /// Reads a whole file, naming it in the error. A file whose name ends in `.gz` is
    /// decompressed (VNN-COMP ships `.onnx.gz` and `.vnnlib.gz`), at most
    /// [`MAX_DECOMPRESSED`] bytes of it, so that a small hostile file cannot fill the memory.
    pub fn read(path: &std::path::Path) -> Result<Vec<u8>> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        if !path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
        {
            return Ok(bytes);
        }
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .take(MAX_DECOMPRESSED + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(e.kind(), format!("not a valid gzip file: {e}")),
            })?;
        if out.len() as u64 > MAX_DECOMPRESSED {
            return Err(Error::Invalid(format!(
                "{}: decompresses to more than {} MiB",
                path.display(),
                MAX_DECOMPRESSED >> 20
            )));
        }
        Ok(out)
    }
}

/// The most bytes [`Error::read`] inflates a `.gz` file to: far above any real network or
/// property (the largest VNN-COMP files are a few hundred MB unpacked), far below the memory.
pub const MAX_DECOMPRESSED: u64 = 2 << 30;
