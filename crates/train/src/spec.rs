//! Model descriptions: a serde/TOML schema (an input shape plus a list of layers and blocks)
//! and builders for the reference TinyML nets. A description is plain data; [`ModelSpec::build`]
//! turns it into a [`Model`] with seeded initial weights.
//!
//! ```toml
//! input = [28, 28, 1]
//! [[layer]]
//! type = "conv2d"
//! filters = 16
//! kernel = 3
//! stride = 2
//! batch_norm = true
//! activation = "relu"
//! [[layer]]
//! type = "ds_block"
//! filters = 32
//! [[layer]]
//! type = "global_avg_pool"
//! [[layer]]
//! type = "dense"
//! units = 10
//! ```
//!
//! Blocks: `ds_block` (depthwise 3×3 + BN + act, pointwise 1×1 + BN + act, no biases),
//! `inverted_residual` (MobileNetV2: optional 1×1 expansion, depthwise, linear 1×1
//! projection, residual add when shapes allow), `residual_block` (ResNet v1 basic block with a
//! 1×1 projection shortcut when the shape changes). Batch norm is fused with the activation
//! that follows it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, TrainResult};
use crate::layers::*;
use crate::model::{Model, NodeId};

/// A size given as one number (square) or `[h, w]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size2 {
    /// Same value for height and width.
    Square(usize),
    /// `[height, width]`.
    Rect([usize; 2]),
}

impl Size2 {
    fn hw(self) -> (usize, usize) {
        match self {
            Size2::Square(v) => (v, v),
            Size2::Rect([h, w]) => (h, w),
        }
    }
}

fn one() -> Size2 {
    Size2::Square(1)
}
fn three() -> Size2 {
    Size2::Square(3)
}
fn relu() -> Activation {
    Activation::Relu
}
fn relu6() -> Activation {
    Activation::Relu6
}
fn six() -> usize {
    6
}
fn yes() -> bool {
    true
}

/// One entry of a model description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Convolution, optionally followed by batch norm; then the activation.
    Conv2d {
        /// Output channels.
        filters: usize,
        /// Kernel size.
        kernel: Size2,
        /// Stride (default 1).
        #[serde(default = "one")]
        stride: Size2,
        /// Padding (default same).
        #[serde(default)]
        padding: Padding,
        /// Bias (default: true without batch norm, false with it).
        #[serde(default)]
        bias: Option<bool>,
        /// Follow with batch norm.
        #[serde(default)]
        batch_norm: bool,
        /// Activation (default none).
        #[serde(default)]
        activation: Activation,
    },
    /// Depthwise convolution (multiplier 1), optionally followed by batch norm.
    DepthwiseConv2d {
        /// Kernel size (default 3).
        #[serde(default = "three")]
        kernel: Size2,
        /// Stride (default 1).
        #[serde(default = "one")]
        stride: Size2,
        /// Padding (default same).
        #[serde(default)]
        padding: Padding,
        /// Bias (default: true without batch norm, false with it).
        #[serde(default)]
        bias: Option<bool>,
        /// Follow with batch norm.
        #[serde(default)]
        batch_norm: bool,
        /// Activation.
        #[serde(default)]
        activation: Activation,
    },
    /// Fully connected layer over the flattened sample.
    Dense {
        /// Output features.
        units: usize,
        /// Bias (default: true without batch norm).
        #[serde(default)]
        bias: Option<bool>,
        /// Follow with batch norm.
        #[serde(default)]
        batch_norm: bool,
        /// Activation.
        #[serde(default)]
        activation: Activation,
    },
    /// Stand-alone batch norm.
    BatchNorm {
        /// Activation fused after it.
        #[serde(default)]
        activation: Activation,
    },
    /// Stand-alone activation.
    Activation {
        /// The function.
        activation: Activation,
    },
    /// Max pooling (default stride = pool, padding valid).
    MaxPool {
        /// Window.
        pool: Size2,
        /// Stride (default: the window).
        #[serde(default)]
        stride: Option<Size2>,
        /// Padding (default valid).
        #[serde(default = "valid")]
        padding: Padding,
    },
    /// Average pooling (default stride = pool, padding valid).
    AvgPool {
        /// Window.
        pool: Size2,
        /// Stride (default: the window).
        #[serde(default)]
        stride: Option<Size2>,
        /// Padding (default valid).
        #[serde(default = "valid")]
        padding: Padding,
    },
    /// Global average pooling.
    GlobalAvgPool,
    /// Flatten (or reshape to `shape`).
    Flatten {
        /// Target per-sample shape (default: flatten).
        #[serde(default)]
        shape: Option<Vec<usize>>,
    },
    /// Inverted dropout.
    Dropout {
        /// Drop probability.
        rate: f32,
    },
    /// Depthwise-separable block: dw 3×3 (stride) + BN + act, pw 1×1 + BN + act.
    DsBlock {
        /// Pointwise output channels.
        filters: usize,
        /// Depthwise kernel (default 3).
        #[serde(default = "three")]
        kernel: Size2,
        /// Depthwise stride (default 1).
        #[serde(default = "one")]
        stride: Size2,
        /// Activation (default relu).
        #[serde(default = "relu")]
        activation: Activation,
    },
    /// MobileNetV2 inverted residual block.
    InvertedResidual {
        /// Output channels.
        filters: usize,
        /// Expansion factor (default 6; 1 skips the expansion conv).
        #[serde(default = "six")]
        expansion: usize,
        /// Depthwise stride (default 1).
        #[serde(default = "one")]
        stride: Size2,
        /// Activation of expansion and depthwise (default relu6).
        #[serde(default = "relu6")]
        activation: Activation,
    },
    /// ResNet v1 basic block (two 3×3 convs with BN, shortcut, add, ReLU).
    ResidualBlock {
        /// Output channels.
        filters: usize,
        /// Stride of the first conv and of the projection shortcut (default 1).
        #[serde(default = "one")]
        stride: Size2,
        /// Biases on the convolutions (MLPerf's ResNet-8 has them; default true).
        #[serde(default = "yes")]
        bias: bool,
    },
}

