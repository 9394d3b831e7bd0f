//! End-to-end tests of the `tinyforge` binary: `run` reproduces reference outputs byte for byte,
//! `inspect --json` reports a peak SRAM under the TFLite Micro arena bar, and bad input files
//! give one clear error line naming the file, a non-zero exit code and never a panic.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tinyforge"))
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn model(name: &str) -> PathBuf {
    testdata().join("models").join(format!("{name}.tflite"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failing command: non-zero exit, no panic, and an error naming `needle` (usually a file).
fn assert_clean_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "error does not name {needle}: {err}");
    assert!(err.starts_with("error: "), "not an error line: {err}");
}

#[test]
fn run_reproduces_kws_reference_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    let refdir = testdata().join("reference/kws_ref_model");
    let o = bin()
        .arg("run")
        .arg(model("kws_ref_model"))
        .arg("--input")
        .arg(refdir.join("random_input0.bin"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = std::fs::read(refdir.join("random_output0.bin")).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), want);
}

#[test]
fn run_reproduces_two_input_add_and_tflm_hello_world_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    let refdir = testdata().join("reference/simple_add_model");
    let o = bin()
        .arg("run")
        .arg(model("simple_add_model"))
        .args([
            "--input".as_ref(),
            refdir.join("random_input0.bin").as_os_str(),
        ])
        .args([
            "--input".as_ref(),
            refdir.join("random_input1.bin").as_os_str(),
        ])
        .args(["--output".as_ref(), out.as_os_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(refdir.join("random_output0.bin")).unwrap()
    );

    let refdir = testdata().join("reference/hello_world_int8");
    let o = bin()
        .arg("run")
        .arg(model("hello_world_int8"))
        .args([
            "--input".as_ref(),
            refdir.join("sweep_input0.bin").as_os_str(),
        ])
        .args(["--output".as_ref(), out.as_os_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(refdir.join("sweep_output0_tflm.bin")).unwrap()
    );
}

fn inspect_json(name: &str, extra: &[&str]) -> Value {
    let o = bin()
        .arg("inspect")
        .arg(model(name))
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: not one JSON object ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

#[test]
fn inspect_peak_sram_beats_tflm_arena_by_a_quarter() {
    let tflm_arena = [
        ("kws_ref_model", 24_285u64),
        ("vww_96_int8", 103_683),
        ("pretrainedResnet_quant", 55_993),
        ("ad01_int8", 4_639),
        ("hello_world_int8", 1_951),
    ];
    for (name, tflm) in tflm_arena {
        let v = inspect_json(name, &[]);
        for key in [
            "params",
            "macs",
            "weights_bytes",
            "peak_sram_bytes",
            "flash_bytes",
        ] {
            assert!(v[key].is_u64(), "{name}: `{key}` missing: {v}");
        }
        let layers = v["layers"].as_array().expect("layers");
        assert!(!layers.is_empty());
        for l in layers {
            assert!(
                l["op"].is_string() && l["macs"].is_u64(),
                "{name}: layer {l}"
            );
        }
        let macs: u64 = layers.iter().map(|l| l["macs"].as_u64().unwrap()).sum();
        assert_eq!(
            macs,
            v["macs"].as_u64().unwrap(),
            "{name}: layer MACs add up"
        );
        let peak = v["peak_sram_bytes"].as_u64().unwrap();
        assert!(
            peak as f64 <= 0.75 * tflm as f64,
            "{name}: peak SRAM {peak} B > 0.75 × TFLM arena {tflm} B"
        );
    }
}

#[test]
fn inspect_known_model_numbers() {
    // DS-CNN KWS: 2.66 M MACs per the MLPerf Tiny paper; the int8 file's weights are ~23 k params.
    let v = inspect_json("kws_ref_model", &[]);
    let macs = v["macs"].as_u64().unwrap();
    assert!((2_500_000..2_800_000).contains(&macs), "kws MACs {macs}");
    assert!(v["flash_bytes"].as_u64().unwrap() > v["weights_bytes"].as_u64().unwrap());
}

#[test]
fn missing_model_names_the_file() {
    let o = bin()
        .args(["inspect", "no/such/model.tflite"])
        .output()
        .unwrap();
    assert_clean_failure(&o, "no/such/model.tflite");
    let o = bin()
        .args([
            "run",
            "nope.tflite",
            "--input",
            "a.bin",
            "--output",
            "b.bin",
        ])
        .output()
        .unwrap();
    assert_clean_failure(&o, "nope.tflite");
    let o = bin().args(["bench", "nope.tflite"]).output().unwrap();
    assert_clean_failure(&o, "nope.tflite");
}

#[test]
fn garbage_model_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.tflite");
    std::fs::write(&garbage, b"this is not a flatbuffer at all, just text\n").unwrap();
    for cmd in ["inspect", "bench"] {
        let o = bin().arg(cmd).arg(&garbage).output().unwrap();
        assert_clean_failure(&o, "garbage.tflite");
    }
    let empty = dir.path().join("empty.tflite");
    std::fs::write(&empty, b"").unwrap();
    let o = bin().arg("inspect").arg(&empty).output().unwrap();
    assert_clean_failure(&o, "empty.tflite");
}

#[test]
fn wrong_input_size_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("short_input.bin");
    // kws takes 490 int8 values per sample; 491 bytes is not a whole number of samples.
    std::fs::write(&input, vec![0u8; 491]).unwrap();
    let o = bin()
        .arg("run")
        .arg(model("kws_ref_model"))
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(dir.path().join("out.bin"))
        .output()
        .unwrap();
    assert_clean_failure(&o, "short_input.bin");

    let missing = dir.path().join("missing_input.bin");
    let o = bin()
        .arg("run")
        .arg(model("kws_ref_model"))
        .arg("--input")
        .arg(&missing)
        .arg("--output")
        .arg(dir.path().join("out.bin"))
        .output()
        .unwrap();
    assert_clean_failure(&o, "missing_input.bin");
}

