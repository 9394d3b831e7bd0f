//! Fully connected (dense) layers: int8 with per-tensor or per-channel weights
//! (`fully_connected_s8`, TFLM's `reference_integer_ops::FullyConnected` /
//! `FullyConnectedPerChannel` bit for bit, weight zero point supported) and float
//! (`fully_connected_f32`, TFLite's float `FullyConnected`).
//!
//! Filter layout is `[O, I]` row-major; the input is `batches × I` contiguous (any higher-rank
//! input is flattened by the caller, as TFLM does); the output is `batches × O`.

pub mod fully_connected_f32;
pub mod fully_connected_s4;
pub mod fully_connected_s8;

pub use fully_connected_f32::{
    fully_connected_f32, fully_connected_f32_ref, FullyConnectedF32Params,
};
pub use fully_connected_s8::{
    fully_connected_s8, fully_connected_s8_fast, fully_connected_s8_ref, FcQuant,
    FullyConnectedS8Params,
};
