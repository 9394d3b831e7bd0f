//! The reference models, end to end: `.tflite` → graph → plan → emitted C → Cortex-M4F firmware
//! on QEMU. Outputs must be byte-identical to the TFLite Micro reference files and to the host
//! runtime; flash must stay within the weights + 24 KB, static RAM within the planned arena +
//! 4 KB. Each test prints instructions per inference and MACs per instruction (total and per
//! conv-like layer); run with `--nocapture` to see them.
//!
//! Without the cross tools these tests print a SKIPPED line and pass, unless
//! `TINYFORGE_REQUIRE_TOOLS=1`, where they fail.
use std::path::{Path, PathBuf};
use tinyforge_deploy::{emit_c, host_run, mcu_run, tools_available, EmittedC, McuReport};
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

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Expected outputs of a reference set: the TFLM file where LiteRT and TFLM differ.
fn expected(model: &str, set: &str) -> Vec<u8> {
    let dir = testdata().join("reference").join(model);
    let tflm = dir.join(format!("{set}_output0_tflm.bin"));
    let path = if tflm.is_file() {
        tflm
    } else {
        dir.join(format!("{set}_output0.bin"))
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn weight_bytes(g: &Graph) -> usize {
    g.tensors
        .iter()
        .filter(|t| t.is_const())
        .map(|t| t.bytes())
        .sum()
}

fn runtime_outputs(g: &Graph, input: &[u8]) -> Vec<u8> {
    let mut rt = tinyforge_runtime::Runtime::new(g.clone()).expect("host runtime prepares");
    let n = rt.input_bytes(0);
    let mut out = Vec::new();
    for s in input.chunks(n) {
        rt.invoke(&[s]).expect("host runtime runs");
        out.extend_from_slice(rt.output(0));
    }
    out
}

fn report(model: &str, lib: &EmittedC, r: &McuReport, g: &Graph, arena: usize) {
    let macs = lib.macs();
    eprintln!(
        "RESULT {model}: instructions/inference {} | MACs {} | MAC/instr {:.3} | flash {} B (weights {} B) | \
         static RAM {} B (arena {} B + scratch {} B) | stack {} B",
        r.instructions,
        macs,
        macs as f64 / r.instructions as f64,
        r.flash_bytes,
        weight_bytes(g),
        r.ram_bytes,
        arena,
        lib.scratch_bytes,
        r.stack_bytes
    );
    for (l, n) in lib.layers.iter().zip(&r.layer_instructions) {
        if l.macs > 0 {
            eprintln!(
                "  layer node {:>3} {:<18} MACs {:>9} instr {:>9} MAC/instr {:.3}",
                l.node,
                l.op,
                l.macs,
                n,
                l.macs as f64 / *n as f64
            );
        }
    }
}

/// Runs `samples` samples (at most) of each named reference set of `model` on QEMU.
fn check_model(model: &str, sets: &[&str], samples: usize) {
    if !tools_or_skip() {
        return;
    }
    let file = testdata().join("models").join(format!("{model}.tflite"));
    let graph = tinyforge_tflite::read_file(&file).expect("model reads");
    let plan = plan_default(&graph).expect("model plans");
    let dir = tempfile::tempdir().unwrap();
    // TINYFORGE_KEEP_BUILD=<dir> keeps the generated code and firmware for inspection
    let keep = std::env::var_os("TINYFORGE_KEEP_BUILD").map(|d| PathBuf::from(d).join(model));
    let out_dir = keep.as_deref().unwrap_or(dir.path());
    let lib = emit_c(&plan.graph, &plan, out_dir).expect("C emits");
    assert_eq!(lib.arena_bytes, plan.arena_bytes);
    let in_bytes = lib.input_bytes[0];
    let out_bytes = lib.output_bytes[0];
    for set in sets {
        let ref_dir = testdata().join("reference").join(model);
        let input = std::fs::read(ref_dir.join(format!("{set}_input0.bin"))).unwrap();
        let n = (input.len() / in_bytes).min(samples);
        let input = &input[..n * in_bytes];
        let want = &expected(model, set)[..n * out_bytes];

        let r = mcu_run(out_dir, &[input]).expect("firmware runs");
        assert_eq!(r.samples, n);
        let mismatches = r.outputs[0]
            .iter()
            .zip(want)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            mismatches,
            0,
            "{model}/{set}: {mismatches} of {} output bytes differ from the reference",
            want.len()
        );
        let host = runtime_outputs(&graph, input);
        assert_eq!(
            r.outputs[0], host,
            "{model}/{set}: firmware vs host runtime"
        );
        if *set == sets[0] {
            let portable = host_run(out_dir, &[input]).expect("portable C runs");
            assert_eq!(
                portable[0], r.outputs[0],
                "{model}: portable C vs DSP firmware"
            );
            report(model, &lib, &r, &graph, plan.arena_bytes);
            let weights = weight_bytes(&graph) as u64;
            assert!(
                r.flash_bytes <= weights + 24 * 1024,
                "{model}: flash {} > weights {weights} + 24 KB",
                r.flash_bytes
            );
            assert!(
                r.ram_bytes <= plan.arena_bytes as u64 + 4 * 1024,
                "{model}: static RAM {} > arena {} + 4 KB",
                r.ram_bytes,
                plan.arena_bytes
            );
        }
    }
}

#[test]
fn kws_ref_model_on_cortex_m4() {
    check_model("kws_ref_model", &["random"], 8);
}

#[test]
fn vww_96_int8_on_cortex_m4() {
    check_model("vww_96_int8", &["random"], 2);
}

#[test]
fn pretrained_resnet_quant_on_cortex_m4() {
    check_model("pretrainedResnet_quant", &["random"], 2);
}

#[test]
fn ad01_int8_on_cortex_m4() {
    check_model("ad01_int8", &["real", "random"], 8);
}

#[test]
fn hello_world_int8_on_cortex_m4() {
    check_model("hello_world_int8", &["sweep", "random"], 256);
}
