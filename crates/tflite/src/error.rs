//! The typed error of reading and writing `.tflite` files.
//!
//! Model files are hostile input: every problem the reader finds becomes one of these variants,
//! never a panic. Messages name the tensor or node (by index and TFLite name) so a user can find
//! it in a model viewer.
use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TfliteError {
    /// A problem with a named file; `source` says what.
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: Box<TfliteError>,
    },
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The flatbuffers verifier rejected the bytes.
    #[error("not a valid TFLite flatbuffer: {0}")]
    Verify(#[from] flatbuffers::InvalidFlatbuffer),
    /// A structural problem that the verifier let through (should not happen on verified
    /// input; reported instead of trusted).
    #[error("malformed flatbuffer: {0}")]
    Malformed(String),
    /// The model as a whole is inconsistent (schema version, missing subgraph, bad graph I/O).
    #[error("invalid model: {0}")]
    Invalid(String),
    /// A tensor with a bad shape, type, buffer or quantization.
    #[error("tensor {index} ('{name}'): {msg}")]
    Tensor {
        index: usize,
        name: String,
        msg: String,
    },
    /// A node with wrong operands or options.
    #[error("node {node} ({op}): {msg}")]
    Node {
        node: usize,
        op: String,
        msg: String,
    },
    /// An operator tinyforge does not execute.
    #[error("node {node}: unsupported op {op}; supported ops: {supported}")]
    UnsupportedOp {
        node: usize,
        op: String,
        supported: String,
    },
    /// A graph that cannot be written as `.tflite`.
    #[error("cannot write .tflite: {0}")]
    Write(String),
}

impl TfliteError {
    /// Wraps `self` with the path of the file it concerns.
    pub fn in_file(self, path: &std::path::Path) -> Self {
        TfliteError::File {
            path: path.display().to_string(),
            source: Box::new(self),
        }
    }
}
