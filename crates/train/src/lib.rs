//! `tinyforge-train`: the float training engine for TinyML networks.
//!
//! NHWC f32 tensors ([`Tensor`]), layers with forward and backward passes ([`layers`]) in
//! TFLite weight layouts, a DAG [`Model`] (sequential nets and residual branches), losses,
//! SGD/Adam, learning-rate schedules, pruning masks and fake-quantization hooks ([`param`]).
//! Speed comes from im2col + a GEMM crate for convolutions and dense layers, direct
//! channel-contiguous loops for depthwise, rayon across batch chunks with deterministic
//! fixed-order reductions, and buffers reused across steps.
//!
//! Neighbours: `tinyforge-data` supplies datasets; `tinyforge-compress` drives the mask and
//! fake-quant hooks; export to `tinyforge-graph` reads the layer structs directly.
//!
//! ```
//! use tinyforge_train::{layers::*, loss, Model, Optimizer, OptimizerConfig, Tensor};
//! use rand::SeedableRng;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut m = Model::new(&[4]);
//! m.push(Layer::Dense(Dense::new(4, 3, true, &mut rng))).unwrap();
//! let x = Tensor::from_vec(&[2, 4], vec![0.5; 8]).unwrap();
//! let mut opt = Optimizer::new(OptimizerConfig::adam());
//! m.forward(&x, true).unwrap();
//! let l = m.backward_with(|y, g| loss::softmax_cross_entropy(y, &[0, 2], g).unwrap());
//! opt.apply(&mut m, 1e-2);
//! assert!(l > 0.0);
//! ```
#![deny(unsafe_code)]

pub mod checkpoint;
pub mod error;
pub mod export;
pub mod gemm;
pub mod import;
pub mod layers;
pub mod loss;
pub mod model;
pub mod optim;
pub mod par;
pub mod param;
pub mod schedule;
pub mod simd;
pub mod spec;
pub mod tensor;
pub mod trainer;

pub use error::{TrainError, TrainResult};
pub use model::{Model, Node, NodeId, Op};
pub use optim::{Optimizer, OptimizerConfig};
pub use param::{ActFakeQuant, ChannelAxis, Mask, Param, WeightFakeQuant};
pub use schedule::{Schedule, ScheduleKind};
pub use spec::{LayerSpec, ModelSpec, Size2};
pub use tensor::Tensor;
pub use trainer::{
    evaluate, Control, EarlyStopping, EpochStats, Evaluation, LossKind, Monitor, TrainConfig,
    Trainer,
};
