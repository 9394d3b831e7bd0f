//! Helpers shared by the CLI tests that cross-check against the Python reference runtimes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root: recipes and test data are named relative to it.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tests' small MNIST recipe — conv 3×3/2 (8 filters) → max-pool → dense, trained in
/// seconds on the first `train_images` bundled images and tested on the last 256; `extra_train`
/// adds lines to its [train] section.
pub fn tiny_mnist_recipe(train_images: usize, epochs: usize, extra_train: &str) -> String {
    format!(
        r#"
[data]
path = "{}"
split = {{ by = "ranges", train = {{ first = {train_images} }}, test = {{ last = 256 }} }}

[model]
input = [28, 28, 1]
[[model.layer]]
type = "conv2d"
filters = 8
kernel = 3
stride = 2
activation = "relu"
[[model.layer]]
type = "max_pool"
pool = 2
[[model.layer]]
type = "flatten"
[[model.layer]]
type = "dense"
units = 10

[train]
epochs = {epochs}
batch_size = 64
lr = 2e-2
seed = 3
{extra_train}
"#,
        root().join("data/mnist").display()
    )
}

/// A Python that can import `module`, or `None` after printing a SKIPPED line (a failure when
/// `TINYFORGE_REQUIRE_TOOLS=1`).
pub fn python_with(module: &str) -> Option<PathBuf> {
    let candidates = match std::env::var_os("TINYFORGE_PYTHON") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            PathBuf::from("/work/venv-tf/bin/python"),
            root().join(".venv/bin/python"),
        ],
    };
    let found = candidates.into_iter().find(|p| {
        p.exists()
            && Command::new(p)
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success())
    });
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

/// Runs MODEL in TFLite Micro on the raw int8 input file (N samples) and writes the outputs.
pub const TFLM_RUN: &str = r#"
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime as tflm
model, inp, out = sys.argv[1:4]
interp = tflm.Interpreter.from_bytes(open(model, "rb").read(), arena_size=16 << 20)
d = interp.get_input_details(0)
shape, dtype = d["shape"], d["dtype"]
x = np.fromfile(inp, dtype=dtype).reshape((-1,) + tuple(shape))
outs = []
for s in x:
    interp.reset()
    interp.set_input(s, 0)
    interp.invoke()
    outs.append(interp.get_output(0).copy())
np.stack(outs).tofile(out)
"#;

/// Our int8 file in TFLM gives byte-identical outputs to `tinyforge run` on the same inputs;
/// false when no Python with `tflite_micro` is found (skipped, or a failure under
/// TINYFORGE_REQUIRE_TOOLS).
pub fn tflm_matches_tinyforge(model: &Path, inputs: &Path, tmp: &Path) -> bool {
    let Some(py) = python_with("tflite_micro") else {
        return false;
    };
    let script = tmp.join("tflm_run.py");
    std::fs::write(&script, TFLM_RUN).unwrap();
    let ours = tmp.join("ours.bin");
    let theirs = tmp.join("tflm.bin");
    let o = Command::new(env!("CARGO_BIN_EXE_tinyforge"))
        .arg("run")
        .arg(model)
        .arg("--input")
        .arg(inputs)
        .arg("--output")
        .arg(&ours)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(py)
        .arg(&script)
        .arg(model)
        .arg(inputs)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (
        std::fs::read(&ours).unwrap(),
        std::fs::read(&theirs).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let diff = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(
        diff,
        0,
        "{diff} of {} output bytes differ from TFLite Micro",
        a.len()
    );
    println!(
        "{}: {} output bytes identical in TFLite Micro",
        model.display(),
        a.len()
    );
    true
}

/// Int8 inputs covering the whole range, deterministic.
pub fn int8_inputs(path: &Path, samples: usize, len: usize) {
    let mut state = 0x1234_5678u32;
    let bytes: Vec<u8> = (0..samples * len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}
