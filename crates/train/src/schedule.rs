//! Learning-rate schedules, evaluated per optimizer step: constant, step decay, and cosine
//! decay with Keras `CosineDecay` semantics (`alpha` floor, step clamped at `decay_steps`),
//! each with an optional linear warm-up that runs first.

use serde::{Deserialize, Serialize};

/// Schedule shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Constant learning rate.
    Constant,
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Steps between drops.
        every: u64,
        /// Factor per drop.
        gamma: f32,
    },
    /// Cosine decay to `alpha · lr` over `decay_steps` (after warm-up).
    Cosine {
        /// Length of the decay.
        decay_steps: u64,
        /// Final fraction of the base rate.
        #[serde(default)]
        alpha: f32,
    },
}

/// A learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Peak learning rate.
    pub base_lr: f32,
    /// Shape after warm-up.
    pub kind: ScheduleKind,
    /// Linear warm-up steps from `base_lr / warmup` to `base_lr` (0: none).
    #[serde(default)]
    pub warmup_steps: u64,
}

impl Schedule {
    /// Constant `lr`.
    pub fn constant(lr: f32) -> Self {
        Schedule {
            base_lr: lr,
            kind: ScheduleKind::Constant,
            warmup_steps: 0,
        }
    }

    /// Keras-style `CosineDecay(lr, decay_steps)`.
    pub fn cosine(lr: f32, decay_steps: u64) -> Self {
        Schedule {
            base_lr: lr,
            kind: ScheduleKind::Cosine {
                decay_steps,
                alpha: 0.0,
            },
            warmup_steps: 0,
        }
    }

    /// Learning rate for the update at (0-based) `step`.
    pub fn lr(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f32 / self.warmup_steps as f32;
        }
        let s = step - self.warmup_steps;
        match self.kind {
            ScheduleKind::Constant => self.base_lr,
            ScheduleKind::Step { every, gamma } => {
                self.base_lr * gamma.powi((s / every.max(1)) as i32)
            }
            ScheduleKind::Cosine { decay_steps, alpha } => {
                let d = decay_steps.max(1);
                let p = s.min(d) as f64 / d as f64;
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
                self.base_lr * ((1.0 - alpha as f64) * cos + alpha as f64) as f32
            }
        }
    }
}
