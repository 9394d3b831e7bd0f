//! `tinyforge deploy`: generate code for a model — an Arduino library, a C99 library or a
//! `no_std` Rust crate — after checking that the plan fits the target device.
//!
//! The output directory records where it came from, so `tinyforge mcu-run` can compare the
//! device run against the host runtime without being told the model again:
//! - `model.tflite`: a copy of the deployed model;
//! - `tinyforge-deploy.json`: format, target, arena bytes and the emitted layers (op, MACs),
//!   which `mcu-run` pairs with per-layer instruction counts.
//!
//! The library work lives in `tinyforge-deploy` ([`tinyforge_deploy::deploy`]); this module
//! only resolves the device, runs the fit check and writes the manifest.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::json;
use tinyforge_deploy::pipeline::plan_options;
use tinyforge_deploy::{CodeTarget, Deployment, EmitOptions, Emitted};
use tinyforge_graph::fit::{fit, FitOptions};
use tinyforge_graph::{plan, Device};

/// File name of the deploy manifest inside the output directory.
pub const MANIFEST: &str = "tinyforge-deploy.json";
/// File name of the copied model inside the output directory.
pub const MODEL_COPY: &str = "model.tflite";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Arduino library: library.properties, src/, an example sketch.
    Arduino,
    /// Portable C99 library (tf_model.c/.h, tf_kernels.c/.h).
    C,
    /// `no_std` Rust crate on tinyforge-kernels.
    Rust,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Arduino => "arduino",
            Format::C => "c",
            Format::Rust => "rust",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The int8 model (.tflite).
    pub model: PathBuf,
    /// Target device: a built-in name (nano33ble, …) or a profile TOML file.
    #[arg(long, default_value = "nano33ble")]
    pub target: String,
    /// What to generate.
    #[arg(long, value_enum, default_value = "arduino")]
    pub format: Format,
    /// Output directory (created; existing generated files are overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Path of the tinyforge-kernels crate the Rust crate depends on (rust format only;
    /// default: the kernels crate of this source tree).
    #[arg(long)]
    pub kernels: Option<PathBuf>,
    /// Keep every int8 filter dense: no sparse `TFSR2` blob (the one `inspect` sizes) for
    /// pruned conv / depthwise / fully-connected filters, which is used by default where it is
    /// at most half the bytes and, for conv / FC, rows hold at least 32 weights (in-place
    /// depthwise layers stay dense).
    #[arg(long)]
    pub dense: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What [`deploy_model`] produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub out: PathBuf,
    /// Directory holding `tf_model.c` (C and Arduino formats).
    pub c_dir: Option<PathBuf>,
    pub arena_bytes: usize,
    pub scratch_bytes: usize,
    pub const_bytes: usize,
    pub macs: u64,
    pub layers: usize,
    pub flash_estimate: u64,
    pub device: String,
    /// Per emitted layer with a filter: (layer index, op, storage).
    pub weights: Vec<(usize, &'static str, tinyforge_deploy::WeightInfo)>,
}

fn default_kernels() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernels");
    p.join("Cargo.toml")
        .is_file()
        .then(|| p.canonicalize().ok())
        .flatten()
}

