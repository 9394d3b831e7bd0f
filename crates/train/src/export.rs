//! Export a trained [`Model`] to the tinyforge IR ([`tinyforge_graph::Graph`]) as a float
//! graph in TFLite layouts, ready for `tinyforge_tflite::write`, the runtime, the quantizer and
//! the planner.
//!
//! What the export does, node by node (inference semantics: BN uses its running statistics,
//! dropout is the identity, activation fake-quantization is dropped):
//! - conv / depthwise / dense → `CONV_2D` / `DEPTHWISE_CONV_2D` / `FULLY_CONNECTED`, always with
//!   a bias tensor (zeros when the layer has none) so BN folding and the quantizer have one;
//! - a batch norm whose input is such a layer, consumed only by it, is folded into its weights
//!   and bias: `s = γ/√(σ²+ε)`, `w' = w·s`, `b' = (b − μ)·s + β`, computed in f64 and rounded
//!   once. Any other batch norm becomes a 1×1 depthwise convolution (or a diagonal fully
//!   connected layer on flat features) with the same affine map;
//! - ReLU / ReLU6 (stand-alone or fused in a BN or add) become the fused `activation` of the
//!   op that produces their input when TFLite allows it (conv, depthwise, FC, add) and nothing
//!   else reads the pre-activation value; otherwise a `RELU` / `RELU6` node;
//! - pools map one to one; global average pooling becomes a full-window `AVERAGE_POOL_2D`
//!   then a `RESHAPE` to `[1, C]` — the form of the MLPerf Tiny reference models, and the one
//!   TFLite Micro runs fastest (CMSIS-NN has an optimised average pool, while `MEAN` is a
//!   generic reduction); [`crate::import`] reads Keras' `MEAN` form too;
//! - flatten → `RESHAPE`; residual add → `ADD`;
//! - the output is the classifier's logits; a final `SOFTMAX` only when
//!   [`ExportOptions::softmax`] asks for it.
//!
//! Weights are the stored values with the pruning mask applied (a pruned model exports its
//! zeros); weight fake-quantization is not applied — quantization is the quantizer's job.
//! Every activation tensor has batch 1 (`[1, H, W, C]` or `[1, F]`).
//!
//! Neighbours: reads the layer structs of [`crate::layers`] directly; [`crate::import`] is the
//! inverse; the CLI writes the result with `tinyforge_tflite::write`.

use tinyforge_graph::{
    Activation as GAct, Conv2dOptions, DType, DepthwiseConv2dOptions, FullyConnectedOptions, Graph,
    Node as GNode, Op as GOp, Padding as GPad, Pool2dOptions, Tensor as GTensor, TensorId,
};

use crate::layers::{Activation, BatchNorm, Layer, Padding};
use crate::model::{Model, Op};
use crate::param::Param;

/// Why a model cannot be exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A layer or configuration TFLite has no float equivalent for.
    #[error("cannot export node {node}: {reason}")]
    Unsupported {
        /// Name of the model node.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// The produced graph failed the IR's validation (a bug, reported rather than hidden).
    #[error("exported graph is invalid: {0}")]
    Invalid(String),
}

/// Options of [`export_graph_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Graph name stored in the file.
    pub name: String,
    /// Append a `SOFTMAX` to the output (default: keep the logits).
    pub softmax: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            name: "tinyforge".into(),
            softmax: false,
        }
    }
}

/// Exports `model` as a float graph with default options (logits output).
pub fn export_graph(model: &Model) -> Result<Graph, ExportError> {
    export_graph_with(model, &ExportOptions::default())
}

