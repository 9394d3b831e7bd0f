//! Executes a planned tinyforge graph on the host with the `tinyforge-kernels` kernels, over one
//! activation arena.
//!
//! [`Runtime::new`] does all the work that does not depend on input data, once: validation and
//! shape inference, operator fusion (conv + residual add), memory planning, and the "prepare"
//! step that turns every node into a [`exec::Step`] holding its kernel parameters (requantization
//! multipliers, activation ranges, padding) and the arena regions of its operands.
//! [`Runtime::invoke`] then only copies the inputs in and runs the steps in order.
//!
//! Invariants:
//! - the arena is exactly the planned size, 4-byte aligned; activations live at the planner's
//!   offsets, constants stay in the graph (flash on a device) or in prepared copies;
//! - int8 results are bit-exact with TFLite Micro's reference kernels; float results follow
//!   TFLite's reference float kernels;
//! - no `unsafe`, and no panic on any graph: what cannot be executed is a [`RuntimeError`].
//!
//! Neighbours: `tinyforge-graph` (IR, validation, fusion, planning), `tinyforge-kernels` (the
//! arithmetic), `tinyforge-tflite` (files → IR), the `tinyforge` CLI (`run`, `bench`).
//!
//! ```
//! use tinyforge_graph::build::GraphBuilder;
//! use tinyforge_graph::{Activation, Padding};
//!
//! let mut b = GraphBuilder::new("tiny");
//! let x = b.input("x", &[1, 8, 8, 1]);
//! let y = b.conv2d(x, 4, (3, 3), 1, Padding::Same, Activation::Relu).unwrap();
//! let mut rt = tinyforge_runtime::Runtime::new(b.finish(&[y])).unwrap();
//! let input = vec![3u8; rt.input_bytes(0)];
//! rt.invoke(&[&input]).unwrap();
//! assert_eq!(rt.output(0).len(), 8 * 8 * 4);
//! assert!(rt.arena_bytes() >= 64 + 256);
//! ```

pub mod arena;
pub mod error;
pub mod exec;
pub mod hybrid;
pub mod prepare;
pub mod sparse;

use tinyforge_graph::{DType, Graph, Quant, TensorId};

use arena::{Arena, Region};
pub use error::{RuntimeError, RuntimeResult};
use exec::Step;

/// Largest arena the runtime agrees to allocate. Microcontroller models need kilobytes; a plan
/// beyond this comes from a corrupt shape, and is refused rather than allocated.
pub const MAX_ARENA_BYTES: usize = 256 << 20;

/// What a caller needs to know about a graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub quant: Option<Quant>,
}

#[derive(Debug)]
struct Io {
    info: TensorInfo,
    region: Region,
}

/// A prepared model: fused graph, memory plan, per-node kernel parameters and the arena.
#[derive(Debug)]
pub struct Runtime {
    graph: Graph,
    steps: Vec<Step>,
    arena: Arena,
    /// Host-side copy space for an input that overlaps its node's output (never part of the
    /// device arena: on a device the planner keeps such operands apart or the kernel is in-place).
    staging: Vec<u32>,
    inputs: Vec<Io>,
    outputs: Vec<Io>,
}

impl Runtime {
    /// Validates, fuses, plans and prepares `graph`; pruned int8 layers run on the sparse
    /// kernels where the cost model says they are faster ([`sparse::SparsePolicy::Auto`]).
    pub fn new(graph: Graph) -> RuntimeResult<Runtime> {
        Self::with_sparse_policy(graph, sparse::SparsePolicy::Auto)
    }

