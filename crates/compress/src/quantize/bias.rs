//! Empirical bias correction: quantizing weights and activations shifts each output channel's
//! mean (rounding is not mean-free once clipped, and per-channel weight rounding errors add up
//! over a whole receptive field). For every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED in
//! graph order, the mean difference between the float model's and the quantized model's output
//! of that layer over the calibration samples, per channel, is added to the int32 bias (in bias
//! units, `input_scale × weight_scale[c]`).
//!
//! Layers are corrected one after the other, each measured with the layers before it already
//! corrected, so a layer absorbs only what is left (the float model's activations are the
//! target, the quantized model's own inputs the source: upstream error is corrected where it
//! shows). With a fused ReLU, positions where the float output is clipped to the activation's
//! floor tell nothing of the pre-activation mean and are left out.
//!
//! Invariant: only int32 bias data changes; tensor ids, scales and everything else are kept, so
//! the result stays byte-for-byte executable by TFLite Micro.
//! Neighbours: [`super::convert`] makes the graph, [`super::ptq`] calls this and keeps the
//! corrected model only when it agrees at least as well on held-out data.
use std::collections::HashMap;

use tinyforge_graph::{Activation, DType, Graph, Op, TensorId};

use super::eval::Model;
use crate::error::CompressResult;

/// One correctable layer of the quantized graph.
struct Layer {
    /// Output tensor id (the same in the float and the quantized graph).
    out: TensorId,
    bias: TensorId,
    /// Per-channel bias scale.
    scale: Vec<f64>,
    /// Lowest value the fused activation lets through.
    floor: Option<f32>,
}

fn floor_of(a: Activation) -> Option<f32> {
    match a {
        Activation::None => None,
        Activation::Relu | Activation::Relu6 => Some(0.0),
        Activation::ReluN1To1 => Some(-1.0),
    }
}

fn layers(quant: &Graph) -> Vec<Layer> {
    let mut out = Vec::new();
    for node in &quant.nodes {
        let act = match &node.op {
            Op::Conv2d(o) => o.activation,
            Op::DepthwiseConv2d(o) => o.activation,
            Op::FullyConnected(o) => o.activation,
            _ => continue,
        };
        let get = |k: usize| node.inputs.get(k).copied().flatten();
        let (Some(x), Some(w), Some(b)) = (get(0), get(1), get(2)) else {
            continue;
        };
        let (tx, tw, tb) = (&quant.tensors[x], &quant.tensors[w], &quant.tensors[b]);
        if tx.dtype != DType::I8 || tb.dtype != DType::I32 || tb.data.is_none() {
            continue;
        }
        let (Some(qx), Some(qw)) = (&tx.quant, &tw.quant) else {
            continue;
        };
        let channels = tb.elements();
        let scale: Vec<f64> = (0..channels)
            .map(|c| {
                let ws = qw.scale.get(c).or(qw.scale.first()).copied().unwrap_or(1.0);
                f64::from(qx.scale[0]) * f64::from(ws)
            })
            .collect();
        if scale.iter().any(|s| s.is_nan() || *s <= 0.0) {
            continue;
        }
        out.push(Layer {
            out: node.outputs[0],
            bias: b,
            scale,
            floor: floor_of(act),
        });
    }
    out
}

/// Applies empirical bias correction to `quant` (converted from `float`) on `samples`.
/// Returns the number of layers whose bias changed.
pub fn correct(float: &Graph, quant: &mut Graph, samples: &[&[f32]]) -> CompressResult<usize> {
    let todo = layers(quant);
    if todo.is_empty() || samples.is_empty() {
        return Ok(0);
    }
    // The float model's layer outputs never change: record them once.
    let wanted: HashMap<TensorId, usize> =
        todo.iter().enumerate().map(|(i, l)| (l.out, i)).collect();
    let mut f = Model::new(float)?;
    let mut target: Vec<Vec<Vec<f32>>> = vec![Vec::with_capacity(samples.len()); todo.len()];
    for s in samples {
        f.run_observed(s, &mut |id, v| {
            if let Some(&i) = wanted.get(&id) {
                target[i].push(v);
            }
        })?;
    }
    let mut changed = 0;
    for (li, layer) in todo.iter().enumerate() {
        if target[li].len() != samples.len() {
            continue;
        }
        let channels = layer.scale.len();
        let mut sum = vec![0f64; channels];
        let mut count = vec![0u64; channels];
        let mut q = Model::new(quant)?;
        for (si, s) in samples.iter().enumerate() {
            let t = &target[li][si];
            q.run_observed(s, &mut |id, v| {
                if id != layer.out || v.len() != t.len() || v.len() % channels != 0 {
                    return;
                }
                for (i, (&fv, &qv)) in t.iter().zip(&v).enumerate() {
                    if layer.floor.is_some_and(|fl| fv <= fl) {
                        continue;
                    }
                    let c = i % channels;
                    sum[c] += f64::from(fv - qv);
                    count[c] += 1;
                }
            })?;
        }
        let Some(data) = quant.tensors[layer.bias].data.as_mut() else {
            continue;
        };
        let mut any = false;
        for (c, chunk) in data.chunks_exact_mut(4).enumerate().take(channels) {
            if count[c] == 0 {
                continue;
            }
            let shift = (sum[c] / count[c] as f64 / layer.scale[c]).round();
            if shift == 0.0 || !shift.is_finite() {
                continue;
            }
            let old = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let new = (f64::from(old) + shift).clamp(f64::from(i32::MIN), f64::from(i32::MAX));
            chunk.copy_from_slice(&(new as i32).to_le_bytes());
            any = true;
        }
        changed += usize::from(any);
    }
    Ok(changed)
}
