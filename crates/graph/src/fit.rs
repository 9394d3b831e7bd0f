//! The fit check: does a planned model fit a device's flash and SRAM, and how fast might it run.
//!
//! - **Flash** = weight bytes (every constant the graph reads, stored once) + requantization
//!   tables ([`CHANNEL_TABLE_BYTES`], an int32 multiplier and an int8 shift, per output channel
//!   of each node with per-channel quantized weights, plus [`NODE_METADATA_BYTES`] per node for
//!   shapes, offsets and parameters) + code ([`RUNTIME_BASE_CODE_BYTES`] for the invoke
//!   function, startup and fixed-point helpers, plus [`OpCost::code_bytes`] once per distinct
//!   kernel used).
//! - **SRAM** = the planned arena ([`crate::plan::Plan::arena_bytes`]) + a stack estimate
//!   ([`FitOptions::stack_bytes`], reported separately; kernels use small fixed stack frames).
//! - **Latency** ≈ instructions × cycles per instruction / clock, where instructions come from
//!   [`op_cost`] (instructions per MAC and per output element of each op kind) and the cycles
//!   per instruction are [`M4_CYCLES_PER_INSTRUCTION`] scaled by the device's
//!   [`Device::cycles_per_mac`] relative to the Cortex-M4F reference profile: an estimate, not
//!   a measurement.
//!
//! The code sizes and instruction costs in [`op_cost`] were measured on the C that
//! `tinyforge-deploy` emits, built with `arm-none-eabi-gcc -O2 -mcpu=cortex-m4` (DSP path) and
//! run on QEMU `mps2-an386` with the instruction counter (`tinyforge mcu-run`), over the
//! reference models (KWS DS-CNN, VWW MobileNetV1, ResNet-8, AD autoencoder, hello_world):
//! symbol sizes from the ELF, and a per-layer fit of instructions = a × MACs + b × outputs.
//! Re-measure them when the emitted kernels change.
//!
//! The verdict counts both memories against the device's usable sizes (total minus reserved).
use std::fmt;

use crate::cost::graph_cost;
use crate::device::Device;
use crate::ir::Op;
use crate::plan::Plan;

/// Code of the generated program besides its kernels (invoke function, startup, fixed-point
/// helpers), in bytes; measured 0.9–1.1 KB on the reference models.
pub const RUNTIME_BASE_CODE_BYTES: u64 = 1024;
/// Flash per node for its shapes, arena offsets and prepared parameters, in bytes (the emitted
/// per-layer constant struct and its call).
pub const NODE_METADATA_BYTES: u64 = 64;
/// Flash per output channel of a per-channel quantized layer: int32 multiplier + int8 shift.
pub const CHANNEL_TABLE_BYTES: u64 = 5;
/// Default stack estimate in bytes (measured high-water marks of the emitted kernels on the
/// reference models and the MNIST recipe, dense and sparse: 168–1,820 B).
pub const DEFAULT_STACK_BYTES: u64 = 2 * 1024;
/// Cycles per executed instruction of the emitted kernels on a Cortex-M4F with zero-wait-state
/// flash: most instructions take one cycle, loads two, taken branches two to four.
pub const M4_CYCLES_PER_INSTRUCTION: f64 = 1.3;
/// [`Device::cycles_per_mac`] of the Cortex-M4F profile the instruction costs were measured on.
pub const M4_CYCLES_PER_MAC: f64 = 2.5;

/// Measured cost of the kernel executing one op kind on a Cortex-M4F (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpCost {
    /// Code bytes of the kernel (counted once per distinct kernel).
    pub code_bytes: u64,
    /// Instructions per multiply-accumulate (inner loops).
    pub instructions_per_mac: f64,
    /// Instructions per output element (requantization, stores, loop set-up, element-wise work).
    pub instructions_per_output: f64,
}

const fn cost(code_bytes: u64, per_mac: f64, per_output: f64) -> OpCost {
    OpCost {
        code_bytes,
        instructions_per_mac: per_mac,
        instructions_per_output: per_output,
    }
}

/// The measured cost of the kernel executing `op`.
pub fn op_cost(op: &Op) -> OpCost {
    match op {
        // tf_conv2d_s8: channel blocks, 2×2 SMLAD tiles, patch gather, table requantization
        Op::Conv2d(_) => cost(2540, 1.5, 39.0),
        // the same loop with the residual add per output through the reference arithmetic
        Op::Conv2dAdd { .. } => cost(2540, 1.5, 161.0),
        Op::DepthwiseConv2d(_) => cost(2700, 3.5, 56.0),
        Op::FullyConnected(_) => cost(900, 2.4, 30.0),
        // pools read a window per output: max pools are mostly 2×2 and strided, average
        // pools mostly global (the reference models' 7×7, 25×5 and 3×3 windows)
        Op::MaxPool2d(_) => cost(500, 0.0, 50.0),
        Op::AveragePool2d(_) => cost(580, 0.0, 400.0),
        Op::Add { .. } | Op::Mul { .. } => cost(420, 0.0, 30.0),
        Op::Softmax { .. } => cost(830, 0.0, 180.0),
        Op::Logistic | Op::Tanh | Op::Relu | Op::Relu6 | Op::Quantize => cost(300, 0.0, 6.0),
        Op::Dequantize => cost(300, 0.0, 8.0),
        Op::Mean { .. } => cost(400, 0.0, 60.0),
        Op::Pad | Op::Concatenation { .. } => cost(400, 0.0, 4.0),
        Op::Reshape | Op::Squeeze { .. } => cost(0, 0.0, 0.0),
    }
}

