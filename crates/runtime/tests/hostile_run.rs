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
