//! `tinyforge train CONFIG.toml`: train a float model from a TOML recipe, checkpoint every
//! epoch, evaluate, and export `DIR/model.tflite`.
//!
//! The recipe has three sections; other top-level sections are left for later pipeline stages:
//!
//! ```toml
//! [data]                     # tinyforge_data::DataSpec (path, loader options, split, normalize)
//! path = "data/mnist"
//! split = { by = "ranges", train = { first = 8000 }, test = { last = 2000 } }
//!
//! [model]                    # a named builder …
//! builder = "mnist_dscnn"
//! # … or a description: input = [28, 28, 1] and [[model.layer]] entries (tinyforge_train::ModelSpec)
//!
//! [train]
//! epochs = 10
//! batch_size = 64
//! optimizer = "adam"         # adam | sgd (momentum = 0.9)
//! lr = 2e-3
//! schedule = "cosine"        # constant | cosine (over the whole run) | step (step_every, step_gamma)
//! seed = 0                   # weights, batch order and augmentation
//! augment = { shift = 2 }    # tinyforge_data::Augment
//! early_stopping = { monitor = "val_accuracy", patience = 3 }   # needs a val split
//! ```
//!
//! Relative paths are relative to the current directory. The checkpoint
//! (`DIR/checkpoint.safetensors`, via `tinyforge_train::checkpoint`) is rewritten after every
//! epoch; `--resume` continues from it and ends bit-identical to an uninterrupted run.
//! Neighbours: `tinyforge_data` (loading, splits), `tinyforge_train` (model, trainer, checkpoint,
//! export), `tinyforge_tflite::write`; `pipeline` calls [`train`] as its first stage.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::json;
use tinyforge_data::{Augment, DataSpec};
use tinyforge_train::spec::{self, ModelSpec};
use tinyforge_train::{
    checkpoint, evaluate, Control, EarlyStopping, LossKind, Model, OptimizerConfig, Schedule,
    ScheduleKind, TrainConfig, Trainer,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The training recipe (TOML with [data], [model] and [train] sections).
    pub config: PathBuf,
    /// Output folder for checkpoints and model.tflite (default: runs/<config name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from DIR/checkpoint.safetensors.
    #[arg(long)]
    pub resume: bool,
    /// Override the number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Print one JSON object with the results instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many epochs of this invocation, as if the process were killed after the
    /// checkpoint (tests of --resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

/// The whole recipe file.
#[derive(Debug, Deserialize)]
pub struct Recipe {
    pub data: DataSpec,
    pub model: toml::Value,
    pub train: TrainSection,
}

/// The `[train]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    pub epochs: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_optimizer")]
    pub optimizer: String,
    #[serde(default = "default_lr")]
    pub lr: f32,
    #[serde(default = "default_schedule")]
    pub schedule: String,
    #[serde(default)]
    pub warmup_steps: u64,
    #[serde(default = "default_momentum")]
    pub momentum: f32,
    #[serde(default)]
    pub weight_decay: f32,
    #[serde(default)]
    pub step_every: u64,
    #[serde(default = "default_gamma")]
    pub step_gamma: f32,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub augment: Augment,
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    #[serde(default)]
    pub loss: LossKind,
}

fn default_batch() -> usize {
    32
}
fn default_optimizer() -> String {
    "adam".into()
}
fn default_lr() -> f32 {
    1e-3
}
fn default_schedule() -> String {
    "cosine".into()
}
fn default_momentum() -> f32 {
    0.9
}
fn default_gamma() -> f32 {
    0.1
}

impl TrainSection {
    fn config(&self) -> anyhow::Result<TrainConfig> {
        let optimizer = match self.optimizer.as_str() {
            "adam" => match OptimizerConfig::adam() {
                OptimizerConfig::Adam {
                    beta1,
                    beta2,
                    epsilon,
                    ..
                } => OptimizerConfig::Adam {
                    beta1,
                    beta2,
                    epsilon,
                    weight_decay: self.weight_decay,
                },
                other => other,
            },
            "sgd" => OptimizerConfig::Sgd {
                momentum: self.momentum,
                weight_decay: self.weight_decay,
            },
            o => bail!("[train] optimizer = {o:?}: expected \"adam\" or \"sgd\""),
        };
        let mut schedule = match self.schedule.as_str() {
            "constant" => Schedule::constant(self.lr),
            "cosine" => Schedule::cosine(self.lr, 0),
            "step" => {
                if self.step_every == 0 {
                    bail!("[train] schedule = \"step\" needs step_every ≥ 1");
                }
                Schedule {
                    base_lr: self.lr,
                    kind: ScheduleKind::Step {
                        every: self.step_every,
                        gamma: self.step_gamma,
                    },
                    warmup_steps: 0,
                }
            }
            s => bail!("[train] schedule = {s:?}: expected \"constant\", \"cosine\" or \"step\""),
        };
        schedule.warmup_steps = self.warmup_steps;
        if self.epochs == 0 || self.batch_size == 0 {
            bail!("[train] epochs and batch_size must be ≥ 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("[train] lr must be a positive number");
        }
        Ok(TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer,
            schedule,
            seed: self.seed,
            augment: self.augment.clone(),
            early_stopping: self.early_stopping,
            loss: self.loss,
        })
    }
}

