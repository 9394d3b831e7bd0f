//! Typed errors of the training engine. Every fallible public function returns
//! [`TrainResult`]; bad shapes, bad model descriptions and unreadable checkpoints are errors,
//! never panics.

use thiserror::Error;

/// Everything that can go wrong while building, training or checkpointing a model.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A tensor or layer received a shape it cannot work with.
    #[error("shape error: {0}")]
    Shape(String),
    /// A model description (TOML or builder call) is inconsistent.
    #[error("invalid model: {0}")]
    Model(String),
    /// A training configuration value is out of range.
    #[error("invalid config: {0}")]
    Config(String),
    /// Data passed to the trainer does not match the model.
    #[error("data error: {0}")]
    Data(String),
    /// A checkpoint could not be written or read back.
    #[error("checkpoint error: {0}")]
    Checkpoint(String),
    /// The TOML model description could not be parsed.
    #[error("toml: {0}")]
    Toml(#[from] toml::de::Error),
    /// File system errors (checkpoints, model files).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias used throughout the crate.
pub type TrainResult<T> = Result<T, TrainError>;
