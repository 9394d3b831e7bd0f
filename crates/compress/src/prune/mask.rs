//! Magnitude pruning masks, set through the train engine's per-parameter [`Mask`] hook.
//!
//! Which weights: the kernels of `Conv2d` and `Dense` layers, and of `DepthwiseConv2d` when
//! asked (off by default: depthwise filters are tiny and sensitive). Biases and batch-norm
//! parameters are never pruned. Scores are magnitudes of the stored values, so weights already
//! masked (exactly 0) score lowest and a non-decreasing schedule never revives them.
//!
//! Granularity (along a row = one output channel's weights in `[O, KH, KW, I]` / `[O, I]`
//! order, i.e. along the input dimension):
//! - unstructured: each weight on its own, score `|w|`;
//! - 1×4 blocks: groups of 4 consecutive row weights (a last partial group is a block of its
//!   own), score mean `|w|`; the sparse kernels store one bitmap bit per block;
//! - 2:4: in every group of 4 the 2 smallest `|w|` are removed (50 % sparsity by construction;
//!   the target sparsity is ignored).
//!
//! Threshold scope: global (one ranking over every prunable weight of the model, so layers end
//! up with different sparsities) or layer-wise (every layer pruned to the same sparsity).
//! Ties are broken by position, so masks are deterministic.

use serde::{Deserialize, Serialize};
use tinyforge_train::layers::Layer;
use tinyforge_train::{Mask, Model, Op, Param};

use super::{PruneError, PruneResult};

/// Shape of what is removed together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Single weights.
    #[default]
    Unstructured,
    /// Blocks of 4 consecutive weights along the input dimension.
    Block1x4,
    /// Two of every four consecutive weights along the input dimension.
    TwoFour,
}

impl Granularity {
    /// Weights per group.
    pub fn block(self) -> usize {
        match self {
            Granularity::Unstructured => 1,
            Granularity::Block1x4 | Granularity::TwoFour => 4,
        }
    }
}

/// Where the magnitude threshold is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One threshold over the whole model.
    #[default]
    Global,
    /// One threshold per layer (every layer at the target sparsity).
    LayerWise,
    /// One threshold per layer, each layer's sparsity chosen from a measured sensitivity
    /// profile ([`super::sensitivity`]); needs data, so only the pruning driver applies it.
    Sensitivity,
}

/// What to prune and how.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaskConfig {
    /// Single weights, 1×4 blocks or 2:4.
    pub granularity: Granularity,
    /// Global or layer-wise threshold.
    pub scope: Scope,
    /// Also prune depthwise filters.
    pub include_depthwise: bool,
    /// Leave layers with fewer weights than this dense (e.g. a 3×3×1 stem).
    pub min_weights: usize,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            granularity: Granularity::Unstructured,
            scope: Scope::Global,
            include_depthwise: false,
            min_weights: 256,
        }
    }
}

/// Whether `layer`'s kernel is pruned under `cfg`.
fn prunable_kernel<'a>(layer: &'a mut Layer, cfg: &MaskConfig) -> Option<&'a mut Param> {
    let p = match layer {
        Layer::Conv2d(l) => &mut l.weight,
        Layer::Dense(l) => &mut l.weight,
        Layer::DepthwiseConv2d(l) if cfg.include_depthwise => &mut l.weight,
        _ => return None,
    };
    (p.len() >= cfg.min_weights).then_some(p)
}

/// Visits `(node name, kernel)` of every prunable layer.
pub fn visit_prunable(model: &mut Model, cfg: &MaskConfig, f: &mut dyn FnMut(&str, &mut Param)) {
    for n in &mut model.nodes {
        if let Op::Layer(l) = &mut n.op {
            if let Some(p) = prunable_kernel(l, cfg) {
                f(&n.name, p);
            }
        }
    }
}

