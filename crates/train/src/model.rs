//! A model is a DAG of nodes; node 0 is the input, every other node applies a [`Layer`] to one
//! earlier node or adds several earlier nodes (residual connections). Nodes are stored in
//! topological order (a node may only refer to earlier ones), so forward runs front to back
//! and backward back to front. The last node is the output.
//!
//! Every node owns its output buffer and its gradient buffer, sized on the first step and
//! reused (no per-step allocation). Gradients of a node feeding several consumers are
//! accumulated through a per-edge scratch buffer; the model input's gradient is never computed.
//! Optional per-node timing feeds the benchmark's per-layer breakdown.

use std::time::Instant;

use crate::error::{TrainError, TrainResult};
use crate::layers::{Activation, Layer};
use crate::param::{ActFakeQuant, Param};
use crate::tensor::Tensor;

/// Index of a node in its model.
pub type NodeId = usize;

/// What a node computes.
// A model has tens of nodes, so the unboxed layer costs nothing and keeps matching simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Op {
    /// The model input (node 0 only).
    Input,
    /// A layer applied to the single input node.
    Layer(Layer),
    /// Element-wise sum of the input nodes (same shapes), then an activation.
    Add {
        /// Fused activation after the sum.
        activation: Activation,
    },
}

/// One node of the DAG.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique name (used for checkpoint keys).
    pub name: String,
    /// The computation.
    pub op: Op,
    /// Input nodes (all earlier than this one).
    pub inputs: Vec<NodeId>,
    /// Per-sample output shape.
    pub shape: Vec<usize>,
    /// Activation fake-quantization of this node's output (QAT).
    pub act_quant: Option<ActFakeQuant>,
}

/// A trainable DAG model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Nodes in topological order; `nodes[0]` is the input.
    pub nodes: Vec<Node>,
    outs: Vec<Tensor>,
    grads: Vec<Tensor>,
    edge: Vec<Tensor>,
    grad_init: Vec<bool>,
    /// Per-node accumulated (forward, backward) seconds when profiling is on.
    pub times: Vec<[f64; 2]>,
    /// Whether forward/backward record per-node times.
    pub profile: bool,
}

impl Model {
    /// An empty model taking samples of `input_shape` (`[H,W,C]` or `[F]`).
    pub fn new(input_shape: &[usize]) -> Self {
        Model {
            nodes: vec![Node {
                name: "input".into(),
                op: Op::Input,
                inputs: vec![],
                shape: input_shape.to_vec(),
                act_quant: None,
            }],
            outs: vec![Tensor::default()],
            grads: vec![Tensor::default()],
            edge: vec![Tensor::default()],
            grad_init: vec![false],
            times: vec![[0.0; 2]],
            profile: false,
        }
    }

    fn push_node(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.outs.push(Tensor::default());
        self.grads.push(Tensor::default());
        self.edge.push(Tensor::default());
        self.grad_init.push(false);
        self.times.push([0.0; 2]);
        self.nodes.len() - 1
    }

