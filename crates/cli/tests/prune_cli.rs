//! End-to-end tests of `tinyforge prune`: unstructured pruning to a target and to an accuracy
//! floor on the UCI digits, structured pruning of a small DS-CNN on MNIST, and byte-identical
//! outputs of the pruned int8 models in TFLite Micro (our runtime runs the pruned FC filters
//! through the sparse kernels, TFLM runs the same file dense).
//!
//! The TFLM check needs a Python with `tflite_micro`: `$TINYFORGE_PYTHON`, else
//! `/work/venv-tf/bin/python`, else `.venv/bin/python`. Without one it prints
//! `SKIPPED: …` and passes, unless `TINYFORGE_REQUIRE_TOOLS=1`.
mod common;
use common::{int8_inputs, root, tflm_matches_tinyforge};
use std::path::Path;
use std::process::Command;

use rand::SeedableRng;
use tinyforge_compress::prune::{finetune, FineTune};
use tinyforge_train::layers::*;
use tinyforge_train::Model;

fn tinyforge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tinyforge"));
    c.current_dir(root());
    c
}

fn run_json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let o = tinyforge().args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap()
}

/// Trains `m` briefly on `data` and writes it as a float `.tflite`.
fn write_trained(mut m: Model, data: &str, epochs: usize, path: &Path) {
    let spec = tinyforge_data::DataSpec::from_path(root().join(data));
    let ds = tinyforge_data::load(&spec).unwrap();
    let ds = ds.subset_range(0..ds.len().min(8000)).unwrap();
    let ft = FineTune {
        epochs,
        batch_size: 32,
        lr: 3e-3,
        seed: 0,
        augment_shift: 0,
    };
    finetune::train(&mut m, &ds, &ft, 0, &mut |_, _| Ok(()), &mut |_, _| Ok(())).unwrap();
    let g = tinyforge_train::export::export_graph(&m).unwrap();
    std::fs::write(path, tinyforge_tflite::write(&g).unwrap()).unwrap();
}

fn digits_mlp() -> Model {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut m = Model::new(&[64]);
    m.push(Layer::Dense(
        Dense::new(64, 48, true, &mut rng).with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::Dense(Dense::new(48, 10, true, &mut rng)))
        .unwrap();
    m
}

fn zeros_fraction_of_kernels(path: &Path) -> f32 {
    let g = tinyforge_tflite::read_file(path).unwrap();
    let (mut z, mut n) = (0usize, 0usize);
    for node in &g.nodes {
        if let Some(Some(f)) = node.inputs.get(1) {
            let t = &g.tensors[*f];
            if let (Some(d), tinyforge_graph::DType::F32) = (&t.data, t.dtype) {
                for c in d.chunks_exact(4) {
                    n += 1;
                    z += usize::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) == 0.0);
                }
            }
        }
    }
    z as f32 / n.max(1) as f32
}