fn valid() -> Padding {
    Padding::Valid
}

/// A whole model description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Per-sample input shape (`[H, W, C]` or `[F]`).
    pub input: Vec<usize>,
    /// Layers and blocks in order.
    #[serde(rename = "layer")]
    pub layers: Vec<LayerSpec>,
}

impl ModelSpec {
    /// Parses a TOML description.
    pub fn from_toml(s: &str) -> TrainResult<Self> {
        Ok(toml::from_str(s)?)
    }

    /// Serializes to TOML.
    pub fn to_toml(&self) -> TrainResult<String> {
        toml::to_string(self).map_err(|e| TrainError::Model(e.to_string()))
    }

    /// Builds the model with weights drawn from `seed`.
    pub fn build(&self, seed: u64) -> TrainResult<Model> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut m = Model::new(&self.input);
        for (i, l) in self.layers.iter().enumerate() {
            add_spec(&mut m, l, &mut rng, seed.wrapping_add(i as u64))
                .map_err(|e| TrainError::Model(format!("layer {i}: {e}")))?;
        }
        Ok(m)
    }
}

fn channels(m: &Model) -> usize {
    m.output_shape().last().copied().unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn conv_bn(
    m: &mut Model,
    rng: &mut ChaCha8Rng,
    filters: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
    bias: bool,
    bn: bool,
    act: Activation,
) -> TrainResult<NodeId> {
    let c = channels(m);
    let conv = Conv2d::new(c, filters, kernel, stride, padding, bias, rng);
    if bn {
        m.push(Layer::Conv2d(conv))?;
        m.push(Layer::BatchNorm(
            BatchNorm::new(filters).with_activation(act),
        ))
    } else {
        m.push(Layer::Conv2d(conv.with_activation(act)))
    }
}

#[allow(clippy::too_many_arguments)]
fn dw_bn(
    m: &mut Model,
    rng: &mut ChaCha8Rng,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
    bias: bool,
    bn: bool,
    act: Activation,
) -> TrainResult<NodeId> {
    let c = channels(m);
    let dw = DepthwiseConv2d::new(c, kernel, stride, padding, bias, rng);
    if bn {
        m.push(Layer::DepthwiseConv2d(dw))?;
        m.push(Layer::BatchNorm(BatchNorm::new(c).with_activation(act)))
    } else {
        m.push(Layer::DepthwiseConv2d(dw.with_activation(act)))
    }
}

#[allow(clippy::too_many_lines)]
fn add_spec(m: &mut Model, l: &LayerSpec, rng: &mut ChaCha8Rng, seed: u64) -> TrainResult<NodeId> {
    match *l {
        LayerSpec::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            bias,
            batch_norm,
            activation,
        } => conv_bn(
            m,
            rng,
            filters,
            kernel.hw(),
            stride.hw(),
            padding,
            bias.unwrap_or(!batch_norm),
            batch_norm,
            activation,
        ),
        LayerSpec::DepthwiseConv2d {
            kernel,
            stride,
            padding,
            bias,
            batch_norm,
            activation,
        } => dw_bn(
            m,
            rng,
            kernel.hw(),
            stride.hw(),
            padding,
            bias.unwrap_or(!batch_norm),
            batch_norm,
            activation,
        ),
        LayerSpec::Dense {
            units,
            bias,
            batch_norm,
            activation,
        } => {
            let f: usize = m.output_shape().iter().product();
            let d = Dense::new(f, units, bias.unwrap_or(!batch_norm), rng);
            if batch_norm {
                m.push(Layer::Dense(d))?;
                m.push(Layer::BatchNorm(
                    BatchNorm::new(units).with_activation(activation),
                ))
            } else {
                m.push(Layer::Dense(d.with_activation(activation)))
            }
        }
        LayerSpec::BatchNorm { activation } => {
            let c = channels(m);
            m.push(Layer::BatchNorm(
                BatchNorm::new(c).with_activation(activation),
            ))
        }
        LayerSpec::Activation { activation } => {
            m.push(Layer::Activation(ActivationLayer { activation }))
        }
        LayerSpec::MaxPool {
            pool,
            stride,
            padding,
        } => m.push(Layer::MaxPool(MaxPool::new(
            pool.hw(),
            stride.unwrap_or(pool).hw(),
            padding,
        ))),
        LayerSpec::AvgPool {
            pool,
            stride,
            padding,
        } => m.push(Layer::AvgPool(AvgPool::new(
            pool.hw(),
            stride.unwrap_or(pool).hw(),
            padding,
        ))),
        LayerSpec::GlobalAvgPool => m.push(Layer::GlobalAvgPool(GlobalAvgPool::new())),
        LayerSpec::Flatten { ref shape } => m.push(Layer::Flatten(Flatten {
            target: shape.clone(),
        })),
        LayerSpec::Dropout { rate } => m.push(Layer::Dropout(Dropout::new(rate, seed))),
        LayerSpec::DsBlock {
            filters,
            kernel,
            stride,
            activation,
        } => {
            dw_bn(
                m,
                rng,
                kernel.hw(),
                stride.hw(),
                Padding::Same,
                false,
                true,
                activation,
            )?;
            conv_bn(
                m,
                rng,
                filters,
                (1, 1),
                (1, 1),
                Padding::Same,
                false,
                true,
                activation,
            )
        }
        LayerSpec::InvertedResidual {
            filters,
            expansion,
            stride,
            activation,
        } => {
            let input = m.last();
            let c = channels(m);
            if expansion == 0 {
                return Err(TrainError::Model("expansion must be ≥ 1".into()));
            }
            if expansion > 1 {
                conv_bn(
                    m,
                    rng,
                    c * expansion,
                    (1, 1),
                    (1, 1),
                    Padding::Same,
                    false,
                    true,
                    activation,
                )?;
            }
            dw_bn(
                m,
                rng,
                (3, 3),
                stride.hw(),
                Padding::Same,
                false,
                true,
                activation,
            )?;
            let out = conv_bn(
                m,
                rng,
                filters,
                (1, 1),
                (1, 1),
                Padding::Same,
                false,
                true,
                Activation::None,
            )?;
            if stride.hw() == (1, 1) && c == filters {
                m.add_sum(&[input, out], Activation::None)
            } else {
                Ok(out)
            }
        }
        LayerSpec::ResidualBlock {
            filters,
            stride,
            bias,
        } => {
            let input = m.last();
            let c = channels(m);
            let s = stride.hw();
            conv_bn(
                m,
                rng,
                filters,
                (3, 3),
                s,
                Padding::Same,
                bias,
                true,
                Activation::Relu,
            )?;
            let main = conv_bn(
                m,
                rng,
                filters,
                (3, 3),
                (1, 1),
                Padding::Same,
                bias,
                true,
                Activation::None,
            )?;
            let short = if s != (1, 1) || c != filters {
                let conv = Conv2d::new(c, filters, (1, 1), s, Padding::Same, bias, rng);
                m.add(Layer::Conv2d(conv), input)?
            } else {
                input
            };
            m.add_sum(&[main, short], Activation::Relu)
        }
    }
}

