//! Fine-tuning for pruning: a seeded mini-batch loop (softmax cross-entropy, Adam) with a hook
//! called before every optimizer step, where schedules update masks; and top-1 accuracy.
//!
//! The loop is deliberately small: pruning needs the step-level hook that an epoch-level
//! trainer does not offer. [`train`] keeps the learning rate constant (what quantization-aware
//! training expects); [`train_with`] adds a learning-rate schedule over the run (cosine decay or
//! cosine with warm restarts) and knowledge distillation from a teacher's logits (Hinton et
//! al. 2015): the dense model teaches its pruned copy, which recovers more of its accuracy
//! than from the labels alone. Image samples may be randomly shifted as in training. Batch
//! order depends only on `(seed, epoch)`, so runs repeat.

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

/// Learning rate over a fine-tuning run.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// `lr` throughout.
    #[default]
    Constant,
    /// Cosine decay from `lr` to `lr / 50` over the run: large steps while masks move, small
    /// ones to settle at the end.
    Cosine,
    /// Cosine decay restarted `cycles` times over the run (SGDR, Loshchilov & Hutter 2017).
    WarmRestarts {
        /// Number of equal cycles.
        cycles: usize,
    },
}

impl LrSchedule {
    /// Learning rate at `step` (0-based) of a run of `total` steps at peak `lr`.
    pub fn lr(self, lr: f32, step: u64, total: u64) -> f32 {
        let cosine = |t: u64, span: u64| {
            let p = t.min(span) as f32 / span.max(1) as f32;
            let floor = lr / 50.0;
            floor + (lr - floor) * 0.5 * (1.0 + (std::f32::consts::PI * p).cos())
        };
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => cosine(step, total),
            LrSchedule::WarmRestarts { cycles } => {
                let span = total.div_ceil(cycles.max(1) as u64).max(1);
                cosine(step % span, span)
            }
        }
    }
}

/// Knowledge distillation: the loss is `(1 − alpha)·CE(labels) + alpha·T²·KL(teacher_T ‖
/// student_T)` with both logits softened by temperature `T`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    /// Weight of the teacher term in [0, 1].
    pub alpha: f32,
    /// Softmax temperature (> 0).
    pub temperature: f32,
}

impl Default for Distill {
    fn default() -> Self {
        Distill {
            alpha: 0.7,
            temperature: 4.0,
        }
    }
}

/// Everything [`train_with`] adds to [`FineTune`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// Learning rate over the run.
    pub schedule: LrSchedule,
    /// Teacher model and distillation weights.
    pub teacher: Option<(&'a Model, Distill)>,
}

