//! Fully connected layer over the flattened sample: `y = x · Wᵀ + b`, weights `[O,I]` (TFLite
//! layout). The batch is small (≤ a few hundred rows), so each pass is one single-threaded GEMM.

use super::{glorot, Activation};
use crate::error::TrainResult;
use crate::gemm::{sgemm, MatRef};
use crate::param::{ChannelAxis, Param};
use crate::tensor::Tensor;

/// Dense layer.
#[derive(Debug, Clone)]
pub struct Dense {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub units: usize,
    /// Fused activation.
    pub activation: Activation,
    /// Kernel `[O,I]`.
    pub weight: Param,
    /// Bias `[O]`.
    pub bias: Option<Param>,
}

impl Dense {
    /// A Glorot-initialised dense layer (zero bias).
    pub fn new(
        in_features: usize,
        units: usize,
        use_bias: bool,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Self {
        let w = glorot(rng, units * in_features, in_features, units);
        Dense {
            in_features,
            units,
            activation: Activation::None,
            weight: Param::new("kernel", &[units, in_features], w, ChannelAxis::Outer, true),
            bias: use_bias.then(|| {
                Param::new(
                    "bias",
                    &[units],
                    vec![0.0; units],
                    ChannelAxis::Outer,
                    false,
                )
            }),
        }
    }

    /// Sets the fused activation.
    pub fn with_activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// Per-sample output shape.
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        let f: usize = input.iter().product();
        if f != self.in_features {
            return Err(crate::error::TrainError::Shape(format!(
                "dense expects {} features, got {input:?}",
                self.in_features
            )));
        }
        Ok(vec![self.units])
    }

    /// Forward pass.
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, _train: bool) {
        let n = x.batch();
        let (i, o) = (self.in_features, self.units);
        y.reshape_to(n, &[o]);
        sgemm(
            n,
            i,
            o,
            MatRef::rm(&x.data, i),
            MatRef::rm_t(self.weight.w(), i),
            0.0,
            &mut y.data,
        );
        if let Some(b) = &self.bias {
            let b = b.w();
            for row in y.data.chunks_exact_mut(o) {
                row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
            }
        }
        self.activation.apply(&mut y.data);
    }

    /// Backward pass.
    pub fn backward(&mut self, x: &Tensor, y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        let n = x.batch();
        let (i, o) = (self.in_features, self.units);
        self.activation.backward(&y.data, &mut gy.data);
        sgemm(
            o,
            n,
            i,
            MatRef::rm_t(&gy.data, o),
            MatRef::rm(&x.data, i),
            0.0,
            &mut self.weight.grad,
        );
        if let Some(b) = &mut self.bias {
            b.grad.fill(0.0);
            for row in gy.data.chunks_exact(o) {
                b.grad.iter_mut().zip(row).for_each(|(b, g)| *b += g);
            }
        }
        if let Some(gx) = gx {
            gx.reshape_to(n, &x.shape[1..]);
            sgemm(
                n,
                o,
                i,
                MatRef::rm(&gy.data, o),
                MatRef::rm(self.weight.w(), i),
                0.0,
                &mut gx.data,
            );
        }
    }
}
