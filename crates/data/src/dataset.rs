//! The in-memory dataset every loader produces and every consumer reads.
//!
//! Invariants (checked by [`Dataset::new`], kept by every method):
//! - `features` is one contiguous `f32` buffer holding `len()` samples of
//!   `sample_shape.iter().product()` values each, NHWC per sample (e.g. `[28, 28, 1]`) so that
//!   training and TFLite share a layout without transposes;
//! - `targets` holds exactly `len()` entries: one class id per sample (`< num_classes`), one value
//!   block of `shape` per sample (regression, autoencoders), or nothing (unlabelled calibration
//!   data);
//! - `class_names.len() == num_classes` for classification, `0` otherwise.
//!
//! Neighbours: loaders (`idx`, `csv`, `audio`, `images`, `raw`) build it; `split` cuts it;
//! `batch` streams it into training buffers; `stats` summarises and normalises it.

use std::ops::Range;

use crate::error::{DataError, Result};

/// Number of values in a tensor of `shape`, `None` on overflow.
pub fn checked_volume(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// What each sample should be mapped to.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One class id per sample.
    Classes(Vec<u32>),
    /// One block of `shape` values per sample (regression or reconstruction targets).
    Values { data: Vec<f32>, shape: Vec<usize> },
    /// No targets (e.g. calibration tensors for quantization).
    None,
}

impl Targets {
    /// How many values one sample's target occupies in a flat buffer (1 for classes, 0 for none).
    pub fn width(&self) -> usize {
        match self {
            Targets::Classes(_) => 1,
            Targets::Values { shape, .. } => shape.iter().product(),
            Targets::None => 0,
        }
    }
}

/// A borrowed view of one sample's target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target<'a> {
    Class(u32),
    Values(&'a [f32]),
    None,
}

/// A borrowed view of one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// `sample_shape` values, NHWC without the batch axis.
    pub features: &'a [f32],
    pub target: Target<'a>,
}

/// A dataset held in memory: see the module docs for its invariants.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// All samples back to back, `len() * sample_len()` values.
    pub features: Vec<f32>,
    /// Shape of one sample without the batch axis, NHWC (e.g. `[28, 28, 1]`, `[49, 10, 1]`).
    pub sample_shape: Vec<usize>,
    pub targets: Targets,
    /// Number of classes (0 when the targets are not classes).
    pub num_classes: usize,
    /// Human-readable class names, indexed by class id.
    pub class_names: Vec<String>,
}

