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

use super::finetune::{self, accuracy, Distill, Extras, FineTune, LrSchedule};
use super::iterative::CurvePoint;
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

/// How the channels to remove are spread over the channel spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allocation {
    /// The same fraction from every space.
    #[default]
    Uniform,
    /// One ranking over the channels of every space, each space's importances divided by
    /// their root mean square first (Molchanov et al. 2017), so that layers whose channels
    /// matter evenly keep more of them and layers with many weak channels lose more; the
    /// fraction is of all prunable channels together.
    Global,
}

/// Structured pruning configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StructuredConfig {
    /// Fraction of channels removed (0.5: half the channels), per space or overall.
    pub ratio: f32,
    /// Importance norm.
    pub norm: ChannelNorm,
    /// Never keep fewer channels than this in a space.
    pub min_channels: usize,
    /// Uniform or global spreading of the removal.
    pub allocation: Allocation,
}

impl Default for StructuredConfig {
    fn default() -> Self {
        StructuredConfig {
            ratio: 0.5,
            norm: ChannelNorm::L1,
            min_channels: 4,
            allocation: Allocation::Uniform,
        }
    }
}

/// One prunable channel space: the producers whose outputs share it and its channel count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelSpace {
    /// Producer node names (several when residual adds tie them).
    pub producers: Vec<String>,
    /// Channels.
    pub channels: usize,
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

/// What the channel analysis of a model found.
struct Analysis {
    feat: Vec<Feat>,
    roots: Vec<usize>,
    channels: Vec<usize>,
    fixed: Vec<bool>,
    importance: Vec<Vec<f32>>,
    members: Vec<Vec<usize>>,
    producers: Vec<Vec<usize>>,
    space_of_producer: Vec<usize>,
}

impl Analysis {
    /// Root spaces that may be pruned.
    fn prunable(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.channels.len()).filter(|&r| self.roots[r] == r && !self.fixed[r])
    }

    fn names(&self, model: &Model, r: usize) -> Vec<String> {
        self.members[r]
            .iter()
            .flat_map(|&s| {
                self.producers[s]
                    .iter()
                    .map(|&p| model.nodes[p].name.clone())
            })
            .collect()
    }
}

/// The prunable channel spaces of `model`, in model order.
pub fn channel_spaces(model: &Model) -> PruneResult<Vec<ChannelSpace>> {
    let a = analyze(model, ChannelNorm::L1)?;
    Ok(a.prunable()
        .map(|r| ChannelSpace {
            producers: a.names(model, r),
            channels: a.channels[r],
        })
        .collect())
}

/// Removes `cfg.ratio` of the channels (of every prunable channel space, or of all of them
/// under [`Allocation::Global`]). Returns the smaller model (fine-tune it afterwards) and a
/// report.
pub fn prune_channels(
    model: &Model,
    cfg: &StructuredConfig,
) -> PruneResult<(Model, StructuredReport)> {
    check_ratio(cfg.ratio)?;
    let a = analyze(model, cfg.norm)?;
    let goal = match cfg.allocation {
        Allocation::Uniform => {
            let mut per = std::collections::HashMap::new();
            for r in a.prunable() {
                let c = a.channels[r];
                let k = (c as f32 * (1.0 - cfg.ratio)).round() as usize;
                per.insert(first_name(&a.names(model, r)), k);
            }
            ChannelGoal::PerSpace(per)
        }
        Allocation::Global => {
            let total: usize = a.prunable().map(|r| a.channels[r]).sum();
            ChannelGoal::Total((total as f32 * (1.0 - cfg.ratio)).round() as usize)
        }
    };
    prune_with(model, cfg, &a, &goal)
}

/// How many channels to keep.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelGoal {
    /// Per space, keyed by the space's first producer name (spaces not named keep all).
    PerSpace(std::collections::HashMap<String, usize>),
    /// Over all prunable spaces together, chosen by the global normalized ranking.
    Total(usize),
}

/// Prunes `model` to `goal` (channel counts are clamped to `cfg.min_channels` and to what the
/// space has); `cfg.ratio` is not used.
pub fn prune_channels_to(
    model: &Model,
    cfg: &StructuredConfig,
    goal: &ChannelGoal,
) -> PruneResult<(Model, StructuredReport)> {
    let a = analyze(model, cfg.norm)?;
    prune_with(model, cfg, &a, goal)
}

