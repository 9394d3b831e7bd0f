//! The generated C library (portable path, built for the host) against the Rust host runtime on
//! hand-built graphs: every op the code generator emits, asymmetric quantization, borders,
//! channel tails, and the memory planner's in-place layouts (fused conv + add included).
mod common;
use common::{concat_graph, float_io_graph, pad_graph, pseudo_random};
use tinyforge_deploy::{emit_c, host_run, SequentialLayout};
use tinyforge_graph::build::GraphBuilder;
use tinyforge_graph::{plan_default, Activation, Graph, Op, Padding, Quant};

fn runtime(g: &Graph, input: &[u8]) -> Vec<u8> {
    let mut rt = tinyforge_runtime::Runtime::new(g.clone()).unwrap();
    let n = rt.input_bytes(0);
    input
        .chunks(n)
        .flat_map(|s| {
            rt.invoke(&[s]).unwrap();
            rt.output(0).to_vec()
        })
        .collect()
}

/// Plans `g`, emits it, runs the host build on `input` and asserts the runtime's outputs;
/// returns them and the emitted library's folder.
fn planned_host_matches_runtime(g: &Graph, input: &[u8]) -> (Vec<u8>, tempfile::TempDir) {
    let want = runtime(g, input);
    let p = plan_default(g).unwrap();
    let dir = tempfile::tempdir().unwrap();
    emit_c(&p.graph, &p, dir.path()).unwrap();
    assert_eq!(host_run(dir.path(), &[input]).unwrap()[0], want);
    (want, dir)
}

/// A residual network in miniature: the planner fuses its 1×1 conv with the ADD.
fn residual(channels: usize, zp: i64) -> Graph {
    let mut b = GraphBuilder::new("residual");
    let x = b.input("x", &[1, 7, 6, 3]);
    let c1 = b
        .conv2d(x, channels, (3, 3), 1, Padding::Same, Activation::Relu)
        .unwrap();
    let c2 = b
        .conv2d(c1, channels, (3, 3), 1, Padding::Same, Activation::None)
        .unwrap();
    let s = b
        .conv2d(c1, channels, (1, 1), 1, Padding::Valid, Activation::None)
        .unwrap();
    let a = b.add(c2, s, Activation::Relu).unwrap();
    let d = b
        .depthwise(a, (3, 3), 2, Padding::Same, Activation::Relu6)
        .unwrap();
    let m = b.avg_pool(d, (4, 3), 1, Padding::Valid).unwrap(); // global
    let flat = b.reshape(m, &[1, channels]).unwrap();
    let fc = b.fully_connected(flat, 4, Activation::None).unwrap();
    let sm = b.unary(Op::Softmax { beta: 1.0 }, fc).unwrap();
    let mut g = b.finish(&[sm]);
    g.tensors[x].quant = Some(Quant::per_tensor(0.02, zp));
    g.tensors[c1].quant = Some(Quant::per_tensor(0.04, -128));
    g.tensors[c2].quant = Some(Quant::per_tensor(0.06, 5));
    g.tensors[s].quant = Some(Quant::per_tensor(0.03, -7));
    g.tensors[a].quant = Some(Quant::per_tensor(0.05, -128));
    g.tensors[fc].quant = Some(Quant::per_tensor(0.3, 2));
    g.tensors[sm].quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    g
}

