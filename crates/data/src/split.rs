//! Deterministic train/validation/test splits.
//!
//! Two recipes: explicit index ranges (the product default for MNIST is "first 8,000 train,
//! last 2,000 test", see [`SplitSpec::mnist_default`]) and fractions with a seed, optionally
//! stratified per class. Shuffling uses ChaCha8 seeded from a `u64`, so a seed gives the same
//! split on every machine and every run. Each part keeps its samples in dataset order (the
//! batcher shuffles per epoch). Neighbours: `spec` reads a [`SplitSpec`] from a config;
//! `batch` consumes the parts.

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};

/// A range of sample indices as written in a config.
///
/// TOML forms: `[0, 8000]` (half-open), `{ first = 8000 }`, `{ last = 2000 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RangeSpec {
    Span([usize; 2]),
    First { first: usize },
    Last { last: usize },
}

impl RangeSpec {
    /// The concrete index range for a dataset of `n` samples; out-of-bounds is an error.
    pub fn resolve(&self, n: usize) -> Result<Range<usize>> {
        let r = match *self {
            RangeSpec::Span([a, b]) => a..b,
            RangeSpec::First { first } => 0..first,
            RangeSpec::Last { last } => n.saturating_sub(last)..n,
        };
        let too_big = match *self {
            RangeSpec::Last { last } => last > n,
            _ => r.end > n,
        };
        if r.start > r.end || too_big {
            return Err(DataError::invalid(format!(
                "split range {self:?} does not fit a dataset of {n} samples"
            )));
        }
        Ok(r)
    }
}

/// How to cut a dataset into parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitSpec {
    /// Explicit ranges; ranges may overlap (the caller's choice).
    Ranges {
        train: RangeSpec,
        #[serde(default)]
        val: Option<RangeSpec>,
        #[serde(default)]
        test: Option<RangeSpec>,
    },
    /// Random fractions for validation and test; the rest is training data.
    Fractions {
        #[serde(default)]
        val: f64,
        #[serde(default)]
        test: f64,
        #[serde(default)]
        seed: u64,
        /// Keep each class's proportions in every part.
        #[serde(default)]
        stratified: bool,
    },
}

impl SplitSpec {
    /// tinyforge's default MNIST recipe: train on the first 8,000 samples, test on the last 2,000.
    pub fn mnist_default() -> Self {
        SplitSpec::Ranges {
            train: RangeSpec::First { first: 8000 },
            val: None,
            test: Some(RangeSpec::Last { last: 2000 }),
        }
    }
}

/// The parts of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    pub train: Dataset,
    pub val: Option<Dataset>,
    pub test: Option<Dataset>,
}

/// Indices `0..n` in an order fixed by `seed`.
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    idx
}

/// Cuts `ds` according to `spec`.
pub fn split(ds: &Dataset, spec: &SplitSpec) -> Result<Splits> {
    match spec {
        SplitSpec::Ranges { train, val, test } => {
            let n = ds.len();
            let part = |r: &Option<RangeSpec>| -> Result<Option<Dataset>> {
                r.as_ref()
                    .map(|r| ds.subset_range(r.resolve(n)?))
                    .transpose()
            };
            Ok(Splits {
                train: ds.subset_range(train.resolve(n)?)?,
                val: part(val)?,
                test: part(test)?,
            })
        }
        SplitSpec::Fractions {
            val,
            test,
            seed,
            stratified,
        } => {
            let (tr, va, te) = fraction_indices(ds, *val, *test, *seed, *stratified)?;
            let opt = |idx: Vec<usize>, frac: f64| -> Result<Option<Dataset>> {
                if frac > 0.0 {
                    Ok(Some(ds.subset(&idx)?))
                } else {
                    Ok(None)
                }
            };
            Ok(Splits {
                train: ds.subset(&tr)?,
                val: opt(va, *val)?,
                test: opt(te, *test)?,
            })
        }
    }
}

