//! The whole path on our own model: train the MNIST DS-CNN briefly, quantize it to int8 and to
//! packed int4, prune it to 80 % and quantize that (sparse filters), deploy each as C and run it
//! on the emulated Cortex-M4F; the device's output bytes must equal `tinyforge run` on the same
//! inputs, and the compressed images must be smaller. Without the ARM compiler and QEMU the emulator part
//! prints a SKIPPED line and passes, unless `TINYFORGE_REQUIRE_TOOLS=1`, where it fails.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tinyforge"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn trained_mnist_model_runs_byte_identical_on_the_emulated_mcu() {
    if !tinyforge_deploy::tools_available() {
        if std::env::var("TINYFORGE_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("arm-none-eabi-gcc/qemu-system-arm not found and TINYFORGE_REQUIRE_TOOLS=1");
        }
        eprintln!("SKIPPED: arm-none-eabi-gcc/qemu-system-arm not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let recipe = repo().join("examples/mnist_dscnn.toml");
    ok(bin()
        .current_dir(repo())
        .arg("train")
        .arg(&recipe)
        .args(["--epochs", "1", "--json", "--out"])
        .arg(d.join("train"))
        .output()
        .unwrap());
    let float = d.join("train/model.tflite");
    let int8 = d.join("model_int8.tflite");
    ok(bin()
        .current_dir(repo())
        .arg("quantize")
        .arg(&float)
        .args(["--data", "data/mnist", "--bits", "8", "--out"])
        .arg(&int8)
        .output()
        .unwrap());
    // Three digit-like inputs: int8 noise is enough to exercise every requantization path.
    let mut input = Vec::with_capacity(3 * 784);
    let mut s: u32 = 12345;
    for _ in 0..3 * 784 {
        s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        input.push((s >> 24) as u8);
    }
    let inp = d.join("in.bin");
    std::fs::write(&inp, &input).unwrap();
    let dense = on_device(d, "int8", &int8, &inp);
    assert!(dense["instructions"].as_u64().unwrap() > 100_000, "{dense}");

    // Packed int4 weights, and the model pruned to 80 % then quantized: sparse filters.
    let int4 = d.join("model_int4.tflite");
    ok(bin()
        .current_dir(repo())
        .arg("quantize")
        .arg(&float)
        .args(["--data", "data/mnist", "--bits", "4", "--out"])
        .arg(&int4)
        .output()
        .unwrap());
    let pruned = d.join("pruned.tflite");
    ok(bin()
        .current_dir(repo())
        .arg("prune")
        .arg(&float)
        .args([
            "--data",
            "data/mnist",
            "--sparsity",
            "0.8",
            "--epochs",
            "1",
            "--out",
        ])
        .arg(&pruned)
        .output()
        .unwrap());
    let sparse = d.join("model_sparse.tflite");
    ok(bin()
        .current_dir(repo())
        .arg("quantize")
        .arg(&pruned)
        .args(["--data", "data/mnist", "--bits", "8", "--out"])
        .arg(&sparse)
        .output()
        .unwrap());
    let filters = |v: &Value, enc: &str| {
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["weights"] == enc)
            .count()
    };
    let v4 = on_device(d, "int4", &int4, &inp);
    assert!(filters(&v4, "int4") >= 3, "{v4}");
    let vs = on_device(d, "sparse", &sparse, &inp);
    assert!(filters(&vs, "sparse") >= 1, "{vs}");
    for (name, v) in [("int8", &dense), ("int4", &v4), ("sparse int8", &vs)] {
        eprintln!(
            "MNIST DS-CNN {name}: flash {} B, {} instructions per inference",
            v["flash_bytes"],
            v["instructions"].as_u64().unwrap() / 3
        );
    }
    assert!(v4["flash_bytes"].as_u64() < dense["flash_bytes"].as_u64());
    assert!(vs["flash_bytes"].as_u64() < dense["flash_bytes"].as_u64());
}

/// Deploys `model` as C, runs it on the emulated M4 and checks its outputs against
/// `tinyforge run`; returns the `mcu-run --json` report.
fn on_device(d: &Path, name: &str, model: &Path, inp: &Path) -> Value {
    let c = d.join(format!("c_{name}"));
    ok(bin()
        .arg("deploy")
        .arg(model)
        .args(["--target", "nano33ble", "--format", "c", "--out"])
        .arg(&c)
        .output()
        .unwrap());
    let host_out = d.join(format!("host_{name}.bin"));
    ok(bin()
        .arg("run")
        .arg(model)
        .arg("--input")
        .arg(inp)
        .arg("--output")
        .arg(&host_out)
        .output()
        .unwrap());
    let mcu_out = d.join(format!("mcu_{name}.bin"));
    let o = ok(bin()
        .arg("mcu-run")
        .arg(&c)
        .arg("--input")
        .arg(inp)
        .arg("--output")
        .arg(&mcu_out)
        .arg("--json")
        .output()
        .unwrap());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outputs_match"], true, "{name}: {v}");
    let host = std::fs::read(&host_out).unwrap();
    assert_eq!(host.len(), 3 * 10);
    assert_eq!(std::fs::read(&mcu_out).unwrap(), host, "{name}");
    v
}