fn softmax_t(row: &[f32], t: f32, out: &mut [f32]) {
    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut sum = 0.0;
    for (o, &v) in out.iter_mut().zip(row) {
        *o = ((v - m) / t).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}

/// Distillation loss of a batch of `logits` against `teacher` logits and `labels`; writes the
/// gradient with respect to `logits` into `grad` (mean over the batch).
pub fn distill_loss(
    logits: &Tensor,
    teacher: &[f32],
    labels: &[u32],
    d: &Distill,
    grad: &mut Tensor,
) -> PruneResult<f32> {
    if teacher.len() != logits.len() {
        return Err(PruneError::Data(format!(
            "teacher gives {} logits for a batch of {}",
            teacher.len(),
            logits.len()
        )));
    }
    if !(0.0..=1.0).contains(&d.alpha)
        || d.temperature.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return Err(PruneError::Config(format!(
            "distillation needs 0 ≤ alpha ≤ 1 and temperature > 0 (got {}, {})",
            d.alpha, d.temperature
        )));
    }
    let ce = softmax_cross_entropy(logits, labels, grad)?;
    let k = logits.sample_len().max(1);
    let n = logits.batch().max(1) as f32;
    let t = d.temperature;
    let (mut p, mut q) = (vec![0.0f32; k], vec![0.0f32; k]);
    let mut kl = 0.0f64;
    for ((row, trow), g) in logits
        .data
        .chunks_exact(k)
        .zip(teacher.chunks_exact(k))
        .zip(grad.data.chunks_exact_mut(k))
    {
        softmax_t(row, t, &mut p);
        softmax_t(trow, t, &mut q);
        for i in 0..k {
            if q[i] > 0.0 {
                kl += (q[i] * (q[i].max(1e-30).ln() - p[i].max(1e-30).ln())) as f64;
            }
            // d/dz of T²·KL(q ‖ softmax(z/T)) = T·(p − q).
            g[i] = (1.0 - d.alpha) * g[i] + d.alpha * t * (p[i] - q[i]) / n;
        }
    }
    let kl = (kl / n as f64) as f32 * t * t;
    Ok((1.0 - d.alpha) * ce + d.alpha * kl)
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

/// Trains `model` on `ds` for `cfg.epochs` at a constant learning rate, calling
/// `before_step(step, model)` before each optimizer step (steps counted from `first_step`) and
/// `after_epoch(epoch, model)` after each epoch. Returns the number of steps run.
pub fn train(
    model: &mut Model,
    ds: &Dataset,
    cfg: &FineTune,
    first_step: u64,
    before_step: &mut dyn FnMut(u64, &mut Model) -> PruneResult<()>,
    after_epoch: &mut dyn FnMut(usize, &mut Model) -> PruneResult<()>,
) -> PruneResult<u64> {
    train_with(
        model,
        ds,
        cfg,
        &Extras::default(),
        first_step,
        before_step,
        after_epoch,
    )
}

/// [`train`] with a learning-rate schedule and optional distillation from a teacher.
pub fn train_with(
    model: &mut Model,
    ds: &Dataset,
    cfg: &FineTune,
    extras: &Extras,
    first_step: u64,
    before_step: &mut dyn FnMut(u64, &mut Model) -> PruneResult<()>,
    after_epoch: &mut dyn FnMut(usize, &mut Model) -> PruneResult<()>,
) -> PruneResult<u64> {
    check_shape(model, ds)?;
    let mut teacher = match extras.teacher {
        Some((t, d)) => {
            check_shape(t, ds)?;
            if t.output_shape() != model.output_shape() {
                return Err(PruneError::Model(format!(
                    "teacher outputs {:?}, the model {:?}",
                    t.output_shape(),
                    model.output_shape()
                )));
            }
            Some((t.clone(), d))
        }
        None => None,
    };
    let total = steps_per_epoch(ds, cfg.batch_size) * cfg.epochs as u64;
    let mut soft = Vec::new();
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
            if let Some((t, _)) = &mut teacher {
                soft.clear();
                soft.extend_from_slice(&t.forward(&x, false)?.data);
            }
            model.forward(&x, true)?;
            let lab = &buf.labels()[..n];
            let mut err = None;
            let distill = teacher.as_ref().map(|(_, d)| *d);
            model.backward_with(|y, g| {
                let r = match &distill {
                    Some(d) => distill_loss(y, &soft, lab, d, g),
                    None => softmax_cross_entropy(y, lab, g).map_err(PruneError::from),
                };
                r.unwrap_or_else(|e| {
                    err = Some(e);
                    0.0
                })
            });
            if let Some(e) = err {
                return Err(e);
            }
            opt.apply(model, extras.schedule.lr(cfg.lr, step - first_step, total));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distillation_gradient_matches_finite_differences() {
        let logits = Tensor::from_vec(&[2, 3], vec![0.3, -1.2, 2.0, 1.5, 0.1, -0.4]).unwrap();
        let teacher = [1.0, -0.5, 1.7, 0.2, 0.9, -1.0];
        let labels = [2, 1];
        let d = Distill {
            alpha: 0.6,
            temperature: 3.0,
        };
        let mut g = Tensor::default();
        distill_loss(&logits, &teacher, &labels, &d, &mut g).unwrap();
        let eps = 1e-3;
        for i in 0..6 {
            let mut hi = logits.clone();
            hi.data[i] += eps;
            let mut lo = logits.clone();
            lo.data[i] -= eps;
            let mut scratch = Tensor::default();
            let fh = distill_loss(&hi, &teacher, &labels, &d, &mut scratch).unwrap();
            let fl = distill_loss(&lo, &teacher, &labels, &d, &mut scratch).unwrap();
            let num = (fh - fl) / (2.0 * eps);
            assert!(
                (num - g.data[i]).abs() < 2e-3,
                "{i}: {num} vs {}",
                g.data[i]
            );
        }
        // alpha 0 is plain cross-entropy.
        let d0 = Distill { alpha: 0.0, ..d };
        let mut g0 = Tensor::default();
        let l0 = distill_loss(&logits, &teacher, &labels, &d0, &mut g0).unwrap();
        let mut g1 = Tensor::default();
        let l1 = softmax_cross_entropy(&logits, &labels, &mut g1).unwrap();
        assert!((l0 - l1).abs() < 1e-6);
        assert!(distill_loss(&logits, &teacher[..3], &labels, &d, &mut g0).is_err());
        let bad = Distill {
            temperature: 0.0,
            ..d
        };
        assert!(distill_loss(&logits, &teacher, &labels, &bad, &mut g0).is_err());
    }

    #[test]
    fn learning_rate_schedules() {
        assert_eq!(LrSchedule::Constant.lr(1.0, 7, 10), 1.0);
        let c = LrSchedule::Cosine;
        assert!((c.lr(1.0, 0, 100) - 1.0).abs() < 1e-6);
        assert!((c.lr(1.0, 100, 100) - 0.02).abs() < 1e-6);
        assert!(c.lr(1.0, 30, 100) > c.lr(1.0, 60, 100));
        let r = LrSchedule::WarmRestarts { cycles: 2 };
        assert!((r.lr(1.0, 50, 100) - 1.0).abs() < 1e-6);
        assert!(r.lr(1.0, 49, 100) < 0.05);
    }
}
