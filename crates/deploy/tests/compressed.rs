//! Compressed filters in the generated code: packed int4 and int2 weights read in place and
//! pruned int8 filters stored as `TFSR2` blobs (bitmap and gap layouts, conv / depthwise / FC)
//! give exactly the host runtime's outputs —
//! C built for the host (portable loops), the firmware on the emulated Cortex-M4 (SMLAD paths;
//! skipped without the cross tools unless `TINYFORGE_REQUIRE_TOOLS=1`) — and each layer's
//! storage decision is recorded in the emitted library.
mod common;
use common::{
    compressed_net as net, gap_net, prune, prune_hard, pseudo_random, to_packed, GAP_INPUT, INPUT,
};
use tinyforge_deploy::{
    emit_c, emit_c_with, host_run, mcu_run, tools_available, EmitOptions, EmittedC,
    SequentialLayout, SPARSE_MIN_ROW,
};
use tinyforge_graph::{plan_default, Graph};

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

/// Sparse wherever the encoding is small enough, however short the rows (the test net's are).
fn every_row() -> EmitOptions {
    EmitOptions {
        sparse_min_row: 1,
        ..EmitOptions::default()
    }
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
    let lib = emit_c_with(&p.graph, &p, dir.path(), &every_row()).unwrap();
    assert_eq!(host_run(dir.path(), &[&input]).unwrap()[0], want, "planned");
    let src = std::fs::read_to_string(dir.path().join("tf_model.c")).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    emit_c_with(g, &SequentialLayout::new(g), dir2.path(), &every_row()).unwrap();
    assert_eq!(
        host_run(dir2.path(), &[&input]).unwrap()[0],
        want,
        "sequential"
    );
    (lib, src)
}

