//! Trainer, evaluation, model descriptions and checkpoints.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tinyforge_data::{Augment, Dataset};
use tinyforge_train::spec::{self, ModelSpec};
use tinyforge_train::*;

/// 12×12 images whose class is the quadrant holding a bright blob.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut x = vec![0.0f32; n * 144];
    let mut y = vec![0u32; n];
    for i in 0..n {
        let c = r.gen_range(0..4u32);
        y[i] = c;
        let (oy, ox) = ((c / 2) as usize * 6, (c % 2) as usize * 6);
        for p in 0..144 {
            x[i * 144 + p] = r.gen_range(0.0..0.3);
        }
        for dy in 1..5 {
            for dx in 1..5 {
                x[i * 144 + (oy + dy) * 12 + ox + dx] += 0.8;
            }
        }
    }
    Dataset::classification(x, vec![12, 12, 1], y, 4).unwrap()
}

fn net() -> ModelSpec {
    ModelSpec::from_toml(
        r#"
input = [12, 12, 1]
[[layer]]
type = "conv2d"
filters = 8
kernel = 3
stride = 2
batch_norm = true
activation = "relu"
[[layer]]
type = "ds_block"
filters = 8
[[layer]]
type = "dropout"
rate = 0.1
[[layer]]
type = "global_avg_pool"
[[layer]]
type = "dense"
units = 4
"#,
    )
    .unwrap()
}

fn bits(m: &mut Model) -> Vec<u32> {
    let mut v = Vec::new();
    m.visit_params(&mut |p| v.extend(p.value.iter().map(|x| x.to_bits())));
    m.visit_state(&mut |_, s| v.extend(s.iter().map(|x| x.to_bits())));
    v
}

fn config(epochs: usize) -> TrainConfig {
    let mut c = TrainConfig::new(epochs, 16, 1e-2);
    c.seed = 3;
    c.augment = Augment {
        shift: 1,
        noise_std: 0.0,
    };
    c
}

#[test]
fn fit_learns_and_evaluate_reports_confusion() {
    // enough steps for BN's running statistics (momentum 0.99) to settle for evaluation
    let (train, val) = (blobs(512, 1), blobs(64, 2));
    let mut m = net().build(0).unwrap();
    let mut t = Trainer::new(config(8));
    let mut seen = Vec::new();
    t.fit(&mut m, &train, Some(&val), |s, _, _| {
        seen.push(s.epoch);
        Control::Continue
    })
    .unwrap();
    assert_eq!(seen, (0..8).collect::<Vec<_>>());
    let e = evaluate(&mut m, &val, 32, LossKind::CrossEntropy).unwrap();
    assert!(e.accuracy.unwrap() > 0.9, "{e:?} {:?}", t.history);
    assert_eq!(e.confusion.iter().flatten().sum::<u32>(), 64);
    let diag: u32 = (0..4).map(|i| e.confusion[i][i]).sum();
    assert_eq!(diag as f32 / 64.0, e.accuracy.unwrap());
    assert!(t.history.last().unwrap().train_loss < t.history[0].train_loss);
}

#[test]
fn resumed_run_is_bit_identical_to_uninterrupted_run() {
    let train = blobs(100, 4);
    let mut a = net().build(7).unwrap();
    Trainer::new(config(4))
        .fit(&mut a, &train, None, |_, _, _| Control::Continue)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let mut b = net().build(7).unwrap();
    let mut t = Trainer::new(config(4));
    t.fit(&mut b, &train, None, |s, m, tr| {
        if s.epoch == 1 {
            checkpoint::save(&path, &mut m.clone(), Some(tr)).unwrap();
            Control::Stop
        } else {
            Control::Continue
        }
    })
    .unwrap();
    // fresh process state: new model (different init), restored from the file
    let mut c = net().build(99).unwrap();
    let mut t2 = checkpoint::load(&path, &mut c)
        .unwrap()
        .expect("trainer state");
    assert_eq!(t2.epoch, 2);
    assert_eq!(t2.history.len(), 2);
    t2.fit(&mut c, &train, None, |_, _, _| Control::Continue)
        .unwrap();
    assert_eq!(t2.epoch, 4);
    assert_eq!(bits(&mut a), bits(&mut c));
}

