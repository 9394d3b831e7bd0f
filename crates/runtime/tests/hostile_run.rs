//! Hostile models through the whole execution path: every mutated file the `.tflite` reader
//! accepts must either fail to prepare with a typed error or prepare and run (on all-zero inputs)
//! without a panic. Complements `crates/tflite/tests/hostile.rs`, which stops at the reader.
//!
//! Mutations are deterministic (a fixed-seed generator), so a failure names a reproducible case.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use tinyforge_runtime::Runtime;

/// Arena size above which a mutated model is prepared but not invoked: its shapes were inflated
/// by the mutation and running it would only measure the machine's memory bandwidth.
const MAX_INVOKE_ARENA: usize = 4 << 20;

fn model(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models")
        .join(format!("{name}.tflite"));
    std::fs::read(p).expect("model file")
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64: good enough spread for picking positions and values.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Default, Debug)]
struct Tally {
    rejected_by_reader: usize,
    rejected_by_runtime: usize,
    invoked: usize,
    invoke_errors: usize,
}

/// Reads, prepares and runs one mutated file. `Err` describes a panic.
fn exercise(bytes: &[u8], tally: &mut Tally) -> Result<(), String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let Ok(graph) = tinyforge_tflite::read(bytes) else {
            return 0;
        };
        let Ok(mut rt) = Runtime::new(graph) else {
            return 1;
        };
        if rt.arena_bytes() > MAX_INVOKE_ARENA {
            return 1;
        }
        let inputs: Vec<Vec<u8>> = (0..rt.input_count())
            .map(|i| vec![0u8; rt.input_bytes(i)])
            .collect();
        let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        match rt.invoke(&refs) {
            Ok(()) => {
                // Outputs must be readable after a successful run.
                for o in 0..rt.output_count() {
                    assert_eq!(rt.output(o).len(), rt.output_bytes(o));
                }
                2
            }
            Err(_) => 3,
        }
    }));
    match outcome {
        Ok(0) => tally.rejected_by_reader += 1,
        Ok(1) => tally.rejected_by_runtime += 1,
        Ok(2) => tally.invoked += 1,
        Ok(_) => tally.invoke_errors += 1,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(msg);
        }
    }
    Ok(())
}

/// Applies `count` deterministic mutations to `name` and checks none panics.
fn fuzz(name: &str, seed: u64, count: usize) -> Tally {
    let original = model(name);
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let mut panics = Vec::new();
    for case in 0..count {
        let mut m = original.clone();
        let what = match rng.below(4) {
            0 => {
                // Single byte flip anywhere.
                let at = rng.below(m.len());
                m[at] ^= 1 << rng.below(8);
                format!("flip bit at {at}")
            }
            1 => {
                // A 32-bit little-endian word set to an extreme: hits offsets, lengths, shapes.
                let at = rng.below(m.len().saturating_sub(4)) & !3;
                let v: u32 =
                    [0, 1, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000, 255, 65_536][rng.below(7)];
                m[at..at + 4].copy_from_slice(&v.to_le_bytes());
                format!("word {v:#x} at {at}")
            }
            2 => {
                // A few random bytes in a row.
                let at = rng.below(m.len());
                let n = 1 + rng.below(8);
                for b in m.iter_mut().skip(at).take(n) {
                    *b = rng.next() as u8;
                }
                format!("{n} random bytes at {at}")
            }
            _ => {
                // Truncation.
                let len = rng.below(m.len());
                m.truncate(len);
                format!("truncate to {len}")
            }
        };
        if let Err(msg) = exercise(&m, &mut tally) {
            panics.push(format!("{name} case {case} ({what}): {msg}"));
        }
    }
    assert!(
        panics.is_empty(),
        "{} panics:\n{}",
        panics.len(),
        panics.join("\n")
    );
    eprintln!("{name}: {tally:?}");
    tally
}

#[test]
fn unmutated_models_prepare_and_run() {
    for name in [
        "hello_world_int8",
        "hello_world_float",
        "simple_add_model",
        "ad01_int8",
    ] {
        let mut t = Tally::default();
        exercise(&model(name), &mut t).unwrap();
        assert_eq!(t.invoked, 1, "{name}: {t:?}");
    }
}

#[test]
fn mutated_small_models_never_panic() {
    let t1 = fuzz("hello_world_int8", 1, 3000);
    let t2 = fuzz("simple_add_model", 2, 2000);
    let t3 = fuzz("hello_world_float", 3, 2000);
    // The mutations must actually reach the runtime, not only the reader.
    for (name, t) in [
        ("hello_world_int8", t1),
        ("simple_add_model", t2),
        ("hello_world_float", t3),
    ] {
        assert!(
            t.invoked + t.invoke_errors + t.rejected_by_runtime > 100,
            "{name}: {t:?}"
        );
    }
}

