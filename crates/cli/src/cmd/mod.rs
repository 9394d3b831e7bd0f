//! One module per subcommand, plus the few helpers they share (loading a model with an error
//! that names the file).
use std::path::Path;

use anyhow::Context;
use tinyforge_graph::Graph;

pub mod bench;
pub mod deploy;
pub mod eval;
pub mod inspect;
pub mod mcu_run;
pub mod pipeline;
pub mod prune;
pub mod quantize;
pub mod run;
pub mod train;

/// Reads a `.tflite` file into the IR; the error names the file and the fault.
pub fn load_model(path: &Path) -> anyhow::Result<Graph> {
    tinyforge_tflite::read_file(path).with_context(|| format!("{}", path.display()))
}

/// Builds a runtime for `graph`; the error names the model file.
pub fn load_runtime(path: &Path) -> anyhow::Result<tinyforge_runtime::Runtime> {
    let graph = load_model(path)?;
    tinyforge_runtime::Runtime::new(graph)
        .with_context(|| format!("{}: cannot prepare the model", path.display()))
}
