//! `tinyforge quantize`: post-training quantization of a float `.tflite` model to int8 (or
//! packed int4 / int2 weights, per layer if asked), with a before/after summary.
//!
//! `--data` is read as `train` reads it (MNIST folder, CSV, image/WAV class folders, or raw
//! `.bin` sample tensors shaped like the model input), or is a recipe `.toml` whose `[data]`
//! section (path and split) is used as `train` uses it: the split's train part calibrates,
//! chooses the method and fine-tunes (`--qat`), its test part measures. Other labelled data is
//! split: the first 80 %
//! calibrates (up to `--calibration-samples`) and judges the calibration method, the last 20 %
//! (the test split) measures accuracy before and after. Unlabelled data (raw tensors) both
//! calibrates and measures agreement with the float model. The quantization itself is
//! `tinyforge_compress::quantize`; this module only loads, reports and writes. `--qat EPOCHS`
//! first fine-tunes the float model with fake quantization on the part before the test split
//! (`quantize::qat`, at each layer's own bit width), then converts the fine-tuned model exactly
//! as without it. `--sensitivity` writes no model: it prints, for every weighted layer, the
//! test accuracy with only that layer at 4 and at 2 bits (`quantize::sensitivity`), the input
//! for a `--per-layer` file.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tinyforge_compress::prune::FineTune;
use tinyforge_compress::quantize::{self, eval, Calibration, PtqOptions, QatOptions};
use tinyforge_data::spec::{detect_kind, DataKind, DataSpec};
use tinyforge_graph::Graph;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Try min/max, percentile and MSE; keep the best on a held-out batch.
    Auto,
    Minmax,
    Percentile,
    Mse,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The float model (.tflite).
    pub model: PathBuf,
    /// Calibration / evaluation data: a recipe `.toml` (its `[data]` path and split), data as
    /// `train` reads it, or a folder of raw `.bin` sample tensors.
    #[arg(long)]
    pub data: PathBuf,
    /// Weight bit width.
    #[arg(long, default_value_t = 8, value_parser = parse_bits)]
    pub bits: u8,
    /// TOML file of per-layer weight bits: `default = 8` and `[layers]` entries
    /// `"<node index | output tensor | weight tensor name>" = 4` (CONV_2D, DEPTHWISE_CONV_2D
    /// and FULLY_CONNECTED layers; 8, 4 or 2).
    #[arg(long = "per-layer")]
    pub per_layer: Option<PathBuf>,
    /// Quantization-aware fine-tuning epochs (on the training part of `--data`) before
    /// conversion.
    #[arg(long)]
    pub qat: Option<usize>,
    /// Peak learning rate of quantization-aware fine-tuning (Adam, cosine decay to 0).
    #[arg(long, default_value_t = 2e-4)]
    pub qat_lr: f32,
    /// Random shift of image samples during quantization-aware fine-tuning, in pixels.
    #[arg(long, default_value_t = 1)]
    pub qat_shift: usize,
    /// Activation range method.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub calibration: Method,
    /// Percentile for `--calibration percentile`.
    #[arg(long, default_value_t = quantize::DEFAULT_PERCENTILE)]
    pub percentile: f32,
    /// Most samples used for calibration.
    #[arg(long, default_value_t = 500)]
    pub calibration_samples: usize,
    /// Skip empirical bias correction (kept by default when it does not agree worse on the
    /// held-out samples).
    #[arg(long)]
    pub no_bias_correction: bool,
    /// Keep float inputs/outputs (QUANTIZE/DEQUANTIZE at the edges) instead of int8.
    #[arg(long)]
    pub float_io: bool,
    /// Write the smallest file TFLite Micro loads: one zero point per per-channel tensor.
    /// LiteRT refuses such files, so without this flag the file (already free of unread names,
    /// tensors and implied bias parameters) loads in LiteRT and TFLite Micro alike.
    #[arg(long)]
    pub tflm_only: bool,
    /// Where to write the quantized model.
    #[arg(long, required_unless_present = "sensitivity")]
    pub out: Option<PathBuf>,
    /// Print each weighted layer's test accuracy with only that layer at 4 and at 2 bits
    /// (others int8) instead of writing a model.
    #[arg(long, conflicts_with_all = ["qat", "per_layer"])]
    pub sensitivity: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn parse_bits(s: &str) -> Result<u8, String> {
    match s {
        "8" | "4" | "2" => s.parse().map_err(|e| format!("{e}")),
        _ => Err(format!("`{s}`: 8, 4 or 2")),
    }
}

