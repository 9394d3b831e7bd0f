//! End-to-end tests of `tinyforge train`, `eval` and `pipeline` on small recipes (a few hundred
//! MNIST images, a tiny net, 1–2 epochs): JSON output, the exported model evaluated by the
//! runtime agrees with the engine, `--resume` after an interruption ends bit-identical to an
//! uninterrupted run, and bad configs or data give one error line naming the file.
mod common;
use common::root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The binary, run from the repository root (recipes name `data/…` relative to it).
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tinyforge"));
    c.current_dir(root());
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "failed: {}", stderr(o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert_eq!(s.trim().lines().count(), 1, "one JSON object expected: {s}");
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("bad JSON {e}: {s}"))
}

fn assert_clean_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "error does not name {needle}: {err}");
    assert!(err.starts_with("error: "), "not an error line: {err}");
    assert_eq!(err.trim().lines().count(), 1, "more than one line: {err}");
}

/// A small recipe: 512 training and 256 test images, a conv + DS block net. The DS block has
/// batch norm, whose running statistics (momentum 0.99) barely move in 16 steps, so the
/// accuracy test uses `tiny_recipe_no_bn` (conv, max-pool, dense).
fn tiny_recipe(dir: &Path, schedule: &str, data: &str) -> PathBuf {
    let p = dir.join(format!("tiny_{schedule}.toml"));
    std::fs::write(&p, recipe_text(schedule, data, true)).unwrap();
    p
}

fn tiny_recipe_no_bn(dir: &Path) -> PathBuf {
    let p = dir.join("tiny_no_bn.toml");
    std::fs::write(&p, recipe_text("cosine", "data/mnist", false)).unwrap();
    p
}

fn recipe_text(schedule: &str, data: &str, bn: bool) -> String {
    // Without batch norm: conv, max-pool, dense — learns in a few steps at a high rate.
    let (block, lr) = if bn {
        ("type = \"ds_block\"\nfilters = 16\nstride = 2\n[[model.layer]]\ntype = \"global_avg_pool\"", "5e-3")
    } else {
        (
            "type = \"max_pool\"\npool = 2\n[[model.layer]]\ntype = \"flatten\"",
            "2e-2",
        )
    };
    format!(
        r#"
[data]
path = "{data}"
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
{block}
[[model.layer]]
type = "dense"
units = 10

[train]
epochs = 2
batch_size = 64
lr = {lr}
schedule = "{schedule}"
seed = 3
augment = {{ shift = 2 }}
"#
    )
}

