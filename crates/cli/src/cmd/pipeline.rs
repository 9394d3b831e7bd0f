//! `tinyforge pipeline`: the product's main job as a list of stages over one context. With no
//! arguments: train `examples/mnist_dscnn.toml` on the bundled MNIST → export
//! `runs/pipeline/model.tflite` → evaluate it in the runtime → (prune, when asked) → int8 PTQ
//! (`model_int8.tflite`) → inspect it for the Arduino Nano
//! 33 BLE (planned SRAM, flash, fit) → a summary table.
//!
//! Pruning is off by default: it fine-tunes for tens of epochs, which would more than double a
//! newcomer's first run. A `[prune]` section in the recipe (the options of `tinyforge prune`,
//! see [`super::prune::Options`]) or `--prune` turns it on; it writes `model_pruned.tflite`,
//! which the later stages then quantize and inspect.
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

use super::prune::Options;

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
    /// Prune after training (the recipe's `[prune]` section, else 80 % unstructured).
    #[arg(long)]
    pub prune: bool,
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
    /// `--prune`: run the prune stage even without a `[prune]` section.
    pub prune: bool,
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
    ("prune", prune),
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

/// The recipe's `[prune]` section, or the defaults under `--prune`; `None` when the stage is off.
pub fn prune_options(config: &std::path::Path, forced: bool) -> anyhow::Result<Option<Options>> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("{}: cannot read the config", config.display()))?;
    let recipe: toml::Value =
        toml::from_str(&text).with_context(|| format!("{}: invalid config", config.display()))?;
    let opts = match recipe.get("prune") {
        Some(section) => Some(
            section
                .clone()
                .try_into::<Options>()
                .with_context(|| format!("{}: [prune]", config.display()))?,
        ),
        None => forced.then(Options::default),
    };
    Ok(opts.and_then(|mut o| {
        if forced {
            o.enabled = true;
        }
        if o.sparsity.is_none() && o.min_accuracy.is_none() {
            o.sparsity = Some(if o.structured { 0.5 } else { 0.8 });
        }
        o.enabled.then_some(o)
    }))
}

fn prune(c: &mut Ctx) -> anyhow::Result<()> {
    let Some(opts) = prune_options(&c.config, c.prune)? else {
        c.row(
            "prune",
            "off (add a [prune] section to the recipe, or --prune)".into(),
            json!(null),
        );
        return Ok(());
    };
    let model = c.model()?;
    let spec = super::train::read_recipe(&c.config)?.data;
    let out = c.out.join("model_pruned.tflite");
    let s = super::prune::prune_file(&model, &spec, &opts, &out, !c.progress)?;
    let what = if s.mode == "structured" {
        format!(
            "{:.0} % of the channels removed, MACs {} → {}",
            100.0 * s.sparsity,
            s.macs_before,
            s.macs_after
        )
    } else {
        format!(
            "{:.1} % of the pruned kernels' weights zero",
            100.0 * s.sparsity
        )
    };
    c.row(
        "prune",
        format!(
            "{what}; float accuracy {:.2}% → {:.2}% ({})",
            100.0 * s.accuracy_before,
            100.0 * s.accuracy_after,
            out.display()
        ),
        json!({
            "mode": s.mode,
            "sparsity": s.sparsity,
            "accuracy_before": s.accuracy_before,
            "accuracy_after": s.accuracy_after,
            "macs_before": s.macs_before,
            "macs_after": s.macs_after,
        }),
    );
    c.model = Some(out);
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
        prune: args.prune,
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