/// Samples of the data, split for calibration, method choice and testing.
struct Data {
    calib: Vec<Vec<f32>>,
    heldout: Vec<Vec<f32>>,
    test: Vec<Vec<f32>>,
    labels: Option<Vec<u32>>,
    /// Everything before the test split, for quantization-aware fine-tuning (labelled data).
    train: Option<tinyforge_data::Dataset>,
}

/// The `[data]` section of a recipe; the other sections are `train`'s business.
#[derive(serde::Deserialize)]
struct RecipeData {
    data: DataSpec,
}

/// Fails unless every sample has as many values as the model input takes.
fn check_len(what: &str, ds: &tinyforge_data::Dataset, float: &Graph) -> anyhow::Result<()> {
    let input = &float.tensors[float.inputs[0]];
    let want = input.elements();
    if ds.sample_len() != want {
        bail!(
            "{what}: samples have shape {:?} ({} values), the model input `{}` is {} {:?} ({want} values)",
            ds.sample_shape,
            ds.sample_len(),
            input.name,
            input.dtype.name(),
            input.shape
        );
    }
    if ds.is_empty() {
        bail!("{what}: no samples");
    }
    Ok(())
}

/// A recipe `.toml` as `--data`: its `[data]` section read exactly as `train` reads it; the
/// split's train part calibrates (and fine-tunes with `--qat`), its test part measures.
fn load_recipe_data(path: &Path, float: &Graph, max_calib: usize) -> anyhow::Result<Data> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--data {}: cannot read the recipe", path.display()))?;
    let recipe: RecipeData = toml::from_str(&text)
        .with_context(|| format!("--data {}: invalid recipe", path.display()))?;
    let spec = recipe.data;
    let what = format!(
        "--data {} ([data] path {})",
        path.display(),
        spec.path.display()
    );
    let (parts, _) = tinyforge_data::load_splits(&spec).with_context(|| what.clone())?;
    let test = parts.test.with_context(|| {
        format!("{what}: the recipe's split has no test part to measure accuracy on")
    })?;
    check_len(&format!("{what} (train part)"), &parts.train, float)?;
    check_len(&format!("{what} (test part)"), &test, float)?;
    let per = parts.train.sample_len();
    let train: Vec<Vec<f32>> = parts
        .train
        .features
        .chunks_exact(per)
        .map(<[f32]>::to_vec)
        .collect();
    let calib_n = max_calib.clamp(1, train.len());
    let held_end = (calib_n + 500).min(train.len());
    let heldout = if held_end > calib_n {
        train[calib_n..held_end].to_vec()
    } else {
        train[..calib_n].to_vec()
    };
    let labelled = parts.train.labels().is_some();
    Ok(Data {
        calib: train[..calib_n].to_vec(),
        heldout,
        test: test
            .features
            .chunks_exact(per)
            .map(<[f32]>::to_vec)
            .collect(),
        labels: test.labels().map(<[u32]>::to_vec),
        train: labelled.then_some(parts.train),
    })
}

