//! The crate's one error type.
//!
//! Every loader reports *which file* failed and *why*; CSV faults also carry the line and column.
//! Nothing in this crate panics on malformed input: corrupt, truncated or mismatched files all end
//! up here. Neighbours: every other module returns `Result<_, DataError>`.

use std::path::{Path, PathBuf};

/// Errors raised while loading, splitting or batching datasets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The operating system refused to open or read a file or directory.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file exists but its contents do not follow the expected format.
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    /// A CSV cell or row is wrong; `line` is 1-based as in a text editor, `column` is 1-based.
    #[error("{}:{line}: column {column}: {reason}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        column: usize,
        reason: String,
    },
    /// A class folder holds no usable sample.
    #[error("{}: empty class folder (no {expected} files)", path.display())]
    EmptyClass { path: PathBuf, expected: String },
    /// A file of the wrong kind sits where samples are expected.
    #[error("{}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },
    /// A request that does not fit the dataset (bad range, shape, batch buffer, option).
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(path: &Path, reason: impl Into<String>) -> Self {
        DataError::Format {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        DataError::Invalid(reason.into())
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
