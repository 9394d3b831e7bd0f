//! Compressed filters in the generated code: packed int4 (and int2) weights read in place and
//! pruned int8 filters in the `TFSR1` sparse encoding give exactly the host runtime's outputs —
//! C built for the host (portable loops), the firmware on the emulated Cortex-M4 (SMLAD paths;
//! skipped without the cross tools unless `TINYFORGE_REQUIRE_TOOLS=1`) — and each layer's
//! storage decision is recorded in the emitted library.
mod common;
use common::pseudo_random;
use tinyforge_deploy::{
    emit_c, emit_c_with, host_run, mcu_run, tools_available, EmitOptions, EmittedC,
    SequentialLayout,
};
use tinyforge_graph::build::GraphBuilder;
use tinyforge_graph::{plan_default, Activation, DType, Graph, Op, Padding, Quant};

fn tools_or_skip() -> bool {
    if tools_available() {
        return true;
    }
    if std::env::var("TINYFORGE_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("arm-none-eabi-gcc/qemu-system-arm not found and TINYFORGE_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIPPED: arm-none-eabi-gcc/qemu-system-arm not found");
    false
}

const INPUT: [usize; 4] = [1, 10, 9, 3];

/// conv 3×3/2 (K = 27: int4 rows start mid-byte) → depthwise → 1×1 conv fused with a residual
/// add (K = 8) → conv 3×3 (K = 72) → depthwise with a channel tail → pool → FC (K = 7) →
/// softmax.
fn net() -> Graph {
    let mut b = GraphBuilder::new("compressed net");
    let x = b.input("image", &INPUT);
    let c1 = b
        .conv2d(x, 8, (3, 3), 2, Padding::Same, Activation::Relu)
        .unwrap();
    let d1 = b
        .depthwise(c1, (3, 3), 1, Padding::Same, Activation::Relu6)
        .unwrap();
    let p1 = b
        .conv2d(d1, 8, (1, 1), 1, Padding::Valid, Activation::None)
        .unwrap();
    let a1 = b.add(p1, c1, Activation::Relu).unwrap();
    let c2 = b
        .conv2d(a1, 7, (3, 3), 1, Padding::Valid, Activation::None)
        .unwrap();
    let d2 = b
        .depthwise(c2, (3, 3), 1, Padding::Same, Activation::None)
        .unwrap();
    let pool = b.avg_pool(d2, (3, 3), 1, Padding::Valid).unwrap();
    let flat = b.reshape(pool, &[1, 7]).unwrap();
    let fc = b.fully_connected(flat, 5, Activation::None).unwrap();
    let sm = b.unary(Op::Softmax { beta: 1.0 }, fc).unwrap();
    let mut g = b.finish(&[sm]);
    g.tensors[x].quant = Some(Quant::per_tensor(0.02, -5));
    g.tensors[c1].quant = Some(Quant::per_tensor(0.03, -128));
    g.tensors[d1].quant = Some(Quant::per_tensor(0.025, -10));
    g.tensors[p1].quant = Some(Quant::per_tensor(0.04, 3));
    g.tensors[c2].quant = Some(Quant::per_tensor(0.05, 9));
    g.tensors[fc].quant = Some(Quant::per_tensor(0.2, 3));
    g.tensors[sm].quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    g
}

/// The filter tensors of conv, depthwise and fully-connected nodes.
fn filters(g: &Graph) -> Vec<usize> {
    g.nodes
        .iter()
        .filter(|n| {
            matches!(
                n.op,
                Op::Conv2d(_) | Op::DepthwiseConv2d(_) | Op::FullyConnected(_)
            )
        })
        .filter_map(|n| n.inputs[1])
        .collect()
}

/// Every filter re-quantized to 4 bits (the top bits of the int8 pattern) and packed in
/// TFLite's INT4 layout.
fn to_int4(mut g: Graph) -> Graph {
    for id in filters(&g) {
        let t = &mut g.tensors[id];
        let v: Vec<i8> = t
            .data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&b| (b as i8) >> 4)
            .collect();
        let mut packed = vec![0u8; v.len().div_ceil(2)];
        for (i, &x) in v.iter().enumerate() {
            packed[i / 2] |= ((x as u8) & 0x0f) << (4 * (i % 2));
        }
        t.dtype = DType::I4;
        t.data = Some(packed);
    }
    g
}

/// Zeroes about `keep_out` tenths of every conv / FC filter, weight by weight (`block` 1) or in
/// 1×4 blocks along the input dimension (`block` 4).
fn prune(mut g: Graph, keep_out: u32, block: usize) -> Graph {
    let dw: Vec<usize> = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::DepthwiseConv2d(_)))
        .filter_map(|n| n.inputs[1])
        .collect();
    for id in filters(&g).into_iter().filter(|id| !dw.contains(id)) {
        let t = &mut g.tensors[id];
        let row = t.shape[1..].iter().product::<usize>();
        let data = t.data.as_mut().unwrap();
        let mut s = id as u32 * 7919 + 1;
        for r in 0..data.len() / row {
            for j in (0..row).step_by(block) {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if (s >> 16) % 10 < keep_out {
                    for e in j..(j + block).min(row) {
                        data[r * row + e] = 0;
                    }
                }
            }
        }
    }
    g
}

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

