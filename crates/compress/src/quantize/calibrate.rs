//! Activation calibration: run the float graph on sample inputs, observe every activation tensor
//! and choose a clipping range per tensor.
//!
//! Two passes over the samples through `tinyforge-runtime`'s observer
//! ([`Runtime::invoke_observed`]): the first finds each tensor's min and max, the second fills a
//! fixed-width histogram over `[min(min, 0), max(max, 0)]`. Range choosers then work on the
//! histogram only, so trying several methods costs no further inference.
//!
//! Invariant: every range returned contains 0 (TFLite needs 0.0 exactly representable, e.g. for
//! zero padding), and `lo < hi`.
//! Neighbours: [`super::convert`] turns ranges into scales and zero points, [`super::ptq`]
//! picks the method.
use tinyforge_graph::{DType, Graph, TensorId};
use tinyforge_runtime::Runtime;

use crate::error::{CompressError, CompressResult};

/// How activation ranges are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calibration {
    /// The observed minimum and maximum.
    MinMax,
    /// Clip to the given two-sided percentile of the observed values (e.g. 99.99).
    Percentile(f32),
    /// The clipping range minimizing the int8 quantization MSE over the observed histogram.
    Mse,
}

impl Calibration {
    /// The name used on the command line and in reports.
    pub fn name(&self) -> String {
        match self {
            Calibration::MinMax => "minmax".into(),
            Calibration::Percentile(p) => format!("percentile({p})"),
            Calibration::Mse => "mse".into(),
        }
    }
}

/// Default histogram resolution: fine enough that bin quantization error is far below the
/// int8 step (256 levels) for every range the choosers can return.
pub const DEFAULT_BINS: usize = 2048;

/// What was observed of one activation tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorStats {
    pub min: f32,
    pub max: f32,
    /// Counts over `[lo, hi]` in equal bins.
    pub hist: Vec<u64>,
    pub lo: f32,
    pub hi: f32,
}

impl TensorStats {
    fn bin_width(&self) -> f32 {
        (self.hi - self.lo) / self.hist.len().max(1) as f32
    }

    fn center(&self, b: usize) -> f32 {
        self.lo + (b as f32 + 0.5) * self.bin_width()
    }

    /// The range `method` chooses for this tensor (always containing 0, `lo < hi`).
    pub fn range(&self, method: Calibration) -> (f32, f32) {
        let (lo, hi) = match method {
            Calibration::MinMax => (self.min, self.max),
            Calibration::Percentile(p) => self.percentile_range(p),
            Calibration::Mse => self.mse_range(),
        };
        widen(lo, hi)
    }

    fn percentile_range(&self, p: f32) -> (f32, f32) {
        let total: u64 = self.hist.iter().sum();
        if total == 0 {
            return (self.min, self.max);
        }
        let tail = ((1.0 - f64::from(p.clamp(50.0, 100.0)) / 100.0) * total as f64).floor() as u64;
        let w = self.bin_width();
        // Lower edge: skip `tail` values from the bottom; upper: from the top.
        let mut acc = 0;
        let mut lo = self.min;
        for (b, &c) in self.hist.iter().enumerate() {
            acc += c;
            if acc > tail {
                lo = (self.lo + b as f32 * w).max(self.min);
                break;
            }
        }
        acc = 0;
        let mut hi = self.max;
        for (b, &c) in self.hist.iter().enumerate().rev() {
            acc += c;
            if acc > tail {
                hi = (self.lo + (b + 1) as f32 * w).min(self.max);
                break;
            }
        }
        (lo.min(0.0), hi.max(0.0))
    }

