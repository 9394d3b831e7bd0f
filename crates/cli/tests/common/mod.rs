//! Helpers shared by the CLI tests that cross-check against the Python reference runtimes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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
