//! `tinyforge quantize` end to end: foreign float models calibrated from a folder of raw sample
//! tensors, bad calibration data, and the int8 result running byte-identically in TFLite Micro.
//!
//! The TFLM check needs a Python with `tflite_micro`: `$TINYFORGE_PYTHON`, else
//! `/work/venv-tf/bin/python`, else `.venv/bin/python` in the repo. Without one it prints
//! `SKIPPED: …` and passes, unless `TINYFORGE_REQUIRE_TOOLS=1`.
mod common;
use common::{int8_inputs, python_with, root, tflm_matches_tinyforge};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tinyforge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tinyforge"))
}

/// A folder holding the reference inputs of `model` as raw calibration samples.
fn calib_dir(model: &str, tmp: &Path) -> PathBuf {
    let dir = tmp.join(format!("{model}_calib"));
    std::fs::create_dir_all(&dir).unwrap();
    let src = root().join("testdata/reference").join(model);
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with("input0.bin") {
            std::fs::copy(&p, dir.join(name)).unwrap();
        }
    }
    dir
}

fn quantize_json(model: &str, tmp: &Path, extra: &[&str]) -> (serde_json::Value, PathBuf) {
    let data = calib_dir(model, tmp);
    let out = tmp.join(format!("{model}_int8.tflite"));
    let o = tinyforge()
        .arg("quantize")
        .arg(
            root()
                .join("testdata/models")
                .join(format!("{model}.tflite")),
        )
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (j, out)
}

#[test]
fn quantizes_resnet_from_raw_sample_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, out) = quantize_json("pretrainedResnet", tmp.path(), &[]);
    eprintln!("{j}");
    let before = j["bytes_before"].as_u64().unwrap() as f64;
    let after = j["bytes_after"].as_u64().unwrap() as f64;
    assert!(after < 0.3 * before, "{after} of {before}");
    assert_eq!(std::fs::metadata(&out).unwrap().len() as f64, after);
    // No labels in a raw folder: accuracies are null, agreement is reported.
    assert!(j["accuracy_before"].is_null() && j["accuracy_after"].is_null());
    // Unlabelled raw samples both calibrate and measure here (the held-out protocol is in
    // tinyforge-compress's tests/foreign.rs): with bias correction all 8 agree (7 without).
    assert!(j["argmax_agreement"].as_f64().unwrap() >= 0.95, "{j}");
    assert_eq!(j["bias_corrected"], true, "{j}");
    assert!(!j["layers"].as_array().unwrap().is_empty());
}

#[test]
fn ad01_reconstruction_within_ten_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, _) = quantize_json("ad01_fp32", tmp.path(), &["--calibration", "minmax"]);
    assert_eq!(j["calibration"], "minmax");
    assert!(j["output_rel_error"].as_f64().unwrap() <= 0.10, "{j}");
}

