//! The prune → fine-tune driver and its two stop rules.
//!
//! - [`StopRule::Sparsity`]: one run of `finetune.epochs` epochs; the schedule moves the masks
//!   to the target (one-shot, constant or polynomial) while fine-tuning, and the run ends at
//!   exactly the target sparsity.
//! - [`StopRule::MinAccuracy`]: rounds at increasing sparsity levels (`levels`), each a
//!   schedule from the previous level to the next plus fine-tuning, evaluated on the
//!   evaluation split. The run stops at the first level whose accuracy falls below the floor
//!   and returns the sparsest model that met it. Because levels strictly increase and the run
//!   stops at the first failure, no sparser model seen during the run met the floor.
//!
//! Every evaluation is a [`CurvePoint`] of the accuracy-vs-sparsity curve.

use serde::{Deserialize, Serialize};
use tinyforge_data::Dataset;
use tinyforge_train::Model;

use super::finetune::{self, accuracy, steps_per_epoch, Distill, Extras, FineTune, LrSchedule};
use super::mask::{
    model_sparsity, set_masks, set_masks_layers, Granularity, MaskConfig, Scope, SparsityReport,
};
use super::schedule::ScheduleKind;
use super::sensitivity;
use super::{PruneError, PruneResult};

/// When to stop pruning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopRule {
    /// Reach this sparsity of the prunable weights.
    Sparsity(f32),
    /// Go as sparse as possible while accuracy stays ≥ this floor (a fraction, 0.98 = 98 %).
    MinAccuracy(f32),
}

/// Unstructured / block pruning configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneConfig {
    /// Stop rule.
    pub stop: StopRule,
    /// Schedule shape.
    pub schedule: ScheduleKind,
    /// What is pruned.
    pub mask: MaskConfig,
    /// Fine-tuning per run (target sparsity) or per round (accuracy floor).
    pub finetune: FineTune,
    /// Sparsity levels tried in order under an accuracy floor.
    pub levels: Vec<f32>,
    /// Learning rate over each fine-tuning run.
    pub lr_schedule: LrSchedule,
    /// Distillation from the unpruned model's logits during fine-tuning (None: labels only).
    pub distill: Option<Distill>,
}

impl PruneConfig {
    /// Defaults around a stop rule.
    pub fn new(stop: StopRule) -> Self {
        PruneConfig {
            stop,
            schedule: ScheduleKind::Polynomial,
            mask: MaskConfig::default(),
            finetune: FineTune::default(),
            levels: vec![
                0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98,
            ],
            lr_schedule: LrSchedule::Cosine,
            distill: None,
        }
    }
}

/// One evaluation during the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Round (accuracy floor) or epoch (target sparsity); 0 is the unpruned model.
    pub round: usize,
    /// Sparsity of the prunable weights.
    pub sparsity: f32,
    /// Accuracy on the evaluation split.
    pub accuracy: f32,
}

/// What a pruning run returns.
#[derive(Debug, Clone)]
pub struct PruneOutcome {
    /// The pruned model (masks installed; pruned weights exactly 0).
    pub model: Model,
    /// Sparsity of the returned model.
    pub report: SparsityReport,
    /// Accuracy of the model given, on the evaluation split.
    pub accuracy_before: f32,
    /// Accuracy of the returned model.
    pub accuracy_after: f32,
    /// Every evaluation, in run order.
    pub curve: Vec<CurvePoint>,
    /// Under an accuracy floor: whether the returned model meets it (false only when even
    /// the unpruned model does not, and then the model is returned unpruned).
    pub floor_met: Option<bool>,
}

impl PruneOutcome {
    /// Sparsity of the returned model's prunable weights.
    pub fn sparsity(&self) -> f32 {
        self.report.sparsity()
    }
}

