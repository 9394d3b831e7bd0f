//! `tinyforge quantize` with 2-bit weights, mixed precision and the per-layer sensitivity
//! report, on a tiny MNIST net trained in seconds (conv 3×3/2 → max-pool → dense).
mod common;
use common::root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tinyforge"));
    c.current_dir(root());
    c
}

fn ok(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Trains the tiny float model and returns its path.
fn tiny_model(dir: &Path) -> PathBuf {
    let cfg = dir.join("tiny.toml");
    std::fs::write(
        &cfg,
        common::tiny_mnist_recipe(1024, 2, r#"schedule = "cosine""#),
    )
    .unwrap();
    let out = dir.join("train");
    let o = bin()
        .arg("train")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("model.tflite")
}

fn quantize(model: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("quantize")
        .arg(model)
        .args(["--data", "data/mnist", "--calibration", "minmax"])
        .args(extra)
        .output()
        .unwrap()
}

fn layer_dtypes(j: &serde_json::Value) -> Vec<String> {
    j["layer_bits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["dtype"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_bit_mixed_precision_and_sensitivity() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());

    // Sensitivity: one row per weighted layer (conv, dense), 4- and 2-bit accuracies.
    let rows = ok(&quantize(&model, &["--sensitivity", "--json"]));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["op"], "CONV_2D");
    assert_eq!(rows[1]["op"], "FULLY_CONNECTED");
    for r in rows {
        for k in ["accuracy_4bit", "accuracy_2bit", "drop_4bit", "drop_2bit"] {
            let v = r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
            assert!((-1.0..=1.0).contains(&v), "{k} = {v}");
        }
        assert!(r["accuracy_int8"].as_f64().unwrap() > 0.5, "{r}");
    }

    // All layers at 2 bits: packed four a byte, and the model runs (accuracy measured).
    let out2 = dir.path().join("int2.tflite");
    let j = ok(&quantize(
        &model,
        &["--bits", "2", "--json", "--out", out2.to_str().unwrap()],
    ));
    assert_eq!(layer_dtypes(&j), ["int2", "int2"]);
    assert_eq!(j["layer_bits"][0]["bytes"], 8 * 9 / 4);
    assert!(j["accuracy_after"].as_f64().unwrap() > 0.1);
    let inspect = bin().arg("inspect").arg(&out2).output().unwrap();
    assert!(inspect.status.success());

    // Mixed precision with QAT: conv at 2 bits from the per-layer file, dense at 8.
    let per = dir.path().join("bits.toml");
    std::fs::write(&per, "default = 8\n[layers]\n\"0\" = 2\n").unwrap();
    let outm = dir.path().join("mixed.tflite");
    let j = ok(&quantize(
        &model,
        &[
            "--per-layer",
            per.to_str().unwrap(),
            "--qat",
            "1",
            "--json",
            "--out",
            outm.to_str().unwrap(),
        ],
    ));
    assert_eq!(layer_dtypes(&j), ["int2", "int8"]);
    assert!(j["accuracy_after"].as_f64().unwrap() > 0.5, "{j}");

    // Bad per-layer files: one clear error naming the file and the fault.
    for (text, needle) in [
        ("[layers]\n\"nonesuch\" = 2\n", "nonesuch"),
        ("[layers]\n\"0\" = 3\n", "3 bits"),
        ("[layers]\n\"1\" = 4\n", "has no weights"),
        ("default = 5\n", "default = 5"),
    ] {
        std::fs::write(&per, text).unwrap();
        let o = quantize(
            &model,
            &[
                "--per-layer",
                per.to_str().unwrap(),
                "--out",
                outm.to_str().unwrap(),
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{text}");
        assert!(err.contains(needle) && err.contains("bits.toml"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
