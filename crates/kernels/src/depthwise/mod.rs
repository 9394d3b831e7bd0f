//! Depthwise convolutions: int8 (`depthwise_conv2d_s8`, per-channel requantization, TFLM's
//! `reference_integer_ops::DepthwiseConvPerChannel` bit for bit) and float
//! (`depthwise_conv2d_f32`, TFLite's float `DepthwiseConv`).
//!
//! Filter layout is `[1, KH, KW, C·M]` (a [`Shape4`](crate::Shape4) with `n = 1`); output
//! channel `c·M + m` reads input channel `c`. Geometry, quantization helpers and `ConvQuant`
//! come from [`crate::conv`]. Fast variants sit behind the dispatch functions and are tested
//! byte-equal to the reference loops.

pub mod depthwise_conv2d_f32;
pub mod depthwise_conv2d_s4;
pub mod depthwise_conv2d_s8;
pub mod depthwise_conv2d_s8_fast;

pub use depthwise_conv2d_f32::{
    depthwise_conv2d_f32, depthwise_conv2d_f32_ref, DepthwiseF32Params,
};
pub use depthwise_conv2d_s8::{depthwise_conv2d_s8, depthwise_conv2d_s8_ref, DepthwiseS8Params};
pub use depthwise_conv2d_s8_fast::depthwise_conv2d_s8_fast;
