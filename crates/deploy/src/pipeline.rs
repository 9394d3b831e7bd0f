//! One call from a graph to generated code: plan the memory with the options the chosen output
//! needs, then emit. This is what the `tinyforge deploy` command drives.
//!
//! C and Arduino outputs use the planner's defaults (conv + add fusion, in-place element-wise
//! ops, reshape views: the smallest arena). The Rust crate runs on the safe-Rust kernels, which
//! cannot write over their inputs, so its plan keeps outputs apart from inputs (views only).
use crate::emit_arduino::emit_arduino_with;
use crate::emit_c::{emit_c_with, EmitOptions, EmittedC};
use crate::emit_rust::{emit_rust_with, EmittedRust};
use crate::error::DeployResult;
use std::path::{Path, PathBuf};
use tinyforge_graph::{plan, Graph, Plan, PlanOptions};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeTarget {
    /// A plain C99 library (`tf_model.c/.h`, `tf_kernels.c/.h`).
    C,
    /// An Arduino library (`library.properties`, `src/`, `examples/`).
    Arduino,
    /// A `no_std` Rust crate depending on `tinyforge-kernels` at `kernels`.
    Rust { kernels: PathBuf },
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emitted {
    C(EmittedC),
    Rust(EmittedRust),
}

/// A plan and the code generated from it.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub plan: Plan,
    pub emitted: Emitted,
}

/// The plan options a target needs (see the module docs).
pub fn plan_options(target: &CodeTarget) -> PlanOptions {
    match target {
        CodeTarget::Rust { .. } => PlanOptions {
            fuse: false,
            in_place: false,
            ..PlanOptions::default()
        },
        _ => PlanOptions::default(),
    }
}

/// Plans `graph` for `target` and writes the generated code into `out_dir`.
pub fn deploy(graph: &Graph, target: &CodeTarget, out_dir: &Path) -> DeployResult<Deployment> {
    deploy_with(graph, target, out_dir, &EmitOptions::default())
}

/// [`deploy`] with explicit [`EmitOptions`].
pub fn deploy_with(
    graph: &Graph,
    target: &CodeTarget,
    out_dir: &Path,
    opts: &EmitOptions,
) -> DeployResult<Deployment> {
    let plan = plan(graph, &plan_options(target))?;
    let emitted = match target {
        CodeTarget::C => Emitted::C(emit_c_with(&plan.graph, &plan, out_dir, opts)?),
        CodeTarget::Arduino => Emitted::C(emit_arduino_with(&plan.graph, &plan, out_dir, opts)?),
        CodeTarget::Rust { kernels } => {
            Emitted::Rust(emit_rust_with(&plan.graph, &plan, out_dir, kernels, opts)?)
        }
    };
    Ok(Deployment { plan, emitted })
}
