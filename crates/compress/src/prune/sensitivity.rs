//! Per-layer sparsities chosen by sensitivity (Han et al. 2015): prune one layer at a time to
//! a grid of sparsities, measure how much the loss on a training subset rises, then spread a
//! total sparsity over the layers so that the summed loss increase is small — layers that
//! shrug off pruning (large pointwise kernels) go sparser, layers that do not (small or
//! output-facing kernels) stay denser.
//!
//! Used by [`super::iterative`] under [`Scope::Sensitivity`](super::Scope::Sensitivity); a
//! profile is measured on the model as it is at the start of a round, and the allocation
//! never asks a layer for less than its current sparsity, so masks only grow.
//! Invariant: [`Profile::allocate`] returns per-layer sparsities whose weight-weighted mean is
//! the target (to rounding), each in `[current, max level]`.

use tinyforge_data::{Dataset, Targets};
use tinyforge_train::loss::softmax_cross_entropy;
use tinyforge_train::{Model, Tensor};

use super::mask::{model_sparsity, set_masks_layers, MaskConfig};
use super::{PruneError, PruneResult};

/// Samples the loss is measured on: enough for a stable ranking, a few seconds in total.
const SAMPLES: usize = 512;

/// Sparsity levels of the grid.
fn grid() -> Vec<f32> {
    (0..=19).map(|i| i as f32 * 0.05).chain([0.975]).collect()
}

/// Loss increase of each prunable layer at each grid level.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Prunable layer names, in model order.
    pub names: Vec<String>,
    /// Weights per layer.
    pub sizes: Vec<usize>,
    /// Sparsity of each layer when measured.
    pub current: Vec<f32>,
    /// Grid levels.
    pub levels: Vec<f32>,
    /// `increase[layer][level]`: loss with that layer alone at that level minus the loss of the
    /// model as given; made non-decreasing along the levels.
    pub increase: Vec<Vec<f32>>,
}

fn mean_loss(model: &mut Model, x: &Tensor, labels: &[u32]) -> PruneResult<f32> {
    let y = model.forward(x, false)?;
    let mut g = Tensor::default();
    Ok(softmax_cross_entropy(y, labels, &mut g)?)
}

/// Measures the profile of `model`'s prunable layers (under `cfg`) on the first samples of
/// `ds`.
pub fn measure(model: &Model, ds: &Dataset, cfg: &MaskConfig) -> PruneResult<Profile> {
    let Targets::Classes(labels) = &ds.targets else {
        return Err(PruneError::Data(
            "sensitivity needs a classification dataset (class labels)".into(),
        ));
    };
    let n = ds.len().min(SAMPLES);
    if n == 0 {
        return Err(PruneError::Data("empty training set".into()));
    }
    let x = Tensor::from_vec(
        &[&[n][..], &ds.sample_shape[..]].concat(),
        ds.features[..n * ds.sample_len()].to_vec(),
    )?;
    let labels = &labels[..n];
    let mut m = model.clone();
    let base = mean_loss(&mut m, &x, labels)?;
    let report = model_sparsity(&mut m, cfg);
    let current: Vec<f32> = report
        .layers
        .iter()
        .map(|l| l.zeros as f32 / l.weights.max(1) as f32)
        .collect();
    let levels = grid();
    let mut increase = Vec::with_capacity(current.len());
    for layer in 0..current.len() {
        let mut row = Vec::with_capacity(levels.len());
        let mut worst = 0.0f32;
        for &s in &levels {
            if s > current[layer] {
                let mut targets = current.clone();
                targets[layer] = s;
                let mut trial = model.clone();
                set_masks_layers(&mut trial, &targets, cfg)?;
                worst = worst.max(mean_loss(&mut trial, &x, labels)? - base);
            }
            row.push(worst);
        }
        increase.push(row);
    }
    Ok(Profile {
        names: report.layers.iter().map(|l| l.name.clone()).collect(),
        sizes: report.layers.iter().map(|l| l.weights).collect(),
        current,
        levels,
        increase,
    })
}

impl Profile {
    /// Per-layer sparsities with weighted mean `target`: greedily raise the layer whose next
    /// level costs the least loss per removed weight, then trim the last raise to land on the
    /// target exactly. A target beyond what the grid allows is capped at the grid's top.
    pub fn allocate(&self, target: f32) -> Vec<f32> {
        let total: usize = self.sizes.iter().sum();
        let want = target as f64 * total as f64;
        // Each layer starts at its current sparsity, `at` = the highest level not above it.
        let mut at: Vec<usize> = self
            .current
            .iter()
            .map(|&c| {
                self.levels
                    .iter()
                    .rposition(|&l| l <= c + 1e-6)
                    .unwrap_or(0)
            })
            .collect();
        let mut s: Vec<f32> = self.current.clone();
        let removed = |s: &[f32]| -> f64 {
            s.iter()
                .zip(&self.sizes)
                .map(|(&v, &n)| v as f64 * n as f64)
                .sum()
        };
        let mut last = None;
        while removed(&s) < want {
            let mut best: Option<(f64, usize)> = None;
            for l in 0..s.len() {
                let Some(&next) = self.levels.get(at[l] + 1) else {
                    continue;
                };
                let extra = (next - s[l]).max(1e-6) as f64 * self.sizes[l] as f64;
                let cost = (self.increase[l][at[l] + 1] - self.increase[l][at[l]]) as f64;
                let per = cost.max(0.0) / extra;
                if best.is_none_or(|(b, _)| per < b) {
                    best = Some((per, l));
                }
            }
            let Some((_, l)) = best else { break };
            at[l] += 1;
            s[l] = self.levels[at[l]];
            last = Some(l);
        }
        if let Some(l) = last {
            let over = removed(&s) - want;
            if over > 0.0 {
                s[l] = (s[l] as f64 - over / self.sizes[l] as f64) as f32;
                s[l] = s[l].max(self.current[l]);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_prefers_cheap_layers_and_hits_the_target() {
        let levels = grid();
        let k = levels.len();
        // Layer 0 (big) costs nothing until 90 %; layer 1 (small) costs from the start.
        let p = Profile {
            names: vec!["big".into(), "small".into()],
            sizes: vec![900, 100],
            current: vec![0.0, 0.0],
            levels: levels.clone(),
            increase: vec![
                levels
                    .iter()
                    .map(|&l| if l > 0.92 { 10.0 * l } else { 0.01 * l })
                    .collect(),
                levels.clone(),
            ],
        };
        let s = p.allocate(0.8);
        let mean = (s[0] * 900.0 + s[1] * 100.0) / 1000.0;
        assert!((mean - 0.8).abs() < 1e-4, "{s:?}");
        assert!(s[0] > 0.85 && s[1] < 0.5, "{s:?}");
        assert_eq!(p.increase[0].len(), k);
        // Never below the current sparsity.
        let p2 = Profile {
            current: vec![0.0, 0.6],
            ..p.clone()
        };
        let s = p2.allocate(0.5);
        assert!(s[1] >= 0.6, "{s:?}");
    }
}