/// Groups of one parameter: `(start, len)` runs along rows. Depthwise kernels (channel axis
/// last) are always scored per weight, their rows are not along an input dimension.
fn groups(p: &Param, g: Granularity) -> Vec<(usize, usize)> {
    let block = match p.channel_axis {
        tinyforge_train::ChannelAxis::Inner => 1,
        tinyforge_train::ChannelAxis::Outer => g.block(),
    };
    let rows = p.shape.first().copied().unwrap_or(1).max(1);
    let row_len = p.len() / rows;
    let mut out = Vec::with_capacity(p.len().div_ceil(block));
    for r in 0..rows {
        let mut s = 0;
        while s < row_len {
            let len = block.min(row_len - s);
            out.push((r * row_len + s, len));
            s += len;
        }
    }
    out
}

fn score(v: &[f32]) -> f32 {
    v.iter().map(|x| x.abs()).sum::<f32>() / v.len().max(1) as f32
}

/// Sets masks on every prunable kernel so that (about) `sparsity` of the prunable weights are
/// removed, and zeroes the removed stored values. With [`Granularity::TwoFour`] the sparsity
/// is 50 % whatever `sparsity` says. Returns the resulting report.
pub fn set_masks(
    model: &mut Model,
    sparsity: f32,
    cfg: &MaskConfig,
) -> PruneResult<SparsityReport> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(PruneError::Config(format!(
            "sparsity must be in [0, 1), got {sparsity}"
        )));
    }
    let mut count = 0;
    visit_prunable(model, cfg, &mut |_, _| count += 1);
    if count == 0 {
        return Err(PruneError::Model(format!(
            "no prunable layer (conv2d / dense kernels with ≥ {} weights)",
            cfg.min_weights
        )));
    }
    if cfg.granularity == Granularity::TwoFour {
        visit_prunable(model, cfg, &mut |_, p| {
            let mut keep = vec![1.0f32; p.len()];
            for (s, len) in groups(p, Granularity::TwoFour) {
                let mut idx: Vec<usize> = (s..s + len).collect();
                idx.sort_by(|&a, &b| {
                    p.value[a]
                        .abs()
                        .total_cmp(&p.value[b].abs())
                        .then(a.cmp(&b))
                });
                for &i in idx.iter().take(len / 2) {
                    keep[i] = 0.0;
                }
            }
            install(p, keep);
        });
        return Ok(model_sparsity(model, cfg));
    }
    match cfg.scope {
        Scope::LayerWise => {
            let targets = vec![sparsity; count];
            return set_masks_layers(model, &targets, cfg);
        }
        Scope::Sensitivity => {
            return Err(PruneError::Config(
                "sensitivity-chosen sparsities need data: use the pruning driver, or \
                 set_masks_layers with per-layer targets"
                    .into(),
            ))
        }
        Scope::Global => {
            // One ranking over the groups of every layer.
            let mut all: Vec<(usize, usize, usize)> = Vec::new(); // (layer, start, len)
            let mut scored: Vec<(f32, usize)> = Vec::new();
            let mut sizes: Vec<usize> = Vec::new();
            visit_prunable(model, cfg, &mut |_, p| {
                for (s, l) in groups(p, cfg.granularity) {
                    scored.push((score(&p.value[s..s + l]), l));
                    all.push((sizes.len(), s, l));
                }
                sizes.push(p.len());
            });
            let removed = rank_remove(&scored, sparsity, sizes.iter().sum());
            let mut keeps: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![1.0; n]).collect();
            for (&(li, s, l), &r) in all.iter().zip(&removed) {
                if r {
                    keeps[li][s..s + l].fill(0.0);
                }
            }
            let mut it = keeps.into_iter();
            visit_prunable(model, cfg, &mut |_, p| {
                if let Some(k) = it.next() {
                    install(p, k);
                }
            });
        }
    }
    Ok(model_sparsity(model, cfg))
}

