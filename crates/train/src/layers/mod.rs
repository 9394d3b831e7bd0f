//! Layers with forward and backward passes over NHWC batches.
//!
//! Each layer owns its parameters (TFLite layouts: conv `[O,KH,KW,I]`, depthwise `[1,KH,KW,C]`,
//! dense `[O,I]`) and its scratch buffers (im2col columns, weight-gradient partials, BN
//! statistics, pooling argmax), sized on the first step and reused afterwards. Contract of
//! `backward`: it *overwrites* the parameter gradients and the input gradient `gx` (when asked
//! for) and may scribble over `gy` (fused activations mask it in place). The [`crate::model`]
//! module wires layers into a DAG and handles fan-out and residual adds.

mod activation;
mod batchnorm;
mod conv;
mod dense;
mod depthwise;
mod misc;
mod pool;

pub use activation::{Activation, ActivationLayer};
pub use batchnorm::BatchNorm;
pub use conv::Conv2d;
pub use dense::Dense;
pub use depthwise::DepthwiseConv2d;
pub use misc::{Dropout, Flatten};
pub use pool::{AvgPool, GlobalAvgPool, MaxPool};

use crate::error::{TrainError, TrainResult};
use crate::param::Param;
use crate::tensor::Tensor;

/// Spatial padding, with TensorFlow's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Output `ceil(in / stride)`, padding split with the extra row/column at the end.
    #[default]
    Same,
    /// No padding: output `(in - k) / stride + 1`.
    Valid,
}

/// Resolved geometry of a windowed op on one input shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Geom {
    /// Input height, width, channels.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride along height.
    pub sh: usize,
    /// Stride along width.
    pub sw: usize,
    /// Padding rows on top.
    pub pt: usize,
    /// Padding columns on the left.
    pub pl: usize,
}

impl Geom {
    /// Geometry of a `k` window with stride `s` over a `[H,W,C]` sample.
    pub fn new(
        input: &[usize],
        k: (usize, usize),
        s: (usize, usize),
        pad: Padding,
    ) -> TrainResult<Geom> {
        let [h, w, c] = match input {
            [h, w, c] => [*h, *w, *c],
            _ => {
                return Err(TrainError::Shape(format!(
                    "windowed op needs an [H,W,C] input, got {input:?}"
                )))
            }
        };
        if k.0 == 0 || k.1 == 0 || s.0 == 0 || s.1 == 0 {
            return Err(TrainError::Shape("kernel and stride must be ≥ 1".into()));
        }
        let dim = |i: usize, k: usize, s: usize| -> TrainResult<(usize, usize)> {
            match pad {
                Padding::Same => {
                    let o = i.div_ceil(s);
                    let total = ((o - 1) * s + k).saturating_sub(i);
                    Ok((o, total / 2))
                }
                Padding::Valid => {
                    if i < k {
                        return Err(TrainError::Shape(format!(
                            "valid padding: kernel {k} larger than input {i}"
                        )));
                    }
                    Ok(((i - k) / s + 1, 0))
                }
            }
        };
        let (oh, pt) = dim(h, k.0, s.0)?;
        let (ow, pl) = dim(w, k.1, s.1)?;
        if oh == 0 || ow == 0 {
            return Err(TrainError::Shape(format!(
                "empty output for input {input:?}"
            )));
        }
        Ok(Geom {
            h,
            w,
            c,
            oh,
            ow,
            kh: k.0,
            kw: k.1,
            sh: s.0,
            sw: s.1,
            pt,
            pl,
        })
    }

    /// Range of kernel columns `[k0, k1)` that land inside the input for output column `ox`.
    #[inline]
    pub fn kw_range(&self, ox: usize) -> (usize, usize) {
        let base = ox * self.sw;
        let k0 = self.pl.saturating_sub(base);
        let k1 = (self.w + self.pl).saturating_sub(base).min(self.kw);
        (k0, k1.max(k0))
    }

    /// Range of kernel rows `[k0, k1)` that land inside the input for output row `oy`.
    #[inline]
    pub fn kh_range(&self, oy: usize) -> (usize, usize) {
        let base = oy * self.sh;
        let k0 = self.pt.saturating_sub(base);
        let k1 = (self.h + self.pt).saturating_sub(base).min(self.kh);
        (k0, k1.max(k0))
    }
}