#[test]
fn checkpoint_rejects_a_different_architecture() {
    let mut m = net().build(0).unwrap();
    let bytes = checkpoint::to_bytes(&mut m, None).unwrap();
    let mut other = spec::mnist_dscnn().build(0).unwrap();
    assert!(checkpoint::from_bytes(&bytes, &mut other).is_err());
    assert!(checkpoint::from_bytes(b"garbage", &mut m).is_err());
    let mut same = net().build(5).unwrap();
    assert!(checkpoint::from_bytes(&bytes, &mut same).unwrap().is_none());
    assert_eq!(bits(&mut same), bits(&mut m));
}

#[test]
fn early_stopping_stops_when_the_metric_stalls() {
    let (train, val) = (blobs(64, 1), blobs(32, 2));
    let mut m = net().build(0).unwrap();
    let mut c = config(50);
    // an unreachable min_delta: no epoch after the first counts as an improvement
    c.early_stopping = Some(EarlyStopping {
        monitor: Monitor::ValLoss,
        patience: 2,
        min_delta: 100.0,
        restore_best: true,
    });
    let mut t = Trainer::new(c);
    t.fit(&mut m, &train, Some(&val), |_, _, _| Control::Continue)
        .unwrap();
    assert_eq!(t.epoch, 3);
}

#[test]
fn mismatched_data_is_an_error_not_a_panic() {
    let mut m = net().build(0).unwrap();
    let bad = Dataset::classification(vec![0.0; 2 * 64], vec![8, 8, 1], vec![0, 1], 2).unwrap();
    assert!(Trainer::new(config(1))
        .fit(&mut m, &bad, None, |_, _, _| Control::Continue)
        .is_err());
    assert!(evaluate(&mut m, &bad, 8, LossKind::CrossEntropy).is_err());
}

#[test]
fn mnist_dscnn_has_keras_parameter_count() {
    assert_eq!(spec::mnist_dscnn().build(0).unwrap().param_count(), 9_610);
    assert_eq!(spec::kws_dscnn().build(0).unwrap().param_count(), 24_908);
    // tiny bench net: 160 + 160 + 544 + 330
    assert_eq!(spec::tiny_bench().build(0).unwrap().param_count(), 1_194);
}

#[test]
fn reference_builders_build_with_expected_shapes() {
    let r = spec::resnet8().build(0).unwrap();
    assert_eq!(r.output_shape(), &[10]);
    assert!(r.nodes.iter().any(|n| matches!(n.op, Op::Add { .. })));
    let mb = spec::mobilenet_v1([96, 96, 3], 0.25, 2).build(0).unwrap();
    assert_eq!(mb.output_shape(), &[2]);
    let ae = spec::autoencoder(640, 128, 8).build(0).unwrap();
    assert_eq!(ae.output_shape(), &[640]);
    // inverted residual with and without the skip connection
    let s = ModelSpec::from_toml(
        "input = [8, 8, 4]\n[[layer]]\ntype = \"inverted_residual\"\nfilters = 4\n\
         [[layer]]\ntype = \"inverted_residual\"\nfilters = 8\nstride = 2\nexpansion = 1",
    )
    .unwrap();
    let m = s.build(0).unwrap();
    assert_eq!(m.output_shape(), &[4, 4, 8]);
    assert_eq!(
        m.nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Add { .. }))
            .count(),
        1
    );
    // TOML round trip
    let t = spec::kws_dscnn().to_toml().unwrap();
    assert_eq!(ModelSpec::from_toml(&t).unwrap(), spec::kws_dscnn());
    assert!(ModelSpec::from_toml("input = [4]\n[[layer]]\ntype = \"nope\"").is_err());
    assert!(ModelSpec::from_toml("input = [4, 4, 1]\n[[layer]]\ntype = \"dense\"\nunits = 2\n[[layer]]\ntype = \"conv2d\"\nfilters = 2\nkernel = 3")
        .unwrap()
        .build(0)
        .is_err());
}

#[test]
fn autoencoder_trains_with_mse() {
    let mut r = ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..128 * 16).map(|_| r.gen_range(-1.0..1.0)).collect();
    let ds = Dataset::classification(x, vec![16], vec![0; 128], 1)
        .unwrap()
        .into_autoencoder();
    let mut m = spec::autoencoder(16, 32, 8).build(0).unwrap();
    let mut c = TrainConfig::new(5, 32, 1e-2);
    c.loss = LossKind::Mse;
    let mut t = Trainer::new(c);
    t.fit(&mut m, &ds, None, |_, _, _| Control::Continue)
        .unwrap();
    assert!(t.history[4].train_loss < t.history[0].train_loss);
}