fn load_data(path: &Path, float: &Graph, max_calib: usize) -> anyhow::Result<Data> {
    if path.extension().is_some_and(|e| e == "toml") {
        return load_recipe_data(path, float, max_calib);
    }
    let input = &float.tensors[float.inputs[0]];
    let want = input.elements();
    let mut spec = DataSpec::from_path(path);
    let kind = detect_kind(path).with_context(|| format!("--data {}", path.display()))?;
    if kind == DataKind::Raw {
        // One sample is the model input without its batch axis.
        let shape = match input.shape.as_slice() {
            [1, rest @ ..] if !rest.is_empty() => rest.to_vec(),
            s => s.to_vec(),
        };
        spec.raw.sample_shape = shape;
    }
    let ds =
        tinyforge_data::spec::load(&spec).with_context(|| format!("--data {}", path.display()))?;
    if ds.sample_len() != want {
        bail!(
            "--data {}: samples have shape {:?} ({} values), the model input `{}` is {} {:?} ({want} values)",
            path.display(),
            ds.sample_shape,
            ds.sample_len(),
            input.name,
            input.dtype.name(),
            input.shape
        );
    }
    let n = ds.len();
    if n == 0 {
        bail!("--data {}: no samples", path.display());
    }
    let sample = |i: usize| ds.features[i * want..(i + 1) * want].to_vec();
    let labels = ds.labels().map(|l| l.to_vec());
    Ok(match labels {
        Some(labels) if n >= 10 => {
            let test_start = n - n / 5;
            let calib_n = max_calib.min(test_start).max(1);
            let held_end = (calib_n + 500).min(test_start);
            let heldout = if held_end > calib_n {
                (calib_n..held_end).map(sample).collect()
            } else {
                (0..calib_n).map(sample).collect()
            };
            Data {
                calib: (0..calib_n).map(sample).collect(),
                heldout,
                test: (test_start..n).map(sample).collect(),
                labels: Some(labels[test_start..].to_vec()),
                train: Some(ds.subset_range(0..test_start)?),
            }
        }
        _ => {
            let all: Vec<Vec<f32>> = (0..n).map(sample).collect();
            Data {
                calib: all.iter().take(max_calib.max(1)).cloned().collect(),
                heldout: all.clone(),
                test: all,
                labels: None,
                train: None,
            }
        }
    })
}

/// Per-layer bits from a TOML file, resolved to float-graph node indices.
fn per_layer_bits(path: &Path, g: &Graph) -> anyhow::Result<(Option<u8>, HashMap<usize, u8>)> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        default: Option<u8>,
        #[serde(default)]
        layers: HashMap<String, u8>,
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let f: File = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let mut out = HashMap::new();
    let weighted = quantize::weight_layers(g);
    if let Some(d) = f.default {
        if !matches!(d, 2 | 4 | 8) {
            bail!("{}: default = {d} bits (8, 4 or 2)", path.display());
        }
    }
    for (key, bits) in f.layers {
        if !matches!(bits, 2 | 4 | 8) {
            bail!("{}: layer `{key}`: {bits} bits (8, 4 or 2)", path.display());
        }
        let node = g.nodes.iter().enumerate().find_map(|(n, node)| {
            let names = node
                .outputs
                .iter()
                .chain(node.inputs.get(1).copied().flatten().iter())
                .map(|&t| g.tensors[t].name.as_str())
                .collect::<Vec<_>>();
            (key == n.to_string() || names.contains(&key.as_str())).then_some(n)
        });
        let Some(n) = node else {
            bail!(
                "{}: layer `{key}` is neither a node index nor a tensor name of the model",
                path.display()
            );
        };
        if !weighted.contains(&n) {
            bail!(
                "{}: layer `{key}` is node {n} ({}), which has no weights; name a CONV_2D, \
                 DEPTHWISE_CONV_2D or FULLY_CONNECTED layer",
                path.display(),
                g.nodes[n].op.name()
            );
        }
        out.insert(n, bits);
    }
    Ok((f.default, out))
}