/// Sets masks layer by layer: prunable layer `i` (in model order) gets sparsity `targets[i]`
/// by its own magnitude ranking. With [`Granularity::TwoFour`] use [`set_masks`].
pub fn set_masks_layers(
    model: &mut Model,
    targets: &[f32],
    cfg: &MaskConfig,
) -> PruneResult<SparsityReport> {
    let mut count = 0;
    visit_prunable(model, cfg, &mut |_, _| count += 1);
    if count != targets.len() {
        return Err(PruneError::Config(format!(
            "{} per-layer sparsities for {count} prunable layers",
            targets.len()
        )));
    }
    if let Some(bad) = targets.iter().find(|s| !(0.0..1.0).contains(*s)) {
        return Err(PruneError::Config(format!(
            "sparsity must be in [0, 1), got {bad}"
        )));
    }
    let mut it = targets.iter();
    visit_prunable(model, cfg, &mut |_, p| {
        let Some(&sparsity) = it.next() else { return };
        let gs = groups(p, cfg.granularity);
        let scored: Vec<(f32, usize)> = gs
            .iter()
            .map(|&(s, l)| (score(&p.value[s..s + l]), l))
            .collect();
        let removed = rank_remove(&scored, sparsity, p.len());
        let mut keep = vec![1.0; p.len()];
        for (&(s, l), &r) in gs.iter().zip(&removed) {
            if r {
                keep[s..s + l].fill(0.0);
            }
        }
        install(p, keep);
    });
    Ok(model_sparsity(model, cfg))
}

/// Ranks `(score, weights)` groups by score (ties by position) and marks the lowest as removed
/// until `sparsity · total` weights are gone.
fn rank_remove(scored: &[(f32, usize)], sparsity: f32, total: usize) -> Vec<bool> {
    let target = (sparsity as f64 * total as f64).round() as usize;
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|&a, &b| scored[a].0.total_cmp(&scored[b].0).then(a.cmp(&b)));
    let mut removed = vec![false; scored.len()];
    let mut gone = 0usize;
    for i in order {
        if gone >= target {
            break;
        }
        removed[i] = true;
        gone += scored[i].1;
    }
    removed
}

fn install(p: &mut Param, keep: Vec<f32>) {
    p.mask = Some(Mask { keep });
    p.apply_mask();
}

/// Removes every mask (keeping the zeroed values): the model becomes a plain dense model
/// whose pruned weights are exact zeros, ready for export.
pub fn strip_masks(model: &mut Model) {
    model.visit_params(&mut |p| {
        p.apply_mask();
        p.mask = None;
    });
}

/// Sparsity of one prunable layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSparsity {
    /// Node name.
    pub name: String,
    /// Weights in the kernel.
    pub weights: usize,
    /// Exact zeros among them.
    pub zeros: usize,
}

/// Sparsity of a model's prunable kernels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparsityReport {
    /// Per prunable layer.
    pub layers: Vec<LayerSparsity>,
    /// Total prunable weights.
    pub weights: usize,
    /// Exact zeros among them.
    pub zeros: usize,
}

impl SparsityReport {
    /// Fraction of zeros (0 for a model without prunable weights).
    pub fn sparsity(&self) -> f32 {
        if self.weights == 0 {
            0.0
        } else {
            self.zeros as f32 / self.weights as f32
        }
    }
}

