//! Optimizers over a model's parameters (visited in the model's fixed order): SGD with
//! momentum and Adam, both with optional decoupled weight decay (Keras 3 semantics: `w -= lr ·
//! wd · w` before the update, only on parameters marked `decay`). Update rules follow Keras:
//! SGD `v = μv − lr·g; w += v`; Adam with `lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ)` and `ε` outside the root.
//! After every update masked weights are forced back to exactly 0.

use serde::{Deserialize, Serialize};

use crate::model::Model;

/// Optimizer choice and hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// Stochastic gradient descent with momentum.
    Sgd {
        /// Momentum (0 = plain SGD).
        momentum: f32,
        /// Decoupled weight decay.
        #[serde(default)]
        weight_decay: f32,
    },
    /// Adam.
    Adam {
        /// First-moment decay (0.9).
        beta1: f32,
        /// Second-moment decay (0.999).
        beta2: f32,
        /// Denominator epsilon (Keras: 1e-7).
        epsilon: f32,
        /// Decoupled weight decay.
        #[serde(default)]
        weight_decay: f32,
    },
}

impl OptimizerConfig {
    /// Adam with Keras defaults.
    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            weight_decay: 0.0,
        }
    }
    /// SGD with the given momentum.
    pub fn sgd(momentum: f32) -> Self {
        OptimizerConfig::Sgd {
            momentum,
            weight_decay: 0.0,
        }
    }
}

/// Optimizer state: slot buffers per parameter and the step counter.
#[derive(Debug, Clone)]
pub struct Optimizer {
    /// Hyper-parameters.
    pub config: OptimizerConfig,
    /// Updates applied so far.
    pub step: u64,
    /// First slot per parameter (SGD velocity / Adam m).
    pub slot1: Vec<Vec<f32>>,
    /// Second slot per parameter (Adam v; empty for SGD).
    pub slot2: Vec<Vec<f32>>,
}

impl Optimizer {
    /// A fresh optimizer; slots are created on the first step.
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            step: 0,
            slot1: Vec::new(),
            slot2: Vec::new(),
        }
    }

    fn ensure_slots(&mut self, model: &mut Model) {
        if !self.slot1.is_empty() {
            return;
        }
        let adam = matches!(self.config, OptimizerConfig::Adam { .. });
        let (s1, s2) = (&mut self.slot1, &mut self.slot2);
        model.visit_params(&mut |p| {
            s1.push(vec![0.0; p.len()]);
            if adam {
                s2.push(vec![0.0; p.len()]);
            }
        });
    }

    /// Applies one update with learning rate `lr` using the gradients of the last backward.
    pub fn apply(&mut self, model: &mut Model, lr: f32) {
        self.ensure_slots(model);
        self.step += 1;
        let t = self.step as i32;
        let cfg = self.config;
        let mut idx = 0usize;
        let (s1, s2) = (&mut self.slot1, &mut self.slot2);
        model.visit_params(&mut |p| {
            let i = idx;
            idx += 1;
            match cfg {
                OptimizerConfig::Sgd {
                    momentum,
                    weight_decay,
                } => {
                    let v = &mut s1[i];
                    let wd = if p.decay { weight_decay } else { 0.0 };
                    for ((w, g), v) in p.value.iter_mut().zip(&p.grad).zip(v.iter_mut()) {
                        if wd != 0.0 {
                            *w -= lr * wd * *w;
                        }
                        *v = momentum * *v - lr * g;
                        *w += *v;
                    }
                }
                OptimizerConfig::Adam {
                    beta1,
                    beta2,
                    epsilon,
                    weight_decay,
                } => {
                    let lr_t = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
                    let wd = if p.decay { weight_decay } else { 0.0 };
                    let (m, v) = (&mut s1[i], &mut s2[i]);
                    for (((w, &g), m), v) in p
                        .value
                        .iter_mut()
                        .zip(&p.grad)
                        .zip(m.iter_mut())
                        .zip(v.iter_mut())
                    {
                        if wd != 0.0 {
                            *w -= lr * wd * *w;
                        }
                        *m += (g - *m) * (1.0 - beta1);
                        *v += (g * g - *v) * (1.0 - beta2);
                        *w -= lr_t * *m / (v.sqrt() + epsilon);
                    }
                }
            }
            p.apply_mask();
        });
    }
}