#[test]
fn generated_c_matches_the_runtime_with_planned_layouts() {
    for (channels, zp) in [(8, -5), (6, 17), (5, 0)] {
        let g = residual(channels, zp);
        let input = pseudo_random(7 * 6 * 3 * 3, channels as u32);
        let want = runtime(&g, &input);
        let p = plan_default(&g).unwrap();
        assert!(
            p.graph
                .nodes
                .iter()
                .any(|n| matches!(n.op, Op::Conv2dAdd { .. })),
            "the planner fuses conv + add"
        );
        let dir = tempfile::tempdir().unwrap();
        emit_c(&p.graph, &p, dir.path()).unwrap();
        assert_eq!(
            host_run(dir.path(), &[&input]).unwrap()[0],
            want,
            "planned, {channels} ch"
        );
        let dir = tempfile::tempdir().unwrap();
        emit_c(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
        assert_eq!(
            host_run(dir.path(), &[&input]).unwrap()[0],
            want,
            "unfused, {channels} ch"
        );
    }
}

#[test]
fn element_wise_tables_match_the_runtime() {
    let mut b = GraphBuilder::new("activations");
    let x = b.input("x", &[1, 4, 4, 8]);
    let c = b
        .conv2d(x, 8, (1, 1), 1, Padding::Valid, Activation::None)
        .unwrap();
    let r = b.unary(Op::Relu, c).unwrap();
    let r6 = b.unary(Op::Relu6, r).unwrap();
    let t = b.unary(Op::Tanh, r6).unwrap();
    let s = b.unary(Op::Logistic, t).unwrap();
    let mut g = b.finish(&[s]);
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 3));
    g.tensors[c].quant = Some(Quant::per_tensor(0.08, -10));
    g.tensors[r].quant = Some(Quant::per_tensor(0.05, -128));
    g.tensors[r6].quant = Some(Quant::per_tensor(0.05, -128));
    g.tensors[t].quant = Some(Quant::per_tensor(1.0 / 128.0, 0));
    g.tensors[s].quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    let input = pseudo_random(4 * 4 * 8 * 5, 99);
    planned_host_matches_runtime(&g, &input);
}

#[test]
fn deploy_plans_for_each_target() {
    use tinyforge_deploy::{deploy, CodeTarget, Emitted};
    let g = residual(8, -5);
    let dir = tempfile::tempdir().unwrap();
    let d = deploy(&g, &CodeTarget::C, &dir.path().join("c")).unwrap();
    let Emitted::C(lib) = &d.emitted else {
        panic!("C target emits C")
    };
    assert_eq!(lib.arena_bytes, d.plan.arena_bytes);
    assert!(lib.layers.iter().any(|l| l.op == "CONV_2D+ADD"));
    let kernels = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernels");
    let r = deploy(&g, &CodeTarget::Rust { kernels }, &dir.path().join("rs")).unwrap();
    assert!(matches!(r.emitted, Emitted::Rust(_)));
    assert!(
        r.plan.arena_bytes >= d.plan.arena_bytes,
        "no in-place sharing for Rust"
    );
    let a = deploy(&g, &CodeTarget::Arduino, &dir.path().join("ino")).unwrap();
    assert!(matches!(a.emitted, Emitted::C(_)));
    assert!(dir.path().join("ino/library.properties").is_file());
}

#[test]
fn mean_over_height_and_width_matches_the_runtime() {
    use tinyforge_graph::build::{act_i8, const_i32};
    use tinyforge_graph::Node;
    let mut b = GraphBuilder::new("gap");
    let x = b.input("x", &[1, 5, 7, 6]);
    let c = b
        .conv2d(x, 6, (3, 3), 1, Padding::Same, Activation::Relu)
        .unwrap();
    let mut g = b.finish(&[]);
    let axes = g.add_tensor(const_i32("axes", &[2], &[1, 2]));
    let mut out = act_i8("mean", &[1, 6]);
    out.quant = Some(Quant::per_tensor(0.03, -20)); // requantizing mean
    let m = g.add_tensor(out);
    g.nodes.push(Node {
        op: Op::Mean { keep_dims: false },
        inputs: vec![Some(c), Some(axes)],
        outputs: vec![m],
    });
    g.outputs = vec![m];
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 4));
    g.tensors[c].quant = Some(Quant::per_tensor(0.07, -128));
    let input = pseudo_random(5 * 7 * 6 * 6, 5);
    planned_host_matches_runtime(&g, &input);
}

#[test]
fn float_inputs_and_outputs_match_the_runtime() {
    let g = float_io_graph();
    // values on and near rounding ties of the input scale, plus out-of-range ones
    let mut xs: Vec<f32> = Vec::new();
    for i in 0..64 {
        xs.push((i as f32 - 32.0) * 0.02);
        xs.push((i as f32 - 32.0) * 0.0371);
    }
    xs.extend([1e9, -1e9, 5.1, -5.2, 0.06, -0.06]);
    xs.resize(16 * 9, 0.01);
    let input: Vec<u8> = xs.iter().flat_map(|v| v.to_le_bytes()).collect();
    let (want, dir) = planned_host_matches_runtime(&g, &input);
    // and on the Cortex-M4F, whose single-precision FPU does the division
    if tinyforge_deploy::tools_available() {
        let r = tinyforge_deploy::mcu_run(dir.path(), &[&input]).unwrap();
        assert_eq!(r.outputs[0], want);
    } else if std::env::var("TINYFORGE_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("arm-none-eabi-gcc/qemu-system-arm not found and TINYFORGE_REQUIRE_TOOLS=1");
    } else {
        eprintln!("SKIPPED: arm-none-eabi-gcc/qemu-system-arm not found");
    }
}