impl Dataset {
    /// Builds a dataset after checking every invariant listed in the module docs.
    pub fn new(
        features: Vec<f32>,
        sample_shape: Vec<usize>,
        targets: Targets,
        class_names: Vec<String>,
    ) -> Result<Self> {
        let sample_len = checked_volume(&sample_shape).unwrap_or(0);
        if sample_shape.is_empty() || sample_len == 0 {
            return Err(DataError::invalid(format!(
                "sample shape {sample_shape:?} must be non-empty, with no zero dimension and a size that fits in memory"
            )));
        }
        if features.len() % sample_len != 0 {
            return Err(DataError::invalid(format!(
                "{} feature values are not a whole number of samples of shape {sample_shape:?}",
                features.len()
            )));
        }
        let n = features.len() / sample_len;
        let num_classes = match &targets {
            Targets::Classes(labels) => {
                if labels.len() != n {
                    return Err(DataError::invalid(format!(
                        "{} labels for {n} samples",
                        labels.len()
                    )));
                }
                if let Some(&bad) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
                    return Err(DataError::invalid(format!(
                        "label {bad} out of range for {} classes",
                        class_names.len()
                    )));
                }
                class_names.len()
            }
            Targets::Values { data, shape } => {
                let w: usize = shape.iter().product();
                if data.len() != n * w {
                    return Err(DataError::invalid(format!(
                        "{} target values for {n} samples of target shape {shape:?}",
                        data.len()
                    )));
                }
                0
            }
            Targets::None => 0,
        };
        if num_classes == 0 && !class_names.is_empty() {
            return Err(DataError::invalid(
                "class names given for a dataset without class targets",
            ));
        }
        Ok(Dataset {
            features,
            sample_shape,
            targets,
            num_classes,
            class_names,
        })
    }

    /// A classification dataset with classes named `"0"`, `"1"`, … `num_classes - 1`.
    pub fn classification(
        features: Vec<f32>,
        sample_shape: Vec<usize>,
        labels: Vec<u32>,
        num_classes: usize,
    ) -> Result<Self> {
        let names = (0..num_classes).map(|c| c.to_string()).collect();
        Dataset::new(features, sample_shape, Targets::Classes(labels), names)
    }

    /// Number of values in one sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.len() / self.sample_len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The class ids, when the targets are classes.
    pub fn labels(&self) -> Option<&[u32]> {
        match &self.targets {
            Targets::Classes(l) => Some(l),
            _ => None,
        }
    }

    /// Sample `i`, or `None` when `i >= len()`.
    pub fn get(&self, i: usize) -> Option<Sample<'_>> {
        if i >= self.len() {
            return None;
        }
        let w = self.sample_len();
        let target = match &self.targets {
            Targets::Classes(l) => Target::Class(l[i]),
            Targets::Values { data, shape } => {
                let tw: usize = shape.iter().product();
                Target::Values(&data[i * tw..(i + 1) * tw])
            }
            Targets::None => Target::None,
        };
        Some(Sample {
            features: &self.features[i * w..(i + 1) * w],
            target,
        })
    }

    /// Sample `i`.
    ///
    /// # Panics
    /// When `i >= len()`, like slice indexing; use [`Dataset::get`] for a checked view.
    pub fn sample(&self, i: usize) -> Sample<'_> {
        match self.get(i) {
            Some(s) => s,
            None => panic!("sample index {i} out of range for {} samples", self.len()),
        }
    }

    /// A new dataset holding the samples at `indices`, in that order (repeats allowed).
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(DataError::invalid(format!(
                "subset index {bad} out of range for {n} samples"
            )));
        }
        let w = self.sample_len();
        let mut features = Vec::with_capacity(indices.len() * w);
        for &i in indices {
            features.extend_from_slice(&self.features[i * w..(i + 1) * w]);
        }
        let targets = match &self.targets {
            Targets::Classes(l) => Targets::Classes(indices.iter().map(|&i| l[i]).collect()),
            Targets::Values { data, shape } => {
                let tw: usize = shape.iter().product();
                let mut out = Vec::with_capacity(indices.len() * tw);
                for &i in indices {
                    out.extend_from_slice(&data[i * tw..(i + 1) * tw]);
                }
                Targets::Values {
                    data: out,
                    shape: shape.clone(),
                }
            }
            Targets::None => Targets::None,
        };
        Ok(Dataset {
            features,
            sample_shape: self.sample_shape.clone(),
            targets,
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
        })
    }

    /// A new dataset holding the contiguous samples in `range`.
    pub fn subset_range(&self, range: Range<usize>) -> Result<Dataset> {
        if range.start > range.end || range.end > self.len() {
            return Err(DataError::invalid(format!(
                "range {range:?} out of bounds for {} samples",
                self.len()
            )));
        }
        let idx: Vec<usize> = range.collect();
        self.subset(&idx)
    }

    /// Splits into the first `n` samples and the rest.
    pub fn split_at(&self, n: usize) -> Result<(Dataset, Dataset)> {
        if n > self.len() {
            return Err(DataError::invalid(format!(
                "split point {n} beyond {} samples",
                self.len()
            )));
        }
        Ok((self.subset_range(0..n)?, self.subset_range(n..self.len())?))
    }

    /// Number of samples per class (empty when the targets are not classes).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.num_classes];
        if let Targets::Classes(l) = &self.targets {
            for &c in l {
                counts[c as usize] += 1;
            }
        }
        counts
    }

    /// Turns the dataset into an autoencoder task: each sample's target is its own features.
    pub fn into_autoencoder(self) -> Dataset {
        let targets = Targets::Values {
            data: self.features.clone(),
            shape: self.sample_shape.clone(),
        };
        Dataset {
            targets,
            num_classes: 0,
            class_names: Vec::new(),
            ..self
        }
    }

    /// Reinterprets each sample with a new shape holding the same number of values
    /// (e.g. 64 CSV columns as `[8, 8, 1]`).
    pub fn reshape(&mut self, sample_shape: Vec<usize>) -> Result<()> {
        let w: usize = sample_shape.iter().product();
        if sample_shape.is_empty() || w != self.sample_len() {
            return Err(DataError::invalid(format!(
                "cannot reshape samples of shape {:?} ({} values) to {sample_shape:?}",
                self.sample_shape,
                self.sample_len()
            )));
        }
        self.sample_shape = sample_shape;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        let f: Vec<f32> = (0..12).map(|x| x as f32).collect();
        Dataset::classification(f, vec![2, 1, 1], vec![0, 1, 2, 1, 0, 2], 3).unwrap()
    }

    #[test]
    fn views_and_subsets() {
        let d = tiny();
        assert_eq!(d.len(), 6);
        assert_eq!(d.sample(2).features, &[4.0, 5.0]);
        assert_eq!(d.sample(2).target, Target::Class(2));
        assert!(d.get(6).is_none());
        let s = d.subset(&[5, 0, 5]).unwrap();
        assert_eq!(s.features, vec![10.0, 11.0, 0.0, 1.0, 10.0, 11.0]);
        assert_eq!(s.labels().unwrap(), &[2, 0, 2]);
        assert!(d.subset(&[6]).is_err());
        let (a, b) = d.split_at(4).unwrap();
        assert_eq!((a.len(), b.len()), (4, 2));
        assert_eq!(b.sample(0).features, &[8.0, 9.0]);
        assert_eq!(d.class_counts(), vec![2, 2, 2]);
    }

    #[test]
    fn invariants_are_checked() {
        assert!(Dataset::classification(vec![0.0; 5], vec![2], vec![0, 0], 1).is_err());
        assert!(Dataset::classification(vec![0.0; 4], vec![2], vec![0], 1).is_err());
        assert!(Dataset::classification(vec![0.0; 4], vec![2], vec![0, 3], 2).is_err());
        let v = Dataset::new(
            vec![0.0; 4],
            vec![2],
            Targets::Values {
                data: vec![1.0, 2.0],
                shape: vec![1],
            },
            vec![],
        )
        .unwrap();
        assert_eq!(v.sample(1).target, Target::Values(&[2.0]));
        let ae = tiny().into_autoencoder();
        assert_eq!(ae.sample(1).target, Target::Values(&[2.0, 3.0]));
        assert_eq!(ae.num_classes, 0);
    }

    #[test]
    fn reshape_keeps_values() {
        let mut d = tiny();
        d.reshape(vec![1, 2, 1]).unwrap();
        assert_eq!(d.sample_shape, vec![1, 2, 1]);
        assert!(d.reshape(vec![3]).is_err());
    }
}
