//! Losses, optimizers, schedules, hooks (mask, fake-quant STE) and determinism.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tinyforge_train::layers::*;
use tinyforge_train::loss::{mse, softmax_cross_entropy};
use tinyforge_train::*;

#[test]
fn softmax_cross_entropy_value_and_gradient() {
    let logits = Tensor::from_vec(&[2, 3], vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0]).unwrap();
    let mut g = Tensor::default();
    let l = softmax_cross_entropy(&logits, &[2, 0], &mut g).unwrap();
    let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
    let s: f64 = e.iter().sum();
    let want = (-(e[2] / s).ln() + 3f64.ln()) / 2.0;
    assert!((l as f64 - want).abs() < 1e-6);
    assert!((g.data[2] as f64 - (e[2] / s - 1.0) / 2.0).abs() < 1e-6);
    assert!((g.data[3] as f64 - (1.0 / 3.0 - 1.0) / 2.0).abs() < 1e-6);
    // finite differences
    for i in 0..6 {
        let mut p = logits.clone();
        p.data[i] += 1e-3;
        let lp = softmax_cross_entropy(&p, &[2, 0], &mut Tensor::default()).unwrap();
        p.data[i] -= 2e-3;
        let lm = softmax_cross_entropy(&p, &[2, 0], &mut Tensor::default()).unwrap();
        assert!(((lp - lm) / 2e-3 - g.data[i]).abs() < 1e-3);
    }
    assert!(softmax_cross_entropy(&logits, &[3, 0], &mut g).is_err());
}