    /// Per-sample input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.nodes[0].shape
    }

    /// Per-sample output shape.
    pub fn output_shape(&self) -> &[usize] {
        &self.nodes[self.last()].shape
    }

    /// The output node.
    pub fn last(&self) -> NodeId {
        self.nodes.len() - 1
    }

    /// Adds `layer` applied to node `input`; checks shapes.
    pub fn add(&mut self, layer: Layer, input: NodeId) -> TrainResult<NodeId> {
        let Some(src) = self.nodes.get(input) else {
            return Err(TrainError::Model(format!("node {input} does not exist")));
        };
        let shape = layer.out_shape(&src.shape).map_err(|e| {
            TrainError::Model(format!("node {} ({}): {e}", self.nodes.len(), layer.kind()))
        })?;
        let name = format!("{}_{}", self.nodes.len(), layer.kind());
        Ok(self.push_node(Node {
            name,
            op: Op::Layer(layer),
            inputs: vec![input],
            shape,
            act_quant: None,
        }))
    }

    /// Adds `layer` after the current last node.
    pub fn push(&mut self, layer: Layer) -> TrainResult<NodeId> {
        self.add(layer, self.last())
    }

    /// Adds an element-wise sum of `inputs` followed by `activation`.
    pub fn add_sum(&mut self, inputs: &[NodeId], activation: Activation) -> TrainResult<NodeId> {
        if inputs.len() < 2 {
            return Err(TrainError::Model("add needs at least two inputs".into()));
        }
        let mut shape: Option<Vec<usize>> = None;
        for &i in inputs {
            let Some(n) = self.nodes.get(i) else {
                return Err(TrainError::Model(format!("node {i} does not exist")));
            };
            match &shape {
                None => shape = Some(n.shape.clone()),
                Some(s) if *s == n.shape => {}
                Some(s) => {
                    return Err(TrainError::Model(format!(
                        "add: shapes {s:?} and {:?} differ",
                        n.shape
                    )))
                }
            }
        }
        let name = format!("{}_add", self.nodes.len());
        Ok(self.push_node(Node {
            name,
            op: Op::Add { activation },
            inputs: inputs.to_vec(),
            shape: shape.unwrap_or_default(),
            act_quant: None,
        }))
    }

    /// Visits every trainable parameter in a fixed order (node order, then layer order).
    pub fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        for n in &mut self.nodes {
            if let Op::Layer(l) = &mut n.op {
                l.visit_params(f);
            }
        }
    }

    /// Visits every parameter with a checkpoint key `<node>.<param>`.
    pub fn visit_named_params(&mut self, f: &mut dyn FnMut(&str, &mut Param)) {
        for n in &mut self.nodes {
            if let Op::Layer(l) = &mut n.op {
                let name = n.name.clone();
                l.visit_params(&mut |p| f(&format!("{name}.{}", p.name), p));
            }
        }
    }

    /// Visits non-trainable state (BN running statistics, activation ranges, dropout counters)
    /// with checkpoint keys.
    pub fn visit_state(&mut self, f: &mut dyn FnMut(&str, &mut Vec<f32>)) {
        for n in &mut self.nodes {
            let name = n.name.clone();
            if let Op::Layer(l) = &mut n.op {
                l.visit_state(&mut |k, v| f(&format!("{name}.{k}"), v));
                if let Layer::Dropout(d) = l {
                    // u64s travel as pairs of f32 bit patterns (exact).
                    let split =
                        |x: u64| [f32::from_bits(x as u32), f32::from_bits((x >> 32) as u32)];
                    let join = |v: &[f32]| v[0].to_bits() as u64 | ((v[1].to_bits() as u64) << 32);
                    let mut v = [split(d.seed), split(d.calls)].concat();
                    f(&format!("{name}.dropout_rng"), &mut v);
                    if v.len() == 4 {
                        d.seed = join(&v[..2]);
                        d.calls = join(&v[2..]);
                    }
                }
            }
            if let Some(q) = &mut n.act_quant {
                let mut v = vec![q.min, q.max, if q.initialized { 1.0 } else { 0.0 }];
                f(&format!("{name}.act_range"), &mut v);
                if v.len() == 3 {
                    q.min = v[0];
                    q.max = v[1];
                    q.initialized = v[2] != 0.0;
                }
            }
        }
    }

    /// Trainable + non-trainable scalars, as Keras counts them.
    pub fn param_count(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| match &n.op {
                Op::Layer(l) => l.param_count(),
                _ => 0,
            })
            .sum()
    }

    /// Forward pass over a batch `[N, ..input_shape]`; returns the output `[N, ..]`.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> TrainResult<&Tensor> {
        if x.shape.len() != self.nodes[0].shape.len() + 1 || x.shape[1..] != self.nodes[0].shape[..]
        {
            return Err(TrainError::Shape(format!(
                "model input is [N, {:?}], got {:?}",
                self.nodes[0].shape, x.shape
            )));
        }
        self.visit_params(&mut |p| p.prepare());
        self.outs[0].reshape_to(x.batch(), &x.shape[1..]);
        self.outs[0].data.copy_from_slice(&x.data);
        for i in 1..self.nodes.len() {
            let t0 = self.profile.then(Instant::now);
            let (before, after) = self.outs.split_at_mut(i);
            let y = &mut after[0];
            let node = &mut self.nodes[i];
            match &mut node.op {
                Op::Input => {}
                Op::Layer(l) => l.forward(&before[node.inputs[0]], y, train),
                Op::Add { activation } => {
                    let first = &before[node.inputs[0]];
                    y.reshape_to(first.batch(), &first.shape[1..]);
                    y.data.copy_from_slice(&first.data);
                    for &j in &node.inputs[1..] {
                        y.data
                            .iter_mut()
                            .zip(&before[j].data)
                            .for_each(|(a, b)| *a += b);
                    }
                    activation.apply(&mut y.data);
                }
            }
            if let Some(q) = &mut node.act_quant {
                q.forward(&mut y.data, train);
            }
            if let Some(t0) = t0 {
                self.times[i][0] += t0.elapsed().as_secs_f64();
            }
        }
        Ok(&self.outs[self.last()])
    }

    /// The output of the last forward pass.
    pub fn output(&self) -> &Tensor {
        &self.outs[self.last()]
    }

    /// Computes the output gradient with `loss(output, grad_out) -> loss value`, then
    /// backpropagates it. Parameter gradients are overwritten (not accumulated) and masked.
    pub fn backward_with(&mut self, loss: impl FnOnce(&Tensor, &mut Tensor) -> f32) -> f32 {
        let last = self.last();
        let out = &self.outs[last];
        self.grads[last].reshape_to(out.batch(), &out.shape[1..]);
        let l = loss(out, &mut self.grads[last]);
        self.backward();
        l
    }

    fn backward(&mut self) {
        let last = self.last();
        self.grad_init.iter_mut().for_each(|g| *g = false);
        self.grad_init[last] = true;
        let mut consumers = [0usize; 0].to_vec();
        consumers.resize(self.nodes.len(), 0);
        for n in &self.nodes {
            for &j in &n.inputs {
                consumers[j] += 1;
            }
        }
        for i in (1..self.nodes.len()).rev() {
            if !self.grad_init[i] {
                // Output unused downstream: its parameters get zero gradient.
                if let Op::Layer(l) = &mut self.nodes[i].op {
                    l.visit_params(&mut |p| p.grad.fill(0.0));
                }
                continue;
            }
            let t0 = self.profile.then(Instant::now);
            let mut gy = std::mem::take(&mut self.grads[i]);
            let node = &mut self.nodes[i];
            if let Some(q) = &node.act_quant {
                q.backward(&mut gy.data);
            }
            match &mut node.op {
                Op::Input => {}
                Op::Layer(l) => {
                    let j = node.inputs[0];
                    if j == 0 {
                        l.backward(&self.outs[j], &self.outs[i], &mut gy, None);
                    } else if consumers[j] == 1 {
                        l.backward(
                            &self.outs[j],
                            &self.outs[i],
                            &mut gy,
                            Some(&mut self.grads[j]),
                        );
                        self.grad_init[j] = true;
                    } else {
                        let mut e = std::mem::take(&mut self.edge[i]);
                        l.backward(&self.outs[j], &self.outs[i], &mut gy, Some(&mut e));
                        accumulate(&mut self.grads[j], &e, &mut self.grad_init[j]);
                        self.edge[i] = e;
                    }
                    l.visit_params(&mut |p| p.finish_grad());
                }
                Op::Add { activation } => {
                    activation.backward(&self.outs[i].data, &mut gy.data);
                    for &j in &node.inputs {
                        if j != 0 {
                            accumulate(&mut self.grads[j], &gy, &mut self.grad_init[j]);
                        }
                    }
                }
            }
            self.grads[i] = gy;
            if let Some(t0) = t0 {
                self.times[i][1] += t0.elapsed().as_secs_f64();
            }
        }
    }

    /// Per-node (name, forward s, backward s) since profiling was switched on.
    pub fn timing_report(&self) -> Vec<(String, f64, f64)> {
        self.nodes
            .iter()
            .zip(&self.times)
            .skip(1)
            .map(|(n, t)| (n.name.clone(), t[0], t[1]))
            .collect()
    }

    /// Clears the per-node timers.
    pub fn reset_timing(&mut self) {
        self.times.iter_mut().for_each(|t| *t = [0.0; 2]);
    }
}

fn accumulate(dst: &mut Tensor, src: &Tensor, init: &mut bool) {
    if *init {
        dst.data
            .iter_mut()
            .zip(&src.data)
            .for_each(|(a, b)| *a += b);
    } else {
        dst.reshape_to(src.batch(), &src.shape[1..]);
        dst.data.copy_from_slice(&src.data);
        *init = true;
    }
}
