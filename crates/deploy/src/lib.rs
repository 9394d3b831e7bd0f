//! Deploy tinyforge models to microcontrollers: generate code, build it, run it on an emulated
//! Cortex-M4F and measure it.
//!
//! - [`emit_c()`]: a portable C99 library (weights in flash, one static arena of the planned size,
//!   layer calls with every constant baked in, `tf_input` / `tf_invoke` / `tf_output`);
//! - [`emit_arduino()`]: the same library as an Arduino library with an example sketch;
//! - [`emit_rust()`]: a `no_std` crate on `tinyforge-kernels` holding weights and call sequence;
//! - [`mcu_run()`]: builds an emitted C library with `arm-none-eabi-gcc` for a Cortex-M4F, runs
//!   it on QEMU `mps2-an386` and reports exact instruction counts (total and per layer), flash,
//!   static RAM, stack high-water mark and the outputs ([`McuReport`]);
//! - [`host_run()`]: the same library built for the host in strict C99 (the portable path).
//!
//! The C kernels (`c/tf_kernels.c`) are ports of `tinyforge-kernels` and bit-exact with them
//! and with TFLite Micro; their constants come from the same prepare arithmetic (checked in the
//! `lower` module's tests). Arena offsets come from any [`ArenaLayout`]: the graph crate's
//! [`tinyforge_graph::Plan`] in the pipeline (emit `plan.graph`, the fused graph), or
//! [`SequentialLayout`] (no reuse) for tests. The emulator harness (linker script generated
//! from a [`McuTarget`] budget, startup, semihosting, the instruction-counting QEMU plugin) is
//! embedded in the crate; `scripts/install-mcu-tools.sh` installs the external tools.
//!
//! ```no_run
//! use tinyforge_deploy::{emit_c, mcu_run};
//! # fn demo(graph: &tinyforge_graph::Graph, input: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let plan = tinyforge_graph::plan_default(graph)?;
//! let dir = std::path::Path::new("out/model_c");
//! let lib = emit_c(&plan.graph, &plan, dir)?;
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
pub mod pipeline;

pub use emit_arduino::{emit_arduino, emit_arduino_with};
pub use emit_c::{emit_c, emit_c_with, EmitOptions, EmittedC, LayerInfo, WeightInfo};
pub use emit_rust::{emit_rust, emit_rust_with, EmittedRust};
pub use error::{DeployError, DeployResult};
pub use host::host_run;
pub use layout::{ArenaLayout, SequentialLayout};
pub use lower::{SPARSE_MAX_RATIO, SPARSE_MIN_ROW};
pub use mcu::{
    mcu_run, mcu_run_with, tools_available, McuOptions, McuReport, McuTarget, Toolchain,
};
pub use pipeline::{deploy, deploy_with, CodeTarget, Deployment, Emitted};