/// The benchmark net of DESIGN §5: conv 3×3(16)+ReLU, depthwise 3×3, pointwise 1×1(32)+ReLU,
/// global average pool, dense 10, on 28×28×1 (all with biases, like Keras' defaults).
pub fn tiny_bench() -> ModelSpec {
    ModelSpec {
        input: vec![28, 28, 1],
        layers: vec![
            LayerSpec::Conv2d {
                filters: 16,
                kernel: Size2::Square(3),
                stride: one(),
                padding: Padding::Same,
                bias: None,
                batch_norm: false,
                activation: Activation::Relu,
            },
            LayerSpec::DepthwiseConv2d {
                kernel: Size2::Square(3),
                stride: one(),
                padding: Padding::Same,
                bias: None,
                batch_norm: false,
                activation: Activation::None,
            },
            LayerSpec::Conv2d {
                filters: 32,
                kernel: Size2::Square(1),
                stride: one(),
                padding: Padding::Same,
                bias: None,
                batch_norm: false,
                activation: Activation::Relu,
            },
            LayerSpec::GlobalAvgPool,
            LayerSpec::Dense {
                units: 10,
                bias: None,
                batch_norm: false,
                activation: Activation::None,
            },
        ],
    }
}

/// MLPerf Tiny KWS DS-CNN on 49×10×1 MFCCs: conv (10,4)/2 64 + BN + ReLU, four blocks of
/// [dw 3×3 + BN + ReLU, conv 1×1 64 + BN + ReLU] (with biases, as in the reference), 25×5
/// average pool, dense 12. 24,908 parameters as Keras counts them.
pub fn kws_dscnn() -> ModelSpec {
    let mut layers = vec![LayerSpec::Conv2d {
        filters: 64,
        kernel: Size2::Rect([10, 4]),
        stride: Size2::Square(2),
        padding: Padding::Same,
        bias: Some(true),
        batch_norm: true,
        activation: Activation::Relu,
    }];
    for _ in 0..4 {
        layers.push(LayerSpec::DepthwiseConv2d {
            kernel: Size2::Square(3),
            stride: one(),
            padding: Padding::Same,
            bias: Some(true),
            batch_norm: true,
            activation: Activation::Relu,
        });
        layers.push(LayerSpec::Conv2d {
            filters: 64,
            kernel: Size2::Square(1),
            stride: one(),
            padding: Padding::Same,
            bias: Some(true),
            batch_norm: true,
            activation: Activation::Relu,
        });
    }
    layers.push(LayerSpec::AvgPool {
        pool: Size2::Rect([25, 5]),
        stride: None,
        padding: Padding::Valid,
    });
    layers.push(LayerSpec::Flatten { shape: None });
    layers.push(LayerSpec::Dense {
        units: 12,
        bias: None,
        batch_norm: false,
        activation: Activation::None,
    });
    ModelSpec {
        input: vec![49, 10, 1],
        layers,
    }
}