    /// Expected squared int8 error of the histogram's values under range `[lo, hi]`.
    pub fn mse(&self, lo: f32, hi: f32) -> f64 {
        let (scale, zp) = affine_params(lo, hi);
        let mut err = 0.0f64;
        for (b, &c) in self.hist.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let x = self.center(b);
            let q = ((x / scale).round() + zp as f32).clamp(-128.0, 127.0);
            let d = f64::from(x - (q - zp as f32) * scale);
            err += d * d * c as f64;
        }
        err
    }

    fn mse_range(&self) -> (f32, f32) {
        let (lo0, hi0) = widen(self.min, self.max);
        let mut best = (self.mse(lo0, hi0), lo0, hi0);
        let consider = |lo: f32, hi: f32, best: &mut (f64, f32, f32)| {
            let (lo, hi) = widen(lo, hi);
            let e = self.mse(lo, hi);
            if e < best.0 {
                *best = (e, lo, hi);
            }
        };
        // Shrink both ends together, then refine each end alone around the best.
        for i in 1..100 {
            let a = 1.0 - i as f32 / 100.0;
            consider(lo0 * a, hi0 * a, &mut best);
        }
        let (_, blo, bhi) = best;
        for i in 0..60 {
            let a = 0.7 + i as f32 * 0.01;
            consider(blo * a, bhi, &mut best);
        }
        let (_, blo, bhi) = best;
        for i in 0..60 {
            let a = 0.7 + i as f32 * 0.01;
            consider(blo, bhi * a, &mut best);
        }
        (best.1, best.2)
    }
}

/// Makes `[lo, hi]` contain 0 and be non-empty.
fn widen(lo: f32, hi: f32) -> (f32, f32) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if hi - lo < 1e-8 {
        (lo, lo + 1e-8)
    } else {
        (lo, hi)
    }
}

/// TFLite's asymmetric int8 parameters for a range: scale `(hi − lo) / 255`, zero point nudged
/// to an integer in `[-128, 127]` so that 0.0 is exact.
pub fn affine_params(lo: f32, hi: f32) -> (f32, i32) {
    let (lo, hi) = widen(lo, hi);
    let scale = (hi - lo) / 255.0;
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0);
    (scale, zp as i32)
}

/// Statistics of every activation tensor of a float graph (indexed by tensor id; `None` for
/// constants and tensors no node writes).
#[derive(Debug, Clone)]
pub struct Stats {
    pub tensors: Vec<Option<TensorStats>>,
}

