//! `tinyforge-compress`: make float models small enough for a microcontroller.
//!
//! The quantization half lives in [`quantize`]: calibration of activation ranges on sample data
//! (min/max, percentile, MSE-optimal), post-training conversion of a float IR graph to an int8
//! graph that TFLite Micro runs bit-exactly like `tinyforge-runtime`, packed 4-bit weights, and
//! the measurements that judge a result (output agreement, per-layer SQNR).
//!
//! Invariants: conversion never changes the float graph it is given; every quantized graph it
//! returns passes `tinyforge_graph::validate` and prepares in `tinyforge-runtime`.
//! Neighbours: `tinyforge-graph` (the IR), `tinyforge-runtime` (float calibration runs and int8
//! evaluation), `tinyforge-tflite` (the CLI writes results through it), `tinyforge-train` (QAT).
#![forbid(unsafe_code)]

pub mod error;
pub mod prune;
pub mod quantize;

pub use error::{CompressError, CompressResult};
