//! The generated `no_std` Rust crate, built for the host: its outputs equal the TFLite Micro
//! reference (kws), the host runtime and the generated C library.
mod common;
use common::{concat_graph, float_io_graph, pad_graph, pseudo_random, residual_stem};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tinyforge_deploy::{emit_c, emit_rust, host_run, SequentialLayout};
use tinyforge_graph::build::GraphBuilder;
use tinyforge_graph::{plan, Activation, Graph, Op, Padding, PlanOptions, Quant};

fn kernels_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kernels")
        .canonicalize()
        .unwrap()
}

/// Builds and runs `examples/infer.rs` of the generated crate on `input`.
fn run_crate(dir: &Path, input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // one target dir for every generated crate, so the kernels compile once
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("generated-crates");
    let mut child = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--release",
            "--offline",
            "--example",
            "infer",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "generated crate failed: {:?}",
        out.status
    );
    out.stdout
}

fn small_cnn() -> Graph {
    let mut b = GraphBuilder::new("small cnn");
    let x = b.input("image", &[1, 9, 8, 3]);
    let [c1, _, _, a1] = residual_stem(&mut b, x);
    let pool = b.avg_pool(a1, (5, 4), 1, Padding::Valid).unwrap();
    let flat = b.reshape(pool, &[1, 8]).unwrap();
    let fc = b.fully_connected(flat, 5, Activation::None).unwrap();
    let sm = b.unary(Op::Softmax { beta: 1.0 }, fc).unwrap();
    let mut g = b.finish(&[sm]);
    g.tensors[x].quant = Some(Quant::per_tensor(0.02, -5));
    g.tensors[c1].quant = Some(Quant::per_tensor(0.03, -128));
    g.tensors[fc].quant = Some(Quant::per_tensor(0.2, 3));
    g.tensors[sm].quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    g
}

#[test]
fn generated_crate_matches_generated_c() {
    let g = small_cnn();
    let layout = SequentialLayout::new(&g);
    let rust_dir = tempfile::tempdir().unwrap();
    let c_dir = tempfile::tempdir().unwrap();
    let krate = emit_rust(&g, &layout, rust_dir.path(), &kernels_path()).unwrap();
    assert_eq!(krate.package, "tinyforge-model-small-cnn");
    emit_c(&g, &layout, c_dir.path()).unwrap();
    let input = pseudo_random(9 * 8 * 3 * 4, 11);
    let rust = run_crate(rust_dir.path(), &input);
    let c = host_run(c_dir.path(), &[&input]).unwrap();
    assert_eq!(rust, c[0]);
    let lib = std::fs::read_to_string(rust_dir.path().join("src/lib.rs")).unwrap();
    assert!(lib.contains("#![no_std]") && !lib.contains("unsafe"));
}

#[test]
fn generated_kws_crate_matches_tflm_reference() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let g = tinyforge_tflite::read_file(root.join("models/kws_ref_model.tflite")).unwrap();
    let opts = PlanOptions {
        fuse: false,
        in_place: false,
        ..PlanOptions::default()
    };
    let p = plan(&g, &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    emit_rust(&p.graph, &p, dir.path(), &kernels_path()).unwrap();
    let input = std::fs::read(root.join("reference/kws_ref_model/random_input0.bin")).unwrap();
    let want = std::fs::read(root.join("reference/kws_ref_model/random_output0.bin")).unwrap();
    assert_eq!(run_crate(dir.path(), &input), want);
}

#[test]
fn in_place_layouts_are_refused_for_rust() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let g = tinyforge_tflite::read_file(root.join("models/pretrainedResnet_quant.tflite")).unwrap();
    let p = tinyforge_graph::plan_default(&g).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = emit_rust(&p.graph, &p, dir.path(), &kernels_path()).unwrap_err();
    assert!(err.to_string().contains("in_place: false"), "{err}");
}

#[test]
fn generated_crate_handles_mean_and_table_ops() {
    use tinyforge_graph::build::{act_i8, const_i32};
    use tinyforge_graph::Node;
    let mut b = GraphBuilder::new("gap logistic");
    let x = b.input("x", &[1, 5, 7, 6]);
    let c = b
        .conv2d(x, 6, (3, 3), 1, Padding::Same, Activation::None)
        .unwrap();
    let r = b.unary(Op::Relu, c).unwrap();
    let mut g = b.finish(&[]);
    let axes = g.add_tensor(const_i32("axes", &[2], &[1, 2]));
    let mut mean = act_i8("mean", &[1, 6]);
    mean.quant = Some(Quant::per_tensor(0.03, -20));
    let m = g.add_tensor(mean);
    g.nodes.push(Node {
        op: Op::Mean { keep_dims: false },
        inputs: vec![Some(r), Some(axes)],
        outputs: vec![m],
    });
    let mut sig = act_i8("sigmoid", &[1, 6]);
    sig.quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    let s = g.add_tensor(sig);
    g.nodes.push(Node {
        op: Op::Logistic,
        inputs: vec![Some(m)],
        outputs: vec![s],
    });
    g.outputs = vec![s];
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 4));
    g.tensors[c].quant = Some(Quant::per_tensor(0.07, -3));
    g.tensors[r].quant = Some(Quant::per_tensor(0.07, -128));
    let layout = SequentialLayout::new(&g);
    let (rust_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    emit_rust(&g, &layout, rust_dir.path(), &kernels_path()).unwrap();
    emit_c(&g, &layout, c_dir.path()).unwrap();
    let input = pseudo_random(5 * 7 * 6 * 3, 21);
    assert_eq!(
        run_crate(rust_dir.path(), &input),
        host_run(c_dir.path(), &[&input]).unwrap()[0]
    );
}

