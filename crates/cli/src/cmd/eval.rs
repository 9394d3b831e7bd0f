//! `tinyforge eval MODEL.tflite --data PATH`: classification accuracy of a float or int8 model
//! on a dataset, run by the host runtime.
//!
//! `--data` is a dataset path (its kind detected as `tinyforge_data` does) or a training recipe
//! (`.toml`), whose `[data]` section — split and normalisation included — is used, so a model
//! is evaluated on exactly the samples its training held out. `--split test` (the default)
//! needs a known split: the recipe's, or for MNIST the product's default (test = the last
//! 2,000 images); `--split all` uses every sample.
//!
//! Int8 models get their inputs quantized with the input tensor's scale and zero point
//! (`q = clamp(round(x / scale) + zero_point)`); the prediction is the argmax of the raw
//! outputs (the same as the argmax of the dequantized ones, scales being positive).
//! Neighbours: `tinyforge_runtime` executes, `tinyforge_data` loads; `pipeline` calls
//! [`evaluate_file`].
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;
use tinyforge_data::{DataKind, DataSpec, Dataset, SplitSpec};
use tinyforge_graph::DType;
use tinyforge_runtime::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Test,
    All,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (.tflite, float or int8).
    pub model: PathBuf,
    /// Dataset path, or a training recipe (.toml) whose [data] section to use.
    #[arg(long)]
    pub data: PathBuf,
    /// Which samples to evaluate.
    #[arg(long, value_enum, default_value = "test")]
    pub split: Split,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Accuracy results.
#[derive(Debug, Clone)]
pub struct Report {
    pub accuracy: f32,
    pub samples: usize,
    pub wall_seconds: f64,
    pub confusion: Vec<Vec<u32>>,
}

/// Loads the samples `--data` and `--split` designate.
pub fn load_data(data: &Path, which: Split) -> anyhow::Result<Dataset> {
    let recipe = data
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let mut spec = if recipe {
        super::train::read_recipe(data)?.data
    } else {
        DataSpec::from_path(data)
    };
    let name = spec.path.display().to_string();
    if which == Split::All {
        spec.split = None;
    } else if spec.split.is_none() {
        let kind = match spec.kind {
            Some(k) => k,
            None => tinyforge_data::detect_kind(&spec.path).with_context(|| name.clone())?,
        };
        if kind != DataKind::Mnist {
            bail!(
                "{name}: no default test split for this dataset; pass the training recipe \
                 (--data CONFIG.toml) or --split all"
            );
        }
        spec.split = Some(SplitSpec::mnist_default());
    }
    let (parts, _) = tinyforge_data::load_splits(&spec).with_context(|| name.clone())?;
    Ok(match which {
        Split::All => parts.train,
        Split::Test => parts
            .test
            .with_context(|| format!("{}: the recipe's split has no test part", data.display()))?,
    })
}

/// Runs every sample of `ds` through `rt`; see the module docs for int8 handling.
pub fn evaluate(rt: &mut Runtime, ds: &Dataset, model: &Path) -> anyhow::Result<Report> {
    let labels = ds
        .labels()
        .with_context(|| "the dataset has no class labels to compute an accuracy")?;
    let info = rt.input_info(0).clone();
    let out = rt.output_info(0).clone();
    let per = ds.sample_len();
    if info.shape.iter().product::<usize>() != per {
        bail!(
            "{}: the model takes {:?}, the data's samples are {:?}",
            model.display(),
            info.shape,
            ds.sample_shape
        );
    }
    let classes: usize = out.shape.iter().product();
    let (scale, zp) = match (&info.dtype, &info.quant) {
        (DType::F32, _) => (1.0, 0),
        (DType::I8, Some(q)) if !q.scale.is_empty() && q.scale[0] > 0.0 => {
            (q.scale[0], q.zero_point.first().copied().unwrap_or(0))
        }
        (d, _) => bail!(
            "{}: input of type {} (with quantization) is not supported by eval",
            model.display(),
            d.name()
        ),
    };
    if !matches!(out.dtype, DType::F32 | DType::I8) {
        bail!(
            "{}: output of type {} is not supported by eval",
            model.display(),
            out.dtype.name()
        );
    }
    let mut input = vec![0u8; rt.input_bytes(0)];
    let mut confusion = vec![vec![0u32; classes]; classes];
    let mut correct = 0usize;
    let t0 = Instant::now();
    for (x, &label) in ds.features.chunks_exact(per).zip(labels) {
        match info.dtype {
            DType::F32 => input
                .iter_mut()
                .zip(x.iter().flat_map(|v| v.to_le_bytes()))
                .for_each(|(d, s)| *d = s),
            _ => input.iter_mut().zip(x).for_each(|(d, &v)| {
                let q = (v / scale).round() as i64 + zp;
                *d = q.clamp(-128, 127) as i8 as u8;
            }),
        }
        rt.invoke(&[&input])
            .with_context(|| format!("{}: inference failed", model.display()))?;
        let y = rt.output(0);
        let pred = match out.dtype {
            DType::F32 => argmax(
                y.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            _ => argmax(y.iter().map(|&b| b as i8 as f32)),
        };
        correct += usize::from(pred == label as usize);
        if (label as usize) < classes && pred < classes {
            confusion[label as usize][pred] += 1;
        }
    }
    let samples = ds.len();
    Ok(Report {
        accuracy: correct as f32 / samples.max(1) as f32,
        samples,
        wall_seconds: t0.elapsed().as_secs_f64(),
        confusion,
    })
}

fn argmax(v: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, x) in v.enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best.0
}

/// Loads the model and the data, then evaluates.
pub fn evaluate_file(model: &Path, data: &Path, which: Split) -> anyhow::Result<Report> {
    let mut rt = super::load_runtime(model)?;
    let ds = load_data(data, which)?;
    evaluate(&mut rt, &ds, model)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let r = evaluate_file(&args.model, &args.data, args.split)?;
    if args.json {
        println!(
            "{}",
            json!({
                "model": args.model.display().to_string(),
                "test_accuracy": r.accuracy,
                "samples": r.samples,
                "wall_seconds": r.wall_seconds,
                "confusion": r.confusion,
            })
        );
        return Ok(());
    }
    println!(
        "{}: accuracy {:.2}% on {} samples ({:.2} s)",
        args.model.display(),
        100.0 * r.accuracy,
        r.samples,
        r.wall_seconds
    );
    super::train::print_confusion(&r.confusion);
    Ok(())
}