fn first_name(names: &[String]) -> String {
    names.first().cloned().unwrap_or_default()
}

fn check_ratio(ratio: f32) -> PruneResult<()> {
    if !(0.0..1.0).contains(&ratio) {
        return Err(PruneError::Config(format!(
            "channel ratio must be in [0, 1), got {ratio}"
        )));
    }
    Ok(())
}

/// Per-root kept channel counts for `goal`.
fn counts(model: &Model, cfg: &StructuredConfig, a: &Analysis, goal: &ChannelGoal) -> Vec<usize> {
    let mut k: Vec<usize> = a.channels.clone();
    let floor = |c: usize| cfg.min_channels.min(c).max(1);
    match goal {
        ChannelGoal::PerSpace(per) => {
            for r in a.prunable() {
                if let Some(&want) = per.get(&first_name(&a.names(model, r))) {
                    k[r] = want.clamp(floor(a.channels[r]), a.channels[r]);
                }
            }
        }
        ChannelGoal::Total(total) => {
            // Normalized scores of every prunable channel; remove the lowest until the total
            // is met, never below a space's floor.
            let mut all: Vec<(f32, usize, usize)> = Vec::new();
            for r in a.prunable() {
                let imp = &a.importance[r];
                let rms = (imp.iter().map(|v| v * v).sum::<f32>() / imp.len().max(1) as f32)
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                all.extend(imp.iter().enumerate().map(|(c, v)| (v / rms, r, c)));
            }
            all.sort_by(|x, y| x.0.total_cmp(&y.0).then((x.1, x.2).cmp(&(y.1, y.2))));
            let mut kept: usize = a.prunable().map(|r| a.channels[r]).sum();
            for &(_, r, _) in &all {
                if kept <= *total {
                    break;
                }
                if k[r] > floor(a.channels[r]) {
                    k[r] -= 1;
                    kept -= 1;
                }
            }
        }
    }
    k
}

fn prune_with(
    model: &Model,
    cfg: &StructuredConfig,
    a: &Analysis,
    goal: &ChannelGoal,
) -> PruneResult<(Model, StructuredReport)> {
    let counts = counts(model, cfg, a, goal);
    // Kept channel indices per root (ascending, the most important), or None to keep all.
    let mut keep: Vec<Option<Vec<usize>>> = vec![None; a.channels.len()];
    let mut report_spaces = Vec::new();
    for r in a.prunable() {
        let (c, k) = (a.channels[r], counts[r]);
        if k >= c {
            continue;
        }
        let mut idx: Vec<usize> = (0..c).collect();
        let imp = &a.importance[r];
        idx.sort_by(|&x, &y| imp[y].total_cmp(&imp[x]).then(x.cmp(&y)));
        let mut kept: Vec<usize> = idx[..k].to_vec();
        kept.sort_unstable();
        report_spaces.push((a.names(model, r), c, k));
        keep[r] = Some(kept);
    }
    rebuild(model, a, &keep, report_spaces)
}