fn refs(v: &[Vec<f32>]) -> Vec<&[f32]> {
    v.iter().map(|s| s.as_slice()).collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let float = super::load_model(&args.model)?;
    let model = args.model.display().to_string();
    if float.inputs.len() != 1 {
        bail!(
            "{model}: {} inputs; quantize handles one-input models",
            float.inputs.len()
        );
    }
    let data = load_data(&args.data, &float, args.calibration_samples)?;
    if args.sensitivity {
        return print_sensitivity(&args, &float, &data);
    }
    let Some(out_path) = args.out.clone() else {
        bail!("--out is required");
    };
    let mut opts = PtqOptions {
        calibration: match args.calibration {
            Method::Auto => None,
            Method::Minmax => Some(Calibration::MinMax),
            Method::Percentile => Some(Calibration::Percentile(args.percentile)),
            Method::Mse => Some(Calibration::Mse),
        },
        ..Default::default()
    };
    // After QAT the reference is the fake-quantized network it trained, not the latent float
    // weights that bias correction would pull the integer model back towards (at 2 bits that
    // undoes the fine-tuning), so QAT results are converted without it.
    opts.bias_correction = !args.no_bias_correction && args.qat.is_none();
    opts.convert.default_bits = args.bits;
    opts.convert.float_io = args.float_io;
    if let Some(p) = &args.per_layer {
        let (default, layers) = per_layer_bits(p, &float)?;
        if let Some(d) = default {
            opts.convert.default_bits = d;
        }
        opts.convert.layer_bits = layers;
    }
    // With --qat the fine-tuned float model is what PTQ converts; accuracy and bytes "before"
    // stay those of the given model.
    let tuned = match args.qat {
        Some(epochs) => {
            let Some(train) = &data.train else {
                bail!("--qat needs labelled --data (class labels) to fine-tune on");
            };
            // Dense layers stay at 8 bits per output unit unless the per-layer file names
            // them (see `qat::DENSE_BITS`).
            opts.convert.fc_per_channel = true;
            for (n, node) in float.nodes.iter().enumerate() {
                if node.op.name() == "FULLY_CONNECTED" {
                    opts.convert
                        .layer_bits
                        .entry(n)
                        .or_insert(quantize::qat::DENSE_BITS);
                }
            }
            let qopts = QatOptions {
                convert: opts.convert.clone(),
                finetune: FineTune {
                    epochs,
                    lr: args.qat_lr,
                    augment_shift: args.qat_shift,
                    ..FineTune::default()
                },
                cosine: true,
            };
            let r = quantize::qat(&float, train, None, &qopts)
                .with_context(|| format!("{model}: quantization-aware training"))?;
            opts.convert = r.convert;
            Some(r.graph)
        }
        None => None,
    };
    let base = tuned.as_ref().unwrap_or(&float);
    let result = quantize::ptq(base, &refs(&data.calib), &refs(&data.heldout), &opts)
        .with_context(|| model.clone())?;
    let q = &result.graph;

    let test = refs(&data.test);
    let (acc_before, acc_after) = match &data.labels {
        Some(l) => (
            Some(eval::accuracy(&float, &test, l)?),
            Some(eval::accuracy(q, &test, l)?),
        ),
        None => (None, None),
    };
    let agree = eval::agreement(base, q, &test)?;
    let layer_samples: Vec<&[f32]> = test.iter().take(64).copied().collect();
    let layers = eval::layer_errors(base, q, &layer_samples)?;
    let bytes_before = std::fs::metadata(&args.model)
        .map(|m| m.len() as usize)
        .with_context(|| model.clone())?;
    let write_opts = tinyforge_tflite::WriteOptions {
        compact: true,
        tflm_only: args.tflm_only,
    };
    let out_bytes = tinyforge_tflite::write_with(q, &write_opts)
        .with_context(|| format!("{model}: cannot encode the quantized model"))?;
    // The size no encoding can go below: the weight and bias bytes themselves.
    let constant_bytes: usize = q
        .tensors
        .iter()
        .filter_map(|t| t.data.as_ref().map(Vec::len))
        .sum();
    std::fs::write(&out_path, &out_bytes)
        .with_context(|| format!("{}: cannot write", out_path.display()))?;
    let bytes_after = out_bytes.len();

    if args.json {
        let layers: Vec<_> = layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "node": l.node, "op": l.op, "tensor": l.tensor,
                    "sqnr_db": if l.sqnr_db.is_finite() { Some(l.sqnr_db) } else { None },
                    "rel_error": l.rel_error,
                })
            })
            .collect();
        let candidates: Vec<_> = result
            .candidates
            .iter()
            .map(|(m, a)| serde_json::json!({"method": m.name(), "argmax_agreement": a.argmax, "output_mse": a.mse}))
            .collect();
        let j = serde_json::json!({
            "model": model,
            "out": out_path.display().to_string(),
            "bits": opts.convert.default_bits,
            "layer_bits": weight_bits_json(q),
            "qat_epochs": args.qat,
            "calibration": result.calibration.name(),
            "bias_corrected": result.bias_corrected,
            "candidates": candidates,
            "calibration_samples": data.calib.len(),
            "test_samples": data.test.len(),
            "accuracy_before": acc_before,
            "accuracy_after": acc_after,
            "argmax_agreement": agree.argmax,
            "output_rel_error": agree.rel_error,
            "bytes_before": bytes_before,
            "bytes_after": bytes_after,
            "constant_bytes": constant_bytes,
            "layers": layers,
        });
        println!("{j}");
        return Ok(());
    }
    println!(
        "{model} → {} ({}-bit weights, int8 activations, calibration {} on {} samples{})",
        out_path.display(),
        opts.convert.default_bits,
        result.calibration.name(),
        data.calib.len(),
        args.qat.map_or(String::new(), |e| format!(
            ", {e} epochs of quantization-aware training"
        ))
    );
    for (m, a) in &result.candidates {
        if result.candidates.len() > 1 {
            println!(
                "  candidate {:<18} held-out argmax agreement {:.4}, output MSE {:.3e}",
                m.name(),
                a.argmax,
                a.mse
            );
        }
    }
    println!();
    println!("{:<22} {:>12} {:>12}", "", "float", "quantized");
    let pct = |a: Option<f64>| a.map_or("-".to_string(), |v| format!("{:.2} %", 100.0 * v));
    println!(
        "{:<22} {:>12} {:>12}",
        "accuracy (test split)",
        pct(acc_before),
        pct(acc_after)
    );
    println!("{:<22} {:>12} {:>12}", "bytes", bytes_before, bytes_after);
    println!(
        "{:<22} {:>12} {:>12}",
        "weights+biases bytes", "", constant_bytes
    );
    println!(
        "{:<22} {:>12} {:>12}",
        "size ratio",
        "1.00",
        format!("{:.3}", bytes_after as f64 / bytes_before.max(1) as f64)
    );
    println!(
        "argmax agreement with float {:.2} %, output relative error {:.4} ({} samples)",
        100.0 * agree.argmax,
        agree.rel_error,
        data.test.len()
    );
    println!();
    println!(
        "{:>4}  {:<20} {:<40} {:>9} {:>9}",
        "node", "op", "output", "SQNR dB", "rel err"
    );
    for l in &layers {
        println!(
            "{:>4}  {:<20} {:<40} {:>9.1} {:>9.4}",
            l.node,
            l.op,
            truncate(&l.tensor, 40),
            l.sqnr_db,
            l.rel_error
        );
    }
    Ok(())
}

