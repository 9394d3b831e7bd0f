//! Quantization: float IR graph → int8 graph (int8, or packed int4 weights with int8
//! activations) that TFLite Micro and `tinyforge-runtime` execute bit-identically.
//!
//! [`ptq`] is post-training quantization: [`calibrate::collect`] runs the float graph on the
//! calibration samples and records a histogram of every activation tensor; a [`Calibration`]
//! method turns each histogram into a range; [`convert::convert`] applies the TFLite converter's
//! conventions (see that module). Without a method given, every method is tried and the one
//! whose model agrees best with the float model on a held-out batch wins (argmax agreement,
//! then output MSE). The winner then gets empirical bias correction ([`bias::correct`], on the
//! calibration samples), kept only if it agrees at least as well on the held-out batch.
//! [`qat::qat`] fine-tunes with fake quantization first; its result is
//! converted by [`ptq`] the same way. [`sensitivity`] measures, layer by layer, what putting
//! only that layer at 4 or 2 bits costs in accuracy, to choose per-layer bit widths.
//!
//! ```
//! use tinyforge_compress::quantize::{eval, ptq, PtqOptions};
//! use tinyforge_graph::DType;
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models/hello_world_float.tflite");
//! let float = tinyforge_tflite::read_file(path).unwrap();
//! // hello_world learns sin(x) on [0, 2π].
//! let samples: Vec<[f32; 1]> = (0..64).map(|i| [i as f32 * 0.1]).collect();
//! let refs: Vec<&[f32]> = samples.iter().map(|s| s.as_slice()).collect();
//! let q = ptq(&float, &refs, &refs, &PtqOptions::default()).unwrap();
//! assert_eq!(q.graph.tensors[q.graph.inputs[0]].dtype, DType::I8);
//! let a = eval::agreement(&float, &q.graph, &refs).unwrap();
//! assert!(a.rel_error < 0.05, "{a:?}");
//! ```
pub mod bias;
pub mod calibrate;
pub mod convert;
pub mod eval;
pub mod packed;
pub mod qat;

use tinyforge_graph::Graph;

pub use calibrate::{Calibration, Stats};
pub use convert::ConvertOptions;
pub use eval::{Agreement, LayerError};
pub use qat::{qat, weight_layers, QatOptions, QatResult};

use crate::error::{CompressError, CompressResult};

/// The percentile the automatic choice tries.
pub const DEFAULT_PERCENTILE: f32 = 99.99;

/// Options of [`ptq`].
#[derive(Debug, Clone, PartialEq)]
pub struct PtqOptions {
    /// The range method; `None` tries min/max, percentile and MSE and keeps the best.
    pub calibration: Option<Calibration>,
    pub convert: ConvertOptions,
    /// Empirical bias correction of the chosen model ([`bias::correct`]).
    pub bias_correction: bool,
}

impl Default for PtqOptions {
    fn default() -> Self {
        PtqOptions {
            calibration: None,
            convert: ConvertOptions::default(),
            bias_correction: true,
        }
    }
}

/// Most calibration samples bias correction runs: the per-channel means settle long before,
/// and every layer costs one pass over them.
pub const BIAS_CORRECTION_SAMPLES: usize = 256;

/// A quantized model and how it was chosen.
#[derive(Debug, Clone)]
pub struct PtqResult {
    pub graph: Graph,
    /// The method used.
    pub calibration: Calibration,
    /// Every method tried with its held-out agreement (one entry when the method was given).
    pub candidates: Vec<(Calibration, Agreement)>,
    /// The calibration statistics (reusable for other bit widths).
    pub stats: Stats,
    /// Held-out agreement after bias correction, when it was tried (kept only if not worse
    /// than the uncorrected winner's, see [`PtqResult::bias_corrected`]).
    pub bias_corrected_agreement: Option<Agreement>,
    /// Whether the returned graph carries corrected biases.
    pub bias_corrected: bool,
}

/// Post-training quantization of a float graph. `calibration` samples set the activation
/// ranges; `heldout` samples judge the methods when none is given (it may be the same set).
pub fn ptq(
    float: &Graph,
    calibration: &[&[f32]],
    heldout: &[&[f32]],
    opts: &PtqOptions,
) -> CompressResult<PtqResult> {
    let stats = calibrate::collect(float, calibration, calibrate::DEFAULT_BINS)?;
    ptq_with_stats(float, stats, calibration, heldout, opts)
}