#[test]
fn unknown_target_is_a_clean_error() {
    let o = bin()
        .arg("inspect")
        .arg(model("hello_world_int8"))
        .args(["--target", "no-such-board"])
        .output()
        .unwrap();
    assert_clean_failure(&o, "no-such-board");
}

#[test]
fn bench_json_reports_a_latency() {
    let o = bin()
        .arg("bench")
        .arg(model("hello_world_int8"))
        .args(["--iters", "50", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["median_us"].as_f64().unwrap() > 0.0);
    assert_eq!(v["iters"].as_u64(), Some(50));
}

#[test]
fn bench_compare_dense_reports_both_latencies_and_the_ratio() {
    let o = bin()
        .arg("bench")
        .arg(model("kws_ref_model"))
        .args(["--iters", "5", "--warmup", "1", "--compare-dense", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (s, d) = (
        v["median_us"].as_f64().unwrap(),
        v["dense_median_us"].as_f64().unwrap(),
    );
    assert!(s > 0.0 && d > 0.0);
    assert!(v["sparse_over_dense"].as_f64().unwrap() > 0.0);
    // An unpruned model has no layer sparse enough to run on the sparse kernels.
    assert_eq!(v["sparse_layers"].as_u64(), Some(0));
}

#[test]
fn inspect_reports_tfsr2_weight_bytes_per_layer() {
    let v = inspect_json("kws_ref_model", &[]);
    let sw = &v["sparse_weights"];
    assert_eq!(sw["format"], "TFSR2");
    let layers = sw["layers"].as_array().unwrap();
    assert!(!layers.is_empty());
    let dense: u64 = layers
        .iter()
        .map(|l| l["dense_bytes"].as_u64().unwrap())
        .sum();
    let stored: u64 = layers
        .iter()
        .map(|l| l["stored_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(sw["dense_bytes"].as_u64(), Some(dense));
    assert_eq!(sw["encoded_bytes"].as_u64(), Some(stored));
    // Dense weights are stored dense: never more bytes than dense.
    assert!(layers
        .iter()
        .all(|l| l["stored_bytes"].as_u64() <= l["dense_bytes"].as_u64()));
}

#[test]
fn inspect_target_gives_a_verdict() {
    let v = inspect_json("kws_ref_model", &["--target", "stm32f746"]);
    assert_eq!(v["fits"], Value::Bool(true), "{v}");
    assert!(v["sram_margin_bytes"].as_i64().unwrap() > 0);
    // A 2 KB / 32 KB board holds neither the VWW arena nor its weights.
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.toml");
    std::fs::write(
        &tiny,
        "name = \"tiny\"\ncore = \"Cortex-M0+\"\nclock_hz = 16000000\nflash_bytes = \"32 KB\"\nsram_bytes = \"2 KB\"\ncycles_per_mac = 6.0\n",
    )
    .unwrap();
    let v = inspect_json("vww_96_int8", &["--target", tiny.to_str().unwrap()]);
    assert_eq!(v["fits"], Value::Bool(false), "{v}");
    assert!(v["sram_margin_bytes"].as_i64().unwrap() < 0);
}
