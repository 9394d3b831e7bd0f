//! Element-wise activations, usable stand-alone or fused into the epilogue of conv, depthwise,
//! dense and batch-norm layers (saving one pass over memory each way). Backward uses the output
//! (`y > 0`, `0 < y < 6`), so no pre-activation copy is kept. At the kinks (exactly 0 or 6) the
//! gradient is taken as 0, like TensorFlow.

use rayon::prelude::*;

use crate::simd::vectorized;

use crate::error::TrainResult;
use crate::tensor::Tensor;

/// Activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
}

const PAR_MIN: usize = 1 << 15;

impl Activation {
    /// Applies the activation in place.
    #[inline]
    pub fn apply(self, y: &mut [f32]) {
        match self {
            Activation::None => {}
            Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Relu6 => y.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        }
    }

    /// Masks `g` in place with the activation's derivative, evaluated from its output `y`.
    #[inline]
    pub fn backward(self, y: &[f32], g: &mut [f32]) {
        match self {
            Activation::None => {}
            Activation::Relu => g
                .iter_mut()
                .zip(y)
                .for_each(|(g, &y)| *g = if y > 0.0 { *g } else { 0.0 }),
            Activation::Relu6 => g
                .iter_mut()
                .zip(y)
                .for_each(|(g, &y)| *g = if y > 0.0 && y < 6.0 { *g } else { 0.0 }),
        }
    }

    /// Parallel [`Activation::backward`] for large buffers.
    pub fn backward_par(self, y: &[f32], g: &mut [f32]) {
        if self == Activation::None {
            return;
        }
        if g.len() < PAR_MIN {
            return self.backward(y, g);
        }
        g.par_chunks_mut(PAR_MIN)
            .zip(y.par_chunks(PAR_MIN))
            .for_each(|(g, y)| self.backward(y, g));
    }
}

/// A stand-alone activation layer.
#[derive(Debug, Clone)]
pub struct ActivationLayer {
    /// The function.
    pub activation: Activation,
}

impl ActivationLayer {
    /// Per-sample output shape (unchanged).
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        Ok(input.to_vec())
    }

    /// y = act(x).
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, _train: bool) {
        y.reshape_to(x.batch(), &x.shape[1..]);
        let act = self.activation;
        y.data
            .par_chunks_mut(PAR_MIN)
            .zip(x.data.par_chunks(PAR_MIN))
            .for_each(|(y, x)| {
                vectorized(
                    #[inline(always)]
                    || {
                        y.copy_from_slice(x);
                        act.apply(y);
                    },
                )
            });
    }

    /// gx = gy · act'(y).
    pub fn backward(&mut self, _x: &Tensor, y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        if let Some(gx) = gx {
            self.activation.backward_par(&y.data, &mut gy.data);
            gx.reshape_to(gy.batch(), &gy.shape[1..]);
            gx.data.copy_from_slice(&gy.data);
        }
    }
}
