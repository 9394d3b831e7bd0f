//! Behaviour tests of the pruning driver and structured pruning on tiny synthetic problems.

use rand::{Rng, SeedableRng};
use tinyforge_data::Dataset;
use tinyforge_train::layers::*;
use tinyforge_train::{Model, Tensor};

use super::*;

/// Four classes of 6×6×2 images: class c lights quadrant c (plus noise).
fn quadrants(n: usize, seed: u64) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * 72);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i % 4) as u32;
        for h in 0..6 {
            for w in 0..6 {
                let q = (h / 3) * 2 + w / 3;
                for _ in 0..2 {
                    let base = if q == c as usize { 1.0 } else { 0.0 };
                    x.push(base + rng.gen_range(-0.3..0.3));
                }
            }
        }
        y.push(c);
    }
    Dataset::classification(x, vec![6, 6, 2], y, 4).unwrap()
}

/// conv → BN → depthwise → BN → pointwise → residual add with the first conv → GAP → dense.
fn ds_residual_model() -> Model {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut m = Model::new(&[6, 6, 2]);
    let a = m
        .push(Layer::Conv2d(Conv2d::new(
            2,
            16,
            (3, 3),
            (1, 1),
            Padding::Same,
            false,
            &mut rng,
        )))
        .unwrap();
    let a = m
        .add(
            Layer::BatchNorm(BatchNorm::new(16).with_activation(Activation::Relu)),
            a,
        )
        .unwrap();
    m.push(Layer::DepthwiseConv2d(DepthwiseConv2d::new(
        16,
        (3, 3),
        (1, 1),
        Padding::Same,
        false,
        &mut rng,
    )))
    .unwrap();
    m.push(Layer::BatchNorm(
        BatchNorm::new(16).with_activation(Activation::Relu),
    ))
    .unwrap();
    let b = m
        .push(Layer::Conv2d(Conv2d::new(
            16,
            16,
            (1, 1),
            (1, 1),
            Padding::Same,
            true,
            &mut rng,
        )))
        .unwrap();
    m.add_sum(&[a, b], Activation::Relu).unwrap();
    m.push(Layer::Conv2d(
        Conv2d::new(16, 24, (1, 1), (1, 1), Padding::Same, true, &mut rng)
            .with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::GlobalAvgPool(GlobalAvgPool::new())).unwrap();
    m.push(Layer::Dense(Dense::new(24, 4, true, &mut rng)))
        .unwrap();
    m
}

fn quick_cfg(stop: StopRule) -> PruneConfig {
    let mut cfg = PruneConfig::new(stop);
    cfg.mask.min_weights = 0;
    cfg.finetune = FineTune {
        epochs: 4,
        batch_size: 16,
        lr: 1e-2,
        seed: 0,
        augment_shift: 0,
    };
    cfg
}

fn trained() -> (Model, Dataset, Dataset) {
    let train = quadrants(256, 1);
    let test = quadrants(128, 2);
    let mut m = ds_residual_model();
    let ft = FineTune {
        epochs: 15,
        batch_size: 16,
        lr: 1e-2,
        seed: 0,
        augment_shift: 0,
    };
    finetune::train(&mut m, &train, &ft, 0, &mut |_, _| Ok(()), &mut |_, _| {
        Ok(())
    })
    .unwrap();
    (m, train, test)
}

#[test]
fn target_sparsity_run_reaches_the_target_and_keeps_accuracy() {
    let (m, train, test) = trained();
    let before = accuracy(&mut m.clone(), &test).unwrap();
    assert!(before > 0.9, "baseline accuracy {before}");
    let out = prune(
        &m,
        &train,
        &test,
        &quick_cfg(StopRule::Sparsity(0.7)),
        &mut |_| {},
    )
    .unwrap();
    assert!((out.sparsity() - 0.7).abs() < 0.01, "{}", out.sparsity());
    assert!(out.accuracy_after > 0.85, "{}", out.accuracy_after);
    assert_eq!(out.curve.first().unwrap().accuracy, before);
    assert_eq!(out.curve.last().unwrap().accuracy, out.accuracy_after);
}

#[test]
fn accuracy_floor_returns_the_sparsest_model_meeting_it() {
    let (m, train, test) = trained();
    let floor = 0.9;
    let mut cfg = quick_cfg(StopRule::MinAccuracy(floor));
    cfg.finetune.epochs = 1;
    cfg.levels = vec![0.5, 0.8, 0.95, 0.99];
    let out = prune(&m, &train, &test, &cfg, &mut |_| {}).unwrap();
    assert_eq!(out.floor_met, Some(true));
    // The returned model meets the floor on the evaluation split, re-measured independently.
    let mut got = out.model.clone();
    let acc = accuracy(&mut got, &test).unwrap();
    assert!(acc >= floor, "{acc}");
    assert_eq!(acc, out.accuracy_after);
    // No sparser model seen during the run met the floor.
    for p in &out.curve {
        if p.sparsity > out.sparsity() + 1e-4 {
            assert!(p.accuracy < floor, "{p:?} met the floor but is sparser");
        }
    }
    // The last level (99 %) is too sparse for this net, so the run stopped at a failure.
    assert!(out.sparsity() < 0.99);
    // A floor nobody meets returns the model unpruned and says so.
    let out = prune(
        &m,
        &train,
        &test,
        &quick_cfg(StopRule::MinAccuracy(1.0)),
        &mut |_| {},
    );
    let out = out.unwrap();
    if out.accuracy_before < 1.0 {
        assert_eq!(out.floor_met, Some(false));
        assert_eq!(out.sparsity(), 0.0);
    }
}

#[test]
fn structured_pruning_halves_channels_and_keeps_the_graph_valid() {
    let (m, _, test) = trained();
    let (mut small, report) = prune_channels(&m, &StructuredConfig::default()).unwrap();
    // Conv 0 and the pointwise conv are tied by the residual add: one space, pruned together.
    let tied = report
        .spaces
        .iter()
        .find(|(names, _, _)| names.len() == 2)
        .expect("residual space");
    assert_eq!((tied.1, tied.2), (16, 8));
    assert!(report.spaces.iter().any(|(_, b, a)| (*b, *a) == (24, 12)));
    assert!(report.params_after < report.params_before / 2 + 100);
    // Shapes: depthwise follows its input, the add's inputs agree, the output is unchanged.
    let x = Tensor::from_vec(&[128, 6, 6, 2], test.features.clone()).unwrap();
    let y = small.forward(&x, false).unwrap();
    assert_eq!(y.shape, vec![128, 4]);
    for n in &small.nodes {
        if let tinyforge_train::Op::Layer(Layer::DepthwiseConv2d(d)) = &n.op {
            assert_eq!(d.channels, 8);
        }
    }
    // Removing the weakest channels of a trained net keeps it well above chance.
    let acc = accuracy(&mut small, &test).unwrap();
    assert!(acc > 0.5, "{acc}");
}

#[test]
fn structured_pruning_keeps_function_when_removed_channels_are_dead() {
    // Zero half the filters of a conv feeding a dense layer through flatten: removing exactly
    // those channels must not change the output.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut m = Model::new(&[4, 4, 3]);
    m.push(Layer::Conv2d(
        Conv2d::new(3, 8, (3, 3), (1, 1), Padding::Same, true, &mut rng)
            .with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::Flatten(Flatten::default())).unwrap();
    m.push(Layer::Dense(Dense::new(128, 5, true, &mut rng)))
        .unwrap();
    if let tinyforge_train::Op::Layer(Layer::Conv2d(c)) = &mut m.nodes[1].op {
        for o in [1, 3, 4, 6] {
            c.weight.value[o * 27..(o + 1) * 27].fill(0.0);
        }
    }
    let x = Tensor::from_vec(
        &[2, 4, 4, 3],
        (0..96).map(|v| (v as f32 * 0.37).sin()).collect(),
    )
    .unwrap();
    let want = m.forward(&x, false).unwrap().clone();
    let cfg = StructuredConfig {
        ratio: 0.5,
        norm: ChannelNorm::L2,
        min_channels: 1,
        allocation: Allocation::Uniform,
    };
    let (mut small, _) = prune_channels(&m, &cfg).unwrap();
    let got = small.forward(&x, false).unwrap();
    for (a, b) in got.data.iter().zip(&want.data) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert!(prune_channels(&m, &StructuredConfig { ratio: 1.0, ..cfg }).is_err());
}

#[test]
fn global_allocation_removes_the_overall_fraction_with_floors() {
    let (m, _, _) = trained();
    let spaces = channel_spaces(&m).unwrap();
    // Residual space (conv 0 + pointwise) and the 24-channel conv; the dense output is fixed.
    assert_eq!(
        spaces.iter().map(|s| s.channels).collect::<Vec<_>>(),
        vec![16, 24]
    );
    let cfg = StructuredConfig {
        allocation: Allocation::Global,
        min_channels: 6,
        ratio: 0.5,
        ..Default::default()
    };
    let (small, report) = prune_channels(&m, &cfg).unwrap();
    let after = channel_spaces(&small).unwrap();
    assert_eq!(after.iter().map(|s| s.channels).sum::<usize>(), 20);
    assert!(after.iter().all(|s| s.channels >= 6), "{after:?}");
    assert_eq!(
        report.spaces.iter().map(|s| s.1 - s.2).sum::<usize>(),
        20,
        "{report:?}"
    );
    // A goal per space is met exactly (clamped to the floor).
    let goal = ChannelGoal::PerSpace(
        [
            (spaces[0].producers[0].clone(), 2),
            (spaces[1].producers[0].clone(), 10),
        ]
        .into_iter()
        .collect(),
    );
    let (small, _) = prune_channels_to(&m, &cfg, &goal).unwrap();
    let after = channel_spaces(&small).unwrap();
    assert_eq!(
        after.iter().map(|s| s.channels).collect::<Vec<_>>(),
        vec![6, 10]
    );
}

#[test]
fn gradual_structured_run_removes_channels_in_rounds_and_recovers() {
    let (m, train, test) = trained();
    let mut run = StructuredRun::new(StructuredConfig::default());
    run.rounds = 2;
    run.finetune = FineTune {
        epochs: 2,
        batch_size: 16,
        lr: 5e-3,
        seed: 0,
        augment_shift: 0,
    };
    run.final_epochs = 3;
    run.distill = Some(Distill::default());
    let mut seen = Vec::new();
    let out = prune_structured(&m, &train, &test, &run, &mut |p| seen.push(*p)).unwrap();
    assert_eq!(seen, out.curve);
    let removed: Vec<f32> = out.curve.iter().map(|p| p.sparsity).collect();
    assert_eq!(removed.len(), 3);
    assert!(
        removed[0] == 0.0 && removed[1] > 0.2 && (removed[2] - 0.5).abs() < 0.01,
        "{removed:?}"
    );
    let counts: Vec<(usize, usize)> = out.report.spaces.iter().map(|s| (s.1, s.2)).collect();
    assert_eq!(counts, vec![(16, 8), (24, 12)]);
    assert!(out.accuracy_after > 0.85, "{}", out.accuracy_after);
    let mut got = out.model.clone();
    assert_eq!(accuracy(&mut got, &test).unwrap(), out.accuracy_after);
}

#[test]
fn distilled_target_run_with_every_layer_pruned() {
    let (m, train, test) = trained();
    let mut cfg = quick_cfg(StopRule::Sparsity(0.6));
    cfg.mask.include_depthwise = true;
    cfg.distill = Some(Distill::default());
    cfg.lr_schedule = LrSchedule::WarmRestarts { cycles: 2 };
    let out = prune(&m, &train, &test, &cfg, &mut |_| {}).unwrap();
    assert!((out.sparsity() - 0.6).abs() < 0.01, "{}", out.sparsity());
    // The depthwise kernel is among the pruned layers, and the model still classifies far
    // above chance (0.25) with 60 % of a 2-channel-input net gone.
    assert_eq!(out.report.layers.len(), 5);
    assert!(out.accuracy_after > 0.6, "{}", out.accuracy_after);
}

#[test]
fn sensitivity_scope_spreads_the_target_over_layers() {
    let (m, train, test) = trained();
    let mut cfg = quick_cfg(StopRule::Sparsity(0.7));
    cfg.mask.scope = Scope::Sensitivity;
    cfg.finetune.epochs = 2;
    let out = prune(&m, &train, &test, &cfg, &mut |_| {}).unwrap();
    assert!((out.sparsity() - 0.7).abs() < 0.01, "{}", out.sparsity());
    let per: Vec<f32> = out
        .report
        .layers
        .iter()
        .map(|l| l.zeros as f32 / l.weights as f32)
        .collect();
    assert!(
        per.iter().any(|&s| (s - 0.7).abs() > 0.02),
        "sensitivity chose the uniform split {per:?}"
    );
    // Without data the mask module refuses the scope rather than guessing.
    let mut m2 = m.clone();
    assert!(matches!(
        set_masks(&mut m2, 0.5, &cfg.mask),
        Err(PruneError::Config(_))
    ));
}
