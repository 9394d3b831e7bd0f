//! Where activations live: the memory layout the code generator bakes into the emitted code.
//!
//! The emitted library owns ONE static arena; every non-constant tensor is a fixed offset into it.
//! Any memory planner can drive the generator by implementing [`ArenaLayout`] (the graph crate's
//! planner is the intended one). [`SequentialLayout`] gives every activation its own region, with
//! no reuse: always valid, never small, useful for tests and as a reference.
//!
//! Invariant the generator relies on: two tensors that are live at the same time do not overlap,
//! except where the op contract allows it (a reshape's output over its input, the fused
//! conv+add output over its skip tensor, an in-place depthwise).
use tinyforge_graph::{Graph, Plan, TensorId};

/// A memory plan as the code generator sees it.
pub trait ArenaLayout {
    /// Size of the single arena, in bytes.
    fn arena_bytes(&self) -> usize;
    /// Byte offset of an activation tensor in the arena; `None` for tensors that need no storage
    /// (constants, or tensors the plan never materialises).
    fn offset(&self, tensor: TensorId) -> Option<usize>;
    /// `(tensor count, node count)` of the graph the layout was made for, when known, so a
    /// layout cannot silently be applied to another graph (e.g. the unfused original).
    fn graph_size(&self) -> Option<(usize, usize)> {
        None
    }
}

/// The graph crate's memory plan. Emit `plan.graph` (the fused graph) with it.
impl ArenaLayout for Plan {
    fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }
    fn offset(&self, tensor: TensorId) -> Option<usize> {
        self.offsets.get(tensor).copied().flatten()
    }
    fn graph_size(&self) -> Option<(usize, usize)> {
        Some((self.graph.tensors.len(), self.graph.nodes.len()))
    }
}

/// Every activation tensor in its own 4-byte-aligned region, in tensor order.
#[derive(Debug, Clone)]
pub struct SequentialLayout {
    offsets: Vec<Option<usize>>,
    total: usize,
}

impl SequentialLayout {
    pub fn new(graph: &Graph) -> Self {
        let mut total = 0usize;
        let offsets = graph
            .tensors
            .iter()
            .map(|t| {
                if t.is_const() {
                    return None;
                }
                let off = total;
                total += t.bytes().next_multiple_of(4);
                Some(off)
            })
            .collect();
        SequentialLayout { offsets, total }
    }
}

impl ArenaLayout for SequentialLayout {
    fn arena_bytes(&self) -> usize {
        self.total
    }
    fn offset(&self, tensor: TensorId) -> Option<usize> {
        self.offsets.get(tensor).copied().flatten()
    }
}
