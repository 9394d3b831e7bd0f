//! Integer and float inference kernels for microcontrollers.
//!
//! `#![no_std]`, no allocation, no dependencies: the same code runs on the host runtime, inside
//! the emitted `no_std` crate and on a Cortex-M4. Int8 kernels are bit-exact with the TFLite Micro
//! reference kernels (`tensorflow/lite/kernels/internal/reference/integer_ops`); float kernels
//! follow the TFLite reference float kernels.
//!
//! Layout is NHWC everywhere. Quantization parameters are computed once by the caller
//! ("prepare") into plain `Params` structs; kernels only read them and never panic on model data:
//! a shape or buffer-size mismatch is a [`KernelError`].
#![cfg_attr(not(test), no_std)]

pub mod activation;
pub mod conv;
pub mod depthwise;
pub mod elementwise;
pub mod fixedpoint;
pub mod fully_connected;
pub mod gemmlowp;
pub mod movement;
pub mod packed;
pub mod padding;
pub mod pooling;
pub mod quantize;
pub mod reduce;
pub mod shape;
pub mod sparse;

pub use shape::Shape4;

/// Why a kernel refused to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelError {
    /// A buffer is shorter or longer than its shape says.
    BufferSize,
    /// A shape or parameter combination the kernel cannot execute.
    BadParams,
    /// A scratch buffer smaller than the kernel's `scratch_size`.
    Scratch,
}

pub type KernelResult = Result<(), KernelError>;
