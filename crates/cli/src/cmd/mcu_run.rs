//! `tinyforge mcu-run`: build a deployed C or Arduino library into Cortex-M4F firmware, run it
//! on QEMU `mps2-an386` and report what it costs on the device.
//!
//! Reported: instructions per inference, MACs per instruction (total and per layer, the layer
//! MACs come from the deploy manifest), flash (text + rodata + data), static RAM (data + bss,
//! the arena included), the stack high-water mark, and whether the outputs equal the host
//! runtime's on the same inputs (the model copied into the deploy directory by `deploy`).
//! Inputs are raw files with N samples back to back, as for `tinyforge run`; all N run.
//!
//! Without the ARM compiler or QEMU the command fails with the install instructions
//! (`scripts/install-mcu-tools.sh`). The work is `tinyforge_deploy::mcu_run_with`.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::json;
use tinyforge_deploy::{mcu_run_with, McuOptions, McuReport, McuTarget};
use tinyforge_graph::Device;

use super::deploy::{MANIFEST, MODEL_COPY};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A directory written by `tinyforge deploy --format c|arduino`.
    pub dir: PathBuf,
    /// One raw input file per model input, in order (N samples back to back).
    #[arg(long = "input", required = true)]
    pub inputs: Vec<PathBuf>,
    /// One raw output file per model output, in order (optional).
    #[arg(long = "output")]
    pub outputs: Vec<PathBuf>,
    /// Device budget for the linker script (default: the deploy target).
    #[arg(long)]
    pub target: Option<String>,
    /// Wall-clock limit of the emulator run, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One emitted layer with its measured cost.
#[derive(Debug, Clone)]
pub struct LayerCost {
    pub op: String,
    pub macs: u64,
    pub instructions: u64,
    /// How the layer's filter is stored (`int8`, `int4`, `int2`, `sparse`), from the manifest.
    pub weights: Option<String>,
    /// Filter bytes in flash.
    pub weight_bytes: Option<u64>,
}

/// A device run compared with the host runtime.
#[derive(Debug, Clone)]
pub struct Measured {
    pub report: McuReport,
    pub macs: u64,
    pub layers: Vec<LayerCost>,
    pub outputs_match: bool,
    pub target: String,
}

impl Measured {
    pub fn macs_per_instruction(&self) -> f64 {
        if self.report.instructions == 0 {
            0.0
        } else {
            self.macs as f64 / self.report.instructions as f64
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.report;
        json!({
            "target": self.target,
            "instructions": r.instructions,
            "instructions_per_sample": r.instructions_per_sample,
            "macs": self.macs,
            "macs_per_instruction": self.macs_per_instruction(),
            "flash_bytes": r.flash_bytes,
            "ram_bytes": r.ram_bytes,
            "stack_bytes": r.stack_bytes,
            "samples": r.samples,
            "outputs_match": self.outputs_match,
            "layers": self.layers.iter().map(|l| json!({
                "op": l.op,
                "macs": l.macs,
                "instructions": l.instructions,
                "macs_per_instruction": ratio(l.macs, l.instructions),
                "weights": l.weights,
                "weight_bytes": l.weight_bytes,
            })).collect::<Vec<_>>(),
        })
    }
}

fn ratio(macs: u64, instructions: u64) -> f64 {
    if instructions == 0 {
        0.0
    } else {
        macs as f64 / instructions as f64
    }
}

fn read_manifest(dir: &Path) -> anyhow::Result<serde_json::Value> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: not a deploy directory (run `tinyforge deploy MODEL --format c --out {}` first)",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{}: bad JSON", path.display()))
}

/// The host runtime's outputs for `inputs` (N samples each), per model output.
fn host_outputs(model: &Path, inputs: &[&[u8]]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut rt = super::load_runtime(model)?;
    let one = rt.input_bytes(0);
    let n = inputs[0].len().checked_div(one).unwrap_or(0);
    let mut outs = vec![Vec::new(); rt.output_count()];
    for s in 0..n {
        let sample: Vec<&[u8]> = inputs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let b = rt.input_bytes(i);
                &d[s * b..(s + 1) * b]
            })
            .collect();
        rt.invoke(&sample)
            .with_context(|| format!("{}: host inference on sample {s}", model.display()))?;
        for (o, buf) in outs.iter_mut().enumerate() {
            buf.extend_from_slice(rt.output(o));
        }
    }
    Ok(outs)
}

