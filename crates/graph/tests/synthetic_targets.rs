//! Planner targets on hand-built replicas of the reference models' topologies (same shapes and
//! op order as the `.tflite` files, synthetic weights), so the memory bars are checked without
//! the `.tflite` reader. `tests/models.rs` checks the real files.
use tinyforge_graph::build::GraphBuilder;
use tinyforge_graph::{layerwise_floor, plan_default, validate, Activation, Graph, Op, Padding};

const RELU: Activation = Activation::Relu;

/// MLPerf Tiny KWS DS-CNN: 49×10×1 → conv 10×4/2 (64) → 4 × (dw 3×3, pw 1×1) → pool → fc 12.
fn kws() -> Graph {
    let mut b = GraphBuilder::new("kws");
    let x = b.input("input", &[1, 49, 10, 1]);
    let mut t = b.conv2d(x, 64, (10, 4), 2, Padding::Same, RELU).unwrap();
    for _ in 0..4 {
        t = b.depthwise(t, (3, 3), 1, Padding::Same, RELU).unwrap();
        t = b.conv2d(t, 64, (1, 1), 1, Padding::Same, RELU).unwrap();
    }
    let p = b.avg_pool(t, (25, 5), 1, Padding::Valid).unwrap();
    let r = b.reshape(p, &[1, 64]).unwrap();
    let f = b.fully_connected(r, 12, Activation::None).unwrap();
    let s = b.unary(Op::Softmax { beta: 1.0 }, f).unwrap();
    b.finish(&[s])
}

/// MLPerf Tiny IC ResNet-8 on 32×32×3 (three residual stages: 16, 32, 64 channels).
fn resnet8() -> Graph {
    let mut b = GraphBuilder::new("resnet8");
    let x = b.input("input", &[1, 32, 32, 3]);
    let a = b.conv2d(x, 16, (3, 3), 1, Padding::Same, RELU).unwrap();
    let m = b.conv2d(a, 16, (3, 3), 1, Padding::Same, RELU).unwrap();
    let c = b
        .conv2d(m, 16, (3, 3), 1, Padding::Same, Activation::None)
        .unwrap();
    let mut s = b.add(a, c, RELU).unwrap();
    for ch in [32, 64] {
        let m = b.conv2d(s, ch, (3, 3), 2, Padding::Same, RELU).unwrap();
        let c = b
            .conv2d(m, ch, (3, 3), 1, Padding::Same, Activation::None)
            .unwrap();
        let sc = b
            .conv2d(s, ch, (1, 1), 2, Padding::Same, Activation::None)
            .unwrap();
        s = b.add(sc, c, RELU).unwrap();
    }
    let p = b.avg_pool(s, (8, 8), 8, Padding::Valid).unwrap();
    let r = b.reshape(p, &[1, 64]).unwrap();
    let f = b.fully_connected(r, 10, Activation::None).unwrap();
    let o = b.unary(Op::Softmax { beta: 1.0 }, f).unwrap();
    b.finish(&[o])
}

/// MLPerf Tiny AD autoencoder: 640 → 4 × 128 → 8 → 4 × 128 → 640, all fully connected.
fn ad01() -> Graph {
    let mut b = GraphBuilder::new("ad01");
    let mut t = b.input("input", &[1, 640]);
    for units in [128, 128, 128, 128, 8, 128, 128, 128, 128, 640] {
        t = b.fully_connected(t, units, RELU).unwrap();
    }
    b.finish(&[t])
}

fn check(g: &Graph, tflm: usize, expect_floor: usize) -> usize {
    validate(g).unwrap();
    let p = plan_default(g).unwrap();
    let floor = layerwise_floor(g) as usize;
    println!(
        "{:10} peak {:>6} B  floor {floor:>6} B  TFLM {tflm:>6} B  ratio {:.3}",
        g.name,
        p.arena_bytes,
        p.arena_bytes as f64 / tflm as f64
    );
    assert_eq!(floor, expect_floor);
    assert!(
        p.arena_bytes * 4 <= tflm * 3,
        "{}: {} B",
        g.name,
        p.arena_bytes
    );
    p.arena_bytes
}

#[test]
fn kws_under_three_quarters_of_tflm() {
    assert_eq!(check(&kws(), 24_285, 16_000), 16_000);
}

#[test]
fn resnet8_fusion_beats_the_layerwise_floor() {
    let g = resnet8();
    let peak = check(&g, 55_993, 49_152);
    assert_eq!(peak, 32_768);
    assert_eq!(plan_default(&g).unwrap().fused.len(), 3);
}

#[test]
fn ad01_under_three_quarters_of_tflm() {
    assert_eq!(check(&ad01(), 4_639, 768), 768);
}
