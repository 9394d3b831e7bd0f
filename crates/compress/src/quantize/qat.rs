//! Quantization-aware training: fine-tunes a float graph in the training engine with the
//! weights and activations seen through fake quantizers, and returns the fine-tuned float
//! graph for [`super::ptq`] to convert.
//!
//! Weights of every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED layer are fake-quantized at
//! that layer's own bit width ([`ConvertOptions::bits`], so mixed precision trains as it will
//! be converted), on the layer's axis (per channel; dense per-tensor unless
//! `fc_per_channel`), by [`convert::quantize_weights`] itself — the converter's function,
//! including the 2-bit MSE scale search — so the converted integer weights are exactly the
//! ones of the last fine-tuning forward pass on the exported latent weights. Biases stay float
//! (they become int32). Every node output gets int8 asymmetric fake-quant with moving-average
//! ranges. Gradients pass straight through to the latent weights, except for weights clipped
//! by the grid, which get none.
//!
//! The loop is ours rather than [`crate::prune::finetune::train`]: each step swaps the
//! quantized weights in for the forward and backward passes and the latent ones back for the
//! optimizer, and the learning rate decays on a cosine (low-bit fine-tuning needs the small
//! final steps to settle on a grid point).
//!
//! Neighbours: `tinyforge_train::import` / `export` cross between the IR and the engine;
//! [`super::convert`] holds the weight quantizer.
use tinyforge_data::{BatchBuffer, BatchConfig, Batcher, Dataset};
use tinyforge_graph::{Graph, Op as GOp};
use tinyforge_train::layers::Layer;
use tinyforge_train::loss::softmax_cross_entropy;
use tinyforge_train::{ActFakeQuant, ChannelAxis, Model, Op, Optimizer, OptimizerConfig, Param};

use super::convert::{self, ConvertOptions};
use crate::error::{CompressError, CompressResult};
use crate::prune::finetune::{self, FineTune};

/// Moving-average factor of the activation ranges: fast enough to settle within an epoch of
/// fine-tuning on small datasets.
pub const ACT_MOMENTUM: f32 = 0.99;

/// Weight bits of dense layers under `tinyforge quantize --qat` unless a per-layer file names
/// them: the classifier head is a small share of the weights, and 8 bits there is the usual
/// choice.
pub const DENSE_BITS: u8 = 8;

/// Options of [`qat`].
#[derive(Debug, Clone, PartialEq)]
pub struct QatOptions {
    /// The conversion that follows: weight bits per node (of the float graph) and the
    /// dense-layer axis. The weights are fake-quantized exactly as it will quantize them.
    pub convert: ConvertOptions,
    /// The fine-tuning loop (epochs, peak learning rate, batch size, augmentation).
    pub finetune: FineTune,
    /// Cosine decay of the learning rate to 0 over the run (constant otherwise).
    pub cosine: bool,
}

impl Default for QatOptions {
    fn default() -> Self {
        QatOptions {
            convert: ConvertOptions::default(),
            finetune: FineTune {
                epochs: 2,
                lr: 2e-4,
                ..FineTune::default()
            },
            cosine: true,
        }
    }
}

/// What [`qat`] returns.
#[derive(Debug, Clone)]
pub struct QatResult {
    /// The fine-tuned float graph (latent weights; logits output, plus the original final
    /// softmax if the input graph had one).
    pub graph: Graph,
    /// The conversion options for [`QatResult::graph`]: the given ones with the per-layer bits
    /// re-keyed to its node indices (weighted layers keep their order through training).
    pub convert: ConvertOptions,
    /// Top-1 accuracy of the fake-quantized network on `eval` after each epoch.
    pub curve: Vec<f32>,
}

/// Node indices of the weighted layers (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) of `g`,
/// in order.
pub fn weight_layers(g: &Graph) -> Vec<usize> {
    g.nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            matches!(
                n.op,
                GOp::Conv2d(_) | GOp::DepthwiseConv2d(_) | GOp::FullyConnected(_)
            )
        })
        .map(|(i, _)| i)
        .collect()
}