#[test]
fn packed_filters_run_in_place_and_match_the_runtime() {
    for (bits, name) in [(4, "int4"), (2, "int2")] {
        let g = to_packed(net(), bits);
        let (lib, src) = check_host(&g);
        assert_eq!(encodings(&lib), [name; 6]);
        for f in [
            "tf_conv2d_packed(",
            "tf_depthwise_conv2d_packed(",
            "tf_fully_connected_packed(",
        ] {
            assert!(src.contains(f), "{f} missing");
        }
        assert!(!src.contains("tf_conv2d_s8(") && src.contains(&format!(".wbits = {bits}")));
        // flash holds the packed bytes: 8 / bits weights per byte, rounded up per tensor
        for w in lib.layers.iter().filter_map(|l| l.weights.as_ref()) {
            assert_eq!(w.bytes, w.int8_bytes.div_ceil(8 / bits), "{}", w.summary);
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
            .map(|w| w.bytes - w.bytes.div_ceil(8 / bits))
            .sum();
        assert!(int8.const_bytes - saved <= lib.const_bytes + 8);
    }
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
            &EmitOptions {
                sparse: false,
                ..every_row()
            },
        )
        .unwrap();
        assert_eq!(encodings(&dense), ["int8"; 6]);
        assert!(dense.const_bytes > lib.const_bytes);
        let input = samples();
        assert_eq!(
            host_run(dir.path(), &[&input]).unwrap()[0],
            runtime(&g, &input)
        );
        // by default only rows of at least SPARSE_MIN_ROW weights go sparse: the 3×3 conv over
        // 8 channels (72), not the 27-, 8- and 7-weight rows
        const { assert!(SPARSE_MIN_ROW > 27 && SPARSE_MIN_ROW <= 72) };
        let lib = emit_c(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
        assert_eq!(
            encodings(&lib),
            ["int8", "int8", "int8", "sparse", "int8", "int8"]
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
        ("int4", to_packed(net(), 4)),
        ("int2", to_packed(net(), 2)),
        ("sparse 80 %", prune(net(), 8, 1)),
        ("sparse 80 % 1x4", prune(net(), 8, 4)),
    ] {
        let p = plan_default(&g).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lib = emit_c_with(&p.graph, &p, dir.path(), &every_row()).unwrap();
        let r = mcu_run(dir.path(), &[&input]).unwrap();
        assert_eq!(r.outputs[0], runtime(&g, &input), "{name}");
        eprintln!(
            "{name}: flash {} B (constants {} B), {} instructions for 3 samples, per layer {:?}",
            r.flash_bytes, lib.const_bytes, r.instructions, r.layer_instructions
        );
    }
}

/// The `TFSR2` blob size `tinyforge inspect` reports for a filter (rows = output channels;
/// depthwise rows = the channels' taps).
fn inspect_bytes(g: &Graph, node: usize) -> usize {
    use tinyforge_graph::Op;
    use tinyforge_kernels::sparse::{depthwise_rows, smallest_encoding};
    let n = &g.nodes[node];
    let t = &g.tensors[n.inputs[1].unwrap()];
    let w: Vec<i8> = t.data.as_ref().unwrap().iter().map(|&b| b as i8).collect();
    let (rows, row_len, w) = if matches!(n.op, Op::DepthwiseConv2d(_)) {
        let ch = *t.shape.last().unwrap();
        let mut r = vec![0i8; w.len()];
        depthwise_rows(&w, w.len() / ch, ch, &mut r).unwrap();
        (ch, w.len() / ch, r)
    } else {
        (t.shape[0], w.len() / t.shape[0], w)
    };
    smallest_encoding(&w, rows, row_len, true).unwrap().1
}

#[test]
fn gap_layout_depthwise_and_pointwise_match_the_runtime() {
    let g = prune_hard(gap_net());
    let input = pseudo_random(GAP_INPUT.iter().product::<usize>() * 3, 17);
    let want = runtime(&g, &input);
    let dir = tempfile::tempdir().unwrap();
    let lib = emit_c(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
    assert_eq!(host_run(dir.path(), &[&input]).unwrap()[0], want);
    let src = std::fs::read_to_string(dir.path().join("tf_model.c")).unwrap();
    // the depthwise (9-tap rows: size rule only) and the 32-weight pointwise go sparse
    assert_eq!(
        encodings(&lib),
        ["int8", "sparse", "sparse", "int8"],
        "{src}"
    );
    assert!(src.contains("tf_depthwise_conv2d_sparse(") && src.contains("tf_conv2d_sparse("));
    for (i, l) in lib.layers.iter().enumerate() {
        let Some(w) = l.weights.as_ref().filter(|w| w.encoding == "sparse") else {
            continue;
        };
        assert!(w.summary.contains("TFSR2 gaps"), "{}", w.summary);
        assert!(w.sparsity() >= 0.9, "{}", w.summary);
        // flash holds exactly the blob inspect sizes (the node index is the layer index here)
        assert_eq!(w.bytes, inspect_bytes(&g, i), "{}", w.summary);
    }
    // planned (the depthwise may run in place, which keeps it dense): same outputs
    let p = plan_default(&g).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    emit_c_with(&p.graph, &p, dir2.path(), &EmitOptions::default()).unwrap();
    assert_eq!(
        host_run(dir2.path(), &[&input]).unwrap()[0],
        want,
        "planned"
    );
    if !tools_or_skip() {
        return;
    }
    let r = mcu_run(dir.path(), &[&input]).unwrap();
    assert_eq!(r.outputs[0], want, "emulated M4");
    eprintln!(
        "gaps: flash {} B (constants {} B), {} instructions for 3 samples",
        r.flash_bytes, lib.const_bytes, r.instructions
    );
}

/// 1×4 blocks in a gap stream (the pointwise filter keeps three whole blocks, far apart: the
/// gap layout with block 4 is the smallest blob, and its codes need escapes) on the host C
/// build and the emulated M4, against the runtime.
#[test]
fn gap_layout_with_blocks_matches_the_runtime() {
    use tinyforge_graph::Op;
    let mut g = prune_hard(gap_net());
    let pw = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv2d(_)))
        .filter_map(|n| n.inputs[1])
        .find(|&w| g.tensors[w].shape[1] == 1)
        .unwrap();
    let data = g.tensors[pw].data.as_mut().unwrap();
    data.fill(0);
    // rows of 32 weights = 8 blocks: blocks 2 of row 0, 5 of row 7, 7 of row 15
    for (row, blk) in [(0, 2), (7, 5), (15, 7)] {
        for e in 0..4 {
            data[row * 32 + blk * 4 + e] = (e as i8 * 37 - 60) as u8;
        }
    }
    let input = pseudo_random(GAP_INPUT.iter().product::<usize>() * 3, 29);
    let want = runtime(&g, &input);
    let dir = tempfile::tempdir().unwrap();
    let lib = emit_c(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
    let w = lib.layers[2].weights.as_ref().unwrap();
    assert!(w.summary.contains("TFSR2 gaps, block 4"), "{}", w.summary);
    assert_eq!(w.bytes, inspect_bytes(&g, 2));
    assert_eq!(host_run(dir.path(), &[&input]).unwrap()[0], want);
    if tools_or_skip() {
        assert_eq!(mcu_run(dir.path(), &[&input]).unwrap().outputs[0], want);
    }
}

/// Sparse convolutions wider than the kernels' 64-channel block (the walk of the encoding
/// restarts at each block's first row on every pass) with 3×3 and 1×1 filters, unstructured
/// (bitmap and gap bodies) and in 1×4 blocks, on the host C build and the emulated M4.
#[test]
fn wide_sparse_convolutions_match_the_runtime() {
    use tinyforge_graph::build::GraphBuilder;
    use tinyforge_graph::{Activation, Padding, Quant};
    let shape = [1, 5, 4, 8];
    let input = pseudo_random(shape.iter().product::<usize>() * 3, 41);
    let mut layouts = std::collections::BTreeSet::new();
    for (keep_out, block) in [(7, 1), (9, 1), (8, 4)] {
        let mut b = GraphBuilder::new("wide");
        let x = b.input("x", &shape);
        let c1 = b
            .conv2d(x, 70, (3, 3), 1, Padding::Same, Activation::Relu)
            .unwrap();
        let c2 = b
            .conv2d(c1, 67, (1, 1), 1, Padding::Valid, Activation::None)
            .unwrap();
        let mut g = b.finish(&[c2]);
        g.tensors[x].quant = Some(Quant::per_tensor(0.05, 4));
        g.tensors[c1].quant = Some(Quant::per_tensor(0.03, -128));
        g.tensors[c2].quant = Some(Quant::per_tensor(0.06, 9));
        let g = prune(g, keep_out, block);
        let want = runtime(&g, &input);
        let dir = tempfile::tempdir().unwrap();
        let lib = emit_c_with(&g, &SequentialLayout::new(&g), dir.path(), &every_row()).unwrap();
        assert_eq!(encodings(&lib), ["sparse", "sparse"], "{keep_out} {block}");
        for w in lib.layers.iter().filter_map(|l| l.weights.as_ref()) {
            layouts.insert(w.summary.split('(').nth(1).unwrap_or_default().to_string());
        }
        assert_eq!(
            host_run(dir.path(), &[&input]).unwrap()[0],
            want,
            "{keep_out} {block}"
        );
        if tools_or_skip() {
            let r = mcu_run(dir.path(), &[&input]).unwrap();
            assert_eq!(r.outputs[0], want, "{keep_out} {block}");
        }
    }
    let seen = format!("{layouts:?}");
    for l in ["bitmap, block 1", "gaps, block 1", "block 4"] {
        assert!(seen.contains(l), "{seen}");
    }
}