/// Builds the deployed library in `dir` for `target` (default: the deploy target), runs it on
/// QEMU with `inputs` and compares with the host runtime.
pub fn measure(
    dir: &Path,
    inputs: &[&[u8]],
    target: Option<&str>,
    timeout_s: u64,
) -> anyhow::Result<Measured> {
    let manifest = read_manifest(dir)?;
    let c_dir = match manifest["c_dir"].as_str() {
        Some(rel) => dir.join(rel),
        None => bail!(
            "{}: holds a {} deployment; mcu-run builds the C or Arduino formats",
            dir.display(),
            manifest["format"].as_str().unwrap_or("non-C")
        ),
    };
    let target = target
        .map(str::to_string)
        .or_else(|| manifest["target"].as_str().map(str::to_string))
        .unwrap_or_else(|| "nano33ble".into());
    let device = Device::lookup(&target).with_context(|| format!("target {target}"))?;
    let opts = McuOptions {
        target: McuTarget::from_device(&device),
        timeout: std::time::Duration::from_secs(timeout_s),
        ..McuOptions::default()
    };
    let report = mcu_run_with(&c_dir, inputs, &opts)
        .with_context(|| format!("{}: emulated run", dir.display()))?;
    let model = dir.join(manifest["model"].as_str().unwrap_or(MODEL_COPY));
    let host = host_outputs(&model, inputs)?;
    let layers: Vec<LayerCost> = manifest["layers"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .zip(&report.layer_instructions)
                .map(|(l, &n)| LayerCost {
                    op: l["op"].as_str().unwrap_or("?").to_string(),
                    macs: l["macs"].as_u64().unwrap_or(0),
                    instructions: n,
                    weights: l["weights"]["encoding"].as_str().map(str::to_string),
                    weight_bytes: l["weights"]["bytes"].as_u64(),
                })
                .collect()
        })
        .unwrap_or_default();
    let macs = manifest["macs"]
        .as_u64()
        .unwrap_or_else(|| layers.iter().map(|l| l.macs).sum());
    Ok(Measured {
        outputs_match: host == report.outputs,
        report,
        macs,
        layers,
        target: device.name,
    })
}

/// Human-readable lines of a measurement (shared with the pipeline).
pub fn print_text(m: &Measured) {
    let r = &m.report;
    println!(
        "{} on QEMU mps2-an386 (Cortex-M4F), {} sample(s):",
        m.target, r.samples
    );
    println!("  instructions/inference {}", r.instructions);
    println!(
        "  MACs {} → {:.3} MAC/instruction",
        m.macs,
        m.macs_per_instruction()
    );
    println!("  flash {} B (text+rodata+data)", r.flash_bytes);
    println!("  static RAM {} B (data+bss, arena included)", r.ram_bytes);
    println!("  stack high-water {} B", r.stack_bytes);
    println!(
        "  outputs match host runtime: {}",
        if m.outputs_match { "yes" } else { "NO" }
    );
    if !m.layers.is_empty() {
        println!(
            "  {:>3} {:<18} {:>10} {:>12} {:>9}  filter",
            "#", "op", "MACs", "instructions", "MAC/instr"
        );
        for (i, l) in m.layers.iter().enumerate() {
            let per = if l.macs > 0 {
                format!("{:.3}", ratio(l.macs, l.instructions))
            } else {
                "-".into()
            };
            let filter = match (&l.weights, l.weight_bytes) {
                (Some(w), Some(b)) => format!("  {w} {b} B"),
                _ => String::new(),
            };
            println!(
                "  {i:>3} {:<18} {:>10} {:>12} {:>9}{filter}",
                l.op, l.macs, l.instructions, per
            );
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let data: Vec<Vec<u8>> = args
        .inputs
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("{}", p.display())))
        .collect::<anyhow::Result<_>>()?;
    let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    let m = measure(&args.dir, &inputs, args.target.as_deref(), args.timeout)?;
    if !args.outputs.is_empty() {
        if args.outputs.len() != m.report.outputs.len() {
            bail!(
                "{}: the model has {} output(s), {} --output file(s) given",
                args.dir.display(),
                m.report.outputs.len(),
                args.outputs.len()
            );
        }
        for (path, bytes) in args.outputs.iter().zip(&m.report.outputs) {
            std::fs::write(path, bytes)
                .with_context(|| format!("{}: cannot write", path.display()))?;
        }
    }
    if args.json {
        println!("{}", m.to_json());
    } else {
        print_text(&m);
    }
    if !m.outputs_match {
        bail!(
            "{}: the device outputs differ from the host runtime",
            args.dir.display()
        );
    }
    Ok(())
}

/// Pipeline stage: run the C library the deploy stage wrote on the emulated Cortex-M4F with a
/// fixed pseudo-random input and add its figures to the summary. Without the tools it says how
/// to install them instead of failing.
pub fn pipeline_stage(c: &mut super::pipeline::Ctx) -> anyhow::Result<()> {
    let dir = c.out.join("deploy").join("c");
    if !dir.join(MANIFEST).is_file() {
        c.summary.push((
            "mcu_run".into(),
            "skipped: no C library was deployed".into(),
            json!(null),
        ));
        return Ok(());
    }
    if !tinyforge_deploy::tools_available() {
        c.summary.push((
            "mcu_run".into(),
            format!(
                "skipped: the ARM compiler or QEMU is missing; {}",
                tinyforge_deploy::mcu::INSTALL_HINT
            ),
            json!(null),
        ));
        return Ok(());
    }
    let rt = super::load_runtime(&dir.join(MODEL_COPY))?;
    let mut seed = 0x2545_f491u32;
    let inputs: Vec<Vec<u8>> = (0..rt.input_count())
        .map(|i| {
            (0..rt.input_bytes(i))
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 24) as u8
                })
                .collect()
        })
        .collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let m = measure(&dir, &refs, Some(&c.target), 120)?;
    let r = &m.report;
    c.summary.push((
        "mcu_run".into(),
        format!(
            "{} instructions/inference, {:.3} MAC/instr, flash {} B, static RAM {} B, \
             stack {} B, outputs match host: {}",
            r.instructions,
            m.macs_per_instruction(),
            r.flash_bytes,
            r.ram_bytes,
            r.stack_bytes,
            if m.outputs_match { "yes" } else { "NO" }
        ),
        m.to_json(),
    ));
    Ok(())
}
