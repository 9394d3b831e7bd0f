//! `tinyforge prune`: prune a float `.tflite` model with fine-tuning on a dataset.
//!
//! Reads the model, imports it into the training engine, loads `--data` the way `train` does
//! (MNIST gets its standard split, other data a seeded stratified 80/20 split), then either
//! magnitude-prunes (`--sparsity S` or `--min-accuracy A`, with `--schedule`) or removes
//! channels (`--structured`, `--sparsity` = fraction of channels removed, default 0.5) and
//! fine-tunes. Writes the pruned float model (dense `.tflite`, pruned weights exactly 0) and
//! the accuracy-vs-sparsity curve as `OUT.curve.csv` next to it. `--json` prints one object.
//! Quantize the result with `tinyforge quantize`; the runtime executes the pruned int8 filters
//! in the sparse encoding.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, ValueEnum};
use serde::Serialize;
use tinyforge_compress::prune::schedule::ScheduleKind;
use tinyforge_compress::prune::{
    self, finetune, ChannelNorm, FineTune, Granularity, PruneConfig, Scope, StopRule,
    StructuredConfig,
};
use tinyforge_data::{DataSpec, SplitSpec};

/// Arguments of `tinyforge prune`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Float `.tflite` model to prune.
    pub model: PathBuf,
    /// Dataset (as `train` reads it), e.g. `data/mnist`.
    #[arg(long)]
    pub data: PathBuf,
    /// Target sparsity (unstructured) or fraction of channels removed (`--structured`).
    #[arg(long)]
    pub sparsity: Option<f32>,
    /// Accuracy floor in percent or as a fraction: go as sparse as possible above it.
    #[arg(long, conflicts_with = "structured")]
    pub min_accuracy: Option<f32>,
    /// Remove whole channels instead of single weights.
    #[arg(long)]
    pub structured: bool,
    /// Mask schedule.
    #[arg(long, value_enum, default_value_t = Sched::Polynomial)]
    pub schedule: Sched,
    /// Sparsity pattern of unstructured pruning.
    #[arg(long, value_enum, default_value_t = Pattern::Unstructured)]
    pub pattern: Pattern,
    /// One global magnitude threshold instead of one per layer.
    #[arg(long)]
    pub global: bool,
    /// Fine-tuning epochs (per round under `--min-accuracy`).
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Fine-tuning peak learning rate (cosine decay over the run).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f32,
    /// Random shift of image samples during fine-tuning, in pixels.
    #[arg(long, default_value_t = 2)]
    pub augment_shift: usize,
    /// Fine-tuning batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Output `.tflite`.
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `--schedule`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Sched {
    OneShot,
    Constant,
    Polynomial,
}

/// `--pattern`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Pattern {
    Unstructured,
    #[value(name = "1x4")]
    Block1x4,
    #[value(name = "2:4")]
    TwoFour,
}

