//! The training loop: [`Trainer::fit`] runs epochs of seeded mini-batches from a
//! `tinyforge_data::Dataset` (order and augmentation depend only on `(seed, epoch)`), applies
//! the optimizer with the scheduled learning rate, evaluates on validation data, applies early
//! stopping and calls a per-epoch callback (where a CLI shows progress and writes
//! checkpoints). [`evaluate`] gives loss, accuracy and a confusion matrix.
//!
//! Resuming: a [`Trainer`] restored by [`crate::checkpoint::load`] continues at the saved epoch
//! with the saved optimizer state, so the final weights are bit-identical to an uninterrupted
//! run.

use serde::{Deserialize, Serialize};
use tinyforge_data::{Augment, BatchBuffer, BatchConfig, Batcher, Dataset, Sampling, Targets};

use crate::error::{TrainError, TrainResult};
use crate::loss::{argmax_rows, mse, softmax_cross_entropy};
use crate::model::Model;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::schedule::{Schedule, ScheduleKind};
use crate::tensor::Tensor;

/// Which loss the trainer minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Softmax cross-entropy from logits against class targets.
    #[default]
    CrossEntropy,
    /// Mean squared error against value targets (autoencoders, regression).
    Mse,
}

/// Quantity watched by early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation loss (lower is better).
    ValLoss,
    /// Validation accuracy (higher is better).
    ValAccuracy,
}

/// Early-stopping rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Watched metric.
    pub monitor: Monitor,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Minimum change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f32,
    /// Restore the best epoch's weights when stopping or finishing.
    #[serde(default)]
    pub restore_best: bool,
}

/// Training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs to run in total.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Optimizer and its hyper-parameters.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule; a cosine `decay_steps` of 0 means "the whole run".
    pub schedule: Schedule,
    /// Seed of batch order and augmentation.
    pub seed: u64,
    /// Training-time augmentation.
    #[serde(default)]
    pub augment: Augment,
    /// Early stopping (needs validation data).
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// Loss to minimize.
    #[serde(default)]
    pub loss: LossKind,
}

impl TrainConfig {
    /// Adam + cosine decay over the run, no augmentation.
    pub fn new(epochs: usize, batch_size: usize, lr: f32) -> Self {
        TrainConfig {
            epochs,
            batch_size,
            optimizer: OptimizerConfig::adam(),
            schedule: Schedule::cosine(lr, 0),
            seed: 0,
            augment: Augment::default(),
            early_stopping: None,
            loss: LossKind::CrossEntropy,
        }
    }
}

/// Per-epoch results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 0-based epoch index.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f32,
    /// Training accuracy (class targets only).
    pub train_accuracy: Option<f32>,
    /// Validation results, when validation data was given.
    pub val_loss: Option<f32>,
    /// Validation accuracy.
    pub val_accuracy: Option<f32>,
    /// Learning rate of the epoch's last step.
    pub lr: f32,
    /// Wall time of the epoch in seconds.
    pub seconds: f64,
}

/// What the per-epoch callback asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// Evaluation results.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f32,
    /// Accuracy (class targets only).
    pub accuracy: Option<f32>,
    /// `confusion[true][predicted]` counts (class targets only).
    pub confusion: Vec<Vec<u32>>,
}

/// Training state: configuration, optimizer, progress and history.
#[derive(Debug, Clone)]
pub struct Trainer {
    /// Configuration.
    pub config: TrainConfig,
    /// Optimizer (with its slot state).
    pub optimizer: Optimizer,
    /// Completed epochs.
    pub epoch: usize,
    /// One entry per completed epoch.
    pub history: Vec<EpochStats>,
    /// Best monitored value so far and its epoch (early stopping).
    pub best: Option<(f32, usize)>,
    best_weights: Option<Vec<Vec<f32>>>,
}

impl Trainer {
    /// A trainer at epoch 0.
    pub fn new(config: TrainConfig) -> Self {
        Trainer {
            optimizer: Optimizer::new(config.optimizer),
            config,
            epoch: 0,
            history: Vec::new(),
            best: None,
            best_weights: None,
        }
    }