/// The stored weight type of each weighted layer of a converted graph.
fn weight_bits_json(q: &Graph) -> Vec<serde_json::Value> {
    quantize::weight_layers(q)
        .into_iter()
        .filter_map(|n| {
            let w = &q.tensors[q.nodes[n].inputs.get(1).copied().flatten()?];
            Some(serde_json::json!({
                "node": n, "op": q.nodes[n].op.name(), "weights": w.name,
                "dtype": w.dtype.name(), "bytes": w.bytes(),
            }))
        })
        .collect()
}

/// `--sensitivity`: one row per weighted layer, accuracy with only it at 4 and 2 bits.
fn print_sensitivity(args: &Args, float: &Graph, data: &Data) -> anyhow::Result<()> {
    let model = args.model.display().to_string();
    let Some(labels) = &data.labels else {
        bail!("--sensitivity needs labelled --data (class labels) to measure accuracy");
    };
    let opts = PtqOptions {
        calibration: match args.calibration {
            Method::Auto => None,
            Method::Minmax => Some(Calibration::MinMax),
            Method::Percentile => Some(Calibration::Percentile(args.percentile)),
            Method::Mse => Some(Calibration::Mse),
        },
        convert: quantize::ConvertOptions {
            float_io: args.float_io,
            ..Default::default()
        },
        // Only the calibration method is taken from this run; every variant is converted
        // from the same ranges.
        bias_correction: false,
    };
    // The int8 model's calibration method is kept for every variant.
    let base = quantize::ptq(float, &refs(&data.calib), &refs(&data.heldout), &opts)
        .with_context(|| model.clone())?;
    let ranges = base.stats.ranges(base.calibration);
    let widths = [4u8, 2];
    let test = refs(&data.test);
    let acc_float = eval::accuracy(float, &test, labels)?;
    let (acc8, rows) = quantize::sensitivity(float, &ranges, &opts.convert, &widths, &test, labels)
        .with_context(|| model.clone())?;
    if args.json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut o = serde_json::json!({
                    "node": r.node, "op": r.op, "weights": r.weights, "params": r.params,
                    "accuracy_int8": acc8,
                });
                for &(b, a) in &r.accuracy {
                    o[format!("accuracy_{b}bit")] = serde_json::json!(a);
                    o[format!("drop_{b}bit")] = serde_json::json!(acc8 - a);
                }
                o
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!(
        "{model}: accuracy on the test split ({} samples) with ONE layer at 4 or 2 bits, all \
         others int8 (calibration {})",
        test.len(),
        base.calibration.name()
    );
    println!(
        "float {:.2} %, all int8 {:.2} %",
        100.0 * acc_float,
        100.0 * acc8
    );
    println!();
    println!(
        "{:>4}  {:<18} {:<28} {:>7} {:>9} {:>8} {:>9} {:>8}",
        "node", "op", "weights", "params", "4-bit %", "drop", "2-bit %", "drop"
    );
    for r in &rows {
        let col = |b: u8| r.accuracy.iter().find(|(w, _)| *w == b).map(|&(_, a)| a);
        let (a4, a2) = (col(4).unwrap_or(f64::NAN), col(2).unwrap_or(f64::NAN));
        println!(
            "{:>4}  {:<18} {:<28} {:>7} {:>9.2} {:>8.2} {:>9.2} {:>8.2}",
            r.node,
            r.op,
            truncate(&r.weights, 28),
            r.params,
            100.0 * a4,
            100.0 * (acc8 - a4),
            100.0 * a2,
            100.0 * (acc8 - a2)
        );
    }
    println!();
    println!(
        "drop = points lost against all-int8. To use it, write a --per-layer file with the \
         layers you can afford at low width, e.g.\n  default = 8\n  [layers]\n  \"{}\" = 2",
        rows.first().map_or("0".to_string(), |r| r.node.to_string())
    );
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

/// The pipeline's `quantize` stage: int8 PTQ of the current (float) model, calibrated on the
/// recipe's training split, judged on its test split; later stages get the int8 model.
pub fn pipeline_stage(c: &mut super::pipeline::Ctx) -> anyhow::Result<()> {
    let model = c
        .model
        .clone()
        .context("no model yet: an earlier stage must produce one")?;
    let float = super::load_model(&model)?;
    let spec = super::train::read_recipe(&c.config)?.data;
    let name = spec.path.display().to_string();
    let (parts, _) = tinyforge_data::load_splits(&spec).with_context(|| name.clone())?;
    let test = parts.test.as_ref().with_context(|| {
        format!(
            "{}: the recipe's split has no test part",
            c.config.display()
        )
    })?;
    let per = parts.train.sample_len();
    let train: Vec<&[f32]> = parts.train.features.chunks_exact(per).collect();
    // 500 samples calibrate and 500 others choose the method: enough for stable ranges and
    // a few seconds on the reference interpreter.
    let calib = &train[..train.len().min(500)];
    let heldout = &train[calib.len()..train.len().min(calib.len() + 500)];
    let heldout = if heldout.is_empty() { calib } else { heldout };
    let result = quantize::ptq(&float, calib, heldout, &PtqOptions::default())
        .with_context(|| model.display().to_string())?;
    let labels = test
        .labels()
        .context("the test split has no class labels")?;
    let test_x: Vec<&[f32]> = test.features.chunks_exact(per).collect();
    let acc_float = eval::accuracy(&float, &test_x, labels)?;
    let acc_int8 = eval::accuracy(&result.graph, &test_x, labels)?;
    let bytes_float = std::fs::metadata(&model)
        .with_context(|| model.display().to_string())?
        .len() as usize;
    // Users also open the pipeline's model in LiteRT: the compact form both runtimes load.
    let compact = tinyforge_tflite::WriteOptions {
        compact: true,
        ..Default::default()
    };
    let bytes = tinyforge_tflite::write_with(&result.graph, &compact)
        .context("cannot encode the quantized model")?;
    let out = c.out.join("model_int8.tflite");
    std::fs::write(&out, &bytes).with_context(|| format!("{}: cannot write", out.display()))?;
    c.summary.push((
        "int8_accuracy".into(),
        format!(
            "{:.2}% (float {:.2}%, {} test samples, calibration {})",
            100.0 * acc_int8,
            100.0 * acc_float,
            test_x.len(),
            result.calibration.name()
        ),
        serde_json::json!(acc_int8),
    ));
    c.summary.push((
        "int8_bytes".into(),
        format!(
            "{} B (float {bytes_float} B, {:.3}x)",
            bytes.len(),
            bytes.len() as f64 / bytes_float.max(1) as f64
        ),
        serde_json::json!(bytes.len()),
    ));
    c.summary.push((
        "float_bytes".into(),
        format!("{bytes_float} B"),
        serde_json::json!(bytes_float),
    ));
    c.model = Some(out);
    Ok(())
}