/// Prunes `model` (trained, float) with fine-tuning on `train` and evaluation on `eval`.
/// `progress(point)` is called after every evaluation.
pub fn prune(
    model: &Model,
    train: &Dataset,
    eval: &Dataset,
    cfg: &PruneConfig,
    progress: &mut dyn FnMut(&CurvePoint),
) -> PruneResult<PruneOutcome> {
    let mut m = model.clone();
    let before = accuracy(&mut m, eval)?;
    let s0 = model_sparsity(&mut m, &cfg.mask).sparsity();
    let p0 = CurvePoint {
        round: 0,
        sparsity: s0,
        accuracy: before,
    };
    progress(&p0);
    let mut curve = vec![p0];
    let spe = steps_per_epoch(train, cfg.finetune.batch_size);
    match cfg.stop {
        StopRule::Sparsity(target) => {
            if !(0.0..1.0).contains(&target) {
                return Err(PruneError::Config(format!(
                    "target sparsity must be in [0, 1), got {target}"
                )));
            }
            let target = if cfg.mask.granularity == Granularity::TwoFour {
                0.5
            } else {
                target
            };
            run_round(
                &mut m, model, train, eval, cfg, s0, target, spe, 1, &mut curve, progress,
            )?;
            let after = curve.last().map_or(before, |p| p.accuracy);
            let report = model_sparsity(&mut m, &cfg.mask);
            Ok(PruneOutcome {
                model: m,
                report,
                accuracy_before: before,
                accuracy_after: after,
                curve,
                floor_met: None,
            })
        }
        StopRule::MinAccuracy(floor) => {
            if !(0.0..=1.0).contains(&floor) {
                return Err(PruneError::Config(format!(
                    "accuracy floor must be in [0, 1], got {floor}"
                )));
            }
            if cfg.levels.windows(2).any(|w| w[1] <= w[0])
                || cfg.levels.iter().any(|&l| !(0.0..1.0).contains(&l))
            {
                return Err(PruneError::Config(
                    "sparsity levels must increase strictly within [0, 1)".into(),
                ));
            }
            let mut best = (before >= floor).then(|| (m.clone(), before));
            if best.is_some() {
                let mut current = s0;
                let levels: Vec<f32> = if cfg.mask.granularity == Granularity::TwoFour {
                    vec![0.5]
                } else {
                    cfg.levels.iter().copied().filter(|&l| l > s0).collect()
                };
                for (i, &level) in levels.iter().enumerate() {
                    let acc = run_round(
                        &mut m,
                        model,
                        train,
                        eval,
                        cfg,
                        current,
                        level,
                        spe,
                        i + 1,
                        &mut curve,
                        progress,
                    )?;
                    current = level;
                    if acc >= floor {
                        best = Some((m.clone(), acc));
                    } else {
                        break;
                    }
                }
            }
            let met = best.is_some();
            let (mut model, after) = best.unwrap_or_else(|| (model.clone(), before));
            let report = model_sparsity(&mut model, &cfg.mask);
            Ok(PruneOutcome {
                model,
                report,
                accuracy_before: before,
                accuracy_after: after,
                curve,
                floor_met: Some(met),
            })
        }
    }
}

/// One schedule from `from` to `to` sparsity with fine-tuning; ends exactly at `to`, evaluates
/// and records a curve point (per epoch for a target run, per round otherwise).
#[allow(clippy::too_many_arguments)]
fn run_round(
    m: &mut Model,
    teacher: &Model,
    train: &Dataset,
    eval: &Dataset,
    cfg: &PruneConfig,
    from: f32,
    to: f32,
    spe: u64,
    round: usize,
    curve: &mut Vec<CurvePoint>,
    progress: &mut dyn FnMut(&CurvePoint),
) -> PruneResult<f32> {
    let steps = spe * cfg.finetune.epochs as u64;
    let sched = cfg.schedule.build(steps, from);
    sched.validate()?;
    let mask = cfg.mask;
    // Under a sensitivity scope each layer moves from its current sparsity to its own target
    // in step with the overall schedule.
    let layer_targets = match mask.scope {
        Scope::Sensitivity if mask.granularity != Granularity::TwoFour => {
            let profile = sensitivity::measure(m, train, &mask)?;
            Some((profile.current.clone(), profile.allocate(to)))
        }
        _ => None,
    };
    let set = |model: &mut Model, s: f32| -> PruneResult<SparsityReport> {
        match &layer_targets {
            Some((start, end)) => {
                let f = if to > from {
                    ((s - from) / (to - from)).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                let t: Vec<f32> = start
                    .iter()
                    .zip(end)
                    .map(|(&a, &b)| a + (b - a) * f)
                    .collect();
                set_masks_layers(model, &t, &mask)
            }
            None => set_masks(model, s, &mask),
        }
    };
    let per_epoch = matches!(cfg.stop, StopRule::Sparsity(_));
    let mut epoch_points = Vec::new();
    let extras = Extras {
        schedule: cfg.lr_schedule,
        teacher: cfg.distill.map(|d| (teacher, d)),
    };
    finetune::train_with(
        m,
        train,
        &cfg.finetune,
        &extras,
        0,
        &mut |step, model| {
            if let Some(s) = sched.update_at(step, to) {
                set(model, s)?;
            }
            Ok(())
        },
        &mut |epoch, model| {
            if per_epoch && epoch + 1 < cfg.finetune.epochs {
                let p = CurvePoint {
                    round: epoch + 1,
                    sparsity: model_sparsity(model, &mask).sparsity(),
                    accuracy: accuracy(model, eval)?,
                };
                progress(&p);
                epoch_points.push(p);
            }
            Ok(())
        },
    )?;
    curve.extend(epoch_points);
    // A schedule cut short (or zero epochs) still ends at the target.
    if (model_sparsity(m, &mask).sparsity() - to).abs() > 0.005 {
        set(m, to)?;
    }
    let p = CurvePoint {
        round: if per_epoch {
            cfg.finetune.epochs.max(1)
        } else {
            round
        },
        sparsity: model_sparsity(m, &mask).sparsity(),
        accuracy: accuracy(m, eval)?,
    };
    progress(&p);
    curve.push(p);
    Ok(p.accuracy)
}
