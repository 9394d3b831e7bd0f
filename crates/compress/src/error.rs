//! Errors of the compression stage: bad calibration data, models it cannot convert, and the
//! runtime or graph errors met on the way.

/// Everything that can go wrong while compressing a model.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// Calibration or evaluation samples that do not fit the model input.
    #[error("calibration data: {0}")]
    Data(String),
    /// A model this stage cannot convert (already quantized, unsupported op or operand).
    #[error("cannot quantize: {0}")]
    Unsupported(String),
    /// An option outside its domain (e.g. `bits = 3`).
    #[error("invalid option: {0}")]
    Option(String),
    #[error(transparent)]
    Runtime(#[from] tinyforge_runtime::RuntimeError),
    #[error(transparent)]
    Graph(#[from] tinyforge_graph::GraphError),
}

/// Result alias of this crate.
pub type CompressResult<T> = Result<T, CompressError>;