#[test]
fn pad_matches_the_runtime() {
    let g = pad_graph();
    let input = pseudo_random(5 * 4 * 3 * 2, 8);
    let (want, _) = planned_host_matches_runtime(&g, &input);
    assert!(want.contains(&(-9i8 as u8)), "padding present");
}

#[test]
fn channel_blocks_and_pooling_borders_match_the_runtime() {
    // 69 channels: two full blocks of the C conv's requantization and an odd tail, one full
    // block of the pooling loop and a tail; SAME padding gives partial windows on every border
    let mut b = GraphBuilder::new("blocks");
    let x = b.input("x", &[2, 9, 7, 5]);
    let c = b
        .conv2d(x, 69, (3, 3), 1, Padding::Same, Activation::None)
        .unwrap();
    let m = b.max_pool(c, (3, 3), 2, Padding::Same).unwrap();
    let a = b.avg_pool(m, (2, 3), 1, Padding::Same).unwrap();
    let mut g = b.finish(&[a]);
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 4));
    for t in [c, m, a] {
        g.tensors[t].quant = Some(Quant::per_tensor(0.04, -7));
    }
    let input = pseudo_random(2 * 9 * 7 * 5, 21);
    let (want, _) = planned_host_matches_runtime(&g, &input);
    let distinct: std::collections::BTreeSet<u8> = want.iter().copied().collect();
    assert!(distinct.len() > 20, "{distinct:?}");
}

#[test]
fn dilated_convolutions_match_the_runtime() {
    // SAME padding at stride 1 keeps the shape whatever the dilation; dilation 2 × 3 makes
    // the patch gather take taps one by one with borders on every side
    let mut b = GraphBuilder::new("dilated");
    let x = b.input("x", &[1, 9, 8, 3]);
    let c = b
        .conv2d(x, 6, (3, 3), 1, Padding::Same, Activation::Relu)
        .unwrap();
    let d = b
        .depthwise(c, (3, 3), 1, Padding::Same, Activation::None)
        .unwrap();
    let mut g = b.finish(&[d]);
    for n in &mut g.nodes {
        match &mut n.op {
            Op::Conv2d(o) => (o.dilation_h, o.dilation_w) = (2, 3),
            Op::DepthwiseConv2d(o) => (o.dilation_h, o.dilation_w) = (3, 2),
            _ => {}
        }
    }
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 4));
    g.tensors[c].quant = Some(Quant::per_tensor(0.03, -128));
    g.tensors[d].quant = Some(Quant::per_tensor(0.04, 2));
    let input = pseudo_random(9 * 8 * 3 * 2, 33);
    let (want, _) = planned_host_matches_runtime(&g, &input);
    let distinct: std::collections::BTreeSet<u8> = want.iter().copied().collect();
    assert!(distinct.len() > 20, "{distinct:?}");
}

#[test]
fn concatenation_matches_the_runtime() {
    let g = concat_graph();
    let input = pseudo_random(4 * 4 * 3 * 2, 12);
    planned_host_matches_runtime(&g, &input);
}

#[test]
fn mul_matches_the_runtime() {
    let mut b = GraphBuilder::new("gate");
    let x = b.input("x", &[1, 3, 3, 6]);
    let c = b
        .conv2d(x, 6, (1, 1), 1, Padding::Valid, Activation::None)
        .unwrap();
    let s = b.unary(Op::Logistic, c).unwrap();
    let m = b.add(c, s, Activation::None).unwrap();
    let mut g = b.finish(&[m]);
    // the builder has no MUL: the same operands and shapes as its ADD
    g.nodes.last_mut().unwrap().op = Op::Mul {
        activation: Activation::None,
    };
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 4));
    g.tensors[c].quant = Some(Quant::per_tensor(0.08, -6));
    g.tensors[s].quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    g.tensors[m].quant = Some(Quant::per_tensor(0.04, -10));
    let input = pseudo_random(3 * 3 * 6 * 3, 31);
    planned_host_matches_runtime(&g, &input);
}