/// Reads and parses a recipe; errors name the file.
pub fn read_recipe(path: &Path) -> anyhow::Result<Recipe> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the config", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: invalid config", path.display()))
}

/// The `[model]` section: `builder = "name"`, `file = "spec.toml"` or an inline description.
pub fn model_spec(model: &toml::Value, config: &Path) -> anyhow::Result<ModelSpec> {
    let ctx = || format!("{}: [model]", config.display());
    if let Some(name) = model.get("builder") {
        let name = name
            .as_str()
            .with_context(|| format!("{}: builder must be a string", ctx()))?;
        return match name {
            "mnist_dscnn" => Ok(spec::mnist_dscnn()),
            "kws_dscnn" => Ok(spec::kws_dscnn()),
            "resnet8" => Ok(spec::resnet8()),
            "tiny_bench" => Ok(spec::tiny_bench()),
            other => bail!(
                "{}: unknown builder {other:?} (known: mnist_dscnn, kws_dscnn, resnet8, \
                 tiny_bench; or describe the layers inline)",
                ctx()
            ),
        };
    }
    if let Some(file) = model.get("file") {
        let file = PathBuf::from(file.as_str().with_context(|| format!("{}: file", ctx()))?);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("{}: cannot read the model description", file.display()))?;
        return ModelSpec::from_toml(&text).with_context(|| format!("{}", file.display()));
    }
    model.clone().try_into::<ModelSpec>().with_context(ctx)
}

/// What a training run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub test_accuracy: Option<f32>,
    pub test_loss: f32,
    pub train_accuracy: Option<f32>,
    pub confusion: Vec<Vec<u32>>,
    pub epochs: usize,
    pub params: usize,
    pub wall_seconds: f64,
    pub model_path: Option<PathBuf>,
    pub evaluated_on: &'static str,
}

/// Options of [`train`] beyond the recipe.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub epochs: Option<usize>,
    pub progress: bool,
    pub stop_after: Option<usize>,
}

/// Default output folder: `runs/<config file stem>`.
pub fn default_out(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "train".into());
    Path::new("runs").join(stem)
}

