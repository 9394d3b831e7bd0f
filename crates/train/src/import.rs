//! Import a float graph (e.g. a `.tflite` read by `tinyforge_tflite::read_file`) back into a
//! trainable [`Model`], so pruning and quantization-aware training can start from an existing
//! model. The inverse of [`crate::export`]: `export(import(g))` computes what `g` computes.
//!
//! Supported ops: `CONV_2D`, `DEPTHWISE_CONV_2D` (multiplier 1), `FULLY_CONNECTED`,
//! `AVERAGE_POOL_2D`, `MAX_POOL_2D`, `ADD` of two activations, `RELU`, `RELU6`, `MEAN` over H
//! and W (Keras' global average pooling), `RESHAPE` / `SQUEEZE`, and a final `SOFTMAX`, which is
//! dropped: the model trains on logits (the losses apply the softmax), and [`Imported`] says
//! it was there so an export can put it back. Fused activations become the layers' fused
//! activations. Imported models have no batch norm (TFLite files have it folded already).
//!
//! Invariants: one graph input and one output, float32 everywhere (a quantized model is an
//! error naming the tensor), batch dimension first; every model node's shape is checked
//! against the IR tensor it stands for. Neighbours: `tinyforge-graph` (the IR),
//! [`crate::layers`] (the layer structs, weights in the same TFLite layouts).

use std::collections::HashMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tinyforge_graph::{Activation as GAct, DType, Graph, Op as GOp, Padding as GPad, TensorId};

use crate::layers::*;
use crate::model::{Model, NodeId};

/// A constant operand: shape and float values.
type Const = (Vec<usize>, Vec<f32>);

/// Why a graph cannot be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// An op, option or dtype the training engine has no layer for.
    #[error("cannot import node {index} ({op}): {reason}")]
    Unsupported {
        /// Index of the IR node.
        index: usize,
        /// Its TFLite name.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The graph as a whole does not fit (inputs, outputs, dtypes).
    #[error("cannot import graph: {0}")]
    Graph(String),
}

/// The result of [`import_graph_full`].
#[derive(Debug, Clone)]
pub struct Imported {
    /// The trainable model (logits output).
    pub model: Model,
    /// The `beta` of the final softmax the graph had, if any.
    pub softmax: Option<f32>,
}

/// Imports a float graph as a trainable model (a final softmax is dropped).
pub fn import_graph(g: &Graph) -> Result<Model, ImportError> {
    Ok(import_graph_full(g)?.model)
}