/// [`ptq`] with statistics already collected (`calibration` is used for bias correction).
pub fn ptq_with_stats(
    float: &Graph,
    stats: Stats,
    calibration: &[&[f32]],
    heldout: &[&[f32]],
    opts: &PtqOptions,
) -> CompressResult<PtqResult> {
    let methods = match opts.calibration {
        Some(m) => vec![m],
        None => vec![
            Calibration::MinMax,
            Calibration::Percentile(DEFAULT_PERCENTILE),
            Calibration::Mse,
        ],
    };
    let judge = !heldout.is_empty();
    let mut best: Option<(Graph, Calibration, Agreement)> = None;
    let mut candidates = Vec::new();
    for m in methods {
        let g = convert::convert(float, &stats.ranges(m), &opts.convert)?;
        let a = if judge {
            eval::agreement(float, &g, heldout)?
        } else {
            Agreement::default()
        };
        candidates.push((m, a));
        let better = match &best {
            None => true,
            Some((_, _, b)) => a.argmax > b.argmax || (a.argmax == b.argmax && a.mse < b.mse),
        };
        if better {
            best = Some((g, m, a));
        }
    }
    let Some((mut graph, method, agreement)) = best else {
        return Err(CompressError::Option("no calibration method to try".into()));
    };
    let mut bias_corrected_agreement = None;
    let mut bias_corrected = false;
    if opts.bias_correction && !calibration.is_empty() {
        let samples = &calibration[..calibration.len().min(BIAS_CORRECTION_SAMPLES)];
        let mut corrected = graph.clone();
        if bias::correct(float, &mut corrected, samples)? > 0 {
            if judge {
                let a = eval::agreement(float, &corrected, heldout)?;
                bias_corrected_agreement = Some(a);
                if a.argmax > agreement.argmax
                    || (a.argmax == agreement.argmax && a.mse <= agreement.mse)
                {
                    graph = corrected;
                    bias_corrected = true;
                }
            } else {
                graph = corrected;
                bias_corrected = true;
            }
        }
    }
    Ok(PtqResult {
        graph,
        calibration: method,
        candidates,
        stats,
        bias_corrected_agreement,
        bias_corrected,
    })
}

/// Accuracy of the model with one weighted layer at a lower bit width (all others int8).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSensitivity {
    /// Node index in the float graph (a `--per-layer` key).
    pub node: usize,
    pub op: &'static str,
    /// The layer's weight tensor name (also a `--per-layer` key).
    pub weights: String,
    /// Weight elements.
    pub params: usize,
    /// `(bits, accuracy)` for each width tried.
    pub accuracy: Vec<(u8, f64)>,
}

/// Per-layer sensitivity: for every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED layer of
/// `float` and every width in `widths`, the accuracy on `samples` / `labels` when only that
/// layer's weights have that width and all others are int8, with `base` (the int8 options and
/// the calibrated `ranges`) otherwise unchanged. Returns the all-int8 accuracy and the rows.
pub fn sensitivity(
    float: &Graph,
    ranges: &[Option<(f32, f32)>],
    base: &ConvertOptions,
    widths: &[u8],
    samples: &[&[f32]],
    labels: &[u32],
) -> CompressResult<(f64, Vec<LayerSensitivity>)> {
    let mut int8 = base.clone();
    int8.default_bits = 8;
    int8.layer_bits.clear();
    let reference = eval::accuracy(&convert::convert(float, ranges, &int8)?, samples, labels)?;
    let mut rows = Vec::new();
    for n in weight_layers(float) {
        let node = &float.nodes[n];
        let w = node
            .inputs
            .get(1)
            .copied()
            .flatten()
            .map(|t| &float.tensors[t]);
        let mut accuracy = Vec::new();
        for &bits in widths {
            let mut o = int8.clone();
            o.layer_bits.insert(n, bits);
            let g = convert::convert(float, ranges, &o)?;
            accuracy.push((bits, eval::accuracy(&g, samples, labels)?));
        }
        rows.push(LayerSensitivity {
            node: n,
            op: node.op.name(),
            weights: w.map(|t| t.name.clone()).unwrap_or_default(),
            params: w.map(|t| t.elements()).unwrap_or(0),
            accuracy,
        });
    }
    Ok((reference, rows))
}