#[test]
fn mutated_conv_model_never_panics() {
    let t = fuzz("kws_ref_model", 4, 400);
    assert!(
        t.invoked + t.invoke_errors + t.rejected_by_runtime > 20,
        "{t:?}"
    );
}

/// IR-level mutations: what a buggy converter or a hand-edited graph could hand the runtime
/// directly, past the file reader (shapes, dtypes, quantization, options, operand wiring).
fn mutate_graph(g: &mut tinyforge_graph::Graph, rng: &mut Rng) -> String {
    use tinyforge_graph::{DType, Op, Quant};
    let nt = g.tensors.len();
    let nn = g.nodes.len();
    match rng.below(8) {
        0 => {
            let t = rng.below(nt);
            let r = g.tensors[t].shape.len();
            if r > 0 {
                let d = rng.below(r);
                g.tensors[t].shape[d] = [0, 1, 2, 3, 7, 1000][rng.below(6)];
            }
            format!("shape of tensor {t}")
        }
        1 => {
            let t = rng.below(nt);
            g.tensors[t].dtype =
                [DType::F32, DType::I8, DType::I32, DType::I16, DType::U8][rng.below(5)];
            format!("dtype of tensor {t}")
        }
        2 => {
            let t = rng.below(nt);
            g.tensors[t].quant = match rng.below(4) {
                0 => None,
                1 => Some(Quant::per_tensor(0.0, 0)),
                2 => Some(Quant::per_tensor(f32::NAN, 300)),
                _ => Some(Quant::per_tensor(1e-30, -128)),
            };
            format!("quantization of tensor {t}")
        }
        3 => {
            let n = rng.below(nn);
            let k = g.nodes[n].inputs.len();
            if k > 0 {
                let i = rng.below(k);
                g.nodes[n].inputs[i] = if rng.below(3) == 0 {
                    None
                } else {
                    Some(rng.below(nt))
                };
            }
            format!("operand of node {n}")
        }
        4 => {
            let n = rng.below(nn);
            let v = [0usize, 1, 2, 9, 1 << 20][rng.below(5)];
            match &mut g.nodes[n].op {
                Op::Conv2d(o) => o.stride_w = v,
                Op::DepthwiseConv2d(o) => o.dilation_h = v,
                Op::AveragePool2d(o) | Op::MaxPool2d(o) => o.filter_h = v,
                Op::Softmax { beta } => *beta = v as f32 - 1.0,
                _ => {}
            }
            format!("options of node {n}")
        }
        5 => {
            let t = rng.below(nt);
            if let Some(d) = &mut g.tensors[t].data {
                let len = rng.below(d.len() + 1);
                d.truncate(len);
            }
            format!("constant data of tensor {t}")
        }
        6 => {
            let t = rng.below(nt);
            g.tensors[t].data = if g.tensors[t].data.is_some() {
                None
            } else {
                Some(vec![1; g.tensors[t].bytes().min(1 << 16)])
            };
            format!("constness of tensor {t}")
        }
        _ => {
            let n = rng.below(nn);
            g.nodes[n].outputs = vec![rng.below(nt)];
            format!("output of node {n}")
        }
    }
}

#[test]
fn mutated_graphs_never_panic() {
    let mut panics = Vec::new();
    let mut tally = Tally::default();
    for (seed, name) in [
        "hello_world_int8",
        "kws_ref_model",
        "pretrainedResnet_quant",
        "ad01_fp32",
    ]
    .into_iter()
    .enumerate()
    {
        let graph = tinyforge_tflite::read(&model(name)).expect("reference model reads");
        let mut rng = Rng(100 + seed as u64);
        for case in 0..150 {
            let mut g = graph.clone();
            let what: Vec<String> = (0..1 + rng.below(3))
                .map(|_| mutate_graph(&mut g, &mut rng))
                .collect();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let Ok(mut rt) = Runtime::new(g) else {
                    return false;
                };
                if rt.arena_bytes() <= MAX_INVOKE_ARENA {
                    let inputs: Vec<Vec<u8>> = (0..rt.input_count())
                        .map(|i| vec![0u8; rt.input_bytes(i)])
                        .collect();
                    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
                    let _ = rt.invoke(&refs);
                }
                true
            }));
            match outcome {
                Ok(true) => tally.invoked += 1,
                Ok(false) => tally.rejected_by_runtime += 1,
                Err(_) => panics.push(format!("{name} case {case}: {}", what.join(", "))),
            }
        }
    }
    assert!(
        panics.is_empty(),
        "{} panics:\n{}",
        panics.len(),
        panics.join("\n")
    );
    eprintln!("graph mutations: {tally:?}");
    assert!(
        tally.rejected_by_runtime > 50 && tally.invoked > 50,
        "{tally:?}"
    );
}