/// Exports `model` as a float graph; see the module docs for the mapping.
pub fn export_graph_with(model: &Model, opts: &ExportOptions) -> Result<Graph, ExportError> {
    let mut e = Emitter {
        g: Graph {
            name: opts.name.clone(),
            ..Graph::default()
        },
    };
    let n = model.nodes.len();
    let mut consumers = vec![0usize; n];
    for node in &model.nodes {
        for &j in &node.inputs {
            consumers[j] += 1;
        }
    }
    // The graph output counts as a reader, so a fused activation never hides the output value.
    consumers[n - 1] += 1;

    // Per model node: its IR tensor and, when an IR node with a fusable epilogue wrote it, that
    // node's index (BN folding and activation fusion edit it in place).
    let mut tensor: Vec<TensorId> = Vec::with_capacity(n);
    let mut producer: Vec<Option<usize>> = Vec::with_capacity(n);
    let input = e.act("input", &batch1(model.input_shape()));
    e.g.inputs.push(input);
    tensor.push(input);
    producer.push(None);

    for node in model.nodes.iter().skip(1) {
        let unsupported = |reason: String| ExportError::Unsupported {
            node: node.name.clone(),
            reason,
        };
        let src = node.inputs.first().copied().unwrap_or(0);
        let x = tensor[src];
        let out_shape = batch1(&node.shape);
        // An identity node (dropout, no-op flatten) shares its source's tensor; later in-place
        // edits through it are only safe when it is the source's sole reader.
        let pass = |j: usize| producer[j].filter(|_| consumers[j] == 1);
        let (t, p) = match &node.op {
            Op::Input => return Err(unsupported("a second input node".into())),
            Op::Add { activation } => {
                let y = e.act(&node.name, &out_shape);
                let mut acc = tensor[node.inputs[0]];
                // TFLite's ADD is binary: a sum of k inputs is a chain of k − 1 adds, the
                // activation on the last.
                for (k, &j) in node.inputs.iter().enumerate().skip(1) {
                    let last = k + 1 == node.inputs.len();
                    let out = if last {
                        y
                    } else {
                        e.act(&format!("{}_partial{k}", node.name), &out_shape)
                    };
                    e.node(
                        GOp::Add {
                            activation: if last { act(*activation) } else { GAct::None },
                        },
                        vec![Some(acc), Some(tensor[j])],
                        out,
                    );
                    acc = out;
                }
                (y, Some(e.g.nodes.len() - 1))
            }
            Op::Layer(layer) => match layer {
                Layer::Conv2d(c) => {
                    let w = e.weights(&node.name, "kernel", &c.weight);
                    let b = e.bias(&node.name, c.bias.as_ref(), c.filters);
                    let y = e.act(&node.name, &out_shape);
                    e.node(
                        GOp::Conv2d(Conv2dOptions {
                            padding: pad(c.padding),
                            stride_h: c.stride.0,
                            stride_w: c.stride.1,
                            dilation_h: 1,
                            dilation_w: 1,
                            activation: act(c.activation),
                        }),
                        vec![Some(x), Some(w), Some(b)],
                        y,
                    );
                    (y, Some(e.g.nodes.len() - 1))
                }
                Layer::DepthwiseConv2d(d) => {
                    let w = e.weights(&node.name, "kernel", &d.weight);
                    let b = e.bias(&node.name, d.bias.as_ref(), d.channels);
                    let y = e.act(&node.name, &out_shape);
                    e.node(
                        GOp::DepthwiseConv2d(DepthwiseConv2dOptions {
                            padding: pad(d.padding),
                            stride_h: d.stride.0,
                            stride_w: d.stride.1,
                            dilation_h: 1,
                            dilation_w: 1,
                            depth_multiplier: 1,
                            activation: act(d.activation),
                        }),
                        vec![Some(x), Some(w), Some(b)],
                        y,
                    );
                    (y, Some(e.g.nodes.len() - 1))
                }
                Layer::Dense(d) => {
                    let w = e.weights(&node.name, "kernel", &d.weight);
                    let b = e.bias(&node.name, d.bias.as_ref(), d.units);
                    let y = e.act(&node.name, &out_shape);
                    e.node(
                        GOp::FullyConnected(FullyConnectedOptions {
                            activation: act(d.activation),
                            keep_num_dims: false,
                        }),
                        vec![Some(x), Some(w), Some(b)],
                        y,
                    );
                    (y, Some(e.g.nodes.len() - 1))
                }
                Layer::BatchNorm(bn) => {
                    let foldable = producer[src].filter(|&k| {
                        consumers[src] == 1
                            && matches!(
                                e.g.nodes[k].op,
                                GOp::Conv2d(_) | GOp::DepthwiseConv2d(_) | GOp::FullyConnected(_)
                            )
                            && e.activation(k) == GAct::None
                    });
                    match foldable {
                        Some(k) => {
                            e.fold(k, bn);
                            e.set_activation(k, act(bn.activation));
                            (x, Some(k))
                        }
                        None => e.affine_bn(&node.name, x, &out_shape, bn).ok_or_else(|| {
                            unsupported(format!(
                                "batch norm over {:?} that cannot be folded",
                                node.shape
                            ))
                        })?,
                    }
                }
                Layer::Activation(a) => {
                    let fusable = producer[src].filter(|&k| {
                        consumers[src] == 1 && e.activation(k) == GAct::None && e.has_epilogue(k)
                    });
                    match (a.activation, fusable) {
                        (Activation::None, _) => (x, pass(src)),
                        (f, Some(k)) => {
                            e.set_activation(k, act(f));
                            (x, Some(k))
                        }
                        (f, None) => {
                            let y = e.act(&node.name, &out_shape);
                            let op = if f == Activation::Relu {
                                GOp::Relu
                            } else {
                                GOp::Relu6
                            };
                            e.node(op, vec![Some(x)], y);
                            (y, None)
                        }
                    }
                }
                Layer::AvgPool(p) => {
                    let y = e.act(&node.name, &out_shape);
                    e.node(
                        GOp::AveragePool2d(pool_opts(p.pool, p.stride, p.padding)),
                        vec![Some(x)],
                        y,
                    );
                    (y, None)
                }
                Layer::MaxPool(p) => {
                    let y = e.act(&node.name, &out_shape);
                    e.node(
                        GOp::MaxPool2d(pool_opts(p.pool, p.stride, p.padding)),
                        vec![Some(x)],
                        y,
                    );
                    (y, None)
                }
                Layer::GlobalAvgPool(_) => {
                    let in_shape = &model.nodes[src].shape;
                    let [h, w, c] = in_shape[..] else {
                        return Err(unsupported(format!(
                            "global average pool over {in_shape:?}"
                        )));
                    };
                    let pooled = e.act(&format!("{}_pool", node.name), &[1, 1, 1, c]);
                    e.node(
                        GOp::AveragePool2d(pool_opts((h, w), (1, 1), Padding::Valid)),
                        vec![Some(x)],
                        pooled,
                    );
                    let y = e.reshape(&node.name, pooled, &out_shape);
                    (y, None)
                }
                Layer::Flatten(_) => {
                    if node.shape == model.nodes[src].shape {
                        (x, pass(src))
                    } else {
                        (e.reshape(&node.name, x, &out_shape), None)
                    }
                }
                Layer::Dropout(_) => (x, pass(src)),
            },
        };
        tensor.push(t);
        producer.push(p);
    }

    let mut out = tensor[n - 1];
    if opts.softmax {
        let y = e.act("softmax", &e.g.tensors[out].shape.clone());
        e.node(GOp::Softmax { beta: 1.0 }, vec![Some(out)], y);
        out = y;
    }
    e.g.outputs.push(out);
    tinyforge_graph::validate(&e.g).map_err(|err| ExportError::Invalid(err.to_string()))?;
    Ok(e.g)
}