/// The `(train, val, test)` index sets of a fraction split, each sorted ascending.
pub fn fraction_indices(
    ds: &Dataset,
    val: f64,
    test: f64,
    seed: u64,
    stratified: bool,
) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    let ok = |f: f64| (0.0..1.0).contains(&f);
    if !ok(val) || !ok(test) || val + test >= 1.0 {
        return Err(DataError::invalid(format!(
            "split fractions val={val} test={test} must be in [0, 1) and sum below 1"
        )));
    }
    let groups: Vec<Vec<usize>> = match (&ds.targets, stratified) {
        (Targets::Classes(labels), true) => {
            let mut g = vec![Vec::new(); ds.num_classes];
            for (i, &c) in labels.iter().enumerate() {
                g[c as usize].push(i);
            }
            g
        }
        (_, true) => return Err(DataError::invalid("a stratified split needs class targets")),
        _ => vec![(0..ds.len()).collect()],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut tr, mut va, mut te) = (Vec::new(), Vec::new(), Vec::new());
    for mut g in groups {
        g.shuffle(&mut rng);
        let n = g.len();
        let n_te = ((n as f64) * test).round() as usize;
        let n_va = (((n as f64) * val).round() as usize).min(n - n_te);
        te.extend_from_slice(&g[..n_te]);
        va.extend_from_slice(&g[n_te..n_te + n_va]);
        tr.extend_from_slice(&g[n_te + n_va..]);
    }
    tr.sort_unstable();
    va.sort_unstable();
    te.sort_unstable();
    Ok((tr, va, te))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(n: usize) -> Dataset {
        let f = (0..n).map(|i| i as f32).collect();
        let l = (0..n).map(|i| (i % 4) as u32).collect();
        Dataset::classification(f, vec![1], l, 4).unwrap()
    }

    #[test]
    fn ranges_first_last() {
        let d = ds(100);
        let s = split(
            &d,
            &SplitSpec::Ranges {
                train: RangeSpec::First { first: 80 },
                val: Some(RangeSpec::Span([80, 90])),
                test: Some(RangeSpec::Last { last: 10 }),
            },
        )
        .unwrap();
        assert_eq!(s.train.len(), 80);
        assert_eq!(s.val.as_ref().unwrap().features[0], 80.0);
        assert_eq!(s.test.as_ref().unwrap().features[0], 90.0);
        assert!(split(&d, &SplitSpec::mnist_default()).is_err());
    }

    #[test]
    fn fractions_are_deterministic_and_disjoint() {
        let d = ds(1000);
        let spec = SplitSpec::Fractions {
            val: 0.1,
            test: 0.2,
            seed: 7,
            stratified: false,
        };
        let a = split(&d, &spec).unwrap();
        let b = split(&d, &spec).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.test.as_ref().unwrap().len(), 200);
        assert_eq!(a.val.as_ref().unwrap().len(), 100);
        assert_eq!(a.train.len(), 700);
        let mut all: Vec<f32> = a.train.features.clone();
        all.extend(&a.val.unwrap().features);
        all.extend(&a.test.unwrap().features);
        all.sort_by(f32::total_cmp);
        assert_eq!(all, d.features);
        let other = split(
            &d,
            &SplitSpec::Fractions {
                val: 0.1,
                test: 0.2,
                seed: 8,
                stratified: false,
            },
        )
        .unwrap();
        assert_ne!(other.train.features, b.train.features);
    }

    #[test]
    fn stratified_keeps_class_proportions() {
        // Imbalanced: class 0 has 3x the samples of the others.
        let mut labels = Vec::new();
        for c in 0..4u32 {
            let n = if c == 0 { 300 } else { 100 };
            labels.extend(std::iter::repeat(c).take(n));
        }
        let f = (0..labels.len()).map(|i| i as f32).collect();
        let d = Dataset::classification(f, vec![1], labels, 4).unwrap();
        let s = split(
            &d,
            &SplitSpec::Fractions {
                val: 0.0,
                test: 0.1,
                seed: 1,
                stratified: true,
            },
        )
        .unwrap();
        assert!(s.val.is_none());
        assert_eq!(s.test.unwrap().class_counts(), vec![30, 10, 10, 10]);
        assert_eq!(s.train.class_counts(), vec![270, 90, 90, 90]);
    }

    #[test]
    fn bad_fractions_rejected() {
        let d = ds(10);
        let spec = SplitSpec::Fractions {
            val: 0.6,
            test: 0.5,
            seed: 0,
            stratified: false,
        };
        assert!(split(&d, &spec).is_err());
    }

    #[test]
    fn spec_from_toml() {
        let s: SplitSpec =
            toml::from_str("by = \"ranges\"\ntrain = { first = 8000 }\ntest = { last = 2000 }")
                .unwrap();
        assert_eq!(s, SplitSpec::mnist_default());
        let s: SplitSpec = toml::from_str(
            "by = \"fractions\"\nval = 0.1\ntest = 0.1\nseed = 3\nstratified = true",
        )
        .unwrap();
        assert!(matches!(
            s,
            SplitSpec::Fractions {
                seed: 3,
                stratified: true,
                ..
            }
        ));
        let s: SplitSpec = toml::from_str("by = \"ranges\"\ntrain = [0, 10]").unwrap();
        assert!(matches!(
            s,
            SplitSpec::Ranges {
                train: RangeSpec::Span([0, 10]),
                ..
            }
        ));
    }
}