/// Imports a float graph; see the module docs.
pub fn import_graph_full(g: &Graph) -> Result<Imported, ImportError> {
    let (&[input], &[output]) = (&g.inputs[..], &g.outputs[..]) else {
        return Err(ImportError::Graph(format!(
            "needs one input and one output, the graph has {} and {}",
            g.inputs.len(),
            g.outputs.len()
        )));
    };
    for t in &g.tensors {
        if t.dtype != DType::F32 && !(t.dtype == DType::I32 && t.is_const()) {
            return Err(ImportError::Graph(format!(
                "tensor {} is {}: only float models can be imported (quantized models are \
                 deployment artifacts)",
                t.name,
                t.dtype.name()
            )));
        }
    }
    let in_t = tensor(g, input)?;
    if in_t.shape.len() < 2 {
        return Err(ImportError::Graph(format!(
            "input {} has shape {:?}; expected [N, ...]",
            in_t.name, in_t.shape
        )));
    }
    let mut model = Model::new(&in_t.shape[1..]);
    let mut node_of: HashMap<TensorId, NodeId> = HashMap::from([(input, 0)]);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut softmax = None;

    for (index, n) in g.nodes.iter().enumerate() {
        let op = n.op.name();
        let unsupported = |reason: String| ImportError::Unsupported { index, op, reason };
        let out = *n
            .outputs
            .first()
            .ok_or_else(|| unsupported("no output".into()))?;
        let out_shape = tensor(g, out)?.shape.clone();
        let src = |k: usize| -> Result<NodeId, ImportError> {
            n.inputs
                .get(k)
                .copied()
                .flatten()
                .and_then(|t| node_of.get(&t).copied())
                .ok_or_else(|| unsupported(format!("operand {k} is not a computed activation")))
        };
        let weights = |k: usize| -> Result<Option<Const>, ImportError> {
            let Some(id) = n.inputs.get(k).copied().flatten() else {
                return Ok(None);
            };
            let t = tensor(g, id)?;
            let Some(data) = &t.data else {
                return Err(unsupported(format!(
                    "operand {k} ({}) must be a constant",
                    t.name
                )));
            };
            Ok(Some((t.shape.clone(), f32_values(data))))
        };
        let dilation_ok = |h: usize, w: usize| {
            if h == 1 && w == 1 {
                Ok(())
            } else {
                Err(unsupported(format!("dilation {h}×{w}")))
            }
        };

        let id: NodeId = match &n.op {
            GOp::Conv2d(o) => {
                dilation_ok(o.dilation_h, o.dilation_w)?;
                let x = src(0)?;
                let (ws, w) = weights(1)?.ok_or_else(|| unsupported("no filter".into()))?;
                let [oc, kh, kw, ic] = ws[..] else {
                    return Err(unsupported(format!("filter shape {ws:?}")));
                };
                let bias = weights(2)?;
                let mut c = Conv2d::new(
                    ic,
                    oc,
                    (kh, kw),
                    (o.stride_h, o.stride_w),
                    pad(o.padding),
                    bias.is_some(),
                    &mut rng,
                );
                c.weight.value = w;
                set_bias(&mut c.bias, bias, oc).map_err(&unsupported)?;
                c.activation = act(o.activation).map_err(&unsupported)?;
                model
                    .add(Layer::Conv2d(c), x)
                    .map_err(|e| unsupported(e.to_string()))?
            }
            GOp::DepthwiseConv2d(o) => {
                dilation_ok(o.dilation_h, o.dilation_w)?;
                if o.depth_multiplier != 1 {
                    return Err(unsupported(format!(
                        "depth multiplier {}",
                        o.depth_multiplier
                    )));
                }
                let x = src(0)?;
                let (ws, w) = weights(1)?.ok_or_else(|| unsupported("no filter".into()))?;
                let [1, kh, kw, ch] = ws[..] else {
                    return Err(unsupported(format!("filter shape {ws:?}")));
                };
                let bias = weights(2)?;
                let mut d = DepthwiseConv2d::new(
                    ch,
                    (kh, kw),
                    (o.stride_h, o.stride_w),
                    pad(o.padding),
                    bias.is_some(),
                    &mut rng,
                );
                d.weight.value = w;
                set_bias(&mut d.bias, bias, ch).map_err(&unsupported)?;
                d.activation = act(o.activation).map_err(&unsupported)?;
                model
                    .add(Layer::DepthwiseConv2d(d), x)
                    .map_err(|e| unsupported(e.to_string()))?
            }
            GOp::FullyConnected(o) => {
                let x = src(0)?;
                let (ws, w) = weights(1)?.ok_or_else(|| unsupported("no weights".into()))?;
                let [units, depth] = ws[..] else {
                    return Err(unsupported(format!("weights shape {ws:?}")));
                };
                let in_len: usize = model.nodes[x].shape.iter().product();
                if in_len != depth || (o.keep_num_dims && model.nodes[x].shape.len() > 1) {
                    return Err(unsupported(format!(
                        "input {:?} is not one row of {depth} features per sample",
                        model.nodes[x].shape
                    )));
                }
                let bias = weights(2)?;
                let mut d = Dense::new(depth, units, bias.is_some(), &mut rng);
                d.weight.value = w;
                set_bias(&mut d.bias, bias, units).map_err(&unsupported)?;
                d.activation = act(o.activation).map_err(&unsupported)?;
                model
                    .add(Layer::Dense(d), x)
                    .map_err(|e| unsupported(e.to_string()))?
            }
            GOp::AveragePool2d(o) | GOp::MaxPool2d(o) => {
                let x = src(0)?;
                let (k, s, p) = (
                    (o.filter_h, o.filter_w),
                    (o.stride_h, o.stride_w),
                    pad(o.padding),
                );
                let layer = if matches!(n.op, GOp::MaxPool2d(_)) {
                    Layer::MaxPool(MaxPool::new(k, s, p))
                } else {
                    Layer::AvgPool(AvgPool::new(k, s, p))
                };
                let y = model
                    .add(layer, x)
                    .map_err(|e| unsupported(e.to_string()))?;
                with_activation(&mut model, y, act(o.activation).map_err(&unsupported)?)
                    .map_err(|e| unsupported(e.to_string()))?
            }
            GOp::Add { activation } => {
                let (a, b) = (src(0)?, src(1)?);
                model
                    .add_sum(&[a, b], act(*activation).map_err(&unsupported)?)
                    .map_err(|e| unsupported(e.to_string()))?
            }
            GOp::Relu | GOp::Relu6 => {
                let x = src(0)?;
                let activation = if n.op == GOp::Relu {
                    Activation::Relu
                } else {
                    Activation::Relu6
                };
                model
                    .add(Layer::Activation(ActivationLayer { activation }), x)
                    .map_err(|e| unsupported(e.to_string()))?
            }
            GOp::Mean { keep_dims } => {
                let x = src(0)?;
                let axes_id = n.inputs.get(1).copied().flatten();
                let axes: Vec<i64> = axes_id
                    .and_then(|id| g.tensors.get(id))
                    .and_then(|t| t.data.as_ref())
                    .map(|d| {
                        d.chunks_exact(4)
                            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                            .collect()
                    })
                    .unwrap_or_default();
                let mut spatial: Vec<i64> = axes.iter().map(|&a| a.rem_euclid(4)).collect();
                spatial.sort_unstable();
                spatial.dedup();
                if model.nodes[x].shape.len() != 3 || spatial != [1, 2] {
                    return Err(unsupported(format!(
                        "only the mean over H and W of an NHWC tensor is supported (axes {axes:?})"
                    )));
                }
                let y = model
                    .add(Layer::GlobalAvgPool(GlobalAvgPool::new()), x)
                    .map_err(|e| unsupported(e.to_string()))?;
                if *keep_dims {
                    let c = model.nodes[y].shape.clone();
                    model
                        .add(
                            Layer::Flatten(Flatten {
                                target: Some([&[1, 1][..], &c].concat()),
                            }),
                            y,
                        )
                        .map_err(|e| unsupported(e.to_string()))?
                } else {
                    y
                }
            }
            GOp::Reshape | GOp::Squeeze { .. } => {
                let x = src(0)?;
                if out_shape.is_empty() {
                    return Err(unsupported("reshape to a scalar".into()));
                }
                let target = out_shape[1..].to_vec();
                if target == model.nodes[x].shape {
                    x
                } else {
                    let flat = target.len() == 1;
                    model
                        .add(
                            Layer::Flatten(Flatten {
                                target: (!flat).then_some(target),
                            }),
                            x,
                        )
                        .map_err(|e| unsupported(e.to_string()))?
                }
            }
            GOp::Softmax { beta } => {
                if out != output {
                    return Err(unsupported(
                        "a softmax is only supported as the final op".into(),
                    ));
                }
                softmax = Some(*beta);
                src(0)?
            }
            other => {
                return Err(unsupported(format!(
                    "the training engine has no layer for {}",
                    other.name()
                )))
            }
        };
        if out_shape.get(1..) != Some(&model.nodes[id].shape[..]) {
            return Err(unsupported(format!(
                "output {out_shape:?} does not match the layer's per-sample shape {:?}",
                model.nodes[id].shape
            )));
        }
        node_of.insert(out, id);
    }
    match node_of.get(&output) {
        Some(&id) if id == model.last() && id != 0 => Ok(Imported { model, softmax }),
        _ => Err(ImportError::Graph(
            "the graph output is not computed by its last op".into(),
        )),
    }
}

