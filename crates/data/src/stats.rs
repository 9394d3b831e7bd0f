//! Dataset statistics and feature normalisation.
//!
//! [`Stats`] reports per-class counts and feature mean/std/min/max, globally and per channel
//! (the last axis of the sample shape, as in NHWC). [`Normalization`] is fitted on the training
//! part only and then applied to every part, so test data never leaks into the scaling; it is
//! serialisable so a deployed model can record the scaling it expects. Sums run in `f64`.
//! Neighbours: `spec::load_splits` applies the configured normalisation; `batch` uses
//! class counts for balanced sampling, [`class_weights`] serves weighted losses.

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// Summary of a dataset's features and classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub len: usize,
    /// Samples per class (empty without class targets).
    pub class_counts: Vec<usize>,
    pub mean: f32,
    pub std: f32,
    pub min: f32,
    pub max: f32,
    /// Per channel (last axis of the sample shape).
    pub channel_mean: Vec<f32>,
    pub channel_std: Vec<f32>,
}

impl Stats {
    /// Computes the statistics of `ds` in one pass.
    pub fn of(ds: &Dataset) -> Stats {
        let c = ds.sample_shape.last().copied().unwrap_or(1).max(1);
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        for px in ds.features.chunks_exact(c) {
            for (k, &v) in px.iter().enumerate() {
                sum[k] += v as f64;
                sq[k] += (v as f64) * (v as f64);
                min = min.min(v);
                max = max.max(v);
            }
        }
        let per = (ds.features.len() / c).max(1) as f64;
        let std_of = |s: f64, q: f64, n: f64| ((q / n - (s / n).powi(2)).max(0.0)).sqrt();
        let total = (ds.features.len()).max(1) as f64;
        let (ts, tq): (f64, f64) = (sum.iter().sum(), sq.iter().sum());
        Stats {
            len: ds.len(),
            class_counts: ds.class_counts(),
            mean: (ts / total) as f32,
            std: std_of(ts, tq, total) as f32,
            min: if ds.is_empty() { 0.0 } else { min },
            max: if ds.is_empty() { 0.0 } else { max },
            channel_mean: sum.iter().map(|s| (s / per) as f32).collect(),
            channel_std: sum
                .iter()
                .zip(&sq)
                .map(|(&s, &q)| std_of(s, q, per) as f32)
                .collect(),
        }
    }
}

/// Inverse-frequency class weights normalised to mean 1 over present classes (absent classes
/// get 0), for class-weighted losses.
pub fn class_weights(ds: &Dataset) -> Vec<f32> {
    let counts = ds.class_counts();
    let present = counts.iter().filter(|&&c| c > 0).count().max(1) as f64;
    let n = ds.len().max(1) as f64;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                (n / (present * c as f64)) as f32
            }
        })
        .collect()
}

/// Which normalisation a config asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalizeMode {
    #[default]
    None,
    /// One mean/std over all features.
    Global,
    /// One mean/std per channel (last axis).
    PerChannel,
}

/// `x ← (x − mean) / std`, with one entry (global) or one per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Fits on `ds`; a constant feature keeps std 1 so it maps to 0 instead of NaN.
    pub fn fit(ds: &Dataset, per_channel: bool) -> Normalization {
        let s = Stats::of(ds);
        let fix = |v: f32| if v > 1e-12 { v } else { 1.0 };
        if per_channel {
            Normalization {
                mean: s.channel_mean,
                std: s.channel_std.into_iter().map(fix).collect(),
            }
        } else {
            Normalization {
                mean: vec![s.mean],
                std: vec![fix(s.std)],
            }
        }
    }

    /// Normalises one sample (or a whole batch) in place.
    pub fn apply_slice(&self, x: &mut [f32]) {
        let c = self.mean.len().max(1);
        for px in x.chunks_mut(c) {
            for ((v, m), s) in px.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Normalises every sample of `ds` in place.
    pub fn apply(&self, ds: &mut Dataset) -> Result<()> {
        let c = ds.sample_shape.last().copied().unwrap_or(1);
        if self.mean.len() != self.std.len() || (self.mean.len() != 1 && self.mean.len() != c) {
            return Err(DataError::invalid(format!(
                "normalisation with {} means / {} stds does not fit samples of shape {:?}",
                self.mean.len(),
                self.std.len(),
                ds.sample_shape
            )));
        }
        self.apply_slice(&mut ds.features);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_normalization() {
        // Two channels: channel 0 is 0,2,4,6; channel 1 constant 10.
        let f = vec![0.0, 10.0, 2.0, 10.0, 4.0, 10.0, 6.0, 10.0];
        let d = Dataset::classification(f, vec![1, 2], vec![0, 1, 1, 1], 3).unwrap();
        let s = Stats::of(&d);
        assert_eq!(s.class_counts, vec![1, 3, 0]);
        assert_eq!(s.channel_mean, vec![3.0, 10.0]);
        assert!((s.channel_std[0] - 5f32.sqrt()).abs() < 1e-6);
        assert_eq!(s.channel_std[1], 0.0);
        assert_eq!((s.min, s.max), (0.0, 10.0));
        assert_eq!(s.mean, 6.5);

        let n = Normalization::fit(&d, true);
        let mut d2 = d.clone();
        n.apply(&mut d2).unwrap();
        let s2 = Stats::of(&d2);
        assert!(s2.channel_mean.iter().all(|m| m.abs() < 1e-6));
        assert!((s2.channel_std[0] - 1.0).abs() < 1e-5);
        let g = Normalization::fit(&d, false);
        let mut d3 = d.clone();
        g.apply(&mut d3).unwrap();
        let s3 = Stats::of(&d3);
        assert!(s3.mean.abs() < 1e-6 && (s3.std - 1.0).abs() < 1e-5);
        let bad = Normalization {
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        };
        assert!(bad.apply(&mut d3).is_err());
    }

    #[test]
    fn weights_are_inverse_frequency() {
        let d = Dataset::classification(vec![0.0; 4], vec![1], vec![0, 1, 1, 1], 3).unwrap();
        let w = class_weights(&d);
        assert_eq!(w, vec![2.0, 2.0 / 3.0, 0.0]);
    }
}
