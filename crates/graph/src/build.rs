//! A small builder for hand-made int8 graphs: tests, examples and synthetic benchmarks.
//!
//! Each method appends one TFLite-style node with deterministic weights (a fixed pattern, not a
//! trained model), computes the output shape with the same rules as [`crate::shape`], and
//! returns the output tensor id. Activations are int8 with per-tensor quantization; weights are
//! int8 symmetric per output channel; biases int32. Shapes that do not fit are reported as
//! errors, so the builder can be driven by untrusted sizes (e.g. a search space).
use crate::error::{GraphError, GraphResult};
use crate::ir::*;
use crate::shape::conv_output_size;

/// An int8 activation tensor with per-tensor quantization (scale 1/16, zero point 0).
pub fn act_i8(name: &str, shape: &[usize]) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::I8,
        quant: Some(Quant::per_tensor(1.0 / 16.0, 0)),
        data: None,
    }
}

/// A constant int32 tensor (shape operands, axes, paddings, biases).
pub fn const_i32(name: &str, shape: &[usize], values: &[i32]) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::I32,
        quant: None,
        data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
    }
}

/// A constant int8 tensor filled with a deterministic pattern in −127..=127.
pub fn const_i8(name: &str, shape: &[usize], quant: Quant) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::I8,
        quant: Some(quant),
        data: Some(
            (0..n)
                .map(|i| ((i * 37 % 255) as i32 - 127) as i8 as u8)
                .collect(),
        ),
    }
}