    /// [`Runtime::new`] with a choice of which int8 layers run on the sparse kernels.
    pub fn with_sparse_policy(
        graph: Graph,
        policy: sparse::SparsePolicy,
    ) -> RuntimeResult<Runtime> {
        let (graph, layout) = prepare::plan(graph)?;
        if layout.size > MAX_ARENA_BYTES {
            return Err(RuntimeError::Plan(format!(
                "arena of {} bytes exceeds the {} byte limit",
                layout.size, MAX_ARENA_BYTES
            )));
        }
        let steps = prepare::prepare_with(&graph, &layout, policy)?;
        let staging = steps.iter().map(Step::staging_bytes).max().unwrap_or(0);
        if staging > MAX_ARENA_BYTES {
            return Err(RuntimeError::Plan(format!(
                "staging buffer of {staging} bytes exceeds the {MAX_ARENA_BYTES} byte limit"
            )));
        }
        let io = |ids: &[TensorId], what: &str| -> RuntimeResult<Vec<Io>> {
            ids.iter()
                .map(|&id| {
                    let t = graph.tensors.get(id).ok_or_else(|| {
                        RuntimeError::Plan(format!("graph {what} {id} is not a tensor"))
                    })?;
                    if t.is_const() {
                        return Err(RuntimeError::Plan(format!(
                            "graph {what} {id} ({}) is a constant",
                            t.name
                        )));
                    }
                    Ok(Io {
                        info: TensorInfo {
                            name: t.name.clone(),
                            shape: t.shape.clone(),
                            dtype: t.dtype,
                            quant: t.quant.clone(),
                        },
                        region: layout.region(id)?,
                    })
                })
                .collect()
        };
        let inputs = io(&graph.inputs, "input")?;
        let outputs = io(&graph.outputs, "output")?;
        Ok(Runtime {
            arena: Arena::new(layout.size),
            staging: vec![0; staging.div_ceil(4)],
            graph,
            steps,
            inputs,
            outputs,
        })
    }

    /// Runs one inference. `inputs[i]` holds graph input `i` as raw little-endian bytes.
    pub fn invoke(&mut self, inputs: &[&[u8]]) -> RuntimeResult<()> {
        self.invoke_observed(inputs, &mut |_, _| {})
    }

    /// Runs one inference like [`Runtime::invoke`], calling `observe(tensor, bytes)` with every
    /// node's output (ids of [`Runtime::graph`]) right after the node runs — before a later node
    /// may reuse its arena bytes. Calibration and per-layer error measurement read activations
    /// this way; outputs hidden by fusion (a fused conv's `conv_out`) are never observed.
    pub fn invoke_observed(
        &mut self,
        inputs: &[&[u8]],
        observe: &mut dyn FnMut(TensorId, &[u8]),
    ) -> RuntimeResult<()> {
        if inputs.len() != self.inputs.len() {
            return Err(RuntimeError::InputCount {
                expected: self.inputs.len(),
                got: inputs.len(),
            });
        }
        for (index, (io, data)) in self.inputs.iter().zip(inputs).enumerate() {
            if data.len() != io.region.len {
                return Err(RuntimeError::InputSize {
                    index,
                    expected: io.region.len,
                    got: data.len(),
                });
            }
        }
        let bytes = self.arena.bytes_mut();
        for (io, data) in self.inputs.iter().zip(inputs) {
            bytes[io.region.offset..io.region.end()].copy_from_slice(data);
        }
        for step in &self.steps {
            step.run(&self.graph, bytes, &mut self.staging)?;
            if let (Some(&id), Some(out)) = (
                self.graph
                    .nodes
                    .get(step.node)
                    .and_then(|n| n.outputs.first()),
                bytes.get(step.out.offset..step.out.end()),
            ) {
                observe(id, out);
            }
        }
        Ok(())
    }

    /// Graph output `i` of the last inference, as raw little-endian bytes.
    ///
    /// # Panics
    /// If `i >= self.output_count()`.
    pub fn output(&self, i: usize) -> &[u8] {
        let r = self.outputs[i].region;
        &self.arena.bytes()[r.offset..r.end()]
    }

    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }
    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }
    /// Bytes of one sample of graph input `i`.
    pub fn input_bytes(&self, i: usize) -> usize {
        self.inputs[i].region.len
    }
    /// Bytes of one sample of graph output `i`.
    pub fn output_bytes(&self, i: usize) -> usize {
        self.outputs[i].region.len
    }
    pub fn input_info(&self, i: usize) -> &TensorInfo {
        &self.inputs[i].info
    }
    pub fn output_info(&self, i: usize) -> &TensorInfo {
        &self.outputs[i].info
    }
    /// Size of the activation arena: the planned peak SRAM for activations.
    /// Graph node indices (of the fused graph) whose layer runs on a sparse kernel.
    pub fn sparse_nodes(&self) -> Vec<usize> {
        self.steps
            .iter()
            .filter(|s| s.kind.is_sparse())
            .map(|s| s.node)
            .collect()
    }

    pub fn arena_bytes(&self) -> usize {
        self.arena.len()
    }
    /// The graph as executed (after fusion).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}
