//! Typed errors of graph construction, validation and planning.
use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GraphError {
    /// The graph's structure is broken (dangling tensor index, wrong input count, …).
    #[error("invalid graph: {0}")]
    Invalid(String),
    /// Shapes that cannot be combined by an op.
    #[error("shape error in node {node} ({op}): {msg}")]
    Shape {
        node: usize,
        op: &'static str,
        msg: String,
    },
    /// An op or dtype combination that no kernel executes.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Device profile problems (unknown name, malformed TOML).
    #[error("device profile: {0}")]
    Device(String),
}

pub type GraphResult<T> = Result<T, GraphError>;