    fn check(&self, model: &Model, ds: &Dataset) -> TrainResult<()> {
        if ds.sample_shape != model.input_shape() {
            return Err(TrainError::Data(format!(
                "dataset samples are {:?}, the model takes {:?}",
                ds.sample_shape,
                model.input_shape()
            )));
        }
        match (&ds.targets, self.config.loss) {
            (Targets::Classes(_), LossKind::CrossEntropy) => {
                let k: usize = model.output_shape().iter().product();
                if ds.num_classes > k {
                    return Err(TrainError::Data(format!(
                        "{} classes but the model has {k} outputs",
                        ds.num_classes
                    )));
                }
                Ok(())
            }
            (Targets::Values { shape, .. }, LossKind::Mse) if shape[..] == *model.output_shape() => Ok(()),
            _ => Err(TrainError::Data(
                "targets do not match the loss (cross-entropy needs classes, MSE values of the output shape)".into(),
            )),
        }
    }

    /// Trains from the current epoch to `config.epochs` (or until early stopping / the callback
    /// stops it). `on_epoch` sees each epoch's stats, the model and the trainer.
    pub fn fit(
        &mut self,
        model: &mut Model,
        train: &Dataset,
        val: Option<&Dataset>,
        mut on_epoch: impl FnMut(&EpochStats, &Model, &Trainer) -> Control,
    ) -> TrainResult<()> {
        self.check(model, train)?;
        if let Some(v) = val {
            self.check(model, v)?;
        }
        let cfg = self.config.clone();
        if cfg.batch_size == 0 {
            return Err(TrainError::Config("batch size must be ≥ 1".into()));
        }
        let mut batcher = Batcher::new(
            train,
            BatchConfig {
                batch_size: cfg.batch_size,
                drop_last: false,
                sampling: Sampling::Shuffle,
                seed: cfg.seed,
                augment: cfg.augment.clone(),
            },
        )
        .map_err(|e| TrainError::Data(e.to_string()))?;
        let bpe = batcher.batches_per_epoch() as u64;
        let mut schedule = cfg.schedule;
        if let ScheduleKind::Cosine {
            decay_steps: 0,
            alpha,
        } = schedule.kind
        {
            let total = (bpe * cfg.epochs as u64).saturating_sub(schedule.warmup_steps);
            schedule.kind = ScheduleKind::Cosine {
                decay_steps: total.max(1),
                alpha,
            };
        }
        let mut buf = BatchBuffer::new(train, cfg.batch_size);
        let mut x = Tensor::default();
        let shape = train.sample_shape.clone();
        while self.epoch < cfg.epochs {
            let t0 = std::time::Instant::now();
            batcher.set_epoch(self.epoch as u64);
            let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
            let mut lr = 0.0;
            while batcher
                .next_batch(&mut buf)
                .map_err(|e| TrainError::Data(e.to_string()))?
            {
                let n = buf.len;
                x.reshape_to(n, &shape);
                x.data.copy_from_slice(buf.features());
                model.forward(&x, true)?;
                let mut err = None;
                let loss = match cfg.loss {
                    LossKind::CrossEntropy => {
                        let labels = buf.labels();
                        correct += argmax_rows(model.output())
                            .zip(labels)
                            .filter(|(p, &l)| *p == l as usize)
                            .count();
                        model.backward_with(|o, g| {
                            softmax_cross_entropy(o, labels, g).unwrap_or_else(|e| {
                                err = Some(e);
                                g.data.fill(0.0);
                                0.0
                            })
                        })
                    }
                    LossKind::Mse => model.backward_with(|o, g| {
                        mse(o, buf.values(), g).unwrap_or_else(|e| {
                            err = Some(e);
                            g.data.fill(0.0);
                            0.0
                        })
                    }),
                };
                if let Some(e) = err {
                    return Err(e);
                }
                lr = schedule.lr(self.optimizer.step);
                self.optimizer.apply(model, lr);
                loss_sum += loss as f64 * n as f64;
                seen += n;
            }
            let val_eval = match val {
                Some(v) => Some(evaluate(model, v, cfg.batch_size.max(256), cfg.loss)?),
                None => None,
            };
            let stats = EpochStats {
                epoch: self.epoch,
                train_loss: (loss_sum / seen.max(1) as f64) as f32,
                train_accuracy: (cfg.loss == LossKind::CrossEntropy)
                    .then(|| correct as f32 / seen.max(1) as f32),
                val_loss: val_eval.as_ref().map(|e| e.loss),
                val_accuracy: val_eval.as_ref().and_then(|e| e.accuracy),
                lr,
                seconds: t0.elapsed().as_secs_f64(),
            };
            self.epoch += 1;
            self.history.push(stats.clone());
            let mut stop = false;
            if let Some(es) = cfg.early_stopping {
                let value = match es.monitor {
                    Monitor::ValLoss => stats.val_loss,
                    Monitor::ValAccuracy => stats.val_accuracy.map(|a| -a),
                };
                if let Some(v) = value {
                    let improved = self.best.is_none_or(|(b, _)| v < b - es.min_delta);
                    if improved {
                        self.best = Some((v, stats.epoch));
                        if es.restore_best {
                            let mut w = Vec::new();
                            model.visit_params(&mut |p| w.push(p.value.clone()));
                            self.best_weights = Some(w);
                        }
                    } else if let Some((_, be)) = self.best {
                        stop = stats.epoch - be >= es.patience;
                    }
                }
            }
            if on_epoch(&stats, model, self) == Control::Stop {
                stop = true;
            }
            if stop {
                break;
            }
        }
        if let (Some(es), Some(w)) = (cfg.early_stopping, self.best_weights.take()) {
            if es.restore_best {
                let mut i = 0;
                model.visit_params(&mut |p| {
                    p.value.copy_from_slice(&w[i]);
                    i += 1;
                });
            }
        }
        Ok(())
    }
}