/// The product's MNIST DS-CNN: conv 3×3/2 16 (no bias) + BN + ReLU, DS block 32, max-pool 2,
/// DS blocks 64 and 64, global average pool, dense 10. 9,610 parameters as Keras counts them.
pub fn mnist_dscnn() -> ModelSpec {
    let ds = |f| LayerSpec::DsBlock {
        filters: f,
        kernel: three(),
        stride: one(),
        activation: Activation::Relu,
    };
    ModelSpec {
        input: vec![28, 28, 1],
        layers: vec![
            LayerSpec::Conv2d {
                filters: 16,
                kernel: three(),
                stride: Size2::Square(2),
                padding: Padding::Same,
                bias: Some(false),
                batch_norm: true,
                activation: Activation::Relu,
            },
            ds(32),
            LayerSpec::MaxPool {
                pool: Size2::Square(2),
                stride: None,
                padding: Padding::Valid,
            },
            ds(64),
            ds(64),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Dense {
                units: 10,
                bias: None,
                batch_norm: false,
                activation: Activation::None,
            },
        ],
    }
}

/// MobileNetV1 with width multiplier `alpha` (MLPerf VWW uses 96×96×3, alpha 0.25, 2 classes):
/// conv 3×3/2 + BN + ReLU, 13 depthwise-separable blocks, global average pool, dense.
pub fn mobilenet_v1(input: [usize; 3], alpha: f32, classes: usize) -> ModelSpec {
    let w = |c: usize| ((c as f32 * alpha).round() as usize).max(1);
    let mut layers = vec![LayerSpec::Conv2d {
        filters: w(32),
        kernel: three(),
        stride: Size2::Square(2),
        padding: Padding::Same,
        bias: Some(false),
        batch_norm: true,
        activation: Activation::Relu,
    }];
    let blocks = [
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (1024, 2),
        (1024, 1),
    ];
    for (f, s) in blocks {
        layers.push(LayerSpec::DsBlock {
            filters: w(f),
            kernel: three(),
            stride: Size2::Square(s),
            activation: Activation::Relu,
        });
    }
    layers.push(LayerSpec::GlobalAvgPool);
    layers.push(LayerSpec::Dense {
        units: classes,
        bias: None,
        batch_norm: false,
        activation: Activation::None,
    });
    ModelSpec {
        input: input.to_vec(),
        layers,
    }
}

