//! Structured pruning: remove whole output channels (conv filters, dense units) by L1 or L2
//! norm, and everything that depends on them, so the result is a smaller *dense* model (fewer
//! MACs, smaller activations, smaller arena) that any runtime executes.
//!
//! Channel spaces: every node's output channels belong to a space created by the conv / dense
//! layer that produced them. Batch norm, activations, pools, dropout, global pooling and
//! depthwise convolutions pass their input's space through (a depthwise's channels follow its
//! input); a residual add ties the spaces of its inputs into one (union-find), so channels
//! summed together are kept or removed together; a flatten repeats its input's space once per
//! spatial position for the dense layer after it. Spaces touching the model input or output
//! are never pruned. A space's channel importance is the sum over its producers of the
//! filter's norm times the |γ|/√(σ²+ε) of a batch norm right after it.
//!
//! Removal slices: producer rows and biases, consumer input channels (conv last axis, dense
//! columns at every flattened position), depthwise filters, batch-norm parameters and running
//! statistics. The model is then rebuilt node by node, which re-checks every shape.

use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tinyforge_train::layers::{BatchNorm, Conv2d, Dense, DepthwiseConv2d, Layer};
use tinyforge_train::{ChannelAxis, Model, Op, Param};

use super::{PruneError, PruneResult};

/// Channel importance norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelNorm {
    /// Sum of |w|.
    #[default]
    L1,
    /// √Σw².
    L2,
}

/// Structured pruning configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StructuredConfig {
    /// Fraction of channels removed from every prunable space (0.5: half the channels).
    pub ratio: f32,
    /// Importance norm.
    pub norm: ChannelNorm,
    /// Never keep fewer channels than this in a space.
    pub min_channels: usize,
}

impl Default for StructuredConfig {
    fn default() -> Self {
        StructuredConfig {
            ratio: 0.5,
            norm: ChannelNorm::L1,
            min_channels: 4,
        }
    }
}

/// What structured pruning did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StructuredReport {
    /// `(producer node names, channels before, channels after)` per pruned space.
    pub spaces: Vec<(Vec<String>, usize, usize)>,
    /// Scalars before / after.
    pub params_before: usize,
    /// Scalars after.
    pub params_after: usize,
}

/// How a node's output features relate to a channel space.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Feat {
    /// Channels of a space, innermost axis, repeated `repeat` times (flattened positions).
    Space { space: usize, repeat: usize },
    /// Not prunable.
    Fixed,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

fn producer_weight(l: &Layer) -> Option<&Param> {
    match l {
        Layer::Conv2d(c) => Some(&c.weight),
        Layer::Dense(d) => Some(&d.weight),
        _ => None,
    }
}

