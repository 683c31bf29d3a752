//! Errors of the factor crate: a strategy file that cannot be read.

use std::path::PathBuf;

/// What went wrong, with the file and line where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The strategy file could not be read.
    #[error("{path}: cannot read the strategy file: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A row or key of the strategy file is wrong.
    #[error("{path}:{line}: {why}")]
    Strategy {
        /// The file.
        path: PathBuf,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong and what to do.
        why: String,
    },
    /// A parameter is out of range (window 0, short ≥ long, threshold not finite).
    #[error("{0}")]
    Param(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