/// One layer of a model. Plain data: fields are public so later stages (pruning, QAT, export)
/// can read and set weights, masks and fake-quant hooks directly.
#[derive(Debug, Clone)]
pub enum Layer {
    /// 2-D convolution.
    Conv2d(Conv2d),
    /// Depthwise 2-D convolution (multiplier 1).
    DepthwiseConv2d(DepthwiseConv2d),
    /// Fully connected layer over the flattened sample.
    Dense(Dense),
    /// Batch normalization over the channel axis.
    BatchNorm(BatchNorm),
    /// Stand-alone activation.
    Activation(ActivationLayer),
    /// Average pooling.
    AvgPool(AvgPool),
    /// Max pooling.
    MaxPool(MaxPool),
    /// Global average pooling `[H,W,C] → [C]`.
    GlobalAvgPool(GlobalAvgPool),
    /// Flatten / reshape to a new per-sample shape.
    Flatten(Flatten),
    /// Inverted dropout (training only).
    Dropout(Dropout),
}

macro_rules! dispatch {
    ($self:expr, $l:ident => $e:expr) => {
        match $self {
            Layer::Conv2d($l) => $e,
            Layer::DepthwiseConv2d($l) => $e,
            Layer::Dense($l) => $e,
            Layer::BatchNorm($l) => $e,
            Layer::Activation($l) => $e,
            Layer::AvgPool($l) => $e,
            Layer::MaxPool($l) => $e,
            Layer::GlobalAvgPool($l) => $e,
            Layer::Flatten($l) => $e,
            Layer::Dropout($l) => $e,
        }
    };
}

impl Layer {
    /// Short type name (`conv2d`, `depthwise_conv2d`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Conv2d(_) => "conv2d",
            Layer::DepthwiseConv2d(_) => "depthwise_conv2d",
            Layer::Dense(_) => "dense",
            Layer::BatchNorm(_) => "batch_norm",
            Layer::Activation(_) => "activation",
            Layer::AvgPool(_) => "avg_pool",
            Layer::MaxPool(_) => "max_pool",
            Layer::GlobalAvgPool(_) => "global_avg_pool",
            Layer::Flatten(_) => "flatten",
            Layer::Dropout(_) => "dropout",
        }
    }

    /// Per-sample output shape for a per-sample input shape.
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        dispatch!(self, l => l.out_shape(input))
    }

    /// Forward pass: writes `y` (resized to the output shape).
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, train: bool) {
        dispatch!(self, l => l.forward(x, y, train))
    }

    /// Backward pass, see the module doc for the contract.
    pub fn backward(&mut self, x: &Tensor, y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        dispatch!(self, l => l.backward(x, y, gy, gx))
    }

    /// Visits the trainable parameters in a fixed order.
    pub fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        match self {
            Layer::Conv2d(l) => {
                f(&mut l.weight);
                if let Some(b) = &mut l.bias {
                    f(b)
                }
            }
            Layer::DepthwiseConv2d(l) => {
                f(&mut l.weight);
                if let Some(b) = &mut l.bias {
                    f(b)
                }
            }
            Layer::Dense(l) => {
                f(&mut l.weight);
                if let Some(b) = &mut l.bias {
                    f(b)
                }
            }
            Layer::BatchNorm(l) => {
                f(&mut l.gamma);
                f(&mut l.beta);
            }
            _ => {}
        }
    }

    /// Visits non-trainable state that a checkpoint must keep (BN running statistics).
    pub fn visit_state(&mut self, f: &mut dyn FnMut(&str, &mut Vec<f32>)) {
        if let Layer::BatchNorm(l) = self {
            f("running_mean", &mut l.running_mean);
            f("running_var", &mut l.running_var);
        }
    }

    /// Number of scalars as Keras counts them (BN: 4 per channel).
    pub fn param_count(&self) -> usize {
        match self {
            Layer::Conv2d(l) => l.weight.len() + l.bias.as_ref().map_or(0, |b| b.len()),
            Layer::DepthwiseConv2d(l) => l.weight.len() + l.bias.as_ref().map_or(0, |b| b.len()),
            Layer::Dense(l) => l.weight.len() + l.bias.as_ref().map_or(0, |b| b.len()),
            Layer::BatchNorm(l) => 4 * l.gamma.len(),
            _ => 0,
        }
    }
}

/// Glorot-uniform initial values (Keras' default kernel initializer).
pub(crate) fn glorot(
    rng: &mut rand_chacha::ChaCha8Rng,
    n: usize,
    fan_in: usize,
    fan_out: usize,
) -> Vec<f32> {
    use rand::Rng;
    let lim = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
    (0..n).map(|_| rng.gen_range(-lim..lim)).collect()
}