/// Appends int8 nodes to a graph; see the module docs.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    g: Graph,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            g: Graph {
                name: name.into(),
                ..Graph::default()
            },
        }
    }

    /// Declares a graph input.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> TensorId {
        let id = self.g.add_tensor(act_i8(name, shape));
        self.g.inputs.push(id);
        id
    }

    fn shape(&self, id: TensorId) -> GraphResult<Vec<usize>> {
        self.g
            .tensors
            .get(id)
            .map(|t| t.shape.clone())
            .ok_or_else(|| GraphError::Invalid(format!("builder: no tensor {id}")))
    }

    fn nhwc(&self, id: TensorId) -> GraphResult<[usize; 4]> {
        let s = self.shape(id)?;
        s.as_slice()
            .try_into()
            .map_err(|_| GraphError::Invalid(format!("builder: tensor {id} is not 4-D: {s:?}")))
    }

    fn push(&mut self, op: Op, inputs: Vec<Option<TensorId>>, out_shape: Vec<usize>) -> TensorId {
        let name = format!("{}_{}", op.name().to_lowercase(), self.g.nodes.len());
        let out = self.g.add_tensor(act_i8(&name, &out_shape));
        self.g.nodes.push(Node {
            op,
            inputs,
            outputs: vec![out],
        });
        out
    }

    fn weights(&mut self, name: &str, shape: &[usize], channels: usize) -> (TensorId, TensorId) {
        let q = Quant {
            scale: (0..channels).map(|c| 0.01 + 0.001 * c as f32).collect(),
            zero_point: vec![0; channels],
            axis: if shape[0] == 1 && channels > 1 { 3 } else { 0 },
        };
        let w = self.g.add_tensor(const_i8(&format!("{name}_w"), shape, q));
        let bias: Vec<i32> = (0..channels as i32).map(|c| c * 7 - 50).collect();
        let b = self
            .g
            .add_tensor(const_i32(&format!("{name}_b"), &[channels], &bias));
        (w, b)
    }

    fn window(
        input: [usize; 4],
        k: (usize, usize),
        stride: usize,
        padding: Padding,
    ) -> GraphResult<(usize, usize)> {
        let oh = conv_output_size(input[1], k.0, stride, 1, padding);
        let ow = conv_output_size(input[2], k.1, stride, 1, padding);
        oh.zip(ow).ok_or_else(|| {
            GraphError::Invalid(format!("builder: window {k:?} does not fit {input:?}"))
        })
    }

    /// CONV_2D with an `[out_c, kh, kw, in_c]` filter and a bias.
    pub fn conv2d(
        &mut self,
        x: TensorId,
        out_c: usize,
        k: (usize, usize),
        stride: usize,
        padding: Padding,
        activation: Activation,
    ) -> GraphResult<TensorId> {
        let s = self.nhwc(x)?;
        let (oh, ow) = Self::window(s, k, stride, padding)?;
        let (w, b) = self.weights("conv", &[out_c, k.0, k.1, s[3]], out_c);
        let op = Op::Conv2d(Conv2dOptions {
            padding,
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
            activation,
        });
        Ok(self.push(
            op,
            vec![Some(x), Some(w), Some(b)],
            vec![s[0], oh, ow, out_c],
        ))
    }

    /// DEPTHWISE_CONV_2D with depth multiplier 1.
    pub fn depthwise(
        &mut self,
        x: TensorId,
        k: (usize, usize),
        stride: usize,
        padding: Padding,
        activation: Activation,
    ) -> GraphResult<TensorId> {
        let s = self.nhwc(x)?;
        let (oh, ow) = Self::window(s, k, stride, padding)?;
        let (w, b) = self.weights("dw", &[1, k.0, k.1, s[3]], s[3]);
        let op = Op::DepthwiseConv2d(DepthwiseConv2dOptions {
            padding,
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
            depth_multiplier: 1,
            activation,
        });
        Ok(self.push(
            op,
            vec![Some(x), Some(w), Some(b)],
            vec![s[0], oh, ow, s[3]],
        ))
    }

    /// AVERAGE_POOL_2D.
    pub fn avg_pool(
        &mut self,
        x: TensorId,
        k: (usize, usize),
        stride: usize,
        padding: Padding,
    ) -> GraphResult<TensorId> {
        self.pool(x, k, stride, padding, Op::AveragePool2d)
    }

    /// MAX_POOL_2D.
    pub fn max_pool(
        &mut self,
        x: TensorId,
        k: (usize, usize),
        stride: usize,
        padding: Padding,
    ) -> GraphResult<TensorId> {
        self.pool(x, k, stride, padding, Op::MaxPool2d)
    }

    fn pool(
        &mut self,
        x: TensorId,
        k: (usize, usize),
        stride: usize,
        padding: Padding,
        op: fn(Pool2dOptions) -> Op,
    ) -> GraphResult<TensorId> {
        let s = self.nhwc(x)?;
        let (oh, ow) = Self::window(s, k, stride, padding)?;
        let op = op(Pool2dOptions {
            padding,
            stride_h: stride,
            stride_w: stride,
            filter_h: k.0,
            filter_w: k.1,
            activation: Activation::None,
        });
        Ok(self.push(op, vec![Some(x)], vec![s[0], oh, ow, s[3]]))
    }

    /// FULLY_CONNECTED over the flattened input (rows of the weight's input depth).
    pub fn fully_connected(
        &mut self,
        x: TensorId,
        units: usize,
        activation: Activation,
    ) -> GraphResult<TensorId> {
        let s = self.shape(x)?;
        let batch = s.first().copied().unwrap_or(1).max(1);
        let depth = s.iter().product::<usize>() / batch;
        let (w, b) = self.weights("fc", &[units, depth], units);
        let op = Op::FullyConnected(FullyConnectedOptions {
            activation,
            keep_num_dims: false,
        });
        Ok(self.push(op, vec![Some(x), Some(w), Some(b)], vec![batch, units]))
    }

    /// ADD of two same-shaped (or broadcastable) tensors.
    pub fn add(
        &mut self,
        a: TensorId,
        b: TensorId,
        activation: Activation,
    ) -> GraphResult<TensorId> {
        let (sa, sb) = (self.shape(a)?, self.shape(b)?);
        let s = crate::shape::broadcast_shapes(&sa, &sb).ok_or_else(|| {
            GraphError::Invalid(format!("builder: {sa:?} and {sb:?} do not broadcast"))
        })?;
        Ok(self.push(Op::Add { activation }, vec![Some(a), Some(b)], s))
    }

    /// RESHAPE with a constant shape operand.
    pub fn reshape(&mut self, x: TensorId, shape: &[usize]) -> GraphResult<TensorId> {
        let vals: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        let st = self.g.add_tensor(const_i32("shape", &[shape.len()], &vals));
        Ok(self.push(Op::Reshape, vec![Some(x), Some(st)], shape.to_vec()))
    }

    /// A unary op with an output the shape of its input (RELU, RELU6, LOGISTIC, TANH, SOFTMAX…).
    pub fn unary(&mut self, op: Op, x: TensorId) -> GraphResult<TensorId> {
        let s = self.shape(x)?;
        Ok(self.push(op, vec![Some(x)], s))
    }

    /// Finishes the graph with the given outputs.
    pub fn finish(mut self, outputs: &[TensorId]) -> Graph {
        self.g.outputs = outputs.to_vec();
        self.g
    }
}