/// Removes `cfg.ratio` of the channels of every prunable channel space. Returns the smaller
/// model (fine-tune it afterwards) and a report.
pub fn prune_channels(
    model: &Model,
    cfg: &StructuredConfig,
) -> PruneResult<(Model, StructuredReport)> {
    if !(0.0..1.0).contains(&cfg.ratio) {
        return Err(PruneError::Config(format!(
            "channel ratio must be in [0, 1), got {}",
            cfg.ratio
        )));
    }
    let nodes = &model.nodes;
    let n = nodes.len();
    // Spaces: one per producer node; parent links for residual ties; fixed flags.
    let mut space_of_producer = vec![usize::MAX; n];
    let mut channels: Vec<usize> = Vec::new();
    let mut producers: Vec<Vec<usize>> = Vec::new();
    let mut feat = vec![Feat::Fixed; n];
    let mut parent: Vec<usize> = Vec::new();
    let mut fixed: Vec<bool> = Vec::new();
    let channel_dim = |shape: &[usize]| shape.last().copied().unwrap_or(0);
    for i in 1..n {
        let node = &nodes[i];
        let inp = node.inputs.first().copied().unwrap_or(0);
        let fin = feat[inp];
        feat[i] = match &node.op {
            Op::Input => Feat::Fixed,
            Op::Layer(Layer::Conv2d(_)) | Op::Layer(Layer::Dense(_)) => {
                let s = channels.len();
                channels.push(channel_dim(&node.shape));
                producers.push(vec![i]);
                parent.push(s);
                fixed.push(false);
                space_of_producer[i] = s;
                Feat::Space {
                    space: s,
                    repeat: 1,
                }
            }
            Op::Layer(
                Layer::BatchNorm(_)
                | Layer::Activation(_)
                | Layer::AvgPool(_)
                | Layer::MaxPool(_)
                | Layer::GlobalAvgPool(_)
                | Layer::Dropout(_)
                | Layer::DepthwiseConv2d(_),
            ) => fin,
            Op::Layer(Layer::Flatten(f)) => match (fin, &nodes[inp].shape[..], &f.target) {
                (Feat::Space { space, repeat: 1 }, [h, w, _], None) => Feat::Space {
                    space,
                    repeat: h * w,
                },
                (Feat::Space { space, repeat }, _, None) if nodes[inp].shape.len() == 1 => {
                    Feat::Space { space, repeat }
                }
                (Feat::Space { space, .. }, _, _) => {
                    if let Some(f) = fixed.get_mut(space) {
                        *f = true;
                    }
                    Feat::Fixed
                }
                (Feat::Fixed, _, _) => Feat::Fixed,
            },
            Op::Add { .. } => {
                let mut first: Option<usize> = None;
                let mut any_fixed = false;
                for &j in &node.inputs {
                    match feat[j] {
                        Feat::Space { space, repeat: 1 } => {
                            let r = find(&mut parent, space);
                            match first {
                                None => first = Some(r),
                                Some(f) => {
                                    let rf = find(&mut parent, f);
                                    if rf != r {
                                        parent[r] = rf;
                                        let fr = fixed[r];
                                        fixed[rf] |= fr;
                                    }
                                }
                            }
                        }
                        _ => any_fixed = true,
                    }
                }
                match first {
                    Some(f) => {
                        if any_fixed {
                            let r = find(&mut parent, f);
                            fixed[r] = true;
                        }
                        Feat::Space {
                            space: f,
                            repeat: 1,
                        }
                    }
                    None => Feat::Fixed,
                }
            }
        };
    }
    // The model output's space is fixed; so is any space a node consumes in a way not modelled.
    if let Feat::Space { space, .. } = feat[n - 1] {
        let r = find(&mut parent, space);
        fixed[r] = true;
    }
    let roots: Vec<usize> = (0..channels.len()).map(|s| find(&mut parent, s)).collect();
    // Importance per root space.
    let mut importance: Vec<Vec<f32>> = channels.iter().map(|&c| vec![0.0; c]).collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); channels.len()];
    for (s, prods) in producers.iter().enumerate() {
        let r = roots[s];
        members[r].push(s);
        for &p in prods {
            let Op::Layer(l) = &nodes[p].op else { continue };
            let Some(w) = producer_weight(l) else {
                continue;
            };
            let rows = w.shape[0];
            let per = w.len() / rows.max(1);
            // A batch norm consuming only this producer scales its channels.
            let bn = nodes.iter().find_map(|nd| match &nd.op {
                Op::Layer(Layer::BatchNorm(b)) if nd.inputs == [p] => Some(b),
                _ => None,
            });
            if importance[r].len() != rows {
                return Err(PruneError::Model(format!(
                    "residual add ties {} channels to {rows}",
                    importance[r].len()
                )));
            }
            for (o, row) in w.value.chunks(per).enumerate() {
                let norm = match cfg.norm {
                    ChannelNorm::L1 => row.iter().map(|v| v.abs()).sum::<f32>(),
                    ChannelNorm::L2 => row.iter().map(|v| v * v).sum::<f32>().sqrt(),
                };
                let scale = bn.map_or(1.0, |b| {
                    b.gamma.value[o].abs() / (b.running_var[o] + b.epsilon).sqrt()
                });
                importance[r][o] += norm * scale;
            }
        }
    }
    // Kept channel indices per root (ascending), or None to keep all.
    let mut keep: Vec<Option<Vec<usize>>> = vec![None; channels.len()];
    let mut report_spaces = Vec::new();
    for r in 0..channels.len() {
        if roots[r] != r || fixed[r] {
            continue;
        }
        let c = channels[r];
        let k = ((c as f32 * (1.0 - cfg.ratio)).round() as usize)
            .max(cfg.min_channels.min(c))
            .max(1);
        if k >= c {
            continue;
        }
        let mut idx: Vec<usize> = (0..c).collect();
        let imp = &importance[r];
        idx.sort_by(|&a, &b| imp[b].total_cmp(&imp[a]).then(a.cmp(&b)));
        let mut kept: Vec<usize> = idx[..k].to_vec();
        kept.sort_unstable();
        let names = members[r]
            .iter()
            .flat_map(|&s| producers[s].iter().map(|&p| nodes[p].name.clone()))
            .collect();
        report_spaces.push((names, c, k));
        keep[r] = Some(kept);
    }
    let kept_of = |f: Feat| -> Option<(&Vec<usize>, usize, usize)> {
        match f {
            Feat::Space { space, repeat } => {
                let r = roots[space];
                keep[r].as_ref().map(|k| (k, channels[r], repeat))
            }
            Feat::Fixed => None,
        }
    };
    // Rebuild.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut out = Model::new(model.input_shape());
    for i in 1..n {
        let node = &nodes[i];
        let inp = node.inputs.first().copied().unwrap_or(0);
        let kin = kept_of(feat[inp]);
        let kout = if space_of_producer[i] != usize::MAX {
            kept_of(feat[i])
        } else {
            None
        };
        let id = match &node.op {
            Op::Input => continue,
            Op::Add { activation } => out.add_sum(&node.inputs, *activation)?,
            Op::Layer(l) => {
                let layer = match l {
                    Layer::Conv2d(c) => {
                        let outs: Vec<usize> =
                            kout.map_or((0..c.filters).collect(), |k| k.0.clone());
                        let ins: Vec<usize> = kin.map_or((0..c.in_ch).collect(), |k| k.0.clone());
                        let mut nc = Conv2d::new(
                            ins.len(),
                            outs.len(),
                            c.kernel,
                            c.stride,
                            c.padding,
                            c.bias.is_some(),
                            &mut rng,
                        )
                        .with_activation(c.activation);
                        let (kh, kw) = c.kernel;
                        let mut w = Vec::with_capacity(outs.len() * kh * kw * ins.len());
                        for &o in &outs {
                            for t in 0..kh * kw {
                                let base = (o * kh * kw + t) * c.in_ch;
                                w.extend(ins.iter().map(|&i| c.weight.value[base + i]));
                            }
                        }
                        nc.weight.value = w;
                        nc.weight.mask = sliced_mask(&c.weight, &outs, &ins, kh * kw);
                        if let (Some(nb), Some(b)) = (&mut nc.bias, &c.bias) {
                            nb.value = outs.iter().map(|&o| b.value[o]).collect();
                        }
                        Layer::Conv2d(nc)
                    }
                    Layer::Dense(d) => {
                        let outs: Vec<usize> = kout.map_or((0..d.units).collect(), |k| k.0.clone());
                        let ins: Vec<usize> = match kin {
                            None => (0..d.in_features).collect(),
                            Some((k, c, repeat)) => (0..repeat)
                                .flat_map(|p| k.iter().map(move |&ch| p * c + ch))
                                .collect(),
                        };
                        let mut nd = Dense::new(ins.len(), outs.len(), d.bias.is_some(), &mut rng)
                            .with_activation(d.activation);
                        nd.weight.value = outs
                            .iter()
                            .flat_map(|&o| ins.iter().map(move |&i| (o, i)))
                            .map(|(o, i)| d.weight.value[o * d.in_features + i])
                            .collect();
                        nd.weight.mask = sliced_mask(&d.weight, &outs, &ins, 1);
                        if let (Some(nb), Some(b)) = (&mut nd.bias, &d.bias) {
                            nb.value = outs.iter().map(|&o| b.value[o]).collect();
                        }
                        Layer::Dense(nd)
                    }
                    Layer::DepthwiseConv2d(dw) => match kin {
                        None => l.clone(),
                        Some((k, _, _)) => {
                            let mut nd = DepthwiseConv2d::new(
                                k.len(),
                                dw.kernel,
                                dw.stride,
                                dw.padding,
                                dw.bias.is_some(),
                                &mut rng,
                            )
                            .with_activation(dw.activation);
                            let c = dw.channels;
                            nd.weight.value = dw
                                .weight
                                .value
                                .chunks(c)
                                .flat_map(|row| k.iter().map(move |&ch| row[ch]))
                                .collect();
                            if let (Some(nb), Some(b)) = (&mut nd.bias, &dw.bias) {
                                nb.value = k.iter().map(|&o| b.value[o]).collect();
                            }
                            Layer::DepthwiseConv2d(nd)
                        }
                    },
                    Layer::BatchNorm(b) => match kin {
                        None => l.clone(),
                        Some((k, _, _)) => {
                            let mut nb = BatchNorm::new(k.len()).with_activation(b.activation);
                            nb.momentum = b.momentum;
                            nb.epsilon = b.epsilon;
                            let pick = |v: &[f32]| k.iter().map(|&c| v[c]).collect::<Vec<f32>>();
                            nb.gamma.value = pick(&b.gamma.value);
                            nb.beta.value = pick(&b.beta.value);
                            nb.running_mean = pick(&b.running_mean);
                            nb.running_var = pick(&b.running_var);
                            Layer::BatchNorm(nb)
                        }
                    },
                    other => other.clone(),
                };
                out.add(layer, inp)?
            }
        };
        out.nodes[id].name = node.name.clone();
        out.nodes[id].act_quant = node.act_quant.clone();
    }
    if out.output_shape() != model.output_shape() {
        return Err(PruneError::Model(format!(
            "output shape changed from {:?} to {:?}",
            model.output_shape(),
            out.output_shape()
        )));
    }
    let report = StructuredReport {
        spaces: report_spaces,
        params_before: model.param_count(),
        params_after: out.param_count(),
    };
    Ok((out, report))
}

/// Slices an existing mask like its weights (`taps` = KH·KW for conv, 1 for dense).
fn sliced_mask(
    w: &Param,
    outs: &[usize],
    ins: &[usize],
    taps: usize,
) -> Option<tinyforge_train::Mask> {
    let m = w.mask.as_ref()?;
    debug_assert!(matches!(w.channel_axis, ChannelAxis::Outer));
    let in_all = w.len() / (w.shape[0] * taps);
    let mut keep = Vec::with_capacity(outs.len() * taps * ins.len());
    for &o in outs {
        for t in 0..taps {
            let base = (o * taps + t) * in_all;
            keep.extend(ins.iter().map(|&i| m.keep[base + i]));
        }
    }
    Some(tinyforge_train::Mask { keep })
}