/// `[1, ..sample]`.
fn batch1(sample: &[usize]) -> Vec<usize> {
    let mut s = Vec::with_capacity(sample.len() + 1);
    s.push(1);
    s.extend_from_slice(sample);
    s
}

fn act(a: Activation) -> GAct {
    match a {
        Activation::None => GAct::None,
        Activation::Relu => GAct::Relu,
        Activation::Relu6 => GAct::Relu6,
    }
}

fn pad(p: Padding) -> GPad {
    match p {
        Padding::Same => GPad::Same,
        Padding::Valid => GPad::Valid,
    }
}

fn pool_opts(pool: (usize, usize), stride: (usize, usize), padding: Padding) -> Pool2dOptions {
    Pool2dOptions {
        padding: pad(padding),
        stride_h: stride.0,
        stride_w: stride.1,
        filter_h: pool.0,
        filter_w: pool.1,
        activation: GAct::None,
    }
}

/// Effective inference weights: the stored values with the pruning mask applied.
fn effective(p: &Param) -> Vec<f32> {
    match &p.mask {
        Some(m) => p
            .value
            .iter()
            .zip(&m.keep)
            .map(|(v, k)| if *k == 0.0 { 0.0 } else { *v })
            .collect(),
        None => p.value.clone(),
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32_values(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// BN as per-channel `(scale, shift)` in f64: `y = x·scale + shift`.
fn bn_affine(bn: &BatchNorm) -> (Vec<f64>, Vec<f64>) {
    let c = bn.channels;
    let mut scale = Vec::with_capacity(c);
    let mut shift = Vec::with_capacity(c);
    for ch in 0..c {
        let s = bn.gamma.value[ch] as f64 / (bn.running_var[ch] as f64 + bn.epsilon as f64).sqrt();
        scale.push(s);
        shift.push(bn.beta.value[ch] as f64 - bn.running_mean[ch] as f64 * s);
    }
    (scale, shift)
}

struct Emitter {
    g: Graph,
}

impl Emitter {
    fn act(&mut self, name: &str, shape: &[usize]) -> TensorId {
        self.g.add_tensor(GTensor {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::F32,
            quant: None,
            data: None,
        })
    }

    fn const_f32(&mut self, name: &str, shape: &[usize], v: &[f32]) -> TensorId {
        self.g.add_tensor(GTensor {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::F32,
            quant: None,
            data: Some(f32_bytes(v)),
        })
    }

    fn weights(&mut self, node: &str, what: &str, p: &Param) -> TensorId {
        self.const_f32(&format!("{node}/{what}"), &p.shape, &effective(p))
    }

    fn bias(&mut self, node: &str, p: Option<&Param>, len: usize) -> TensorId {
        let v = p.map_or_else(|| vec![0.0; len], effective);
        self.const_f32(&format!("{node}/bias"), &[len], &v)
    }

    fn node(&mut self, op: GOp, inputs: Vec<Option<TensorId>>, out: TensorId) {
        self.g.nodes.push(GNode {
            op,
            inputs,
            outputs: vec![out],
        });
    }

    fn reshape(&mut self, name: &str, x: TensorId, shape: &[usize]) -> TensorId {
        let dims: Vec<u8> = shape
            .iter()
            .flat_map(|&d| (d as i32).to_le_bytes())
            .collect();
        let s = self.g.add_tensor(GTensor {
            name: format!("{name}/shape"),
            shape: vec![shape.len()],
            dtype: DType::I32,
            quant: None,
            data: Some(dims),
        });
        let y = self.act(name, shape);
        self.node(GOp::Reshape, vec![Some(x), Some(s)], y);
        y
    }

    fn activation(&self, k: usize) -> GAct {
        match &self.g.nodes[k].op {
            GOp::Conv2d(o) => o.activation,
            GOp::DepthwiseConv2d(o) => o.activation,
            GOp::FullyConnected(o) => o.activation,
            GOp::Add { activation } => *activation,
            _ => GAct::None,
        }
    }

    fn has_epilogue(&self, k: usize) -> bool {
        matches!(
            self.g.nodes[k].op,
            GOp::Conv2d(_) | GOp::DepthwiseConv2d(_) | GOp::FullyConnected(_) | GOp::Add { .. }
        )
    }

    fn set_activation(&mut self, k: usize, a: GAct) {
        match &mut self.g.nodes[k].op {
            GOp::Conv2d(o) => o.activation = a,
            GOp::DepthwiseConv2d(o) => o.activation = a,
            GOp::FullyConnected(o) => o.activation = a,
            GOp::Add { activation } => *activation = a,
            _ => {}
        }
    }

    /// Folds `bn` into the weights and bias of IR node `k` (conv, depthwise or FC).
    fn fold(&mut self, k: usize, bn: &BatchNorm) {
        let (scale, shift) = bn_affine(bn);
        let node = &self.g.nodes[k];
        let (Some(Some(wid)), Some(Some(bid))) = (node.inputs.get(1), node.inputs.get(2)) else {
            return;
        };
        let (wid, bid) = (*wid, *bid);
        let depthwise = matches!(node.op, GOp::DepthwiseConv2d(_));
        let c = scale.len();
        let wt = &mut self.g.tensors[wid];
        let mut w = f32_values(wt.data.as_deref().unwrap_or_default());
        let per = w.len() / c.max(1);
        for (i, v) in w.iter_mut().enumerate() {
            // Depthwise weights are [1,KH,KW,C] (channel innermost); conv [O,KH,KW,I] and FC
            // [O,I] have the output channel outermost.
            let ch = if depthwise { i % c } else { i / per.max(1) };
            *v = (*v as f64 * scale[ch]) as f32;
        }
        wt.data = Some(f32_bytes(&w));
        let bt = &mut self.g.tensors[bid];
        let mut b = f32_values(bt.data.as_deref().unwrap_or_default());
        for (ch, v) in b.iter_mut().enumerate() {
            *v = (*v as f64 * scale[ch] + shift[ch]) as f32;
        }
        bt.data = Some(f32_bytes(&b));
    }

    /// A batch norm that cannot be folded: the same affine map as a 1×1 depthwise conv on
    /// `[1,H,W,C]`, or a diagonal fully connected layer on `[1,F]`.
    fn affine_bn(
        &mut self,
        name: &str,
        x: TensorId,
        shape: &[usize],
        bn: &BatchNorm,
    ) -> Option<(TensorId, Option<usize>)> {
        if shape.len() != 4 && shape.len() != 2 {
            return None;
        }
        let (scale, shift) = bn_affine(bn);
        let c = bn.channels;
        let s32: Vec<f32> = scale.iter().map(|&v| v as f32).collect();
        let t32: Vec<f32> = shift.iter().map(|&v| v as f32).collect();
        let b = self.const_f32(&format!("{name}/bias"), &[c], &t32);
        let y = self.act(name, shape);
        if shape.len() == 4 {
            let w = self.const_f32(&format!("{name}/kernel"), &[1, 1, 1, c], &s32);
            self.node(
                GOp::DepthwiseConv2d(DepthwiseConv2dOptions {
                    padding: GPad::Valid,
                    stride_h: 1,
                    stride_w: 1,
                    dilation_h: 1,
                    dilation_w: 1,
                    depth_multiplier: 1,
                    activation: act(bn.activation),
                }),
                vec![Some(x), Some(w), Some(b)],
                y,
            );
        } else {
            let mut diag = vec![0.0f32; c * c];
            for ch in 0..c {
                diag[ch * c + ch] = s32[ch];
            }
            let w = self.const_f32(&format!("{name}/kernel"), &[c, c], &diag);
            self.node(
                GOp::FullyConnected(FullyConnectedOptions {
                    activation: act(bn.activation),
                    keep_num_dims: false,
                }),
                vec![Some(x), Some(w), Some(b)],
                y,
            );
        }
        Some((y, Some(self.g.nodes.len() - 1)))
    }
}