fn train(config: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("train")
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn train_json_then_eval_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_recipe_no_bn(dir.path());
    let out = dir.path().join("run");
    let v = json(&train(&cfg, &out, &["--json"]));
    let acc = v["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(
        acc > 0.35,
        "2 epochs on 512 images should beat chance: {acc}"
    );
    assert_eq!(v["epochs"], 2);
    assert!(v["wall_seconds"].as_f64().unwrap() > 0.0);
    assert!(v["params"].as_u64().unwrap() > 100);
    let model = PathBuf::from(v["model_path"].as_str().unwrap());
    assert!(model.exists());
    assert!(out.join("checkpoint.safetensors").exists());

    // The runtime on the exported file, on the recipe's own test split.
    let e = json(
        &bin()
            .args(["eval"])
            .arg(&model)
            .arg("--data")
            .arg(&cfg)
            .arg("--json")
            .output()
            .unwrap(),
    );
    assert_eq!(e["samples"], 256);
    let racc = e["test_accuracy"].as_f64().unwrap();
    assert!(
        (racc - acc).abs() <= 1.0 / 256.0 + 1e-6,
        "runtime {racc} vs engine {acc}"
    );

    // MNIST's product default split: the last 2,000 images.
    let e = json(
        &bin()
            .args(["eval"])
            .arg(&model)
            .args(["--data", "data/mnist", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(e["samples"], 2000);
    let e = json(
        &bin()
            .args(["eval"])
            .arg(&model)
            .args(["--data", "data/mnist", "--split", "all", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(e["samples"], 10000);
}

/// Killed after epoch 1 (as a process would be mid-epoch 2, the last checkpoint being epoch 1),
/// then resumed: the same model file and accuracy as a straight run, under a cosine schedule
/// that depends on the total length. And a 1-epoch run extended to 2 with --resume --epochs 2
/// under a constant schedule.
#[test]
fn resume_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    for schedule in ["cosine", "constant"] {
        let cfg = tiny_recipe(dir.path(), schedule, "data/mnist");
        let straight = dir.path().join(format!("straight_{schedule}"));
        let a = json(&train(&cfg, &straight, &["--json"]));

        let resumed = dir.path().join(format!("resumed_{schedule}"));
        let first = if schedule == "cosine" {
            let o = train(&cfg, &resumed, &["--stop-after", "1"]);
            assert_clean_failure(&o, "--resume");
            o
        } else {
            let o = train(&cfg, &resumed, &["--epochs", "1", "--json"]);
            assert_eq!(json(&o)["epochs"], 1);
            o
        };
        drop(first);
        let b = json(&train(
            &cfg,
            &resumed,
            &["--resume", "--epochs", "2", "--json"],
        ));
        assert_eq!(b["epochs"], 2);
        assert_eq!(a["test_accuracy"], b["test_accuracy"], "{schedule}");
        assert_eq!(a["test_loss"], b["test_loss"], "{schedule}");
        let fa = std::fs::read(straight.join("model.tflite")).unwrap();
        let fb = std::fs::read(resumed.join("model.tflite")).unwrap();
        assert!(
            fa == fb,
            "{schedule}: resumed weights differ from the straight run"
        );
    }
}

#[test]
fn bad_configs_and_data_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");

    let missing = dir.path().join("nope.toml");
    assert_clean_failure(&train(&missing, &out, &[]), "nope.toml");

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[data\npath = 1").unwrap();
    assert_clean_failure(&train(&broken, &out, &[]), "broken.toml");

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        "[data]\npath = \"data/mnist\"\n[model]\nbuilder = \"nonesuch\"\n[train]\nepochs = 1\n",
    )
    .unwrap();
    assert_clean_failure(&train(&unknown, &out, &[]), "nonesuch");

    let nodata = tiny_recipe(dir.path(), "cosine", "data/does_not_exist");
    assert_clean_failure(&train(&nodata, &out, &[]), "data/does_not_exist");

    // A corrupt MNIST folder: the error names the bad file.
    let bad = dir.path().join("badmnist");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("t10k-images-idx3-ubyte.gz"), b"not a gzip file").unwrap();
    std::fs::copy(
        root().join("data/mnist/t10k-labels-idx1-ubyte.gz"),
        bad.join("t10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let cfg = tiny_recipe(dir.path(), "constant", bad.to_str().unwrap());
    assert_clean_failure(&train(&cfg, &out, &[]), "t10k-images-idx3-ubyte.gz");

    // eval: a missing model and a dataset without a default split.
    let o = bin()
        .args(["eval", "missing.tflite", "--data", "data/mnist"])
        .output()
        .unwrap();
    assert_clean_failure(&o, "missing.tflite");
    let o = bin()
        .args(["eval"])
        .arg(root().join("testdata/models/hello_world_float.tflite"))
        .args(["--data", "data/digits/digits.csv"])
        .output()
        .unwrap();
    assert_clean_failure(&o, "digits.csv");

    // --resume with a corrupt checkpoint.
    let cfg = tiny_recipe(dir.path(), "constant", "data/mnist");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("checkpoint.safetensors"), b"garbage").unwrap();
    assert_clean_failure(&train(&cfg, &out, &["--resume"]), "checkpoint.safetensors");
}

#[test]
fn pipeline_runs_its_stages() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_recipe(dir.path(), "cosine", "data/mnist");
    let out = dir.path().join("pipe");
    let o = bin()
        .args(["pipeline", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .args(["--epochs", "1", "--json"])
        .output()
        .unwrap();
    let v = json(&o);
    assert_eq!(v["epochs"], 1);
    assert!(v["tflite_accuracy"].as_f64().is_some());
    assert!(v["peak_sram_bytes"].as_u64().unwrap() > 0);
    assert!(v["flash_bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["fits"], true);
    assert!(out.join("model.tflite").exists());
}
