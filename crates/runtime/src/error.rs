//! Typed errors of the runtime: why a graph cannot be prepared or an inference cannot run.
//!
//! Every graph the `.tflite` reader accepts either prepares into a [`crate::Runtime`] or yields
//! one of these; nothing in the runtime panics on model data.
use thiserror::Error;
use tinyforge_graph::GraphError;
use tinyforge_kernels::KernelError;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Validation, shape inference, fusion or planning rejected the graph.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A node whose op, dtype or parameter combination has no kernel here.
    #[error("node {node} ({op}): unsupported: {reason}")]
    Unsupported {
        node: usize,
        op: &'static str,
        reason: String,
    },
    /// A node whose operands are malformed (missing constant data, wrong sizes, bad quantization).
    #[error("node {node} ({op}): {reason}")]
    BadNode {
        node: usize,
        op: &'static str,
        reason: String,
    },
    /// A kernel refused its operands at run time.
    #[error("node {node} ({op}): kernel error {err:?}")]
    Kernel {
        node: usize,
        op: &'static str,
        err: KernelError,
    },
    /// The memory plan is inconsistent with the tensors (a region outside the arena, …).
    #[error("memory plan: {0}")]
    Plan(String),
    /// `invoke` got the wrong number of inputs.
    #[error("expected {expected} input tensor(s), got {got}")]
    InputCount { expected: usize, got: usize },
    /// `invoke` got an input buffer of the wrong size.
    #[error("input {index}: expected {expected} bytes, got {got}")]
    InputSize {
        index: usize,
        expected: usize,
        got: usize,
    },
}

pub type RuntimeResult<T> = Result<T, RuntimeError>;