#[test]
fn mse_value_and_gradient() {
    let p = Tensor::from_vec(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let mut g = Tensor::default();
    let l = mse(&p, &[0.0, 2.0, 1.0, 4.0], &mut g).unwrap();
    assert_eq!(l, (1.0 + 4.0) / 4.0);
    assert_eq!(g.data, vec![0.5, 0.0, 1.0, 0.0]);
}

fn one_param_model(w: f32) -> Model {
    let mut r = ChaCha8Rng::seed_from_u64(0);
    let mut m = Model::new(&[1]);
    let mut d = Dense::new(1, 1, false, &mut r);
    d.weight.value[0] = w;
    m.push(Layer::Dense(d)).unwrap();
    m
}

fn set_grad(m: &mut Model, g: f32) {
    m.visit_params(&mut |p| p.grad[0] = g);
}

fn weight(m: &mut Model) -> f32 {
    let mut w = 0.0;
    m.visit_params(&mut |p| w = p.value[0]);
    w
}

#[test]
fn sgd_momentum_matches_hand_computation() {
    let mut m = one_param_model(1.0);
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
    set_grad(&mut m, 0.5);
    opt.apply(&mut m, 0.1); // v = -0.05, w = 0.95
    assert!((weight(&mut m) - 0.95).abs() < 1e-7);
    set_grad(&mut m, 0.5);
    opt.apply(&mut m, 0.1); // v = -0.045 - 0.05 = -0.095, w = 0.855
    assert!((weight(&mut m) - 0.855).abs() < 1e-6);
    // decoupled weight decay: w -= lr·wd·w first
    let mut m = one_param_model(2.0);
    let mut opt = Optimizer::new(OptimizerConfig::Sgd {
        momentum: 0.0,
        weight_decay: 0.1,
    });
    set_grad(&mut m, 0.0);
    opt.apply(&mut m, 0.5);
    assert!((weight(&mut m) - 1.9).abs() < 1e-6);
}

#[test]
fn adam_matches_hand_computation() {
    let mut m = one_param_model(1.0);
    let mut opt = Optimizer::new(OptimizerConfig::adam());
    set_grad(&mut m, 0.2);
    opt.apply(&mut m, 0.01);
    // t=1: m=0.02, v=4e-5, lr_t = 0.01·sqrt(0.001)/0.1; w -= lr_t·m/(sqrt(v)+1e-7)
    let lr_t = 0.01 * (0.001f64).sqrt() / 0.1;
    let want = 1.0 - lr_t * 0.02 / ((4e-5f64).sqrt() + 1e-7);
    assert!(
        (weight(&mut m) as f64 - want).abs() < 1e-6,
        "{} vs {want}",
        weight(&mut m)
    );
    set_grad(&mut m, -0.1);
    opt.apply(&mut m, 0.01);
    let (m1, v1) = (0.9 * 0.02 + 0.1 * -0.1, 0.999 * 4e-5 + 0.001 * 0.01);
    let lr_t2 = 0.01 * (1.0 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.9f64.powi(2));
    let want2 = want - lr_t2 * m1 / (f64::sqrt(v1) + 1e-7);
    assert!((weight(&mut m) as f64 - want2).abs() < 1e-6);
}

#[test]
fn schedules_follow_keras_formulas() {
    let s = Schedule::cosine(2e-3, 100);
    assert_eq!(s.lr(0), 2e-3);
    assert!((s.lr(50) - 1e-3).abs() < 1e-9);
    assert!(s.lr(100).abs() < 1e-9);
    assert!(s.lr(500).abs() < 1e-9);
    let st = Schedule {
        base_lr: 1.0,
        kind: ScheduleKind::Step {
            every: 10,
            gamma: 0.5,
        },
        warmup_steps: 4,
    };
    assert_eq!(st.lr(0), 0.25);
    assert_eq!(st.lr(3), 1.0);
    assert_eq!(st.lr(4 + 9), 1.0);
    assert_eq!(st.lr(4 + 10), 0.5);
    assert_eq!(Schedule::constant(0.3).lr(1000), 0.3);
}

fn small_net(seed: u64) -> Model {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut m = Model::new(&[8, 8, 1]);
    m.push(Layer::Conv2d(Conv2d::new(
        1,
        8,
        (3, 3),
        (2, 2),
        Padding::Same,
        false,
        &mut r,
    )))
    .unwrap();
    m.push(Layer::BatchNorm(
        BatchNorm::new(8).with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::DepthwiseConv2d(DepthwiseConv2d::new(
        8,
        (3, 3),
        (1, 1),
        Padding::Same,
        true,
        &mut r,
    )))
    .unwrap();
    m.push(Layer::Conv2d(
        Conv2d::new(8, 8, (1, 1), (1, 1), Padding::Same, true, &mut r)
            .with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::GlobalAvgPool(GlobalAvgPool::new())).unwrap();
    m.push(Layer::Dense(Dense::new(8, 3, true, &mut r)))
        .unwrap();
    m
}

fn batch(seed: u64, n: usize) -> (Tensor, Vec<u32>) {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let x = Tensor::from_vec(
        &[n, 8, 8, 1],
        (0..n * 64).map(|_| r.gen_range(-1.0..1.0)).collect(),
    )
    .unwrap();
    let y = (0..n).map(|_| r.gen_range(0..3)).collect();
    (x, y)
}

fn train_steps(m: &mut Model, steps: u64) -> Vec<f32> {
    let mut opt = Optimizer::new(OptimizerConfig::adam());
    for s in 0..steps {
        let (x, y) = batch(s, 37);
        m.forward(&x, true).unwrap();
        m.backward_with(|o, g| softmax_cross_entropy(o, &y, g).unwrap());
        opt.apply(m, 1e-2);
    }
    let mut all = Vec::new();
    m.visit_params(&mut |p| all.extend_from_slice(&p.value));
    all
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let a = train_steps(&mut small_net(5), 12);
    let b = train_steps(&mut small_net(5), 12);
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let c = train_steps(&mut small_net(6), 12);
    assert_ne!(a, c);
}

#[test]
fn training_reduces_loss_on_a_learnable_task() {
    let mut m = small_net(1);
    let mut opt = Optimizer::new(OptimizerConfig::adam());
    let mut r = ChaCha8Rng::seed_from_u64(9);
    let mut first = 0.0;
    let mut last = 0.0;
    for s in 0..150 {
        // class = which third of the image is bright
        let n = 32;
        let mut x = vec![0.0f32; n * 64];
        let mut y = vec![0u32; n];
        for i in 0..n {
            let c = r.gen_range(0..3u32);
            y[i] = c;
            for p in 0..64 {
                let col = p % 8;
                let on = (col * 3 / 8) as u32 == c;
                x[i * 64 + p] = if on { 1.0 } else { 0.0 } + r.gen_range(-0.2..0.2);
            }
        }
        let x = Tensor::from_vec(&[n, 8, 8, 1], x).unwrap();
        m.forward(&x, true).unwrap();
        let l = m.backward_with(|o, g| softmax_cross_entropy(o, &y, g).unwrap());
        opt.apply(&mut m, 1e-2);
        if s == 0 {
            first = l;
        }
        last = l;
    }
    assert!(last < 0.2 * first, "loss {first} -> {last}");
}

#[test]
fn masked_weights_stay_exactly_zero() {
    let mut m = small_net(2);
    let mut k = 0;
    m.visit_params(&mut |p| {
        if p.decay {
            let keep = (0..p.len())
                .map(|i| if (i + k) % 3 == 0 { 0.0 } else { 1.0 })
                .collect();
            p.mask = Some(Mask { keep });
            k += 1;
        }
    });
    let mut opt = Optimizer::new(OptimizerConfig::Adam {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
        weight_decay: 0.01,
    });
    for s in 0..5 {
        let (x, y) = batch(s, 16);
        m.forward(&x, true).unwrap();
        m.backward_with(|o, g| softmax_cross_entropy(o, &y, g).unwrap());
        m.visit_params(&mut |p| {
            if let Some(mask) = &p.mask {
                for (g, k) in p.grad.iter().zip(&mask.keep) {
                    if *k == 0.0 {
                        assert_eq!(*g, 0.0);
                    }
                }
            }
        });
        opt.apply(&mut m, 1e-2);
    }
    let mut checked = 0;
    m.visit_params(&mut |p| {
        if let Some(mask) = &p.mask {
            for (v, k) in p.value.iter().zip(&mask.keep) {
                if *k == 0.0 {
                    assert_eq!(v.to_bits(), 0);
                    checked += 1;
                } else {
                    assert_ne!(*v, 0.0);
                }
            }
        }
    });
    assert!(checked > 50);
}

#[test]
fn weight_fake_quant_snaps_to_per_channel_grid() {
    let mut p = Param::new(
        "kernel",
        &[2, 3],
        vec![0.5, -1.0, 0.26, 2.0, 0.1, -0.7],
        ChannelAxis::Outer,
        true,
    );
    p.fake_quant = Some(WeightFakeQuant { bits: 2 });
    p.prepare();
    // int2: qmax 1 → values in {-s, 0, s}, s = max|w_c|
    assert_eq!(p.w(), &[1.0, -1.0, 0.0, 2.0, 0.0, 0.0]);
    p.fake_quant = Some(WeightFakeQuant { bits: 8 });
    p.prepare();
    let s0 = 1.0 / 127.0;
    assert!((p.w()[2] - (0.26f32 / s0).round() * s0).abs() < 1e-7);
    // the latent float values are untouched
    assert_eq!(p.value[2], 0.26);
    // depthwise: channel axis last
    let mut d = Param::new(
        "kernel",
        &[1, 1, 2, 2],
        vec![1.0, 0.1, -0.5, 0.2],
        ChannelAxis::Inner,
        true,
    );
    d.fake_quant = Some(WeightFakeQuant { bits: 2 });
    d.prepare();
    assert_eq!(d.w(), &[1.0, 0.2, -1.0, 0.2]); // 0.1/0.2 = 0.5 rounds away from 0
}

#[test]
fn activation_fake_quant_ste_passes_inside_and_blocks_outside() {
    let mut q = ActFakeQuant::new(8, 0.0);
    // range [0, 2.55]: scale 0.01, zero point 0, no nudging
    let mut x = vec![0.0, 0.5, 1.004, 2.55];
    q.forward(&mut x, true);
    let (s, zp) = q.scale_zero_point();
    assert!((s - 0.01).abs() < 1e-7);
    assert_eq!(zp, 0);
    assert!((x[2] - 1.0).abs() < 1e-6);
    let mut g = vec![1.0; 4];
    q.backward(&mut g);
    assert_eq!(g, vec![1.0; 4]);
    // momentum 1.0 freezes the range; -2.0 and 5.0 are now outside and get clamped
    q.momentum = 1.0;
    let mut x = vec![-2.0, 1.0, 5.0, 2.5];
    q.forward(&mut x, true);
    assert_eq!(x[0], 0.0);
    assert!((x[2] - 2.55).abs() < 1e-5);
    let mut g = vec![1.0; 4];
    q.backward(&mut g);
    assert_eq!(g, vec![0.0, 1.0, 0.0, 1.0]);
    // asymmetric ranges nudge the zero point so that 0.0 is exact
    let mut q = ActFakeQuant::new(8, 0.0);
    let mut x = vec![-1.0, 0.0, 3.0];
    q.forward(&mut x, true);
    assert_eq!(q.scale_zero_point().1, 64);
    assert_eq!(x[1], 0.0);
}

#[test]
fn act_quant_on_a_node_blocks_gradients_in_the_model() {
    let mut m = small_net(3);
    let last = m.last();
    let mut q = ActFakeQuant::new(8, 1.0);
    q.min = -0.01;
    q.max = 0.01;
    q.initialized = true;
    m.nodes[last - 1].act_quant = Some(q); // GAP output clipped to ±0.01
    let (x, y) = batch(0, 8);
    m.forward(&x, true).unwrap();
    m.backward_with(|o, g| softmax_cross_entropy(o, &y, g).unwrap());
    // almost every pooled activation is outside ±0.01, so the first conv sees ~no gradient
    let mut first = None;
    m.visit_params(&mut |p| {
        if first.is_none() {
            first = Some(p.grad.iter().map(|g| g.abs()).sum::<f32>());
        }
    });
    let mut m2 = small_net(3);
    m2.forward(&x, true).unwrap();
    m2.backward_with(|o, g| softmax_cross_entropy(o, &y, g).unwrap());
    let mut first2 = None;
    m2.visit_params(&mut |p| {
        if first2.is_none() {
            first2 = Some(p.grad.iter().map(|g| g.abs()).sum::<f32>());
        }
    });
    assert!(first.unwrap() < 0.2 * first2.unwrap());
}
