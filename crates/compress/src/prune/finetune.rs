//! Fine-tuning for pruning: a seeded mini-batch loop (softmax cross-entropy, Adam) with a hook
//! called before every optimizer step, where schedules update masks; and top-1 accuracy.
//!
//! The loop is deliberately small: pruning needs the step-level hook that an epoch-level
//! trainer does not offer. The learning rate is constant (a decay slowed recovery from the
//! last mask updates in our runs), and image samples may be randomly shifted as in training. Batch order depends only on `(seed, epoch)`, so runs repeat.

use serde::{Deserialize, Serialize};
use tinyforge_data::{BatchBuffer, BatchConfig, Batcher, Dataset, Targets};
use tinyforge_train::loss::{argmax_rows, softmax_cross_entropy};
use tinyforge_train::{Model, Optimizer, OptimizerConfig, Tensor};

use super::{PruneError, PruneResult};

/// Fine-tuning hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FineTune {
    /// Epochs of fine-tuning (per round, for the iterative driver).
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate (fine-tuning uses a lower rate than training).
    pub lr: f32,
    /// Seed of the batch order.
    pub seed: u64,
    /// Random shift of image samples by up to this many pixels (0: off).
    pub augment_shift: usize,
}

impl Default for FineTune {
    fn default() -> Self {
        FineTune {
            epochs: 2,
            batch_size: 64,
            lr: 5e-4,
            seed: 0,
            augment_shift: 0,
        }
    }
}

fn labels(ds: &Dataset) -> PruneResult<&[u32]> {
    match &ds.targets {
        Targets::Classes(l) => Ok(l),
        _ => Err(PruneError::Data(
            "pruning needs a classification dataset (class labels)".into(),
        )),
    }
}

fn check_shape(model: &Model, ds: &Dataset) -> PruneResult<()> {
    if model.input_shape() != ds.sample_shape.as_slice() {
        return Err(PruneError::Data(format!(
            "model input is {:?}, the dataset's samples are {:?}",
            model.input_shape(),
            ds.sample_shape
        )));
    }
    Ok(())
}

/// Trains `model` on `ds` for `cfg.epochs`, calling `before_step(step, model)` before each
/// optimizer step (steps counted from `first_step`) and `after_epoch(epoch, model)` after each
/// epoch. Returns the number of steps run.
pub fn train(
    model: &mut Model,
    ds: &Dataset,
    cfg: &FineTune,
    first_step: u64,
    before_step: &mut dyn FnMut(u64, &mut Model) -> PruneResult<()>,
    after_epoch: &mut dyn FnMut(usize, &mut Model) -> PruneResult<()>,
) -> PruneResult<u64> {
    check_shape(model, ds)?;
    labels(ds)?;
    if cfg.batch_size == 0 || cfg.lr.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(PruneError::Config(
            "fine-tuning needs batch_size ≥ 1 and lr > 0".into(),
        ));
    }
    let mut opt = Optimizer::new(OptimizerConfig::adam());
    let bc = BatchConfig {
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        augment: tinyforge_data::Augment {
            shift: if ds.sample_shape.len() == 3 {
                cfg.augment_shift
            } else {
                0
            },
            noise_std: 0.0,
        },
        ..Default::default()
    };
    let mut batches = Batcher::new(ds, bc)?;
    let mut buf = BatchBuffer::new(ds, cfg.batch_size);
    let mut x = Tensor::default();
    let mut step = first_step;
    for epoch in 0..cfg.epochs {
        batches.set_epoch(epoch as u64);
        while batches.next_batch(&mut buf)? {
            before_step(step, model)?;
            let n = buf.len;
            x.reshape_to(n, &ds.sample_shape);
            x.data
                .copy_from_slice(&buf.features()[..n * ds.sample_len()]);
            model.forward(&x, true)?;
            let lab = &buf.labels()[..n];
            let mut err = None;
            model.backward_with(|y, g| match softmax_cross_entropy(y, lab, g) {
                Ok(l) => l,
                Err(e) => {
                    err = Some(e);
                    0.0
                }
            });
            if let Some(e) = err {
                return Err(e.into());
            }
            opt.apply(model, cfg.lr);
            step += 1;
        }
        after_epoch(epoch, model)?;
    }
    Ok(step - first_step)
}

/// Steps one epoch of [`train`] takes on `ds`.
pub fn steps_per_epoch(ds: &Dataset, batch_size: usize) -> u64 {
    ds.len().div_ceil(batch_size.max(1)) as u64
}

/// Top-1 accuracy of `model` on `ds` (inference mode).
pub fn accuracy(model: &mut Model, ds: &Dataset) -> PruneResult<f32> {
    check_shape(model, ds)?;
    let labels = labels(ds)?;
    if ds.is_empty() {
        return Err(PruneError::Data("empty evaluation set".into()));
    }
    let bs = 256;
    let w = ds.sample_len();
    let mut correct = 0usize;
    let mut x = Tensor::default();
    for (start, lab) in (0..ds.len()).step_by(bs).zip(labels.chunks(bs)) {
        let n = lab.len();
        x.reshape_to(n, &ds.sample_shape);
        x.data
            .copy_from_slice(&ds.features[start * w..(start + n) * w]);
        let y = model.forward(&x, false)?;
        correct += argmax_rows(y)
            .zip(lab)
            .filter(|(p, &l)| *p == l as usize)
            .count();
    }
    Ok(correct as f32 / ds.len() as f32)
}
