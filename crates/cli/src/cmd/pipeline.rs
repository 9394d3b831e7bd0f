//! `tinyforge pipeline`: the product's main job as a list of stages over one context. With no
//! arguments: train `examples/mnist_dscnn.toml` on the bundled MNIST → export
//! `runs/pipeline/model.tflite` → evaluate it in the runtime → int8 PTQ
//! (`model_int8.tflite`) → inspect it for the Arduino Nano
//! 33 BLE (planned SRAM, flash, fit) → a summary table.
//!
//! Each stage reads what earlier ones left in [`Ctx`] (the current model file, above all) and
//! adds rows to the summary; a later stage (quantize, prune, deploy, mcu-run) is one function
//! and one entry in [`STAGES`]. A stage failing stops the pipeline with that stage named.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use tinyforge_graph::fit::{fit, FitOptions};
use tinyforge_graph::{graph_cost, plan_default, Device};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The training recipe (default: examples/mnist_dscnn.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output folder (default: runs/pipeline).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Device to check the fit against.
    #[arg(long, default_value = "nano33ble")]
    pub target: String,
    /// Override the recipe's number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Print one JSON object with the summary instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// What the stages share.
#[derive(Debug)]
pub struct Ctx {
    pub config: PathBuf,
    pub out: PathBuf,
    pub target: String,
    pub epochs: Option<usize>,
    pub progress: bool,
    /// The model the next stage works on.
    pub model: Option<PathBuf>,
    /// (key, human-readable value, JSON value) rows of the summary, in stage order.
    pub summary: Vec<(String, String, serde_json::Value)>,
}

impl Ctx {
    fn row(&mut self, key: &str, text: String, value: serde_json::Value) {
        self.summary.push((key.into(), text, value));
    }

    fn model(&self) -> anyhow::Result<PathBuf> {
        self.model
            .clone()
            .context("no model yet: an earlier stage must produce one")
    }
}

type Stage = fn(&mut Ctx) -> anyhow::Result<()>;

/// The stages, in order.
pub const STAGES: &[(&str, Stage)] = &[
    ("train", train),
    ("eval", eval),
    ("quantize", super::quantize::pipeline_stage),
    ("inspect", inspect),
    ("deploy", super::deploy::pipeline_stage),
    ("mcu-run", super::mcu_run::pipeline_stage),
];

fn train(c: &mut Ctx) -> anyhow::Result<()> {
    let o = super::train::train(
        &c.config,
        &super::train::Options {
            out: Some(c.out.clone()),
            resume: false,
            epochs: c.epochs,
            progress: c.progress,
            stop_after: None,
        },
    )?;
    c.row("params", o.params.to_string(), json!(o.params));
    c.row("epochs", o.epochs.to_string(), json!(o.epochs));
    c.row(
        "train_seconds",
        format!("{:.1} s", o.wall_seconds),
        json!(o.wall_seconds),
    );
    if let Some(a) = o.test_accuracy {
        c.row(
            "float_accuracy",
            format!("{:.2}% ({}, training engine)", 100.0 * a, o.evaluated_on),
            json!(a),
        );
    }
    c.model = o.model_path;
    Ok(())
}

fn eval(c: &mut Ctx) -> anyhow::Result<()> {
    let model = c.model()?;
    let r = super::eval::evaluate_file(&model, &c.config, super::eval::Split::Test)?;
    c.row(
        "tflite_accuracy",
        format!(
            "{:.2}% on {} samples ({}, runtime)",
            100.0 * r.accuracy,
            r.samples,
            model.display()
        ),
        json!(r.accuracy),
    );
    Ok(())
}

fn inspect(c: &mut Ctx) -> anyhow::Result<()> {
    let model = c.model()?;
    let graph = super::load_model(&model)?;
    let device = Device::lookup(&c.target).with_context(|| format!("--target {}", c.target))?;
    let plan = plan_default(&graph).with_context(|| format!("{}: cannot plan", model.display()))?;
    let cost = graph_cost(&graph);
    let report = fit(&plan, &device, &FitOptions::default());
    c.row("macs", cost.macs.to_string(), json!(cost.macs));
    c.row(
        "peak_sram_bytes",
        format!("{} B (planned arena)", plan.arena_bytes),
        json!(plan.arena_bytes),
    );
    c.row(
        "flash_bytes",
        format!("{} B (estimate)", report.flash.used),
        json!(report.flash.used),
    );
    c.row(
        "fits",
        format!(
            "{} on {} (SRAM margin {} B, flash margin {} B)",
            if report.fits { "yes" } else { "NO" },
            device.name,
            report.sram.margin() as i64,
            report.flash.margin() as i64
        ),
        json!(report.fits),
    );
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args
        .config
        .unwrap_or_else(|| PathBuf::from("examples/mnist_dscnn.toml"));
    if !config.exists() {
        anyhow::bail!(
            "{}: no such recipe (run from the tinyforge folder, or pass --config)",
            config.display()
        );
    }
    let mut c = Ctx {
        config,
        out: args.out.unwrap_or_else(|| PathBuf::from("runs/pipeline")),
        target: args.target,
        epochs: args.epochs,
        progress: !args.json && std::io::stderr().is_terminal(),
        model: None,
        summary: Vec::new(),
    };
    let t0 = Instant::now();
    for (name, stage) in STAGES {
        if c.progress {
            eprintln!("== {name}");
        }
        stage(&mut c).with_context(|| format!("pipeline stage {name}"))?;
    }
    let wall = t0.elapsed().as_secs_f64();
    if args.json {
        let mut v = serde_json::Map::new();
        for (k, _, j) in &c.summary {
            v.insert(k.clone(), j.clone());
        }
        v.insert(
            "model_path".into(),
            json!(c.model.map(|m| m.display().to_string())),
        );
        v.insert("wall_seconds".into(), json!(wall));
        println!("{}", serde_json::Value::Object(v));
        return Ok(());
    }
    println!("pipeline {} ({:.1} s)", c.config.display(), wall);
    for (k, text, _) in &c.summary {
        println!("  {k:<16} {text}");
    }
    if let Some(m) = &c.model {
        println!("  {:<16} {}", "model", m.display());
    }
    Ok(())
}
