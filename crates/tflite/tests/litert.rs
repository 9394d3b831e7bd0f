//! Files written by tinyforge load in LiteRT and TFLite Micro and compute the reference
//! outputs: for each testdata model, read → write → run on every reference set's inputs →
//! compare with the set's outputs (bit for bit; the TFLM run compares with `*_tflm.bin` where
//! the manifest has one).
//!
//! Needs a Python with `ai_edge_litert` (and `tflite_micro` for the TFLM test): `$TINYFORGE_PYTHON`,
//! else `/work/venv-tf/bin/python`, else `.venv/bin/python` in the repo. Without one the tests
//! print `SKIPPED: …` and pass, unless `TINYFORGE_REQUIRE_TOOLS=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn python_with(module: &str) -> Option<PathBuf> {
    let candidates = match std::env::var_os("TINYFORGE_PYTHON") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            PathBuf::from("/work/venv-tf/bin/python"),
            common::repo_root().join(".venv/bin/python"),
        ],
    };
    candidates.into_iter().filter(|p| p.exists()).find(|p| {
        Command::new(p)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The interpreter to use, or `None` after printing why the test is skipped.
fn python_or_skip(module: &str) -> Option<PathBuf> {
    let found = python_with(module);
    if found.is_none() {
        let msg = format!(
            "no python with `{module}` (set TINYFORGE_PYTHON, or create /work/venv-tf or .venv)"
        );
        if std::env::var("TINYFORGE_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("TINYFORGE_REQUIRE_TOOLS=1 but {msg}");
        }
        println!("SKIPPED: {msg}");
    }
    found
}

/// Writes every testdata model back out and runs it with `runtime`; returns the comparisons made.
fn run_all(python: &Path, runtime: &str, prefer_tflm_outputs: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_tflite.py");
    let mut compared = 0;
    for (name, path) in common::models() {
        let graph = tinyforge_tflite::read_file(&path).unwrap();
        let model = dir.path().join(format!("{name}.tflite"));
        std::fs::write(&model, tinyforge_tflite::write(&graph).unwrap()).unwrap();
        let ref_dir = common::repo_root().join(format!("testdata/reference/{name}"));
        let manifest_path = ref_dir.join("manifest.json");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
        if runtime == "tflm" && manifest["tflm"]["error"].is_string() {
            // The original cannot run there either (kws float32 is a hybrid model).
            println!("tflm: {name} skipped: {}", manifest["tflm"]["error"]);
            continue;
        }
        for (set, spec) in manifest["sets"].as_object().unwrap() {
            let out = Command::new(python)
                .arg(&script)
                .args([runtime, model.to_str().unwrap()])
                .arg(&manifest_path)
                .args([set, dir.path().to_str().unwrap()])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{runtime} failed on written {name} ({set}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for (k, o) in spec["outputs"].as_array().unwrap().iter().enumerate() {
                let file = o["file"].as_str().unwrap();
                let tflm_file = file.replace(".bin", "_tflm.bin");
                let expected_path = if prefer_tflm_outputs && ref_dir.join(&tflm_file).exists() {
                    ref_dir.join(tflm_file)
                } else {
                    ref_dir.join(file)
                };
                let expected = std::fs::read(&expected_path).unwrap();
                let got = std::fs::read(dir.path().join(format!("{set}_output{k}.bin"))).unwrap();
                assert_eq!(
                    got.len(),
                    expected.len(),
                    "{runtime} {name} {set} output {k} size"
                );
                let mismatches = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
                assert_eq!(
                    mismatches,
                    0,
                    "{runtime} on written {name} ({set}) output {k} differs from {}",
                    expected_path.display()
                );
                compared += 1;
            }
        }
        println!("{runtime}: written {name} matches the reference");
    }
    compared
}

#[test]
fn written_models_match_reference_in_litert() {
    let Some(python) = python_or_skip("ai_edge_litert.interpreter") else {
        return;
    };
    let n = run_all(&python, "litert", false);
    assert!(n >= 14, "compared {n} outputs");
}

#[test]
fn written_models_match_reference_in_tflite_micro() {
    let Some(python) = python_or_skip("tflite_micro.python.tflite_micro.runtime") else {
        return;
    };
    let n = run_all(&python, "tflm", true);
    assert!(n >= 13, "compared {n} outputs");
}