/// Code bytes of the kernel executing `op` (counted once per distinct kernel).
pub fn op_code_bytes(op: &Op) -> u64 {
    op_cost(op).code_bytes
}

/// Options of [`fit`].
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    pub stack_bytes: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            stack_bytes: DEFAULT_STACK_BYTES,
        }
    }
}

/// Bytes used against bytes available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub used: u64,
    pub available: u64,
}

impl Budget {
    pub fn fits(&self) -> bool {
        self.used <= self.available
    }
    /// Bytes left (positive) or over (negative).
    pub fn margin(&self) -> i128 {
        i128::from(self.available) - i128::from(self.used)
    }
    /// Fraction of the budget used (∞ for an empty budget).
    pub fn utilisation(&self) -> f64 {
        if self.available == 0 {
            f64::INFINITY
        } else {
            self.used as f64 / self.available as f64
        }
    }
}

/// The result of [`fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    pub device: String,
    pub flash: Budget,
    pub sram: Budget,
    pub weight_bytes: u64,
    pub metadata_bytes: u64,
    pub code_bytes: u64,
    pub arena_bytes: u64,
    pub stack_bytes: u64,
    pub macs: u64,
    /// Estimated instructions per inference (from [`op_cost`]).
    pub instructions: u64,
    /// Estimated seconds per inference.
    pub latency_s: f64,
    pub fits: bool,
}

impl FitReport {
    /// One sentence per failed budget, empty when the model fits.
    pub fn problems(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self.flash.fits() {
            v.push(format!(
                "flash: needs {} (weights {} + tables {} + code {}) but {} has {} usable: {} over",
                kb(self.flash.used),
                kb(self.weight_bytes),
                kb(self.metadata_bytes),
                kb(self.code_bytes),
                self.device,
                kb(self.flash.available),
                kb(self.flash.used - self.flash.available)
            ));
        }
        if !self.sram.fits() {
            v.push(format!(
                "SRAM: needs {} (arena {} + stack {}) but {} has {} usable: {} over",
                kb(self.sram.used),
                kb(self.arena_bytes),
                kb(self.stack_bytes),
                self.device,
                kb(self.sram.available),
                kb(self.sram.used - self.sram.available)
            ));
        }
        v
    }
}

fn kb(b: u64) -> String {
    if b < 10 * 1024 {
        format!("{b} B")
    } else {
        format!("{:.1} KB", b as f64 / 1024.0)
    }
}