/// Runs a recipe end to end; see the module docs.
pub fn train(config: &Path, opts: &Options) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let recipe = read_recipe(config)?;
    let mut cfg = recipe
        .train
        .config()
        .with_context(|| format!("{}", config.display()))?;
    if let Some(e) = opts.epochs {
        if e == 0 {
            bail!("--epochs must be ≥ 1");
        }
        cfg.epochs = e;
    }
    let mspec = model_spec(&recipe.model, config)?;
    let (parts, _norm) = tinyforge_data::load_splits(&recipe.data).with_context(|| {
        format!(
            "{}: cannot load the data {}",
            config.display(),
            recipe.data.path.display()
        )
    })?;
    let mut model = mspec
        .build(cfg.seed)
        .with_context(|| format!("{}: [model]", config.display()))?;
    let out = opts.out.clone().unwrap_or_else(|| default_out(config));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("{}: cannot create the output folder", out.display()))?;
    let ckpt = out.join("checkpoint.safetensors");

    let mut trainer = Trainer::new(cfg.clone());
    if opts.resume && ckpt.exists() {
        let restored = checkpoint::load(&ckpt, &mut model)
            .with_context(|| format!("{}: cannot resume", ckpt.display()))?;
        let Some(mut t) = restored else {
            bail!("{}: the checkpoint holds no training state", ckpt.display());
        };
        // The recipe (with --epochs) decides how far to go; the checkpoint where we are.
        t.config = cfg.clone();
        trainer = t;
    }

    let bar = opts.progress.then(|| {
        let b = ProgressBar::new(cfg.epochs as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} epoch {pos}/{len} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_position(trainer.epoch as u64);
        b
    });
    let mut save_error: Option<anyhow::Error> = None;
    let mut this_run = 0usize;
    let fit = trainer.fit(&mut model, &parts.train, parts.val.as_ref(), |s, m, t| {
        // The callback sees the model read-only; the checkpoint writer wants it mutable.
        let mut copy = m.clone();
        if let Err(e) = checkpoint::save(&ckpt, &mut copy, Some(t)) {
            save_error = Some(anyhow::Error::new(e).context(format!("{}", ckpt.display())));
            return Control::Stop;
        }
        if let Some(b) = &bar {
            let mut msg = format!("loss {:.4}", s.train_loss);
            if let Some(a) = s.train_accuracy {
                msg += &format!(" acc {:.2}%", 100.0 * a);
            }
            if let Some(a) = s.val_accuracy {
                msg += &format!(" val {:.2}%", 100.0 * a);
            }
            b.println(format!(
                "epoch {:>3}: {msg} ({:.1} s)",
                s.epoch + 1,
                s.seconds
            ));
            b.set_message(msg);
            b.inc(1);
        }
        this_run += 1;
        if opts.stop_after.is_some_and(|n| this_run >= n) {
            Control::Stop
        } else {
            Control::Continue
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(e) = save_error {
        return Err(e);
    }
    fit.with_context(|| format!("{}: training failed", config.display()))?;
    if opts.stop_after.is_some_and(|n| this_run >= n) && trainer.epoch < cfg.epochs {
        bail!(
            "stopped after epoch {} of {} as asked; continue with --resume",
            trainer.epoch,
            cfg.epochs
        );
    }

    let (eval_ds, evaluated_on) = match (&parts.test, &parts.val) {
        (Some(t), _) => (t, "test"),
        (None, Some(v)) => (v, "val"),
        (None, None) => (&parts.train, "train"),
    };
    let ev = evaluate(&mut model, eval_ds, 256, cfg.loss)
        .with_context(|| format!("{}: evaluation failed", config.display()))?;
    let model_path = export(&model, &out.join("model.tflite"))?;
    Ok(Outcome {
        test_accuracy: ev.accuracy,
        test_loss: ev.loss,
        train_accuracy: trainer.history.last().and_then(|s| s.train_accuracy),
        confusion: ev.confusion,
        epochs: trainer.epoch,
        params: model.param_count(),
        wall_seconds: t0.elapsed().as_secs_f64(),
        model_path: Some(model_path),
        evaluated_on,
    })
}

/// Exports the float model and writes it as `.tflite`.
pub fn export(model: &Model, path: &Path) -> anyhow::Result<PathBuf> {
    let graph = tinyforge_train::export::export_graph(model).context("cannot export the model")?;
    let bytes = tinyforge_tflite::write(&graph)
        .with_context(|| format!("{}: cannot encode the model", path.display()))?;
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(path.to_path_buf())
}

/// Prints `confusion[true][predicted]` as a table.
pub fn print_confusion(confusion: &[Vec<u32>]) {
    if confusion.is_empty() {
        return;
    }
    print!("true\\pred");
    for p in 0..confusion.len() {
        print!(" {p:>5}");
    }
    println!();
    for (t, row) in confusion.iter().enumerate() {
        print!("{t:>9}");
        for v in row {
            print!(" {v:>5}");
        }
        println!();
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let opts = Options {
        out: args.out.clone(),
        resume: args.resume,
        epochs: args.epochs,
        progress: !args.json && std::io::stderr().is_terminal(),
        stop_after: args.stop_after,
    };
    let o = train(&args.config, &opts)?;
    let model_path = o.model_path.as_ref().map(|p| p.display().to_string());
    if args.json {
        let v = json!({
            "config": args.config.display().to_string(),
            "test_accuracy": o.test_accuracy,
            "test_loss": o.test_loss,
            "evaluated_on": o.evaluated_on,
            "train_accuracy": o.train_accuracy,
            "wall_seconds": o.wall_seconds,
            "epochs": o.epochs,
            "params": o.params,
            "model_path": model_path,
            "confusion": o.confusion,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "trained {} epochs in {:.1} s; {} parameters",
        o.epochs, o.wall_seconds, o.params
    );
    match o.test_accuracy {
        Some(a) => println!(
            "{} accuracy {:.2}% (loss {:.4})",
            o.evaluated_on,
            100.0 * a,
            o.test_loss
        ),
        None => println!("{} loss {:.6}", o.evaluated_on, o.test_loss),
    }
    print_confusion(&o.confusion);
    if let Some(p) = model_path {
        println!("model: {p}");
    }
    Ok(())
}
