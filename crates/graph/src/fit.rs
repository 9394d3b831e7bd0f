//! The fit check: does a planned model fit a device's flash and SRAM, and how fast might it run.
//!
//! - **Flash** = weight bytes (every constant the graph reads, stored once) + requantization
//!   tables (8 bytes, an int32 multiplier and shift, per output channel of each node with
//!   per-channel quantized weights, plus [`NODE_METADATA_BYTES`] per node for shapes, offsets and
//!   parameters) + runtime code ([`RUNTIME_BASE_CODE_BYTES`] for the invoke loop, startup and
//!   fixed-point helpers, plus [`op_code_bytes`] once per distinct kernel used). The code sizes
//!   are estimates of the emitted C at `-Os` for Cortex-M, to be replaced by measured ELF sizes.
//! - **SRAM** = the planned arena ([`crate::plan::Plan::arena_bytes`]) + a stack estimate
//!   ([`FitOptions::stack_bytes`], reported separately; kernels use small fixed stack frames).
//! - **Latency** ≈ (MACs + other element ops) × [`Device::cycles_per_mac`] / clock: an
//!   estimate, not a measurement.
//!
//! The verdict counts both memories against the device's usable sizes (total minus reserved).
use std::fmt;

use crate::cost::graph_cost;
use crate::device::Device;
use crate::ir::Op;
use crate::plan::Plan;

/// Code of the runtime itself (invoke loop, startup, fixed-point helpers), in bytes.
pub const RUNTIME_BASE_CODE_BYTES: u64 = 6 * 1024;
/// Flash per node for its shapes, arena offsets and prepared parameters, in bytes.
pub const NODE_METADATA_BYTES: u64 = 64;
/// Default stack estimate in bytes.
pub const DEFAULT_STACK_BYTES: u64 = 2 * 1024;

/// Estimated code bytes of the kernel executing `op` (counted once per distinct kernel).
pub fn op_code_bytes(op: &Op) -> u64 {
    match op {
        Op::Conv2d(_) => 4096,
        Op::Conv2dAdd { .. } => 4608,
        Op::DepthwiseConv2d(_) => 3072,
        Op::FullyConnected(_) => 1536,
        Op::AveragePool2d(_) | Op::MaxPool2d(_) => 1024,
        Op::Add { .. } | Op::Mul { .. } => 1024,
        Op::Softmax { .. } => 1536,
        Op::Logistic | Op::Tanh => 1024,
        Op::Mean { .. } => 1024,
        Op::Pad | Op::Concatenation { .. } => 768,
        Op::Quantize | Op::Dequantize => 512,
        Op::Relu | Op::Relu6 => 256,
        Op::Reshape | Op::Squeeze { .. } => 128,
    }
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
            "  latency ≈ {:.2} ms ({} MACs; estimate from cycles per MAC)",
            self.latency_s * 1e3,
            self.macs
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
    for node in &g.nodes {
        let name = node.op.name();
        if !kernels.contains(&name) {
            kernels.push(name);
            code = code.saturating_add(op_code_bytes(&node.op));
        }
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
        metadata = metadata.saturating_add(channels.saturating_mul(8));
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
    let work = cost.macs.saturating_add(cost.ops) as f64;
    let latency_s = if device.clock_hz == 0 {
        f64::INFINITY
    } else {
        work * device.cycles_per_mac / device.clock_hz as f64
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
        // Six distinct kernels plus the base.
        let code = RUNTIME_BASE_CODE_BYTES + 4096 + 3072 + 1024 + 128 + 1536 + 1536;
        assert_eq!(r.code_bytes, code);
        // Tables: 6 nodes × 64 B, 8 B per channel for conv (4), dw (4), fc (3).
        assert_eq!(r.metadata_bytes, 6 * 64 + 8 * 11);
        assert_eq!(r.flash.used, r.weight_bytes + r.metadata_bytes + code);
        let expect = (graph_cost(&p.graph).macs + graph_cost(&p.graph).ops) as f64 * 2.5 / 64e6;
        assert!((r.latency_s - expect).abs() < 1e-12);
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