fn encodings(lib: &EmittedC) -> Vec<&'static str> {
    lib.layers
        .iter()
        .filter_map(|l| l.weights.as_ref().map(|w| w.encoding))
        .collect()
}

fn samples() -> Vec<u8> {
    pseudo_random(INPUT.iter().product::<usize>() * 3, 11)
}

/// Emits `g` planned (conv + add fused, in place) and unplanned; both host builds must equal
/// the runtime. Returns the planned library and its source.
fn check_host(g: &Graph) -> (EmittedC, String) {
    let input = samples();
    let want = runtime(g, &input);
    let p = plan_default(g).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lib = emit_c(&p.graph, &p, dir.path()).unwrap();
    assert_eq!(host_run(dir.path(), &[&input]).unwrap()[0], want, "planned");
    let src = std::fs::read_to_string(dir.path().join("tf_model.c")).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    emit_c(g, &SequentialLayout::new(g), dir2.path()).unwrap();
    assert_eq!(
        host_run(dir2.path(), &[&input]).unwrap()[0],
        want,
        "sequential"
    );
    (lib, src)
}

#[test]
fn int4_filters_run_packed_and_match_the_runtime() {
    let g = to_int4(net());
    let (lib, src) = check_host(&g);
    assert_eq!(encodings(&lib), ["int4"; 6]);
    for f in [
        "tf_conv2d_packed(",
        "tf_depthwise_conv2d_packed(",
        "tf_fully_connected_packed(",
    ] {
        assert!(src.contains(f), "{f} missing");
    }
    assert!(!src.contains("tf_conv2d_s8(") && src.contains(".wbits = 4"));
    // flash holds the packed bytes: half the int8 filter bytes, rounded up per tensor
    for w in lib.layers.iter().filter_map(|l| l.weights.as_ref()) {
        assert_eq!(w.bytes, w.int8_bytes.div_ceil(2), "{}", w.summary);
    }
    let int8 = emit_c(
        &net(),
        &SequentialLayout::new(&net()),
        tempfile::tempdir().unwrap().path(),
    )
    .unwrap();
    let saved: usize = int8
        .layers
        .iter()
        .filter_map(|l| l.weights.as_ref())
        .map(|w| w.bytes - w.bytes.div_ceil(2))
        .sum();
    assert!(int8.const_bytes - saved <= lib.const_bytes + 8);
}

#[test]
fn pruned_filters_run_sparse_and_match_the_runtime() {
    for (block, zeros) in [(1, 8), (4, 8), (1, 3)] {
        let g = prune(net(), zeros, block);
        let (lib, src) = check_host(&g);
        let enc = encodings(&lib);
        if zeros == 3 {
            // 30 % zeros: the encoding would not pay off, every filter stays dense
            assert_eq!(enc, ["int8"; 6], "{src}");
            continue;
        }
        // convs and FC go sparse (the 1×1 conv fused with the ADD too); depthwise stays int8
        assert_eq!(
            enc,
            ["sparse", "int8", "sparse", "sparse", "int8", "sparse"],
            "block {block}"
        );
        // the smaller encoding wins per layer; block pruning makes 1×4 blocks win somewhere
        assert!(src.contains(&format!(".sparse_block = {block}")), "{src}");
        assert!(src.contains("tf_conv2d_sparse(") && src.contains("tf_fully_connected_sparse("));
        assert!(src.contains("/* weights: sparse "), "{src}");
        for w in lib.layers.iter().filter_map(|l| l.weights.as_ref()) {
            if w.encoding == "sparse" {
                assert!(w.bytes * 2 <= w.int8_bytes, "{}", w.summary);
                assert!(w.summary.starts_with("sparse "), "{}", w.summary);
            }
        }
        // the same model without the sparse encoding: identical outputs, more flash
        let dir = tempfile::tempdir().unwrap();
        let dense = emit_c_with(
            &g,
            &SequentialLayout::new(&g),
            dir.path(),
            &EmitOptions { sparse: false },
        )
        .unwrap();
        assert_eq!(encodings(&dense), ["int8"; 6]);
        assert!(dense.const_bytes > lib.const_bytes);
        let input = samples();
        assert_eq!(
            host_run(dir.path(), &[&input]).unwrap()[0],
            runtime(&g, &input)
        );
    }
}

/// The firmware (DSP paths: paired nibble decoding, SMLAD over 1×4 blocks) against the runtime,
/// with flash bytes and instruction counts printed for each storage.
#[test]
fn compressed_filters_on_the_emulated_m4_match_the_runtime() {
    if !tools_or_skip() {
        return;
    }
    let input = samples();
    for (name, g) in [
        ("int8", net()),
        ("int4", to_int4(net())),
        ("sparse 80 %", prune(net(), 8, 1)),
        ("sparse 80 % 1x4", prune(net(), 8, 4)),
    ] {
        let p = plan_default(&g).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lib = emit_c(&p.graph, &p, dir.path()).unwrap();
        let r = mcu_run(dir.path(), &[&input]).unwrap();
        assert_eq!(r.outputs[0], runtime(&g, &input), "{name}");
        eprintln!(
            "{name}: flash {} B (constants {} B), {} instructions for 3 samples, per layer {:?}",
            r.flash_bytes, lib.const_bytes, r.instructions, r.layer_instructions
        );
    }
}
