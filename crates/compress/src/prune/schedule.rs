//! Pruning schedules: at which optimizer steps masks are recomputed, and to which sparsity.
//!
//! Polynomial decay is Zhu & Gupta (2017), "To prune, or not to prune":
//! `s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(t_end − t0))³` for `t0 ≤ t ≤ t_end`, masks updated
//! every `frequency` steps (and at `t_end`, so the final sparsity is always reached). Sparsity
//! never decreases along a schedule.

use serde::{Deserialize, Serialize};

use super::{PruneError, PruneResult};

/// When to update the masks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PruneSchedule {
    /// Prune to the target once at step 0, then only fine-tune.
    OneShot,
    /// Target sparsity from step 0, masks recomputed every `frequency` steps.
    Constant {
        /// Steps between mask updates.
        frequency: u64,
    },
    /// Zhu & Gupta polynomial decay from `initial` to the target between `begin` and `end`.
    Polynomial {
        /// Sparsity at `begin` (s_i).
        initial: f32,
        /// First step of pruning (t0).
        begin: u64,
        /// Step at which the target is reached (t_end).
        end: u64,
        /// Steps between mask updates.
        frequency: u64,
        /// Exponent (3 in the paper).
        power: f32,
    },
}

/// The schedule a user names (`--schedule`); [`ScheduleKind::build`] fits it to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// Prune once, then fine-tune.
    OneShot,
    /// Target from the start, masks refreshed regularly.
    Constant,
    /// Zhu & Gupta ramp over the first two thirds of the run, then fine-tuning at the target.
    #[default]
    Polynomial,
}

impl ScheduleKind {
    /// A concrete schedule for a run of `steps` optimizer steps starting at `initial` sparsity.
    pub fn build(self, steps: u64, initial: f32) -> PruneSchedule {
        let steps = steps.max(2);
        let frequency = (steps / 20).max(1);
        match self {
            ScheduleKind::OneShot => PruneSchedule::OneShot,
            ScheduleKind::Constant => PruneSchedule::Constant { frequency },
            ScheduleKind::Polynomial => PruneSchedule::Polynomial {
                initial: initial.clamp(0.0, 0.99),
                begin: 0,
                end: (steps * 2 / 3).max(1),
                frequency,
                power: 3.0,
            },
        }
    }
}

impl PruneSchedule {
    /// The polynomial schedule with the paper's exponent, starting at 0 sparsity.
    pub fn polynomial(begin: u64, end: u64, frequency: u64) -> Self {
        PruneSchedule::Polynomial {
            initial: 0.0,
            begin,
            end,
            frequency,
            power: 3.0,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> PruneResult<()> {
        match *self {
            PruneSchedule::OneShot => Ok(()),
            PruneSchedule::Constant { frequency: 0 } => {
                Err(PruneError::Config("schedule frequency must be ≥ 1".into()))
            }
            PruneSchedule::Constant { .. } => Ok(()),
            PruneSchedule::Polynomial {
                initial,
                begin,
                end,
                frequency,
                power,
            } => {
                if frequency == 0 || end <= begin || !(0.0..1.0).contains(&initial) || power <= 0.0
                {
                    return Err(PruneError::Config(format!(
                        "polynomial schedule needs 0 ≤ initial < 1, begin < end and frequency ≥ 1 \
                         (got initial {initial}, begin {begin}, end {end}, frequency {frequency})"
                    )));
                }
                Ok(())
            }
        }
    }

    /// Sparsity the schedule asks for at `step` toward `target` (whether or not masks update).
    pub fn sparsity_at(&self, step: u64, target: f32) -> f32 {
        match *self {
            PruneSchedule::OneShot | PruneSchedule::Constant { .. } => target,
            PruneSchedule::Polynomial {
                initial,
                begin,
                end,
                power,
                ..
            } => {
                if step < begin {
                    return 0.0;
                }
                let t = ((step - begin) as f32 / (end - begin) as f32).min(1.0);
                target + (initial - target) * (1.0 - t).powf(power)
            }
        }
    }

    /// `Some(sparsity)` when masks are to be recomputed at `step`, else `None`.
    pub fn update_at(&self, step: u64, target: f32) -> Option<f32> {
        let due = match *self {
            PruneSchedule::OneShot => step == 0,
            PruneSchedule::Constant { frequency } => step.is_multiple_of(frequency),
            PruneSchedule::Polynomial {
                begin,
                end,
                frequency,
                ..
            } => {
                step >= begin
                    && step <= end
                    && ((step - begin).is_multiple_of(frequency) || step == end)
            }
        };
        due.then(|| self.sparsity_at(step, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_follows_zhu_gupta() {
        let s = PruneSchedule::Polynomial {
            initial: 0.1,
            begin: 10,
            end: 110,
            frequency: 20,
            power: 3.0,
        };
        s.validate().unwrap();
        assert_eq!(s.sparsity_at(5, 0.8), 0.0);
        assert!((s.sparsity_at(10, 0.8) - 0.1).abs() < 1e-6);
        // Halfway: 0.8 + (0.1 − 0.8)·0.5³.
        assert!((s.sparsity_at(60, 0.8) - (0.8 - 0.7 * 0.125)).abs() < 1e-6);
        assert!((s.sparsity_at(500, 0.8) - 0.8).abs() < 1e-6);
        let updates: Vec<u64> = (0..200)
            .filter(|&t| s.update_at(t, 0.8).is_some())
            .collect();
        assert_eq!(updates, vec![10, 30, 50, 70, 90, 110]);
        let mut last = 0.0;
        for t in 0..200 {
            let v = s.sparsity_at(t, 0.8);
            assert!(v >= last - 1e-7);
            last = v;
        }
        // The last update lands on t_end even when the frequency does not divide the span.
        let s = PruneSchedule::polynomial(0, 10, 4);
        let updates: Vec<u64> = (0..20).filter(|&t| s.update_at(t, 0.5).is_some()).collect();
        assert_eq!(updates, vec![0, 4, 8, 10]);
        assert_eq!(s.update_at(10, 0.5), Some(0.5));
    }

    #[test]
    fn one_shot_and_constant() {
        assert_eq!(PruneSchedule::OneShot.update_at(0, 0.7), Some(0.7));
        assert_eq!(PruneSchedule::OneShot.update_at(1, 0.7), None);
        let c = PruneSchedule::Constant { frequency: 3 };
        assert_eq!(c.update_at(6, 0.7), Some(0.7));
        assert_eq!(c.update_at(7, 0.7), None);
        assert!(PruneSchedule::Constant { frequency: 0 }.validate().is_err());
        assert!(PruneSchedule::polynomial(5, 5, 1).validate().is_err());
    }
}
