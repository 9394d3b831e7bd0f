//! Typed errors of code generation and of building/running firmware on the emulator.
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DeployError {
    /// An external program (cross compiler, QEMU, host C compiler) is not installed.
    #[error("{tool} not found: {hint}")]
    ToolMissing { tool: String, hint: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The graph uses an op, dtype or parameter combination the code generator does not emit.
    #[error("unsupported for code generation: {0}")]
    Unsupported(String),
    /// The graph or its memory layout is inconsistent (missing offsets, wrong shapes, …).
    #[error("invalid model for code generation: {0}")]
    Invalid(String),
    /// Compiling or linking failed (an image that overflows the device fails here).
    #[error("build failed: {command}\n{output}")]
    Build { command: String, output: String },
    /// The graph could not be validated or planned.
    #[error(transparent)]
    Graph(#[from] tinyforge_graph::GraphError),
    /// The firmware ran but failed, hung, or produced incomplete results.
    #[error("firmware run failed: {0}")]
    Run(String),
}

pub type DeployResult<T> = Result<T, DeployError>;

impl DeployError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DeployError::Io {
            path: path.into(),
            source,
        }
    }
}