/// How one weight parameter is fake-quantized.
struct WeightQuant {
    /// Index of the model node holding the parameter.
    node: usize,
    bits: u8,
    axis: Option<usize>,
    /// The latent weights while the quantized ones are swapped in.
    latent: Vec<f32>,
    /// 1 where the latent weight lies inside the grid (gradient passes), else 0.
    pass: Vec<u8>,
}

fn weight_param(op: &mut Op) -> Option<&mut Param> {
    match op {
        Op::Layer(Layer::Conv2d(l)) => Some(&mut l.weight),
        Op::Layer(Layer::DepthwiseConv2d(l)) => Some(&mut l.weight),
        Op::Layer(Layer::Dense(l)) => Some(&mut l.weight),
        _ => None,
    }
}

/// Replaces every quantized layer's weights by their quantized values, keeping the latent ones.
fn swap_in(model: &mut Model, wq: &mut [WeightQuant]) {
    for q in wq {
        let Some(p) = weight_param(&mut model.nodes[q.node].op) else {
            continue;
        };
        let (values, scales) = convert::quantize_weights(&p.value, &p.shape, q.axis, q.bits);
        let (channels, inner) = match q.axis {
            Some(a) => (
                p.shape[a].max(1),
                p.shape[a + 1..].iter().product::<usize>(),
            ),
            None => (1, p.value.len().max(1)),
        };
        let (lo, hi) = convert::weight_grid(q.bits);
        q.latent.clear();
        q.latent.extend_from_slice(&p.value);
        q.pass.resize(p.value.len(), 1);
        for (i, (w, &v)) in p.value.iter_mut().zip(&values).enumerate() {
            let s = scales[(i / inner.max(1)) % channels];
            let r = (*w / s).round();
            q.pass[i] = u8::from(r >= lo as f32 && r <= hi as f32);
            *w = f32::from(v) * s;
        }
    }
}

/// Puts the latent weights back; with `grads`, blocks the gradient of clipped weights.
fn swap_out(model: &mut Model, wq: &mut [WeightQuant], grads: bool) {
    for q in wq {
        let Some(p) = weight_param(&mut model.nodes[q.node].op) else {
            continue;
        };
        p.value.copy_from_slice(&q.latent);
        if grads {
            for (g, &ok) in p.grad.iter_mut().zip(&q.pass) {
                if ok == 0 {
                    *g = 0.0;
                }
            }
        }
    }
}

fn data_err(e: impl std::fmt::Display) -> CompressError {
    CompressError::Data(format!("quantization-aware training: {e}"))
}