#[test]
fn qat_without_labels_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = calib_dir("pretrainedResnet", tmp.path());
    let out = tmp.path().join("x.tflite");
    let o = tinyforge()
        .arg("quantize")
        .arg(root().join("testdata/models/pretrainedResnet.tflite"))
        .args(["--bits", "4", "--qat", "1", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--qat needs labelled --data"), "{err}");
    assert!(!out.exists());
}

#[test]
fn mismatched_calibration_data_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    // 1000 floats: not a whole number of 32×32×3 samples.
    std::fs::write(dir.join("odd.bin"), vec![0u8; 4000]).unwrap();
    let o = tinyforge()
        .arg("quantize")
        .arg(root().join("testdata/models/pretrainedResnet.tflite"))
        .arg("--data")
        .arg(&dir)
        .arg("--out")
        .arg(tmp.path().join("x.tflite"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error:") && err.contains("odd.bin"),
        "{err}"
    );
    assert!(!tmp.path().join("x.tflite").exists());
}

/// LiteRT loads and runs `model` (the default, LiteRT-compatible form); false when no Python
/// with `ai_edge_litert` is found (skipped, or a failure under TINYFORGE_REQUIRE_TOOLS).
fn litert_loads(model: &Path) -> bool {
    let Some(py) = python_with("ai_edge_litert") else {
        return false;
    };
    let o = Command::new(py)
        .arg("-c")
        .arg(
            "import sys, numpy as np\n\
             from ai_edge_litert.interpreter import Interpreter\n\
             it = Interpreter(model_path=sys.argv[1]); it.allocate_tensors()\n\
             d = it.get_input_details()[0]\n\
             it.set_tensor(d['index'], np.zeros(d['shape'], d['dtype'])); it.invoke()\n",
        )
        .arg(model)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "LiteRT cannot run {}: {}",
        model.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    true
}

#[test]
fn quantized_models_run_byte_identically_in_tflm() {
    let tmp = tempfile::tempdir().unwrap();
    for (model, len, bits, tflm_only) in [
        ("pretrainedResnet", 32 * 32 * 3, "8", false),
        ("ad01_fp32", 640, "8", false),
        ("pretrainedResnet", 32 * 32 * 3, "4", false),
        ("ad01_fp32", 640, "4", false),
        ("pretrainedResnet", 32 * 32 * 3, "8", true),
        ("ad01_fp32", 640, "4", true),
    ] {
        let extra: &[&str] = if tflm_only {
            &["--bits", bits, "--tflm-only"]
        } else {
            &["--bits", bits]
        };
        let (j, out) = quantize_json(model, tmp.path(), extra);
        println!(
            "{model} {bits}-bit{}: {} of {} bytes",
            if tflm_only { " (TFLM only)" } else { "" },
            j["bytes_after"],
            j["bytes_before"]
        );
        // LiteRT has no INT4 kernels for these ops; the int8 default form must load there.
        if !tflm_only && bits == "8" && !litert_loads(&out) {
            return;
        }
        let inputs = tmp.path().join(format!("{model}_in.bin"));
        int8_inputs(&inputs, 8, len);
        if !tflm_matches_tinyforge(&out, &inputs, tmp.path()) {
            return;
        }
    }
}

/// A small MNIST recipe (512 train / 256 test images, a conv + dense net, one epoch).
fn mnist_recipe(dir: &Path) -> PathBuf {
    let p = dir.join("recipe.toml");
    std::fs::write(&p, common::tiny_mnist_recipe(512, 1, "")).unwrap();
    p
}

/// `--data recipe.toml` reads the recipe's [data] path and split as `train` does: 512 train
/// images (calibration and method choice), 256 test images (accuracy).
#[test]
fn recipe_toml_as_data_uses_its_split() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = mnist_recipe(tmp.path());
    let out = tmp.path().join("train");
    let o = tinyforge()
        .arg("train")
        .arg(&recipe)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q = tmp.path().join("q.tflite");
    let o = tinyforge()
        .arg("quantize")
        .arg(out.join("model.tflite"))
        .arg("--data")
        .arg(&recipe)
        .args(["--calibration-samples", "100", "--json", "--out"])
        .arg(&q)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["calibration_samples"], 100, "{j}");
    assert_eq!(j["test_samples"], 256, "{j}");
    let (before, after) = (
        j["accuracy_before"].as_f64().unwrap(),
        j["accuracy_after"].as_f64().unwrap(),
    );
    // One epoch learns well beyond chance (0.1); quantization keeps what was learnt.
    assert!(before > 0.2 && (before - after).abs() < 0.03, "{j}");

    // The same model against data of the wrong shape, one clear error per kind naming the file.
    let digits = root().join("data/digits/digits.csv");
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[data]\npath = \"{}\"\nsplit = {{ by = \"ranges\", train = {{ first = 100 }}, test = {{ last = 50 }} }}\n",
            digits.display()
        ),
    )
    .unwrap();
    for (data, names) in [
        (bad.clone(), "digits.csv"),
        (digits.clone(), "digits.csv"),
        (root().join("testdata/reference/ad01_fp32"), "ad01_fp32"),
    ] {
        let o = tinyforge()
            .arg("quantize")
            .arg(out.join("model.tflite"))
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(tmp.path().join("x.tflite"))
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(names), "{err}");
        assert!(!tmp.path().join("x.tflite").exists());
    }
}

/// MNIST IDX images (28×28) against a 32×32×3 model: one clear error naming the data and both
/// shapes.
#[test]
fn idx_data_of_the_wrong_shape_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tinyforge()
        .arg("quantize")
        .arg(root().join("testdata/models/pretrainedResnet.tflite"))
        .arg("--data")
        .arg(root().join("data/mnist"))
        .arg("--out")
        .arg(tmp.path().join("x.tflite"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("mnist") && err.contains("784") && err.contains("3072"),
        "{err}"
    );
}
