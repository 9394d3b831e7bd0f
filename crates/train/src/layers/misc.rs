//! Shape-only and regularization layers: `Flatten` (any reshape with the same element count)
//! and inverted `Dropout`. Dropout's mask comes from a ChaCha stream keyed by (seed, call
//! counter), so a checkpoint only needs the counter to resume bit-identically.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{TrainError, TrainResult};
use crate::tensor::Tensor;

/// Reshape to `target` (None: flatten to one axis).
#[derive(Debug, Clone, Default)]
pub struct Flatten {
    /// Per-sample target shape; None flattens.
    pub target: Option<Vec<usize>>,
}

impl Flatten {
    /// Per-sample output shape.
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        let n: usize = input.iter().product();
        match &self.target {
            None => Ok(vec![n]),
            Some(t) if t.iter().product::<usize>() == n => Ok(t.clone()),
            Some(t) => Err(TrainError::Shape(format!(
                "cannot reshape {input:?} to {t:?}"
            ))),
        }
    }

    /// Forward pass (a copy; activations are small at this point of a net).
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, _train: bool) {
        let shape = self.out_shape(&x.shape[1..]).expect("validated");
        y.reshape_to(x.batch(), &shape);
        y.data.copy_from_slice(&x.data);
    }

    /// Backward pass.
    pub fn backward(&mut self, x: &Tensor, _y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        if let Some(gx) = gx {
            gx.reshape_to(x.batch(), &x.shape[1..]);
            gx.data.copy_from_slice(&gy.data);
        }
    }
}

/// Inverted dropout: in training, zero each value with probability `rate` and scale the rest
/// by `1 / (1 - rate)`; identity at inference.
#[derive(Debug, Clone)]
pub struct Dropout {
    /// Drop probability in `[0, 1)`.
    pub rate: f32,
    /// Seed of the mask stream.
    pub seed: u64,
    /// Training forward calls so far (part of the checkpointed state).
    pub calls: u64,
    mask: Vec<f32>,
}

impl Dropout {
    /// Dropout with the given rate and seed.
    pub fn new(rate: f32, seed: u64) -> Self {
        Dropout {
            rate,
            seed,
            calls: 0,
            mask: Vec::new(),
        }
    }

    /// Per-sample output shape (unchanged).
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(TrainError::Model(format!(
                "dropout rate {} not in [0, 1)",
                self.rate
            )));
        }
        Ok(input.to_vec())
    }

    /// Forward pass.
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, train: bool) {
        y.reshape_to(x.batch(), &x.shape[1..]);
        if !train || self.rate == 0.0 {
            y.data.copy_from_slice(&x.data);
            self.mask.clear();
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.calls);
        self.calls += 1;
        let keep = 1.0 / (1.0 - self.rate);
        self.mask.resize(x.len(), 0.0);
        for m in self.mask.iter_mut() {
            *m = if rng.gen::<f32>() < self.rate {
                0.0
            } else {
                keep
            };
        }
        for ((o, v), m) in y.data.iter_mut().zip(&x.data).zip(&self.mask) {
            *o = v * m;
        }
    }

    /// Backward pass.
    pub fn backward(&mut self, x: &Tensor, _y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        if let Some(gx) = gx {
            gx.reshape_to(x.batch(), &x.shape[1..]);
            if self.mask.len() == gy.len() {
                for ((d, g), m) in gx.data.iter_mut().zip(&gy.data).zip(&self.mask) {
                    *d = g * m;
                }
            } else {
                gx.data.copy_from_slice(&gy.data);
            }
        }
    }
}