/// Checks that every sample has the model input's element count.
pub fn check_samples(graph: &Graph, samples: &[&[f32]]) -> CompressResult<usize> {
    let [input] = graph.inputs.as_slice() else {
        return Err(CompressError::Unsupported(format!(
            "{} graph inputs; quantization handles models with one input",
            graph.inputs.len()
        )));
    };
    let t = graph
        .tensors
        .get(*input)
        .ok_or_else(|| CompressError::Unsupported("graph input is not a tensor".into()))?;
    if t.dtype != DType::F32 {
        return Err(CompressError::Unsupported(format!(
            "input `{}` is {}: the model is not a float model",
            t.name,
            t.dtype.name()
        )));
    }
    let n = t.elements();
    if let Some((i, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != n) {
        return Err(CompressError::Data(format!(
            "sample {i} has {} values, the model input `{}` {:?} takes {n}",
            s.len(),
            t.name,
            t.shape
        )));
    }
    if samples.is_empty() {
        return Err(CompressError::Data("no calibration samples".into()));
    }
    Ok(n)
}

fn f32s(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// Raw little-endian bytes of a float sample.
pub fn f32_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Runs the float `graph` on `samples` and collects [`Stats`] with `bins` histogram bins.
pub fn collect(graph: &Graph, samples: &[&[f32]], bins: usize) -> CompressResult<Stats> {
    check_samples(graph, samples)?;
    let input = graph.inputs[0];
    let mut rt = Runtime::new(graph.clone())?;
    let nt = graph.tensors.len();
    let mut minmax: Vec<Option<(f32, f32)>> = vec![None; nt];
    let mut bad: Option<TensorId> = None;
    let mut first = |id: TensorId, bytes: &[u8], minmax: &mut Vec<Option<(f32, f32)>>| {
        if graph.tensors.get(id).map(|t| t.dtype) != Some(DType::F32) {
            return;
        }
        let (mut lo, mut hi) = minmax[id].unwrap_or((f32::INFINITY, f32::NEG_INFINITY));
        for v in f32s(bytes) {
            if !v.is_finite() {
                bad.get_or_insert(id);
                continue;
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        minmax[id] = Some((lo, hi));
    };
    for s in samples {
        let bytes = f32_bytes(s);
        first(input, &bytes, &mut minmax);
        rt.invoke_observed(&[&bytes], &mut |id, b| first(id, b, &mut minmax))?;
    }
    if let Some(id) = bad {
        return Err(CompressError::Data(format!(
            "the float model produces non-finite values in `{}` on the calibration data",
            graph.tensors[id].name
        )));
    }
    let mut stats: Vec<Option<TensorStats>> = minmax
        .iter()
        .map(|m| {
            m.filter(|(lo, hi)| lo <= hi).map(|(min, max)| {
                let (lo, hi) = widen(min, max);
                TensorStats {
                    min,
                    max,
                    hist: vec![0; bins.max(16)],
                    lo,
                    hi,
                }
            })
        })
        .collect();
    let second = |id: TensorId, bytes: &[u8], stats: &mut Vec<Option<TensorStats>>| {
        let Some(Some(s)) = stats.get_mut(id) else {
            return;
        };
        let n = s.hist.len();
        let k = n as f32 / (s.hi - s.lo);
        for v in f32s(bytes) {
            if v.is_finite() {
                let b = (((v - s.lo) * k) as usize).min(n - 1);
                s.hist[b] += 1;
            }
        }
    };
    for s in samples {
        let bytes = f32_bytes(s);
        second(input, &bytes, &mut stats);
        rt.invoke_observed(&[&bytes], &mut |id, b| second(id, b, &mut stats))?;
    }
    Ok(Stats { tensors: stats })
}

impl Stats {
    /// The range of every observed tensor under `method`.
    pub fn ranges(&self, method: Calibration) -> Vec<Option<(f32, f32)>> {
        self.tensors
            .iter()
            .map(|s| s.as_ref().map(|s| s.range(method)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[f32]) -> TensorStats {
        let min = values.iter().copied().fold(f32::INFINITY, f32::min);
        let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (lo, hi) = widen(min, max);
        let mut hist = vec![0u64; 2048];
        for &v in values {
            let b = (((v - lo) / (hi - lo) * 2048.0) as usize).min(2047);
            hist[b] += 1;
        }
        TensorStats {
            min,
            max,
            hist,
            lo,
            hi,
        }
    }

    #[test]
    fn ranges_contain_zero_and_params_are_tflite_style() {
        let s = stats(&[1.0, 2.0, 3.0]);
        assert_eq!(s.range(Calibration::MinMax), (0.0, 3.0));
        let (scale, zp) = affine_params(0.0, 3.0);
        assert!((scale - 3.0 / 255.0).abs() < 1e-9);
        assert_eq!(zp, -128);
        let (scale, zp) = affine_params(-1.0, 1.0);
        assert!((scale - 2.0 / 255.0).abs() < 1e-9);
        // −128 + 127.5 = −0.5 rounds away from zero, as TFLite's nudging (std::round) does.
        assert_eq!(zp, -1);
        // A zero-only tensor still gets a valid, positive scale.
        let (scale, _) = affine_params(0.0, 0.0);
        assert!(scale > 0.0);
    }

    #[test]
    fn percentile_and_mse_clip_a_lone_outlier() {
        let mut v: Vec<f32> = (0..100_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
        v.push(50.0);
        let s = stats(&v);
        let (_, hi_mm) = s.range(Calibration::MinMax);
        let (_, hi_p) = s.range(Calibration::Percentile(99.9));
        let (lo_m, hi_m) = s.range(Calibration::Mse);
        assert_eq!(hi_mm, 50.0);
        assert!(hi_p < 1.1, "percentile hi {hi_p}");
        // One outlier costs MSE more when clipped than 10^5 coarse steps do: MSE keeps it.
        assert!(hi_m <= 50.0 && s.mse(lo_m, hi_m) <= s.mse(0.0, 50.0));
        // A heavy tail is clipped.
        let v: Vec<f32> = (1..100_000)
            .map(|i| -(1.0 - i as f32 / 100_000.0).ln())
            .collect();
        let s = stats(&v);
        let (lo_m, hi_m) = s.range(Calibration::Mse);
        assert!(hi_m < 0.95 * s.max, "mse hi {hi_m} of {}", s.max);
        assert!(s.mse(lo_m, hi_m) < s.mse(0.0, s.max));
    }
}
