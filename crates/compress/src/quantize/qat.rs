//! Quantization-aware training: fine-tunes a float graph in the training engine with the
//! weights and activations seen through fake quantizers, and returns the fine-tuned float
//! graph for [`super::ptq`] to convert.
//!
//! Weights get per-channel symmetric fake-quant at the target bit width (convolutions and
//! depthwise convolutions; dense layers at [`DENSE_BITS`]; biases stay float, as they become
//! int32); every node output gets int8 asymmetric fake-quant with moving-average ranges.
//! Gradients pass straight through (clipped values get none). The fake quantizer computes a
//! channel's scale as `max|w| / qmax` and rounds half away from zero, exactly as
//! [`super::convert::quantize_weights`] does on the exported latent weights, so the converted
//! integer weights are the ones the network was fine-tuned with. The converter must therefore
//! quantize FULLY_CONNECTED weights per channel too (`ConvertOptions::fc_per_channel`), since
//! the training engine fake-quantizes them per output unit.
//!
//! Neighbours: `tinyforge_train::import` / `export` cross between the IR and the engine;
//! [`crate::prune::finetune`] is the training loop.
use tinyforge_data::Dataset;
use tinyforge_graph::Graph;
use tinyforge_train::layers::Layer;
use tinyforge_train::{ActFakeQuant, Op, WeightFakeQuant};

use crate::error::{CompressError, CompressResult};
use crate::prune::finetune::{self, FineTune};

/// Moving-average factor of the activation ranges: fast enough to settle within an epoch of
/// fine-tuning on small datasets.
pub const ACT_MOMENTUM: f32 = 0.99;

/// Weight bits of dense layers whatever the target width: the converter quantizes
/// FULLY_CONNECTED weights per output unit to match the fake quantizer, and TFLite Micro reads
/// per-channel FULLY_CONNECTED weights only as int8. A classifier head is a small share of the
/// weights, and 8 bits there is the usual choice anyway.
pub const DENSE_BITS: u8 = 8;

/// Options of [`qat`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QatOptions {
    /// Weight bit width (8, 4 or 2).
    pub bits: u8,
    /// The fine-tuning loop (epochs, learning rate, batch size, augmentation).
    pub finetune: FineTune,
}

impl Default for QatOptions {
    fn default() -> Self {
        QatOptions {
            bits: 8,
            finetune: FineTune {
                epochs: 2,
                lr: 2e-4,
                ..FineTune::default()
            },
        }
    }
}

/// What [`qat`] returns.
#[derive(Debug, Clone)]
pub struct QatResult {
    /// The fine-tuned float graph (latent weights; logits output, plus the original final
    /// softmax if the input graph had one).
    pub graph: Graph,
    /// Top-1 accuracy of the fake-quantized network on `eval` after each epoch.
    pub curve: Vec<f32>,
}

/// Fine-tunes `float` with fake quantization on `train` and, when given, reports the
/// fake-quantized accuracy on `eval` after each epoch.
pub fn qat(
    float: &Graph,
    train: &Dataset,
    eval: Option<&Dataset>,
    opts: &QatOptions,
) -> CompressResult<QatResult> {
    if !matches!(opts.bits, 2 | 4 | 8) {
        return Err(CompressError::Option(format!(
            "{} weight bits (8, 4 or 2)",
            opts.bits
        )));
    }
    let imported = tinyforge_train::import::import_graph_full(float)
        .map_err(|e| CompressError::Unsupported(format!("quantization-aware training: {e}")))?;
    let mut model = imported.model;
    for node in &mut model.nodes {
        let (param, bits) = match &mut node.op {
            Op::Layer(Layer::Conv2d(l)) => (&mut l.weight, opts.bits),
            Op::Layer(Layer::DepthwiseConv2d(l)) => (&mut l.weight, opts.bits),
            Op::Layer(Layer::Dense(l)) => (&mut l.weight, DENSE_BITS),
            _ => continue,
        };
        param.fake_quant = Some(WeightFakeQuant { bits });
    }
    // Node 0 is the input, quantized by the converter from the calibrated range alone.
    for node in model.nodes.iter_mut().skip(1) {
        node.act_quant = Some(ActFakeQuant::new(8, ACT_MOMENTUM));
    }
    let train_err = |e: crate::prune::PruneError| CompressError::Data(format!("QAT: {e}"));
    let mut curve = Vec::new();
    finetune::train(
        &mut model,
        train,
        &opts.finetune,
        0,
        &mut |_, _| Ok(()),
        &mut |_, m| {
            if let Some(ds) = eval {
                curve.push(finetune::accuracy(m, ds)?);
            }
            Ok(())
        },
    )
    .map_err(train_err)?;
    let export = tinyforge_train::export::ExportOptions {
        name: float.name.clone(),
        softmax: imported.softmax.is_some(),
    };
    let graph = tinyforge_train::export::export_graph_with(&model, &export)
        .map_err(|e| CompressError::Unsupported(format!("QAT export: {e}")))?;
    Ok(QatResult { graph, curve })
}
