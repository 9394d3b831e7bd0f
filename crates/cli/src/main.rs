//! The `tinyforge` binary: a thin clap-derive dispatcher over the library crates.
//!
//! Each subcommand lives in its own module under `cmd/` with an `Args` struct and a
//! `run(args) -> anyhow::Result<()>`; adding a command is one module, one enum variant and one
//! match arm here. Errors print as a single `error: …` line (with the file and the fault) and
//! exit with a non-zero code; no command panics on bad input.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Debug, Parser)]
#[command(
    name = "tinyforge",
    version,
    about = "TinyML toolkit: inspect, run and benchmark models for microcontrollers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Per-layer cost table, planned peak SRAM, flash estimate and device fit check.
    Inspect(cmd::inspect::Args),
    /// Run inference on raw little-endian input tensors and write the outputs.
    Run(cmd::run::Args),
    /// Median host latency per inference.
    Bench(cmd::bench::Args),
    /// Quantize a float model to int8 (or 4-bit weights) with a before/after summary.
    Quantize(cmd::quantize::Args),
    /// Generate an Arduino library, a C library or a no_std Rust crate for a device.
    Deploy(cmd::deploy::Args),
    /// Build a deployed C library for an emulated Cortex-M4F, run it on QEMU and measure it.
    McuRun(cmd::mcu_run::Args),
    /// Train a float model from a TOML recipe, checkpoint every epoch, export model.tflite.
    Train(cmd::train::Args),
    /// Accuracy of a float or int8 .tflite model on a dataset, in the host runtime.
    Eval(cmd::eval::Args),
    /// Train → export → eval → inspect on the bundled data, with a summary table.
    Pipeline(cmd::pipeline::Args),
    /// Prune a float model (unstructured, block or channel pruning) with fine-tuning.
    Prune(cmd::prune::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Quantize(a) => cmd::quantize::run(a),
        Command::Deploy(a) => cmd::deploy::run(a),
        Command::McuRun(a) => cmd::mcu_run::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Pipeline(a) => cmd::pipeline::run(a),
        Command::Prune(a) => cmd::prune::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error chain on one line, without repeating what an outer message already says (library
/// errors often quote their source, and contexts often name the same file).
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if msg.contains(&s) {
            continue;
        }
        if s.contains(&msg) {
            msg = s;
        } else {
            msg.push_str(": ");
            msg.push_str(&s);
        }
    }
    msg.replace('\n', " ")
}