fn analyze(model: &Model, norm: ChannelNorm) -> PruneResult<Analysis> {
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
                let norm = match norm {
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
    Ok(Analysis {
        feat,
        roots,
        channels,
        fixed,
        importance,
        members,
        producers,
        space_of_producer,
    })
}

fn rebuild(
    model: &Model,
    a: &Analysis,
    keep: &[Option<Vec<usize>>],
    report_spaces: Vec<(Vec<String>, usize, usize)>,
) -> PruneResult<(Model, StructuredReport)> {
    let nodes = &model.nodes;
    let n = nodes.len();
    let (feat, roots, channels, space_of_producer) =
        (&a.feat, &a.roots, &a.channels, &a.space_of_producer);
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

/// A gradual structured pruning run: `rounds` prune → fine-tune steps, each removing an
/// equal share of the channels, so that the network adapts before the next cut (one cut of
/// half the channels loses far more than the fine-tuning can win back).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StructuredRun {
    /// What to remove in total (ratio of the original channels) and how.
    pub config: StructuredConfig,
    /// Prune → fine-tune rounds (≥ 1).
    pub rounds: usize,
    /// Fine-tuning of each intermediate round.
    pub finetune: FineTune,
    /// Epochs of fine-tuning after the last round (0: `finetune.epochs`).
    pub final_epochs: usize,
    /// Learning rate over each fine-tuning run.
    pub lr_schedule: LrSchedule,
    /// Distillation from the unpruned model's logits.
    pub distill: Option<Distill>,
}

impl StructuredRun {
    /// Defaults around a configuration: 4 rounds, cosine learning rate, no distillation.
    pub fn new(config: StructuredConfig) -> Self {
        StructuredRun {
            config,
            rounds: 4,
            finetune: FineTune::default(),
            final_epochs: 0,
            lr_schedule: LrSchedule::Cosine,
            distill: None,
        }
    }
}

/// What a gradual structured run returns.
#[derive(Debug, Clone)]
pub struct StructuredOutcome {
    /// The smaller model.
    pub model: Model,
    /// Original and final channel counts per space, and parameters.
    pub report: StructuredReport,
    /// Accuracy of the model given.
    pub accuracy_before: f32,
    /// Accuracy of the returned model.
    pub accuracy_after: f32,
    /// `sparsity` = fraction of the prunable channels removed so far, per round.
    pub curve: Vec<CurvePoint>,
}

/// Removes `run.config.ratio` of the channels of `model` over `run.rounds` rounds, each followed
/// by fine-tuning on `train`; evaluates on `eval` after every round (`progress` sees each point).
pub fn prune_structured(
    model: &Model,
    train: &tinyforge_data::Dataset,
    eval: &tinyforge_data::Dataset,
    run: &StructuredRun,
    progress: &mut dyn FnMut(&CurvePoint),
) -> PruneResult<StructuredOutcome> {
    let cfg = &run.config;
    check_ratio(cfg.ratio)?;
    if run.rounds == 0 {
        return Err(PruneError::Config(
            "structured pruning needs ≥ 1 round".into(),
        ));
    }
    let original = channel_spaces(model)?;
    let total: usize = original.iter().map(|s| s.channels).sum();
    let mut m = model.clone();
    let before = accuracy(&mut m, eval)?;
    let p0 = CurvePoint {
        round: 0,
        sparsity: 0.0,
        accuracy: before,
    };
    progress(&p0);
    let mut curve = vec![p0];
    let extras = Extras {
        schedule: run.lr_schedule,
        teacher: run.distill.map(|d| (model, d)),
    };
    for r in 1..=run.rounds {
        let keep = 1.0 - cfg.ratio * r as f32 / run.rounds as f32;
        let goal = match cfg.allocation {
            Allocation::Uniform => ChannelGoal::PerSpace(
                original
                    .iter()
                    .map(|s| {
                        let k = (s.channels as f32 * keep).round() as usize;
                        (first_name(&s.producers), k)
                    })
                    .collect(),
            ),
            Allocation::Global => ChannelGoal::Total((total as f32 * keep).round() as usize),
        };
        m = prune_channels_to(&m, cfg, &goal)?.0;
        let mut ft = run.finetune;
        if r == run.rounds && run.final_epochs > 0 {
            ft.epochs = run.final_epochs;
        }
        // Each round restarts the batch order so rounds do not repeat one another's batches.
        ft.seed = ft.seed.wrapping_add(r as u64);
        finetune::train_with(
            &mut m,
            train,
            &ft,
            &extras,
            0,
            &mut |_, _| Ok(()),
            &mut |_, _| Ok(()),
        )?;
        let now: usize = channel_spaces(&m)?.iter().map(|s| s.channels).sum();
        let p = CurvePoint {
            round: r,
            sparsity: 1.0 - now as f32 / total.max(1) as f32,
            accuracy: accuracy(&mut m, eval)?,
        };
        progress(&p);
        curve.push(p);
    }
    let after = curve.last().map_or(before, |p| p.accuracy);
    let finals = channel_spaces(&m)?;
    let spaces = original
        .iter()
        .map(|s| {
            let k = finals
                .iter()
                .find(|f| f.producers.first() == s.producers.first())
                .map_or(s.channels, |f| f.channels);
            (s.producers.clone(), s.channels, k)
        })
        .collect();
    let report = StructuredReport {
        spaces,
        params_before: model.param_count(),
        params_after: m.param_count(),
    };
    Ok(StructuredOutcome {
        model: m,
        report,
        accuracy_before: before,
        accuracy_after: after,
        curve,
    })
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
