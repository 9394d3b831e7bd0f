//! The emulator harness on small hand-built models: the firmware's outputs equal an independent
//! Rust reference (fully connected) and the portable C path built for the host (every op), and
//! the instruction counter, size and stack measurements are sane.
//!
//! Without the cross tools these tests print a SKIPPED line and pass, unless
//! `TINYFORGE_REQUIRE_TOOLS=1`, where they fail.
mod common;
use common::residual_stem;
use tinyforge_deploy::{emit_c, host_run, mcu_run, tools_available, SequentialLayout};
use tinyforge_graph::build::GraphBuilder;
use tinyforge_graph::{Activation, Graph, Op, Padding, Quant};
use tinyforge_kernels::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};

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

fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
        .collect()
}

fn fc_graph() -> Graph {
    let mut b = GraphBuilder::new("fc");
    let x = b.input("x", &[1, 40]);
    let y = b.fully_connected(x, 13, Activation::Relu).unwrap();
    let mut g = b.finish(&[y]);
    // asymmetric activations so the folded input offset is exercised
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 7));
    g.tensors[y].quant = Some(Quant::per_tensor(0.1, -3));
    g
}

/// TFLite Micro's per-channel fully connected, written out independently of the C code.
fn fc_reference(g: &Graph, x: &[u8]) -> Vec<u8> {
    let n = &g.nodes[0];
    let (xt, wt, bt, yt) = (
        &g.tensors[n.inputs[0].unwrap()],
        &g.tensors[n.inputs[1].unwrap()],
        &g.tensors[n.inputs[2].unwrap()],
        &g.tensors[n.outputs[0]],
    );
    let (xq, yq, wq) = (
        xt.quant.as_ref().unwrap(),
        yt.quant.as_ref().unwrap(),
        wt.quant.as_ref().unwrap(),
    );
    let (units, depth) = (wt.shape[0], wt.shape[1]);
    let w = wt.data.as_ref().unwrap();
    let bias: Vec<i32> = bt
        .data
        .as_ref()
        .unwrap()
        .chunks(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (0..units)
        .map(|o| {
            let mut acc = bias[o];
            for k in 0..depth {
                acc +=
                    (w[o * depth + k] as i8 as i32) * (x[k] as i8 as i32 - xq.zero_point[0] as i32);
            }
            let (m, s) =
                quantize_multiplier(xq.scale[0] as f64 * wq.scale[o] as f64 / yq.scale[0] as f64);
            let v = multiply_by_quantized_multiplier(acc, m, s) + yq.zero_point[0] as i32;
            v.clamp(yq.zero_point[0] as i32, 127) as i8 as u8
        })
        .collect()
}

#[test]
fn fully_connected_on_qemu_matches_rust_reference() {
    if !tools_or_skip() {
        return;
    }
    let g = fc_graph();
    let dir = tempfile::tempdir().unwrap();
    let lib = emit_c(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
    let samples = 4;
    let input = pseudo_random(40 * samples, 1);
    let expected: Vec<u8> = input.chunks(40).flat_map(|x| fc_reference(&g, x)).collect();
    let r = mcu_run(dir.path(), &[&input]).unwrap();
    assert_eq!(r.outputs, vec![expected.clone()]);
    assert_eq!(host_run(dir.path(), &[&input]).unwrap(), vec![expected]);
    assert_eq!(r.samples, samples);
    assert_eq!(lib.macs(), 40 * 13);
    // requantization branches on data, so samples differ only slightly
    let (lo, hi) = (
        *r.instructions_per_sample.iter().min().unwrap(),
        *r.instructions_per_sample.iter().max().unwrap(),
    );
    assert!(hi - lo < hi / 10, "{:?}", r.instructions_per_sample);
    assert!(
        r.instructions > 100 && r.instructions < 20 * 520,
        "{}",
        r.instructions
    );
    assert_eq!(r.layer_instructions.len(), 1);
    assert!(
        r.stack_bytes > 0 && r.stack_bytes < 4096,
        "stack {}",
        r.stack_bytes
    );
    assert!(
        r.flash_bytes > 520 && r.flash_bytes < 16 * 1024,
        "flash {}",
        r.flash_bytes
    );
    assert!(r.ram_bytes >= lib.arena_bytes as u64);
}

/// conv (padded, strided) → depthwise → 1×1 conv → residual add → pools → FC → softmax.
fn tiny_cnn() -> Graph {
    let mut b = GraphBuilder::new("tiny cnn");
    let x = b.input("image", &[1, 9, 8, 3]);
    let [c1, d1, _, a1] = residual_stem(&mut b, x);
    let c2 = b
        .conv2d(a1, 7, (3, 3), 1, Padding::Valid, Activation::None)
        .unwrap();
    // 7 channels: the depthwise channel tail
    let d2 = b
        .depthwise(c2, (3, 3), 1, Padding::Same, Activation::None)
        .unwrap();
    let pool = b.avg_pool(d2, (3, 2), 1, Padding::Valid).unwrap();
    let flat = b.reshape(pool, &[1, 7]).unwrap();
    let fc = b.fully_connected(flat, 5, Activation::None).unwrap();
    let sm = b.unary(Op::Softmax { beta: 1.0 }, fc).unwrap();
    let mut g = b.finish(&[sm]);
    g.tensors[x].quant = Some(Quant::per_tensor(0.02, -5));
    g.tensors[c1].quant = Some(Quant::per_tensor(0.03, -128));
    g.tensors[d1].quant = Some(Quant::per_tensor(0.025, -10));
    g.tensors[c2].quant = Some(Quant::per_tensor(0.05, 9));
    g.tensors[fc].quant = Some(Quant::per_tensor(0.2, 3));
    g.tensors[sm].quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    g
}

#[test]
fn tiny_cnn_firmware_matches_portable_c() {
    if !tools_or_skip() {
        return;
    }
    let g = tiny_cnn();
    let dir = tempfile::tempdir().unwrap();
    let lib = emit_c(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
    let input = pseudo_random(9 * 8 * 3 * 3, 7);
    let host = host_run(dir.path(), &[&input]).unwrap();
    let r = mcu_run(dir.path(), &[&input]).unwrap();
    eprintln!(
        "tiny cnn: {} MACs, {} instructions, per layer {:?}",
        lib.macs(),
        r.instructions,
        r.layer_instructions
    );
    assert_eq!(
        r.outputs, host,
        "DSP firmware and portable host build disagree"
    );
    assert_eq!(r.layer_instructions.len(), lib.layers.len());
    let sum: u64 = r.layer_instructions.iter().sum();
    assert!(sum <= r.instructions && sum + 64 > r.instructions);
    // softmax output of int8 is a distribution: entries sum to about 256 + 128·5
    for s in r.outputs[0].chunks(5) {
        let total: i32 = s.iter().map(|&v| v as i8 as i32 + 128).sum();
        assert!((250..=262).contains(&total), "softmax sums to {total}");
    }
}

#[test]
fn image_too_big_for_the_device_fails_the_link() {
    if !tools_or_skip() {
        return;
    }
    let mut b = GraphBuilder::new("big");
    let x = b.input("x", &[1, 1024]);
    let y = b.fully_connected(x, 1100, Activation::None).unwrap(); // 1.1 MB of weights
    let g = b.finish(&[y]);
    let dir = tempfile::tempdir().unwrap();
    emit_c(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
    let err = mcu_run(dir.path(), &[&vec![0u8; 1024]]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("FLASH") || msg.contains("overflow"), "{msg}");
}

#[test]
fn arduino_library_has_the_expected_layout_and_runs() {
    let g = tiny_cnn();
    let dir = tempfile::tempdir().unwrap();
    let lib = tinyforge_deploy::emit_arduino(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
    let root = dir.path();
    let props = std::fs::read_to_string(root.join("library.properties")).unwrap();
    assert!(props.contains("name=tinyforge_tiny_cnn"), "{props}");
    for f in [
        "tf_model.c",
        "tf_model.h",
        "tf_kernels.c",
        "tf_kernels.h",
        "tinyforge_tiny_cnn.h",
    ] {
        assert!(root.join("src").join(f).is_file(), "{f}");
    }
    let ino =
        std::fs::read_to_string(root.join("examples/tinyforge_tiny_cnn/tinyforge_tiny_cnn.ino"))
            .unwrap();
    assert!(ino.contains("tf_invoke();") && ino.contains("Serial.print"));
    // the library's sources are the plain C library: they build and run on the host
    let input = pseudo_random(9 * 8 * 3, 3);
    let out = host_run(&lib.dir, &[&input]).unwrap();
    assert_eq!(out[0].len(), 5);
}

#[test]
fn emitted_library_compiles_for_other_cortex_m_cores() {
    if !tools_or_skip() {
        return;
    }
    let g = tiny_cnn();
    let dir = tempfile::tempdir().unwrap();
    emit_c(&g, &SequentialLayout::new(&g), dir.path()).unwrap();
    // M0+: no DSP extension, the portable loops; M7: the SMLAD path with a double FPU
    for flags in [
        &["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"][..],
        &[
            "-mcpu=cortex-m7",
            "-mthumb",
            "-mfpu=fpv5-d16",
            "-mfloat-abi=hard",
        ][..],
    ] {
        for file in ["tf_kernels.c", "tf_model.c"] {
            let out = std::process::Command::new("arm-none-eabi-gcc")
                .args(flags)
                .args(["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-c", "-o"])
                .arg(dir.path().join(format!("{file}.o")))
                .arg(dir.path().join(file))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{flags:?} {file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