#[test]
fn unstructured_target_and_accuracy_floor_on_digits() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("mlp.tflite");
    write_trained(digits_mlp(), "data/digits/digits.csv", 6, &base);
    let out = tmp.path().join("p70.tflite");
    let j = run_json(&[
        "prune".as_ref(),
        base.as_os_str(),
        "--data".as_ref(),
        "data/digits/digits.csv".as_ref(),
        "--sparsity".as_ref(),
        "0.7".as_ref(),
        "--epochs".as_ref(),
        "6".as_ref(),
        "--lr".as_ref(),
        "1e-3".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    let s = j["sparsity"].as_f64().unwrap();
    assert!((s - 0.7).abs() < 0.01, "{j}");
    let (before, after) = (
        j["accuracy_before"].as_f64().unwrap(),
        j["accuracy_after"].as_f64().unwrap(),
    );
    assert!(before > 0.85 && after > 0.75, "{j}");
    assert!((zeros_fraction_of_kernels(&out) - 0.7).abs() < 0.02);
    let curve = std::fs::read_to_string(tmp.path().join("p70.curve.csv")).unwrap();
    assert!(curve.starts_with("round,sparsity,accuracy\n") && curve.lines().count() >= 3);

    let floor = 0.85;
    let out2 = tmp.path().join("floor.tflite");
    let j = run_json(&[
        "prune".as_ref(),
        base.as_os_str(),
        "--data".as_ref(),
        "data/digits/digits.csv".as_ref(),
        "--min-accuracy".as_ref(),
        "85".as_ref(),
        "--epochs".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        out2.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(j["floor_met"], serde_json::json!(true), "{j}");
    let after = j["accuracy_after"].as_f64().unwrap();
    let s = j["sparsity"].as_f64().unwrap();
    assert!(after >= floor && s >= 0.5, "{j}");
    // No sparser model of the run met the floor.
    let curve = std::fs::read_to_string(tmp.path().join("floor.curve.csv")).unwrap();
    for line in curve.lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        if v[1] > s + 1e-3 {
            assert!(v[2] < floor, "{line} is sparser and met the floor");
        }
    }

    // The pruned model, quantized, runs byte-identically in TFLite Micro (sparse FC here).
    let q = tmp.path().join("p70_int8.tflite");
    let o = tinyforge()
        .args(["quantize".as_ref(), out.as_os_str(), "--data".as_ref()])
        .arg("data/digits/digits.csv")
        .arg("--out")
        .arg(&q)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let inputs = tmp.path().join("in.bin");
    int8_inputs(&inputs, 16, 64);
    tflm_matches_tinyforge(&q, &inputs, tmp.path());
}

fn small_dscnn() -> Model {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut m = Model::new(&[28, 28, 1]);
    m.push(Layer::Conv2d(Conv2d::new(
        1,
        16,
        (3, 3),
        (2, 2),
        Padding::Same,
        false,
        &mut rng,
    )))
    .unwrap();
    m.push(Layer::BatchNorm(
        BatchNorm::new(16).with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::DepthwiseConv2d(DepthwiseConv2d::new(
        16,
        (3, 3),
        (1, 1),
        Padding::Same,
        false,
        &mut rng,
    )))
    .unwrap();
    m.push(Layer::BatchNorm(
        BatchNorm::new(16).with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::Conv2d(Conv2d::new(
        16,
        32,
        (1, 1),
        (1, 1),
        Padding::Same,
        false,
        &mut rng,
    )))
    .unwrap();
    m.push(Layer::BatchNorm(
        BatchNorm::new(32).with_activation(Activation::Relu),
    ))
    .unwrap();
    m.push(Layer::GlobalAvgPool(GlobalAvgPool::new())).unwrap();
    m.push(Layer::Dense(Dense::new(32, 10, true, &mut rng)))
        .unwrap();
    m
}

#[test]
fn structured_halves_macs_and_stays_bit_exact_in_tflm() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("ds.tflite");
    write_trained(small_dscnn(), "data/mnist", 1, &base);
    let out = tmp.path().join("half.tflite");
    let j = run_json(&[
        "prune".as_ref(),
        base.as_os_str(),
        "--data".as_ref(),
        "data/mnist".as_ref(),
        "--structured".as_ref(),
        "--epochs".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    let (m0, m1) = (
        j["macs_before"].as_f64().unwrap(),
        j["macs_after"].as_f64().unwrap(),
    );
    assert!(m1 <= 0.6 * m0, "{j}");
    assert!(j["params_after"].as_f64().unwrap() < 0.6 * j["params_before"].as_f64().unwrap());
    let q = tmp.path().join("half_int8.tflite");
    let o = tinyforge()
        .args(["quantize".as_ref(), out.as_os_str(), "--data".as_ref()])
        .arg("data/mnist")
        .arg("--out")
        .arg(&q)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let inputs = tmp.path().join("in.bin");
    int8_inputs(&inputs, 4, 28 * 28);
    tflm_matches_tinyforge(&q, &inputs, tmp.path());
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let o = tinyforge()
        .args([
            "prune",
            "testdata/models/ad01_fp32.tflite",
            "--data",
            "data/digits/digits.csv",
        ])
        .args(["--out", "/nonexistent/x.tflite"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error:") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn pipeline_prunes_when_the_recipe_asks() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = tmp.path().join("tiny.toml");
    let data = root().join("data/mnist");
    std::fs::write(
        &recipe,
        format!(
            r#"
[data]
path = "{}"
split = {{ by = "ranges", train = {{ first = 512 }}, test = {{ last = 256 }} }}

[model]
input = [28, 28, 1]
[[model.layer]]
type = "conv2d"
filters = 8
kernel = 3
stride = 2
activation = "relu"
[[model.layer]]
type = "ds_block"
filters = 16
stride = 2
[[model.layer]]
type = "global_avg_pool"
[[model.layer]]
type = "dense"
units = 10

[train]
epochs = 1
batch_size = 64
lr = 5e-3
schedule = "cosine"

[prune]
sparsity = 0.5
epochs = 1
min_weights = 0
include_depthwise = true
"#,
            data.display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("pipe");
    let v = run_json(&[
        "pipeline".as_ref(),
        "--config".as_ref(),
        recipe.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    let p = &v["prune"];
    assert_eq!(p["mode"], "unstructured", "{v}");
    assert!((p["sparsity"].as_f64().unwrap() - 0.5).abs() < 0.01, "{v}");
    // The later stages work on the pruned model.
    assert!(
        v["model_path"]
            .as_str()
            .unwrap()
            .ends_with("model_int8.tflite"),
        "{v}"
    );
    assert!(v["int8_accuracy"].as_f64().is_some(), "{v}");
    assert!((zeros_fraction_of_kernels(&out.join("model_pruned.tflite")) - 0.5).abs() < 0.05);

    // `enabled = false` keeps the section but skips the stage; a typo is one clear error.
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        text.replace("[prune]\n", "[prune]\nenabled = false\n"),
    )
    .unwrap();
    let v = run_json(&[
        "pipeline".as_ref(),
        "--config".as_ref(),
        recipe.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(v["prune"].is_null(), "{v}");
    std::fs::write(
        &recipe,
        text.replace("[prune]\n", "[prune]\nsparsty = 0.5\n"),
    )
    .unwrap();
    let o = tinyforge()
        .args(["pipeline", "--config"])
        .arg(&recipe)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("[prune]") && err.contains("sparsty"), "{err}");
}