#[derive(Debug, Serialize)]
struct Summary {
    model: String,
    out: String,
    curve: String,
    mode: &'static str,
    sparsity: f32,
    accuracy_before: f32,
    accuracy_after: f32,
    floor_met: Option<bool>,
    params_before: usize,
    params_after: usize,
    macs_before: u64,
    macs_after: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let graph = tinyforge_tflite::read_file(&args.model)
        .with_context(|| format!("{}: cannot read the model", args.model.display()))?;
    let model = tinyforge_train::import::import_graph(&graph).with_context(|| {
        format!(
            "{}: cannot import the model for fine-tuning",
            args.model.display()
        )
    })?;
    let is_mnist = args.data.to_string_lossy().contains("mnist");
    let spec = DataSpec {
        split: Some(if is_mnist {
            SplitSpec::mnist_default()
        } else {
            SplitSpec::Fractions {
                val: 0.0,
                test: 0.2,
                seed: 0,
                stratified: true,
            }
        }),
        ..DataSpec::from_path(&args.data)
    };
    let (parts, _) = tinyforge_data::load_splits(&spec)
        .with_context(|| format!("{}: cannot load the data", args.data.display()))?;
    let test = parts
        .test
        .as_ref()
        .context("the data split has no test part")?;
    let ft = FineTune {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: 0,
        augment_shift: args.augment_shift,
    };
    let mut curve: Vec<(usize, f32, f32)> = Vec::new();
    let (pruned, sparsity, before, after, floor_met, mode) = if args.structured {
        let ratio = args.sparsity.unwrap_or(0.5);
        let mut m0 = model.clone();
        let before = finetune::accuracy(&mut m0, test)?;
        curve.push((0, 0.0, before));
        let (mut small, _report) = prune::prune_channels(
            &model,
            &StructuredConfig {
                ratio,
                norm: ChannelNorm::L1,
                min_channels: 4,
            },
        )?;
        finetune::train(
            &mut small,
            &parts.train,
            &ft,
            0,
            &mut |_, _| Ok(()),
            &mut |e, m| {
                curve.push((e + 1, ratio, finetune::accuracy(m, test)?));
                Ok(())
            },
        )?;
        let after = finetune::accuracy(&mut small, test)?;
        (small, ratio, before, after, None, "structured")
    } else {
        let stop = match (args.sparsity, args.min_accuracy) {
            (Some(s), None) => StopRule::Sparsity(s),
            (None, Some(a)) => StopRule::MinAccuracy(if a > 1.0 { a / 100.0 } else { a }),
            _ => bail!("give exactly one of --sparsity and --min-accuracy"),
        };
        let mut cfg = PruneConfig::new(stop);
        cfg.schedule = match args.schedule {
            Sched::OneShot => ScheduleKind::OneShot,
            Sched::Constant => ScheduleKind::Constant,
            Sched::Polynomial => ScheduleKind::Polynomial,
        };
        cfg.mask.granularity = match args.pattern {
            Pattern::Unstructured => Granularity::Unstructured,
            Pattern::Block1x4 => Granularity::Block1x4,
            Pattern::TwoFour => Granularity::TwoFour,
        };
        cfg.mask.scope = if args.global {
            Scope::Global
        } else {
            Scope::LayerWise
        };
        cfg.finetune = ft;
        let quiet = args.json;
        let out = prune::prune(&model, &parts.train, test, &cfg, &mut |p| {
            if !quiet {
                eprintln!(
                    "round {:>2}  sparsity {:5.1} %  accuracy {:6.2} %",
                    p.round,
                    100.0 * p.sparsity,
                    100.0 * p.accuracy
                );
            }
        })?;
        curve.extend(out.curve.iter().map(|p| (p.round, p.sparsity, p.accuracy)));
        let mut m = out.model;
        prune::mask::strip_masks(&mut m);
        (
            m,
            out.report.sparsity(),
            out.accuracy_before,
            out.accuracy_after,
            out.floor_met,
            "unstructured",
        )
    };
    let out_graph =
        tinyforge_train::export::export_graph(&pruned).context("cannot export the pruned model")?;
    let bytes = tinyforge_tflite::write(&out_graph).context("cannot write the pruned model")?;
    std::fs::write(&args.out, bytes)
        .with_context(|| format!("{}: cannot write", args.out.display()))?;
    let curve_path = args.out.with_extension("curve.csv");
    let mut f = std::fs::File::create(&curve_path)
        .with_context(|| format!("{}: cannot write", curve_path.display()))?;
    writeln!(f, "round,sparsity,accuracy")?;
    for (r, s, a) in &curve {
        writeln!(f, "{r},{s:.4},{a:.4}")?;
    }
    let cost_before = tinyforge_graph::graph_cost(&graph);
    let cost_after = tinyforge_graph::graph_cost(&out_graph);
    let summary = Summary {
        model: args.model.display().to_string(),
        out: args.out.display().to_string(),
        curve: curve_path.display().to_string(),
        mode,
        sparsity,
        accuracy_before: before,
        accuracy_after: after,
        floor_met,
        params_before: model.param_count(),
        params_after: pruned.param_count(),
        macs_before: cost_before.macs,
        macs_after: cost_after.macs,
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "{mode} pruning: sparsity {:.1} %, accuracy {:.2} % → {:.2} %, MACs {} → {}; wrote {} and {}",
            100.0 * sparsity,
            100.0 * before,
            100.0 * after,
            summary.macs_before,
            summary.macs_after,
            summary.out,
            summary.curve
        );
        if floor_met == Some(false) {
            println!("the unpruned model is already below the accuracy floor; it was not pruned");
        }
    }
    Ok(())
}