/// Fine-tunes `float` with fake quantization on `train` and, when given, reports the
/// fake-quantized accuracy on `eval` after each epoch.
pub fn qat(
    float: &Graph,
    train: &Dataset,
    eval: Option<&Dataset>,
    opts: &QatOptions,
) -> CompressResult<QatResult> {
    let layers = weight_layers(float);
    for &n in &layers {
        let bits = opts.convert.bits(n);
        if !matches!(bits, 2 | 4 | 8) {
            return Err(CompressError::Option(format!(
                "node {n}: {bits} weight bits (8, 4 or 2)"
            )));
        }
    }
    let ft = &opts.finetune;
    if ft.batch_size == 0 || ft.lr.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(CompressError::Option(
            "quantization-aware training needs batch size ≥ 1 and lr > 0".into(),
        ));
    }
    let imported = tinyforge_train::import::import_graph_full(float)
        .map_err(|e| CompressError::Unsupported(format!("quantization-aware training: {e}")))?;
    let mut model = imported.model;
    let mut wq = Vec::new();
    for (node, n) in model.nodes.iter_mut().enumerate() {
        let dense = matches!(n.op, Op::Layer(Layer::Dense(_)));
        let Some(p) = weight_param(&mut n.op) else {
            continue;
        };
        let Some(&gnode) = layers.get(wq.len()) else {
            return Err(CompressError::Unsupported(
                "quantization-aware training: the trainable model has more weighted layers \
                 than the graph"
                    .into(),
            ));
        };
        let axis = match p.channel_axis {
            _ if dense && !opts.convert.fc_per_channel => None,
            ChannelAxis::Outer => Some(0),
            ChannelAxis::Inner => Some(p.shape.len().saturating_sub(1)),
        };
        p.fake_quant = None;
        wq.push(WeightQuant {
            node,
            bits: opts.convert.bits(gnode),
            axis,
            latent: Vec::new(),
            pass: Vec::new(),
        });
    }
    if wq.len() != layers.len() {
        return Err(CompressError::Unsupported(format!(
            "quantization-aware training: {} weighted layers in the graph, {} in the trainable \
             model",
            layers.len(),
            wq.len()
        )));
    }
    // Node 0 is the input, quantized by the converter from the calibrated range alone.
    for node in model.nodes.iter_mut().skip(1) {
        node.act_quant = Some(ActFakeQuant::new(8, ACT_MOMENTUM));
    }
    if model.input_shape() != train.sample_shape.as_slice() {
        return Err(data_err(format!(
            "model input is {:?}, the samples are {:?}",
            model.input_shape(),
            train.sample_shape
        )));
    }
    let labels_ok = train.labels().is_some();
    if !labels_ok {
        return Err(data_err("needs class labels"));
    }

    let mut opt = Optimizer::new(OptimizerConfig::adam());
    let bc = BatchConfig {
        batch_size: ft.batch_size,
        seed: ft.seed,
        augment: tinyforge_data::Augment {
            shift: if train.sample_shape.len() == 3 {
                ft.augment_shift
            } else {
                0
            },
            noise_std: 0.0,
        },
        ..Default::default()
    };
    let total = (ft.epochs as u64) * finetune::steps_per_epoch(train, ft.batch_size);
    let schedule = if opts.cosine {
        tinyforge_train::schedule::Schedule::cosine(ft.lr, total)
    } else {
        tinyforge_train::schedule::Schedule::constant(ft.lr)
    };
    let mut batches = Batcher::new(train, bc).map_err(data_err)?;
    let mut buf = BatchBuffer::new(train, ft.batch_size);
    let mut x = tinyforge_train::Tensor::default();
    let mut curve = Vec::new();
    let mut step = 0u64;
    for epoch in 0..ft.epochs {
        batches.set_epoch(epoch as u64);
        while batches.next_batch(&mut buf).map_err(data_err)? {
            let n = buf.len;
            x.reshape_to(n, &train.sample_shape);
            x.data
                .copy_from_slice(&buf.features()[..n * train.sample_len()]);
            swap_in(&mut model, &mut wq);
            let fwd = model.forward(&x, true).map(|_| ());
            if let Err(e) = fwd {
                swap_out(&mut model, &mut wq, false);
                return Err(data_err(e));
            }
            let lab = &buf.labels()[..n];
            let mut err = None;
            model.backward_with(|y, g| match softmax_cross_entropy(y, lab, g) {
                Ok(l) => l,
                Err(e) => {
                    err = Some(e);
                    0.0
                }
            });
            swap_out(&mut model, &mut wq, true);
            if let Some(e) = err {
                return Err(data_err(e));
            }
            opt.apply(&mut model, schedule.lr(step));
            step += 1;
        }
        if let Some(ds) = eval {
            swap_in(&mut model, &mut wq);
            let acc = finetune::accuracy(&mut model, ds);
            swap_out(&mut model, &mut wq, false);
            curve.push(acc.map_err(data_err)?);
        }
    }
    let export = tinyforge_train::export::ExportOptions {
        name: float.name.clone(),
        softmax: imported.softmax.is_some(),
    };
    let graph = tinyforge_train::export::export_graph_with(&model, &export)
        .map_err(|e| CompressError::Unsupported(format!("QAT export: {e}")))?;
    let tuned_layers = weight_layers(&graph);
    if tuned_layers.len() != layers.len() {
        return Err(CompressError::Unsupported(format!(
            "QAT export: {} weighted layers, the float graph has {}",
            tuned_layers.len(),
            layers.len()
        )));
    }
    let mut convert = opts.convert.clone();
    convert.layer_bits = layers
        .iter()
        .zip(&tuned_layers)
        .filter_map(|(&f, &t)| opts.convert.layer_bits.get(&f).map(|&b| (t, b)))
        .collect();
    Ok(QatResult {
        graph,
        convert,
        curve,
    })
}