#[test]
fn generated_crate_handles_float_inputs_and_outputs() {
    let g = float_io_graph();
    let layout = SequentialLayout::new(&g);
    let (rust_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    emit_rust(&g, &layout, rust_dir.path(), &kernels_path()).unwrap();
    emit_c(&g, &layout, c_dir.path()).unwrap();
    let xs: Vec<f32> = (0..16 * 5).map(|i| (i as f32 - 40.0) * 0.0173).collect();
    let input: Vec<u8> = xs.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(
        run_crate(rust_dir.path(), &input),
        host_run(c_dir.path(), &[&input]).unwrap()[0]
    );
}

#[test]
fn generated_crate_handles_pad() {
    let g = pad_graph();
    let layout = SequentialLayout::new(&g);
    let (rust_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    emit_rust(&g, &layout, rust_dir.path(), &kernels_path()).unwrap();
    emit_c(&g, &layout, c_dir.path()).unwrap();
    let input = pseudo_random(5 * 4 * 3 * 2, 8);
    assert_eq!(
        run_crate(rust_dir.path(), &input),
        host_run(c_dir.path(), &[&input]).unwrap()[0]
    );
}

#[test]
fn generated_crate_handles_concatenation() {
    let g = concat_graph();
    let layout = SequentialLayout::new(&g);
    let (rust_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    emit_rust(&g, &layout, rust_dir.path(), &kernels_path()).unwrap();
    emit_c(&g, &layout, c_dir.path()).unwrap();
    let input = pseudo_random(4 * 4 * 3 * 2, 12);
    assert_eq!(
        run_crate(rust_dir.path(), &input),
        host_run(c_dir.path(), &[&input]).unwrap()[0]
    );
}

#[test]
fn generated_crate_handles_mul() {
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
    let layout = SequentialLayout::new(&g);
    let (rust_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    emit_rust(&g, &layout, rust_dir.path(), &kernels_path()).unwrap();
    emit_c(&g, &layout, c_dir.path()).unwrap();
    let input = pseudo_random(3 * 3 * 6 * 3, 31);
    assert_eq!(
        run_crate(rust_dir.path(), &input),
        host_run(c_dir.path(), &[&input]).unwrap()[0]
    );
}

#[test]
fn generated_crate_runs_packed_and_sparse_filters() {
    use common::{compressed_net, prune, to_packed, INPUT};
    let opts = PlanOptions {
        fuse: false,
        in_place: false,
        ..PlanOptions::default()
    };
    let input = pseudo_random(INPUT.iter().product::<usize>() * 2, 5);
    for (name, g, call) in [
        ("int4", to_packed(compressed_net(), 4), "conv2d_packed("),
        (
            "int2",
            to_packed(compressed_net(), 2),
            "fully_connected_packed(",
        ),
        ("sparse", prune(compressed_net(), 8, 1), "conv2d_s8_tfsr2("),
    ] {
        let p = plan(&g, &opts).unwrap();
        let rust_dir = tempfile::tempdir().unwrap();
        emit_rust(&p.graph, &p, rust_dir.path(), &kernels_path()).unwrap();
        let lib = std::fs::read_to_string(rust_dir.path().join("src/lib.rs")).unwrap();
        assert!(lib.contains(call), "{name}: {call} missing");
        let mut rt = tinyforge_runtime::Runtime::new(g.clone()).unwrap();
        let want: Vec<u8> = input
            .chunks(rt.input_bytes(0))
            .flat_map(|s| {
                rt.invoke(&[s]).unwrap();
                rt.output(0).to_vec()
            })
            .collect();
        assert_eq!(run_crate(rust_dir.path(), &input), want, "{name}");
    }
}

#[test]
fn generated_crate_runs_gap_layout_depthwise_and_pointwise() {
    use common::{gap_net, prune_hard, GAP_INPUT};
    let g = prune_hard(gap_net());
    let layout = SequentialLayout::new(&g);
    let (rust_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    emit_rust(&g, &layout, rust_dir.path(), &kernels_path()).unwrap();
    emit_c(&g, &layout, c_dir.path()).unwrap();
    let lib = std::fs::read_to_string(rust_dir.path().join("src/lib.rs")).unwrap();
    for call in [
        "depthwise_conv2d_s8_tfsr2(",
        "conv2d_s8_tfsr2(",
        "TFSR2 gaps",
    ] {
        assert!(lib.contains(call), "{call} missing");
    }
    let input = pseudo_random(GAP_INPUT.iter().product::<usize>() * 2, 23);
    let mut rt = tinyforge_runtime::Runtime::new(g.clone()).unwrap();
    let want: Vec<u8> = input
        .chunks(rt.input_bytes(0))
        .flat_map(|s| {
            rt.invoke(&[s]).unwrap();
            rt.output(0).to_vec()
        })
        .collect();
    assert_eq!(run_crate(rust_dir.path(), &input), want);
    assert_eq!(host_run(c_dir.path(), &[&input]).unwrap()[0], want);
}