fn tensor(g: &Graph, id: TensorId) -> Result<&tinyforge_graph::Tensor, ImportError> {
    g.tensors
        .get(id)
        .ok_or_else(|| ImportError::Graph(format!("tensor {id} does not exist")))
}

fn f32_values(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn pad(p: GPad) -> Padding {
    match p {
        GPad::Same => Padding::Same,
        GPad::Valid => Padding::Valid,
    }
}

fn act(a: GAct) -> Result<Activation, String> {
    match a {
        GAct::None => Ok(Activation::None),
        GAct::Relu => Ok(Activation::Relu),
        GAct::Relu6 => Ok(Activation::Relu6),
        other => Err(format!("fused activation {other:?}")),
    }
}

fn set_bias(
    slot: &mut Option<crate::param::Param>,
    bias: Option<Const>,
    len: usize,
) -> Result<(), String> {
    if let (Some(p), Some((_, v))) = (slot.as_mut(), bias) {
        if v.len() != len {
            return Err(format!("bias has {} values for {len} channels", v.len()));
        }
        p.value = v;
    }
    Ok(())
}

/// Appends a stand-alone activation after `node` unless it is `None`.
fn with_activation(
    model: &mut Model,
    node: NodeId,
    activation: Activation,
) -> crate::error::TrainResult<NodeId> {
    if activation == Activation::None {
        return Ok(node);
    }
    model.add(Layer::Activation(ActivationLayer { activation }), node)
}