/// Plans `model` for `target`, checks the fit and writes `format` code into `out`.
pub fn deploy_model(
    model: &Path,
    target: &str,
    format: Format,
    out: &Path,
    kernels: Option<&Path>,
    opts: &EmitOptions,
) -> anyhow::Result<Outcome> {
    let graph = super::load_model(model)?;
    let shown = model.display();
    let device = Device::lookup(target).with_context(|| format!("--target {target}"))?;
    let code_target = match format {
        Format::Arduino => CodeTarget::Arduino,
        Format::C => CodeTarget::C,
        Format::Rust => {
            let kernels = match kernels {
                Some(k) => k
                    .canonicalize()
                    .with_context(|| format!("--kernels {}", k.display()))?,
                None => default_kernels().context(
                    "the rust format needs the tinyforge-kernels crate: pass --kernels PATH",
                )?,
            };
            CodeTarget::Rust { kernels }
        }
    };
    let planned = plan(&graph, &plan_options(&code_target))
        .with_context(|| format!("{shown}: cannot plan the model"))?;
    let report = fit(&planned, &device, &FitOptions::default());
    if !report.fits {
        bail!(
            "{shown} does not fit {}: {}",
            device.name,
            report.problems().join("; ")
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let Deployment { plan, emitted } =
        tinyforge_deploy::deploy_with(&graph, &code_target, out, opts)
            .with_context(|| format!("{shown}: cannot generate {} code", format.name()))?;
    let copy = out.join(MODEL_COPY);
    // the model may already be the copy (re-deploying a deploy dir)
    if model.canonicalize().ok() != copy.canonicalize().ok() {
        std::fs::copy(model, &copy)
            .with_context(|| format!("{}: cannot copy to {}", shown, copy.display()))?;
    }
    let (c_dir, scratch, consts, layers) = match &emitted {
        Emitted::C(c) => (
            Some(c.dir.clone()),
            c.scratch_bytes,
            c.const_bytes,
            c.layers.iter().map(layer_json).collect::<Vec<_>>(),
        ),
        Emitted::Rust(_) => (None, 0, 0, Vec::new()),
    };
    let weights = match &emitted {
        Emitted::C(c) => c
            .layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.weights.clone().map(|w| (i, l.op, w)))
            .collect(),
        Emitted::Rust(_) => Vec::new(),
    };
    let macs = match &emitted {
        Emitted::C(c) => c.macs(),
        Emitted::Rust(_) => tinyforge_graph::graph_cost(&plan.graph).macs,
    };
    let manifest = json!({
        "model": MODEL_COPY,
        "source": model.display().to_string(),
        "format": format.name(),
        "target": device.name,
        "c_dir": c_dir.as_ref().and_then(|d| d.strip_prefix(out).ok()).map(|d| d.display().to_string()),
        "arena_bytes": plan.arena_bytes,
        "scratch_bytes": scratch,
        "const_bytes": consts,
        "macs": macs,
        "layers": layers,
    });
    let mpath = out.join(MANIFEST);
    std::fs::write(&mpath, format!("{manifest:#}\n"))
        .with_context(|| format!("{}: cannot write", mpath.display()))?;
    Ok(Outcome {
        out: out.to_path_buf(),
        c_dir,
        arena_bytes: plan.arena_bytes,
        scratch_bytes: scratch,
        const_bytes: consts,
        macs,
        layers: layers.len(),
        flash_estimate: report.flash.used,
        device: device.name,
        weights,
    })
}

fn weight_json(w: &tinyforge_deploy::WeightInfo) -> serde_json::Value {
    json!({
        "encoding": w.encoding,
        "bytes": w.bytes,
        "int8_bytes": w.int8_bytes,
        "sparsity": w.sparsity(),
        "summary": w.summary,
    })
}

fn layer_json(l: &tinyforge_deploy::LayerInfo) -> serde_json::Value {
    let mut v = json!({"node": l.node, "op": l.op, "macs": l.macs});
    if let Some(w) = &l.weights {
        v["weights"] = weight_json(w);
    }
    v
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let o = deploy_model(
        &args.model,
        &args.target,
        args.format,
        &args.out,
        args.kernels.as_deref(),
        &EmitOptions {
            sparse: !args.dense,
            ..EmitOptions::default()
        },
    )?;
    if args.json {
        println!(
            "{}",
            json!({
                "out": o.out.display().to_string(),
                "format": args.format.name(),
                "target": o.device,
                "arena_bytes": o.arena_bytes,
                "scratch_bytes": o.scratch_bytes,
                "const_bytes": o.const_bytes,
                "macs": o.macs,
                "flash_estimate_bytes": o.flash_estimate,
                "filter_bytes": o.weights.iter().map(|w| w.2.bytes).sum::<usize>(),
                "filters": o.weights.iter().map(|(i, op, w)| {
                    let mut v = weight_json(w);
                    v["layer"] = json!(i);
                    v["op"] = json!(op);
                    v
                }).collect::<Vec<_>>(),
            })
        );
        return Ok(());
    }
    println!(
        "{}: {} code for {} in {}",
        args.model.display(),
        args.format.name(),
        o.device,
        o.out.display()
    );
    println!(
        "  arena {} B + scratch {} B static RAM; {} B constants in flash; {} MACs{}",
        o.arena_bytes,
        o.scratch_bytes,
        o.const_bytes,
        o.macs,
        if o.layers > 0 {
            format!(" in {} layers", o.layers)
        } else {
            String::new()
        }
    );
    let compressed: Vec<_> = o
        .weights
        .iter()
        .filter(|w| w.2.encoding != "int8")
        .collect();
    if !compressed.is_empty() {
        println!(
            "  filters: {} B in flash ({} B as int8); compressed layers:",
            o.weights.iter().map(|w| w.2.bytes).sum::<usize>(),
            o.weights.iter().map(|w| w.2.int8_bytes).sum::<usize>()
        );
        for (i, op, w) in compressed {
            println!("    layer {i} {op}: {}", w.summary);
        }
    }
    if o.c_dir.is_some() {
        println!(
            "  measure it on the emulated Cortex-M4: tinyforge mcu-run {} --input IN.bin --output OUT.bin",
            o.out.display()
        );
    }
    Ok(())
}

/// Pipeline stage: the current model as an Arduino library and a C library under
/// `<out>/deploy/`. A float model (no quantize stage before) is reported and skipped: the code
/// generators emit int8 kernels only.
pub fn pipeline_stage(c: &mut super::pipeline::Ctx) -> anyhow::Result<()> {
    let model = c
        .model
        .clone()
        .context("no model yet: an earlier stage must produce one")?;
    let graph = super::load_model(&model)?;
    let float_weights = graph
        .tensors
        .iter()
        .any(|t| t.is_const() && t.dtype == tinyforge_graph::DType::F32);
    if float_weights {
        c.summary.push((
            "deploy".into(),
            format!(
                "skipped: {} has float weights; the code generators need an int8 model \
                 (quantize it first)",
                model.display()
            ),
            json!(null),
        ));
        return Ok(());
    }
    let root = c.out.join("deploy");
    let mut dirs = Vec::new();
    let mut flash = 0;
    for format in [Format::Arduino, Format::C] {
        let dir = root.join(format.name());
        let o = deploy_model(
            &model,
            &c.target,
            format,
            &dir,
            None,
            &EmitOptions::default(),
        )?;
        flash = o.flash_estimate;
        dirs.push(dir.display().to_string());
    }
    c.summary.push((
        "deploy".into(),
        format!(
            "Arduino library + C library in {} (flash estimate {flash} B)",
            root.display()
        ),
        json!(dirs),
    ));
    Ok(())
}
