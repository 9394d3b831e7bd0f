//! Deploy tinyforge models to microcontrollers: generate code, build it, run it on an emulated
//! Cortex-M4F and measure it.
//!
//! - [`emit_c`]: a portable C99 library (weights in flash, one static arena of the planned size,
//!   layer calls with every constant baked in, `tf_input` / `tf_invoke` / `tf_output`);
//! - [`mcu_run`]: builds that library with `arm-none-eabi-gcc` for a Cortex-M4F, runs it on QEMU
//!   `mps2-an386` and reports exact instruction counts (total and per layer), flash, static RAM,
//!   stack high-water mark and the outputs.
//!
//! The C kernels (`c/tf_kernels.c`) are ports of `tinyforge-kernels` and bit-exact with them
//! and with TFLite Micro. Arena offsets come from any [`ArenaLayout`] (the graph crate's
//! memory planner in the pipeline); [`SequentialLayout`] is a no-reuse layout for tests.
//!
//! ```no_run
//! use tinyforge_deploy::{emit_c, mcu_run, SequentialLayout};
//! # fn demo(graph: &tinyforge_graph::Graph, input: &[u8]) -> Result<(), tinyforge_deploy::DeployError> {
//! let dir = std::path::Path::new("out/model_c");
//! let lib = emit_c(graph, &SequentialLayout::new(graph), dir)?;
//! let report = mcu_run(dir, &[input])?;
//! println!("{} MACs in {} instructions", lib.macs(), report.instructions);
//! # Ok(()) }
//! ```
pub mod emit_arduino;
pub mod emit_c;
pub mod emit_rust;
pub mod error;
pub mod host;
pub mod layout;
mod lower;
pub mod mcu;

pub use emit_arduino::emit_arduino;
pub use emit_c::{emit_c, EmittedC, LayerInfo};
pub use emit_rust::{emit_rust, EmittedRust};
pub use error::{DeployError, DeployResult};
pub use host::host_run;
pub use layout::{ArenaLayout, SequentialLayout};
pub use mcu::{
    mcu_run, mcu_run_with, tools_available, McuOptions, McuReport, McuTarget, Toolchain,
};
