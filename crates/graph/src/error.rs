//! Typed errors of graph construction, validation, planning and device profiles.
//!
//! Every error about a node names the node index and its TFLite op name, so a user can find the
//! offending layer in Netron. Model files are hostile input: validation reports, it never panics.
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
    /// A node whose operands are wrong in count, dtype or quantization.
    #[error("node {node} ({op}): {msg}")]
    Node {
        node: usize,
        op: &'static str,
        msg: String,
    },
    /// An op or dtype combination that no kernel executes.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Device profile problems (unknown name, unreadable file).
    #[error("device profile: {0}")]
    Device(String),
    /// A device profile file with a missing or bad field.
    #[error("device profile {path}: field `{field}`: {msg}")]
    DeviceField {
        path: String,
        field: String,
        msg: String,
    },
    /// The memory planner could not place the buffers (e.g. sizes overflow the address space).
    #[error("memory plan: {0}")]
    Plan(String),
}

pub type GraphResult<T> = Result<T, GraphError>;