fn margin(b: &Budget) -> String {
    let m = b.margin();
    let abs = u64::try_from(m.unsigned_abs()).unwrap_or(u64::MAX);
    if m >= 0 {
        format!("{} left", kb(abs))
    } else {
        format!("{} OVER", kb(abs))
    }
}

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {}",
            self.device,
            if self.fits { "fits" } else { "does NOT fit" }
        )?;
        writeln!(
            f,
            "  flash {} / {} ({:.0}%, {}): weights {}, tables {}, code {} (estimate)",
            kb(self.flash.used),
            kb(self.flash.available),
            self.flash.utilisation() * 100.0,
            margin(&self.flash),
            kb(self.weight_bytes),
            kb(self.metadata_bytes),
            kb(self.code_bytes)
        )?;
        writeln!(
            f,
            "  SRAM  {} / {} ({:.0}%, {}): arena {}, stack {} (estimate)",
            kb(self.sram.used),
            kb(self.sram.available),
            self.sram.utilisation() * 100.0,
            margin(&self.sram),
            kb(self.arena_bytes),
            kb(self.stack_bytes)
        )?;
        write!(
            f,
            "  latency ≈ {:.2} ms (estimate: {} MACs, ≈{} instructions from measured Cortex-M4 \
             kernel costs × cycles per instruction)",
            self.latency_s * 1e3,
            self.macs,
            self.instructions
        )?;
        for p in self.problems() {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// Checks `plan` against `device`; see the module docs for what is counted.
pub fn fit(plan: &Plan, device: &Device, opts: &FitOptions) -> FitReport {
    let g = &plan.graph;
    let cost = graph_cost(g);
    let mut kernels: Vec<&'static str> = Vec::new();
    let mut code = RUNTIME_BASE_CODE_BYTES;
    let mut metadata = 0u64;
    let mut instructions = 0f64;
    for (node, c) in g.nodes.iter().zip(&cost.nodes) {
        let name = node.op.name();
        let oc = op_cost(&node.op);
        if !kernels.contains(&name) {
            kernels.push(name);
            code = code.saturating_add(oc.code_bytes);
        }
        let outputs: usize = node
            .outputs
            .iter()
            .filter_map(|&o| g.tensors.get(o))
            .map(|t| t.shape.iter().product::<usize>())
            .sum();
        instructions +=
            oc.instructions_per_mac * c.macs as f64 + oc.instructions_per_output * outputs as f64;
        metadata = metadata.saturating_add(NODE_METADATA_BYTES);
        // Per-channel quantized weights need a multiplier and shift per output channel.
        let channels = match &node.op {
            Op::Conv2d(_)
            | Op::Conv2dAdd { .. }
            | Op::DepthwiseConv2d(_)
            | Op::FullyConnected(_) => node
                .inputs
                .get(1)
                .copied()
                .flatten()
                .and_then(|w| g.tensors.get(w))
                .and_then(|w| w.quant.as_ref())
                .filter(|q| q.is_per_channel())
                .map_or(0, |q| q.scale.len() as u64),
            _ => 0,
        };
        metadata = metadata.saturating_add(channels.saturating_mul(CHANNEL_TABLE_BYTES));
    }
    let flash = Budget {
        used: cost
            .weight_bytes
            .saturating_add(metadata)
            .saturating_add(code),
        available: device.usable_flash(),
    };
    let arena = plan.arena_bytes as u64;
    let sram = Budget {
        used: arena.saturating_add(opts.stack_bytes),
        available: device.usable_sram(),
    };
    let cpi = M4_CYCLES_PER_INSTRUCTION * device.cycles_per_mac / M4_CYCLES_PER_MAC;
    let latency_s = if device.clock_hz == 0 {
        f64::INFINITY
    } else {
        instructions * cpi / device.clock_hz as f64
    };
    FitReport {
        device: device.name.clone(),
        fits: flash.fits() && sram.fits(),
        flash,
        sram,
        weight_bytes: cost.weight_bytes,
        metadata_bytes: metadata,
        code_bytes: code,
        arena_bytes: arena,
        stack_bytes: opts.stack_bytes,
        macs: cost.macs,
        instructions: instructions.round() as u64,
        latency_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan_default;
    use crate::testutil::small_cnn;

    #[test]
    fn small_model_fits_nano() {
        let p = plan_default(&small_cnn()).unwrap();
        let d = Device::lookup("nano33ble").unwrap();
        let r = fit(&p, &d, &FitOptions::default());
        assert!(r.fits, "{r}");
        assert_eq!(r.arena_bytes, 512);
        assert_eq!(r.sram.used, 512 + DEFAULT_STACK_BYTES);
        assert_eq!(r.sram.margin(), 256 * 1024 - 512 - 2048);
        // Six distinct kernels plus the base: conv, depthwise, pool, reshape, FC, softmax.
        let code = RUNTIME_BASE_CODE_BYTES + 2540 + 2700 + 580 + 900 + 830;
        assert_eq!(r.code_bytes, code);
        // Tables: 6 nodes × 64 B, 5 B per channel for conv (4), dw (4), fc (3).
        assert_eq!(r.metadata_bytes, 6 * 64 + 5 * 11);
        assert_eq!(r.flash.used, r.weight_bytes + r.metadata_bytes + code);
        // conv and dw: 2304 MACs and 256 outputs each; pool 4, FC 12 MACs + 3, softmax 3 outputs
        let instructions = (1.5 * 2304.0 + 39.0 * 256.0)
            + (3.5 * 2304.0 + 56.0 * 256.0)
            + 400.0 * 4.0
            + (2.4 * 12.0 + 30.0 * 3.0)
            + 180.0 * 3.0;
        assert_eq!(r.instructions, 38099);
        let expect = instructions * M4_CYCLES_PER_INSTRUCTION / 64e6;
        assert!(
            (r.latency_s - expect).abs() < 1e-12,
            "{} vs {expect}",
            r.latency_s
        );
        assert!(r.to_string().contains("38099 instructions"), "{r}");
        assert!(r.problems().is_empty());
        assert!(r.to_string().contains("fits"));
    }

    #[test]
    fn tiny_device_reports_overflow() {
        let p = plan_default(&small_cnn()).unwrap();
        let d = Device::from_toml(
            "name = \"speck\"\ncore = \"M0\"\nclock_hz = 1000000\nflash_bytes = 1024\n\
             sram_bytes = 1024\ncycles_per_mac = 10\nreserved_sram_bytes = 512",
            "speck.toml",
            "speck",
        )
        .unwrap();
        let r = fit(&p, &d, &FitOptions::default());
        assert!(!r.fits);
        assert!(r.sram.margin() < 0 && r.flash.margin() < 0);
        let msgs = r.problems();
        assert_eq!(msgs.len(), 2);
        assert!(
            msgs[1].contains("SRAM: needs") && msgs[1].contains("512 B usable"),
            "{msgs:?}"
        );
        assert!(r.to_string().contains("OVER"));
    }
}
