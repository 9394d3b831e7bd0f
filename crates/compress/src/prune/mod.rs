//! Pruning: make a float model sparse (unstructured or block-structured magnitude pruning with
//! schedules and fine-tuning) or smaller (structured channel pruning), so that the int8 model
//! built from it takes less flash, less SRAM and less time.
//!
//! Pipeline position: `tinyforge-train` [`Model`](tinyforge_train::Model) in, pruned `Model`
//! out; export to the IR and quantization follow. Modules:
//! - [`mask`]: magnitude masks (global or layer-wise threshold; unstructured, 1×4 blocks along
//!   the input dimension, or 2:4) set through the train engine's per-parameter mask hook, so
//!   masked weights stay exactly 0 through fine-tuning;
//! - [`sensitivity`]: per-layer sparsities from a measured loss-vs-sparsity profile;
//! - [`schedule`]: when masks are updated and to which sparsity (one-shot, constant, Zhu & Gupta
//!   polynomial decay);
//! - [`finetune`]: a seeded mini-batch training loop with a per-step hook, learning-rate
//!   schedules and distillation from the unpruned model's logits, and accuracy;
//! - [`iterative`]: prune → fine-tune driver with the two stop rules (target sparsity, accuracy
//!   floor) and the accuracy-vs-sparsity curve;
//! - [`structured`]: removal of whole output channels by L1/L2 norm, propagated through batch
//!   norm, depthwise-separable blocks and residual adds, giving a smaller dense model, uniformly
//!   or by a global normalized ranking, in one cut or gradually over prune → fine-tune rounds;
//! - [`sparse`]: sizes of pruned int8 graphs in the `TFSR2` sparse format executed by
//!   `tinyforge_kernels::sparse` and stored by `tinyforge deploy`.
//!
//! Invariants: pruning only ever sets weights to exactly 0 (unstructured) or removes channels
//! while keeping the model's function on the kept channels (structured); every model returned
//! still runs forward on the original input shape and has the original output shape.

pub mod finetune;
pub mod iterative;
pub mod mask;
pub mod schedule;
pub mod sensitivity;
pub mod sparse;
pub mod structured;

pub use finetune::{accuracy, Distill, FineTune, LrSchedule};
pub use iterative::{prune, CurvePoint, PruneConfig, PruneOutcome, StopRule};
pub use mask::{
    model_sparsity, set_masks, set_masks_layers, Granularity, MaskConfig, Scope, SparsityReport,
};
pub use schedule::PruneSchedule;
pub use structured::{
    channel_spaces, prune_channels, prune_channels_to, prune_structured, Allocation, ChannelGoal,
    ChannelNorm, ChannelSpace, StructuredConfig, StructuredOutcome, StructuredReport,
    StructuredRun,
};

/// Why pruning failed.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// A configuration value is out of range.
    #[error("invalid pruning configuration: {0}")]
    Config(String),
    /// The model cannot be pruned as asked (no prunable layer, unsupported topology).
    #[error("cannot prune this model: {0}")]
    Model(String),
    /// The dataset does not fit the model.
    #[error("data: {0}")]
    Data(String),
    /// An error from the training engine.
    #[error(transparent)]
    Train(#[from] tinyforge_train::TrainError),
    /// An error from the dataset code.
    #[error(transparent)]
    Dataset(#[from] tinyforge_data::DataError),
}

/// Result of pruning operations.
pub type PruneResult<T> = Result<T, PruneError>;

#[cfg(test)]
mod tests;