/// Counts exact zeros in the prunable kernels (masked values are zero by the mask invariant).
pub fn model_sparsity(model: &mut Model, cfg: &MaskConfig) -> SparsityReport {
    let mut layers = Vec::new();
    visit_prunable(model, cfg, &mut |name, p| {
        layers.push(LayerSparsity {
            name: name.to_string(),
            weights: p.len(),
            zeros: p.value.iter().filter(|&&v| v == 0.0).count(),
        })
    });
    SparsityReport {
        weights: layers.iter().map(|l| l.weights).sum(),
        zeros: layers.iter().map(|l| l.zeros).sum(),
        layers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use tinyforge_train::layers::{Activation, Conv2d, Dense, Flatten, Padding};

    pub(crate) fn small_model() -> Model {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut m = Model::new(&[6, 6, 2]);
        m.push(Layer::Conv2d(
            Conv2d::new(2, 16, (3, 3), (1, 1), Padding::Same, true, &mut rng)
                .with_activation(Activation::Relu),
        ))
        .unwrap();
        m.push(Layer::Conv2d(Conv2d::new(
            16,
            8,
            (1, 1),
            (2, 2),
            Padding::Same,
            true,
            &mut rng,
        )))
        .unwrap();
        m.push(Layer::Flatten(Flatten::default())).unwrap();
        m.push(Layer::Dense(Dense::new(72, 4, true, &mut rng)))
            .unwrap();
        m
    }

    fn cfg(g: Granularity, s: Scope) -> MaskConfig {
        MaskConfig {
            granularity: g,
            scope: s,
            include_depthwise: false,
            min_weights: 0,
        }
    }

    #[test]
    fn layer_wise_hits_the_target_in_every_layer() {
        let mut m = small_model();
        let r = set_masks(
            &mut m,
            0.75,
            &cfg(Granularity::Unstructured, Scope::LayerWise),
        )
        .unwrap();
        for l in &r.layers {
            let s = l.zeros as f32 / l.weights as f32;
            assert!((s - 0.75).abs() < 0.01, "{}: {s}", l.name);
        }
        // Masked weights are the smallest: every kept |w| ≥ every removed original |w|.
        let mut m2 = small_model();
        let mut orig = Vec::new();
        m2.visit_params(&mut |p| orig.push(p.value.clone()));
        let mut kept_min = f32::INFINITY;
        let mut i = 0;
        m.visit_params(&mut |p| {
            if p.name == "kernel" && p.shape.len() == 4 && i == 0 {
                for (v, o) in p.value.iter().zip(&orig[0]) {
                    if *v != 0.0 {
                        kept_min = kept_min.min(o.abs());
                    }
                }
                let removed_max = p
                    .value
                    .iter()
                    .zip(&orig[0])
                    .filter(|(v, _)| **v == 0.0)
                    .map(|(_, o)| o.abs())
                    .fold(0.0, f32::max);
                assert!(removed_max <= kept_min);
            }
            i += 1;
        });
    }

    #[test]
    fn global_hits_the_total_and_masked_weights_stay_zero() {
        let mut m = small_model();
        let r = set_masks(&mut m, 0.6, &cfg(Granularity::Unstructured, Scope::Global)).unwrap();
        assert!((r.sparsity() - 0.6).abs() < 0.01);
        // One optimizer step with a real gradient keeps masked weights at exactly 0.
        let x = tinyforge_train::Tensor::from_vec(
            &[2, 6, 6, 2],
            (0..144).map(|v| v as f32 / 144.0).collect(),
        )
        .unwrap();
        let mut opt = tinyforge_train::Optimizer::new(tinyforge_train::OptimizerConfig::adam());
        m.forward(&x, true).unwrap();
        m.backward_with(|y, g| {
            tinyforge_train::loss::softmax_cross_entropy(y, &[0, 3], g).unwrap()
        });
        opt.apply(&mut m, 0.1);
        let after = model_sparsity(&mut m, &cfg(Granularity::Unstructured, Scope::Global));
        assert_eq!(after.zeros, r.zeros);
    }

    #[test]
    fn blocks_and_two_four() {
        let mut m = small_model();
        set_masks(&mut m, 0.5, &cfg(Granularity::Block1x4, Scope::LayerWise)).unwrap();
        visit_prunable(
            &mut m,
            &cfg(Granularity::Block1x4, Scope::LayerWise),
            &mut |_, p| {
                let rows = p.shape[0];
                for row in p.value.chunks(p.len() / rows) {
                    for b in row.chunks(4) {
                        let z = b.iter().filter(|&&v| v == 0.0).count();
                        assert!(z == 0 || z == b.len(), "block partly pruned: {b:?}");
                    }
                }
            },
        );
        let mut m = small_model();
        let r = set_masks(&mut m, 0.9, &cfg(Granularity::TwoFour, Scope::Global)).unwrap();
        assert!((r.sparsity() - 0.5).abs() < 0.05);
        visit_prunable(
            &mut m,
            &cfg(Granularity::TwoFour, Scope::Global),
            &mut |_, p| {
                let rows = p.shape[0];
                for row in p.value.chunks(p.len() / rows) {
                    for b in row.chunks_exact(4) {
                        assert_eq!(b.iter().filter(|&&v| v == 0.0).count(), 2);
                    }
                }
            },
        );
    }

    #[test]
    fn bad_sparsity_is_an_error() {
        let mut m = small_model();
        assert!(set_masks(&mut m, 1.0, &MaskConfig::default()).is_err());
        let mut tiny = Model::new(&[3]);
        assert!(matches!(
            set_masks(&mut tiny, 0.5, &MaskConfig::default()),
            Err(PruneError::Model(_))
        ));
    }
}