/// MLPerf Tiny image-classification ResNet-8 (32×32×3, 10 classes): conv 3×3 16 + BN + ReLU,
/// residual blocks 16, 32/2, 64/2, 8×8 average pool, dense 10.
pub fn resnet8() -> ModelSpec {
    ModelSpec {
        input: vec![32, 32, 3],
        layers: vec![
            LayerSpec::Conv2d {
                filters: 16,
                kernel: three(),
                stride: one(),
                padding: Padding::Same,
                bias: Some(true),
                batch_norm: true,
                activation: Activation::Relu,
            },
            LayerSpec::ResidualBlock {
                filters: 16,
                stride: one(),
                bias: true,
            },
            LayerSpec::ResidualBlock {
                filters: 32,
                stride: Size2::Square(2),
                bias: true,
            },
            LayerSpec::ResidualBlock {
                filters: 64,
                stride: Size2::Square(2),
                bias: true,
            },
            LayerSpec::AvgPool {
                pool: Size2::Square(8),
                stride: None,
                padding: Padding::Valid,
            },
            LayerSpec::Flatten { shape: None },
            LayerSpec::Dense {
                units: 10,
                bias: None,
                batch_norm: false,
                activation: Activation::None,
            },
        ],
    }
}

/// MLPerf Tiny anomaly-detection autoencoder: `input` features, dense `hidden`+BN+ReLU ×4,
/// bottleneck `code`+BN+ReLU, dense `hidden`+BN+ReLU ×4, dense `input` (trained with MSE).
pub fn autoencoder(input: usize, hidden: usize, code: usize) -> ModelSpec {
    let dense = |u, bn: bool, act| LayerSpec::Dense {
        units: u,
        bias: Some(true),
        batch_norm: bn,
        activation: act,
    };
    let mut layers = Vec::new();
    for _ in 0..4 {
        layers.push(dense(hidden, true, Activation::Relu));
    }
    layers.push(dense(code, true, Activation::Relu));
    for _ in 0..4 {
        layers.push(dense(hidden, true, Activation::Relu));
    }
    layers.push(dense(input, false, Activation::None));
    ModelSpec {
        input: vec![input],
        layers,
    }
}