/// Evaluates `model` (inference mode: BN running statistics, no dropout) on `ds`.
pub fn evaluate(
    model: &mut Model,
    ds: &Dataset,
    batch_size: usize,
    loss: LossKind,
) -> TrainResult<Evaluation> {
    if ds.sample_shape != model.input_shape() {
        return Err(TrainError::Data(format!(
            "dataset samples are {:?}, the model takes {:?}",
            ds.sample_shape,
            model.input_shape()
        )));
    }
    let bs = batch_size.max(1);
    let per = ds.sample_len();
    let k: usize = model.output_shape().iter().product();
    let mut confusion = vec![vec![0u32; k]; if loss == LossKind::CrossEntropy { k } else { 0 }];
    let mut x = Tensor::default();
    let mut g = Tensor::default();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let n = ds.len();
    let mut start = 0;
    while start < n {
        let m = bs.min(n - start);
        x.reshape_to(m, &ds.sample_shape);
        x.data
            .copy_from_slice(&ds.features[start * per..(start + m) * per]);
        let out = model.forward(&x, false)?;
        let l = match (&ds.targets, loss) {
            (Targets::Classes(labels), LossKind::CrossEntropy) => {
                let lab = &labels[start..start + m];
                for (p, &t) in argmax_rows(out).zip(lab) {
                    if (t as usize) < k {
                        confusion[t as usize][p] += 1;
                    }
                    correct += usize::from(p == t as usize);
                }
                softmax_cross_entropy(out, lab, &mut g)?
            }
            (Targets::Values { data, shape }, LossKind::Mse) => {
                let w: usize = shape.iter().product();
                mse(out, &data[start * w..(start + m) * w], &mut g)?
            }
            _ => return Err(TrainError::Data("targets do not match the loss".into())),
        };
        loss_sum += l as f64 * m as f64;
        start += m;
    }
    Ok(Evaluation {
        loss: (loss_sum / n.max(1) as f64) as f32,
        accuracy: (loss == LossKind::CrossEntropy).then(|| correct as f32 / n.max(1) as f32),
        confusion,
    })
}
