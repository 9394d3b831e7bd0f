//! Memory planning: every activation byte of one inference placed in one arena.
//!
//! [`plan`] turns a graph into a [`Plan`]:
//! 1. validate, then (by default) fuse CONV_2D + residual ADD ([`crate::fuse`]) and validate the
//!    rewritten graph;
//! 2. give every materialised tensor a lifetime `[first_use, last_use]` in node indices (graph
//!    inputs live from 0, graph outputs to the last node; constants and the fused conv's
//!    intermediate are not materialised);
//! 3. merge tensors that may share bytes into one buffer ("aliases"): RESHAPE/SQUEEZE outputs are
//!    views of their input (always legal: same bytes, and the merged lifetime is the union);
//!    element-wise ops (RELU, RELU6, LOGISTIC, TANH, same-type QUANTIZE, ADD, MUL) write over an
//!    operand of the output's byte size that dies at that node; the fused conv+add writes over its
//!    skip (required: the runtime's kernel works in place);
//! 4. add each node's kernel scratch as a buffer living only during that node;
//! 5. pack the buffers with a [`MemoryPlanner`] (by default [`BestOfPlanner`]) at offsets aligned
//!    to [`PlanOptions::alignment`] (4 bytes: the emitted C code and the int32 views of the
//!    arena need word-aligned buffers; it costs nothing on the reference models, whose buffers are
//!    multiples of 4 bytes or come last);
//! 6. check the result: two buffers whose lifetimes intersect never overlap.
//!
//! Results on the reference models (`tests/models.rs`; TFLM = TFLite Micro's minimal arena on an
//! x86 host; floor = the largest sum of one node's non-constant inputs and outputs):
//!
//! | model                  | planned  | floor    | TFLM      | planned / TFLM |
//! |------------------------|---------:|---------:|----------:|---------------:|
//! | kws_ref_model          | 16,000 B | 16,000 B |  24,285 B | 0.659 |
//! | vww_96_int8            | 55,296 B | 55,296 B | 103,683 B | 0.533 |
//! | pretrainedResnet_quant | 32,768 B | 49,152 B |  55,993 B | 0.585 (3 conv+add fusions) |
//! | ad01_int8              |    768 B |    768 B |   4,639 B | 0.166 |
//! | hello_world_int8       |     32 B |     32 B |   1,951 B | 0.016 |
//!
//! The layer-wise planner reaches the floor on every model; only fusion goes below it. (TFLM's
//! arena also holds its per-tensor runtime structs and a worse packing; ours holds activations
//! only — tinyforge keeps tensor metadata in flash.)
//!
//! The arena is everything the device needs in RAM for activations: inputs, outputs,
//! intermediates and scratch. Neighbours: `tinyforge-runtime` allocates exactly
//! [`Plan::arena_bytes`] and reads tensors at [`Plan::offsets`]; `deploy` emits the same offsets
//! into C; [`crate::fit`] compares the arena with a device's SRAM.
pub mod greedy;
pub mod linear;

pub use greedy::{BestOfPlanner, GreedyPlanner, Order};
pub use linear::LinearPlanner;

use crate::error::{GraphError, GraphResult};
use crate::fuse::{fuse_conv_add, Fused};
use crate::ir::{Graph, Op, TensorId};
use crate::validate::validate;

/// TFLM-style planner interface: register buffers with lifetimes, then ask for offsets.
///
/// Lifetimes are inclusive node indices; two buffers whose lifetimes intersect must get
/// disjoint byte ranges. Offsets are computed lazily (hence `&mut self`).
pub trait MemoryPlanner {
    /// Registers a buffer and returns its id (0, 1, 2, … in call order).
    fn add_buffer(&mut self, size: usize, first_use: usize, last_use: usize) -> usize;
    /// Offset of buffer `i`, `None` if no such buffer.
    fn offset(&mut self, i: usize) -> Option<usize>;
    /// Bytes needed to hold every buffer at its offset.
    fn arena_size(&mut self) -> usize;
}

/// A buffer as the planners see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buffer {
    pub size: usize,
    pub first_use: usize,
    pub last_use: usize,
}

impl Buffer {
    pub(crate) fn new(size: usize, first_use: usize, last_use: usize) -> Self {
        Buffer {
            size,
            first_use,
            last_use: last_use.max(first_use),
        }
    }
}

/// Rounds `x` up to a multiple of `a` (saturating, so hostile sizes cannot overflow).
pub(crate) fn align_up(x: usize, a: usize) -> usize {
    let a = a.max(1);
    x.div_ceil(a).saturating_mul(a)
}

pub(crate) fn arena_end(buffers: &[Buffer], offsets: &[usize]) -> usize {
    buffers
        .iter()
        .zip(offsets)
        .map(|(b, &o)| o.saturating_add(b.size))
        .max()
        .unwrap_or(0)
}

/// Which packer [`plan`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlannerKind {
    /// Greedy with every [`Order`], keep the smallest (default).
    #[default]
    BestOf,
    Greedy(Order),
    /// No sharing at all (tests, debugging).
    Linear,
}

/// Scratch bytes node `n` of graph `g` needs while it runs.
pub type ScratchFn = fn(&Graph, usize) -> usize;

/// Scratch bytes of the kernel that runs node `node`, as the kernels report them
/// (`scratch_size()` of each kernel family; today all are 0: tinyforge's kernels are TFLM's
/// reference algorithms plus exact fast variants that need no im2col buffer).
pub fn kernel_scratch(g: &Graph, node: usize) -> usize {
    use tinyforge_kernels as k;
    match g.nodes.get(node).map(|n| &n.op) {
        Some(Op::Conv2d(_)) => k::conv::conv2d_s8::scratch_size(),
        Some(Op::Conv2dAdd { .. }) => k::conv::conv2d_s8_add::scratch_size(),
        Some(Op::DepthwiseConv2d(_)) => k::depthwise::depthwise_conv2d_s8::scratch_size(),
        Some(Op::FullyConnected(_)) => k::fully_connected::fully_connected_s8::scratch_size(),
        Some(Op::AveragePool2d(_) | Op::MaxPool2d(_)) => k::pooling::scratch_size(),
        _ => 0,
    }
}

/// Options of [`plan`].
#[derive(Debug, Clone, Copy)]
pub struct PlanOptions {
    /// Offset alignment in bytes (a power of two; default 4).
    pub alignment: usize,
    pub planner: PlannerKind,
    /// Fuse CONV_2D + residual ADD before planning (default true).
    pub fuse: bool,
    /// Let RESHAPE/SQUEEZE outputs share their input's bytes (default true).
    pub views: bool,
    /// Let element-wise ops write over a dying operand (default true).
    pub in_place: bool,
    /// Per-node scratch sizes (default [`kernel_scratch`]).
    pub scratch: ScratchFn,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            alignment: 4,
            planner: PlannerKind::BestOf,
            fuse: true,
            views: true,
            in_place: true,
            scratch: kernel_scratch,
        }
    }
}

/// Why two tensors share bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasKind {
    /// RESHAPE/SQUEEZE: the output is the input's bytes; the runtime copies nothing.
    View,
    /// An element-wise op (or the fused conv+add) writes its output over this input.
    InPlace,
}

/// `output` of `node` occupies the same bytes as its operand `input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alias {
    pub node: usize,
    pub output: TensorId,
    pub input: TensorId,
    pub kind: AliasKind,
}

/// A memory plan for one graph (the fused graph it refers to is [`Plan::graph`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The graph the plan refers to (after fusion); node indices below are its.
    pub graph: Graph,
    /// Arena size: the planned peak SRAM for activations and scratch.
    pub arena_bytes: usize,
    pub alignment: usize,
    /// Offset of every tensor; `None` for constants and non-materialised tensors.
    pub offsets: Vec<Option<usize>>,
    /// `[first_use, last_use]` node indices of every materialised tensor.
    pub lifetimes: Vec<Option<(usize, usize)>>,
    /// `(offset, size)` of each node's scratch, `None` when it needs none.
    pub scratch: Vec<Option<(usize, usize)>>,
    /// Bytes live while each node runs (its buffers and every other live one).
    pub live_bytes: Vec<usize>,
    pub aliases: Vec<Alias>,
    /// The fusions done (node indices of the input graph).
    pub fused: Vec<Fused>,
}

impl Plan {
    /// Byte range of tensor `id` in the arena, if materialised.
    pub fn range(&self, id: TensorId) -> Option<std::ops::Range<usize>> {
        let off = self.offsets.get(id).copied().flatten()?;
        let t = self.graph.tensors.get(id)?;
        Some(off..off + t.bytes())
    }

    /// Checks the plan against its graph's execution: while node `n` writes its output, no byte
    /// of it may belong to another tensor that `n` reads or that is needed later, unless the
    /// plan records that alias. [`plan`] runs this on every plan it returns.
    pub fn verify(&self) -> GraphResult<()> {
        let g = &self.graph;
        let overlaps = |a: &std::ops::Range<usize>, b: &std::ops::Range<usize>| {
            a.start < b.end && b.start < a.end && !a.is_empty() && !b.is_empty()
        };
        for (n, node) in g.nodes.iter().enumerate() {
            for &o in &node.outputs {
                let Some(ro) = self.range(o) else {
                    return Err(GraphError::Plan(format!(
                        "node {n}: output {o} has no offset"
                    )));
                };
                if ro.end > self.arena_bytes {
                    return Err(GraphError::Plan(format!(
                        "node {n}: output {o} exceeds the arena"
                    )));
                }
                if let Some((off, size)) = self.scratch.get(n).copied().flatten() {
                    if overlaps(&ro, &(off..off + size)) {
                        return Err(GraphError::Plan(format!(
                            "node {n}: scratch overlaps output"
                        )));
                    }
                }
                // A view writes nothing: it must sit exactly on its input's bytes, which (through
                // chains of views) other live tensors may share.
                if let Some(a) = self
                    .aliases
                    .iter()
                    .find(|a| a.node == n && a.output == o && a.kind == AliasKind::View)
                {
                    if self.range(a.input) != Some(ro.clone()) {
                        return Err(GraphError::Plan(format!(
                            "node {n}: view `{}` is not at its input's offset",
                            g.tensors[o].name
                        )));
                    }
                    continue;
                }
                for (t, life) in self.lifetimes.iter().enumerate() {
                    let Some((first, last)) = *life else { continue };
                    let read_here = node.inputs.contains(&Some(t));
                    let needed = first <= n && (last > n || read_here) && t != o;
                    if !needed {
                        continue;
                    }
                    let Some(rt) = self.range(t) else { continue };
                    let aliased = self
                        .aliases
                        .iter()
                        .any(|a| a.node == n && a.output == o && a.input == t);
                    if overlaps(&ro, &rt) && !aliased {
                        return Err(GraphError::Plan(format!(
                            "node {n} ({}): output `{}` overwrites live tensor `{}`",
                            node.op.name(),
                            g.tensors[o].name,
                            g.tensors[t].name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The largest live-bytes value over nodes: a lower bound of `arena_bytes`.
    pub fn peak_live_bytes(&self) -> usize {
        self.live_bytes.iter().copied().max().unwrap_or(0)
    }
}

/// Plans `g` with the default options; see the module docs.
pub fn plan_default(g: &Graph) -> GraphResult<Plan> {
    plan(g, &PlanOptions::default())
}

/// Union-find root with path halving; `parent` is total over tensor ids.
fn root(parent: &mut [usize], mut t: usize) -> usize {
    while parent[t] != t {
        parent[t] = parent[parent[t]];
        t = parent[t];
    }
    t
}

/// Tensors merged into one buffer, with each class's last use and whether it holds a graph
/// output (then nothing may overwrite it).
struct Classes {
    parent: Vec<usize>,
    last: Vec<usize>,
    pinned: Vec<bool>,
}

impl Classes {
    fn root(&mut self, t: usize) -> usize {
        root(&mut self.parent, t)
    }
    /// `out` (a fresh node output) joins `input`'s class.
    fn join(&mut self, out: usize, input: usize) {
        let r = self.root(input);
        self.parent[out] = r;
        self.last[r] = self.last[r].max(self.last[out]);
        self.pinned[r] |= self.pinned[out];
    }
}

/// Plans `g`; see the module docs. Errors if the graph is invalid.
pub fn plan(g: &Graph, opts: &PlanOptions) -> GraphResult<Plan> {
    if !opts.alignment.is_power_of_two() {
        return Err(GraphError::Plan(format!(
            "alignment {} is not a power of two",
            opts.alignment
        )));
    }
    validate(g)?;
    let (graph, fused) = if opts.fuse {
        let (f, fused) = fuse_conv_add(g);
        validate(&f)?;
        (f, fused)
    } else {
        (g.clone(), Vec::new())
    };
    let g = &graph;
    let nt = g.tensors.len();
    let nn = g.nodes.len();
    let end = nn.saturating_sub(1);

    // Lifetimes of materialised tensors.
    let mut life: Vec<Option<(usize, usize)>> = vec![None; nt];
    let touch = |life: &mut Vec<Option<(usize, usize)>>, t: TensorId, at: usize| {
        if g.tensors[t].is_const() {
            return;
        }
        life[t] = Some(match life[t] {
            Some((f, l)) => (f.min(at), l.max(at)),
            None => (at, at),
        });
    };
    for &i in &g.inputs {
        touch(&mut life, i, 0);
    }
    for (n, node) in g.nodes.iter().enumerate() {
        for &t in node.inputs.iter().flatten().chain(&node.outputs) {
            touch(&mut life, t, n);
        }
    }
    for &o in &g.outputs {
        touch(&mut life, o, end);
    }
    let bytes: Vec<usize> = g.tensors.iter().map(|t| t.bytes()).collect();
    let is_output: Vec<bool> = (0..nt).map(|t| g.outputs.contains(&t)).collect();

    // Buffer classes (union-find over tensors) and their merged lifetime / flags.
    let mut cls = Classes {
        parent: (0..nt).collect(),
        last: life.iter().map(|l| l.map_or(0, |l| l.1)).collect(),
        pinned: is_output,
    };
    let mut aliases = Vec::new();
    for (n, node) in g.nodes.iter().enumerate() {
        let Some(&out) = node.outputs.first() else {
            continue;
        };
        let input = |k: usize| node.inputs.get(k).copied().flatten();
        let chosen = match &node.op {
            Op::Reshape | Op::Squeeze { .. } if opts.views => input(0)
                .filter(|&x| !g.tensors[x].is_const())
                .map(|x| (x, AliasKind::View)),
            Op::Conv2dAdd { .. } => {
                let (Some(skip), Some(x)) = (input(3), input(0)) else {
                    continue;
                };
                let rs = cls.root(skip);
                if cls.last[rs] != n || cls.pinned[rs] || rs == cls.root(x) {
                    return Err(GraphError::Plan(format!(
                        "node {n} (CONV_2D+ADD): skip `{}` is still needed after the node or \
                         shares bytes with the conv input; it cannot be overwritten in place",
                        g.tensors[skip].name
                    )));
                }
                Some((skip, AliasKind::InPlace))
            }
            op if opts.in_place && elementwise(op, g, input(0), out) => {
                let roots: Vec<Option<usize>> =
                    node.inputs.iter().map(|x| x.map(|x| cls.root(x))).collect();
                // The first operand (in operand order) that dies here with the output's shape.
                node.inputs
                    .iter()
                    .enumerate()
                    .find_map(|(k, x)| {
                        let x = (*x)?;
                        let r = roots[k]?;
                        let t = &g.tensors[x];
                        let shares = roots
                            .iter()
                            .zip(&node.inputs)
                            .any(|(ry, y)| *ry == Some(r) && *y != Some(x));
                        let ok = !t.is_const()
                            && bytes[x] == bytes[out]
                            && t.shape == g.tensors[out].shape
                            && cls.last[r] == n
                            && !cls.pinned[r]
                            && !shares;
                        ok.then_some(x)
                    })
                    .map(|x| (x, AliasKind::InPlace))
            }
            _ => None,
        };
        if let Some((x, kind)) = chosen {
            cls.join(out, x);
            aliases.push(Alias {
                node: n,
                output: out,
                input: x,
                kind,
            });
        }
    }
    let mut parent = cls.parent;

    // Buffers: one per class root, then scratch.
    let mut buffer_of: Vec<Option<usize>> = vec![None; nt];
    let mut buffers: Vec<Buffer> = Vec::new();
    for t in 0..nt {
        let Some((f, l)) = life[t] else { continue };
        let r = root(&mut parent, t);
        let b = match buffer_of[r] {
            Some(b) => b,
            None => {
                buffers.push(Buffer::new(0, f, l));
                buffer_of[r] = Some(buffers.len() - 1);
                buffers.len() - 1
            }
        };
        let buf = &mut buffers[b];
        buf.size = buf.size.max(bytes[t]);
        buf.first_use = buf.first_use.min(f);
        buf.last_use = buf.last_use.max(l);
        buffer_of[t] = Some(b);
    }
    let mut scratch_buf: Vec<Option<usize>> = vec![None; nn];
    for (n, s) in scratch_buf.iter_mut().enumerate() {
        let size = (opts.scratch)(g, n);
        if size > 0 {
            buffers.push(Buffer::new(size, n, n));
            *s = Some(buffers.len() - 1);
        }
    }

    let mut planner: Box<dyn MemoryPlanner> = match opts.planner {
        PlannerKind::BestOf => Box::new(BestOfPlanner::new(opts.alignment)),
        PlannerKind::Greedy(o) => Box::new(GreedyPlanner::new(o, opts.alignment)),
        PlannerKind::Linear => Box::new(LinearPlanner::new(opts.alignment)),
    };
    for b in &buffers {
        planner.add_buffer(b.size, b.first_use, b.last_use);
    }
    let mut buf_off = Vec::with_capacity(buffers.len());
    for i in 0..buffers.len() {
        let o = planner
            .offset(i)
            .ok_or_else(|| GraphError::Plan(format!("planner lost buffer {i}")))?;
        buf_off.push(o);
    }
    let arena_bytes = planner.arena_size();
    check_buffers(&buffers, &buf_off, arena_bytes, opts.alignment)?;

    let live_bytes: Vec<usize> = (0..nn)
        .map(|n| {
            buffers
                .iter()
                .filter(|b| b.first_use <= n && n <= b.last_use)
                .map(|b| b.size)
                .sum()
        })
        .collect();
    let plan = Plan {
        offsets: buffer_of.iter().map(|b| b.map(|b| buf_off[b])).collect(),
        lifetimes: life,
        scratch: scratch_buf
            .iter()
            .map(|s| s.map(|b| (buf_off[b], buffers[b].size)))
            .collect(),
        live_bytes,
        aliases,
        fused,
        arena_bytes,
        alignment: opts.alignment,
        graph,
    };
    plan.verify()?;
    Ok(plan)
}

/// Ops whose output element `i` depends only on input elements at `i` (or broadcast ones), so
/// the output may overwrite a same-shaped input.
fn elementwise(op: &Op, g: &Graph, first: Option<TensorId>, out: TensorId) -> bool {
    match op {
        Op::Relu | Op::Relu6 | Op::Logistic | Op::Tanh | Op::Add { .. } | Op::Mul { .. } => true,
        Op::Quantize => first.is_some_and(|x| g.tensors[x].dtype == g.tensors[out].dtype),
        _ => false,
    }
}

/// The planner's contract, checked on every plan: in-bounds, aligned, and no two buffers with
/// intersecting lifetimes overlapping in memory.
fn check_buffers(b: &[Buffer], off: &[usize], arena: usize, align: usize) -> GraphResult<()> {
    for (i, (x, &ox)) in b.iter().zip(off).enumerate() {
        let in_bounds = matches!(ox.checked_add(x.size), Some(e) if e <= arena);
        if ox % align != 0 || !in_bounds {
            return Err(GraphError::Plan(format!(
                "buffer {i} at {ox} (+{}) is misaligned or outside the {arena}-byte arena",
                x.size
            )));
        }
        for (j, (y, &oy)) in b.iter().zip(off).enumerate().skip(i + 1) {
            let time = x.first_use <= y.last_use && y.first_use <= x.last_use;
            let space = ox < oy + y.size && oy < ox + x.size && x.size > 0 && y.size > 0;
            if time && space {
                return Err(GraphError::Plan(format!(
                    "buffers {i} and {j} overlap while both are live"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ir::{Activation, Padding};
    use crate::testutil::{small_cnn, GraphBuilder};

    /// Asserts the planner gave disjoint ranges to buffers with intersecting lifetimes.
    pub(crate) fn assert_no_overlap(p: &mut dyn MemoryPlanner, bufs: &[(usize, usize, usize)]) {
        let b: Vec<Buffer> = bufs.iter().map(|&(s, f, l)| Buffer::new(s, f, l)).collect();
        let off: Vec<usize> = (0..b.len()).map(|i| p.offset(i).unwrap()).collect();
        let arena = p.arena_size();
        check_buffers(&b, &off, arena, 1).unwrap();
    }

    #[test]
    fn small_cnn_plan() {
        let g = small_cnn();
        let p = plan_default(&g).unwrap();
        // Peak: conv or depthwise, 64 B input + 256 B output / 256 + 256.
        assert_eq!(p.arena_bytes, 512);
        assert_eq!(p.peak_live_bytes(), 512);
        // Reshape is a view of the pool output.
        let r = &p.graph.nodes[3];
        assert_eq!(p.offsets[r.inputs[0].unwrap()], p.offsets[r.outputs[0]]);
        assert!(p
            .aliases
            .iter()
            .any(|a| a.node == 3 && a.kind == AliasKind::View));
        // Constants have no offsets.
        assert!(p.offsets[g.nodes[0].inputs[1].unwrap()].is_none());
        let lin = plan(
            &g,
            &PlanOptions {
                planner: PlannerKind::Linear,
                ..PlanOptions::default()
            },
        )
        .unwrap();
        assert!(lin.arena_bytes > p.arena_bytes);
    }

    #[test]
    fn relu_in_place_only_when_input_dies() {
        let mut b = GraphBuilder::new("relu");
        let x = b.input("x", &[1, 4, 4, 8]);
        let c = b
            .conv2d(x, 8, (1, 1), 1, Padding::Same, Activation::None)
            .unwrap();
        let r = b.unary(Op::Relu, c).unwrap();
        let g = b.finish(&[r]);
        let p = plan_default(&g).unwrap();
        assert_eq!(p.offsets[c], p.offsets[r]);
        assert_eq!(p.arena_bytes, 256);
        // Keep c alive as an output too: no in-place.
        let mut g2 = g.clone();
        g2.outputs.push(c);
        let p2 = plan_default(&g2).unwrap();
        assert_ne!(p2.offsets[c], p2.offsets[r]);
        assert!(p2.aliases.is_empty());
        assert_eq!(
            p2.arena_bytes, 256,
            "x is dead by then and its bytes are reused"
        );
    }

    #[test]
    fn fused_residual_goes_below_layerwise_floor() {
        // ResNet-style block: a → conv → conv, add(a, ·).
        let mut b = GraphBuilder::new("res");
        let x = b.input("x", &[1, 16, 16, 3]);
        let a = b
            .conv2d(x, 16, (3, 3), 1, Padding::Same, Activation::Relu)
            .unwrap();
        let m = b
            .conv2d(a, 16, (3, 3), 1, Padding::Same, Activation::Relu)
            .unwrap();
        let c = b
            .conv2d(m, 16, (3, 3), 1, Padding::Same, Activation::None)
            .unwrap();
        let s = b.add(a, c, Activation::Relu).unwrap();
        let g = b.finish(&[s]);
        let floor = crate::cost::layerwise_floor(&g) as usize;
        assert_eq!(floor, 3 * 4096);
        let p = plan_default(&g).unwrap();
        assert_eq!(p.fused.len(), 1);
        assert_eq!(p.offsets[s], p.offsets[a]);
        assert!(
            p.offsets[c].is_none(),
            "fused conv output is not materialised"
        );
        assert_eq!(p.arena_bytes, 2 * 4096);
        let unfused = plan(
            &g,
            &PlanOptions {
                fuse: false,
                ..PlanOptions::default()
            },
        )
        .unwrap();
        // Unfused, ADD can still go in place over one operand, but conv output, skip and
        // the conv input are live together at the last conv.
        assert_eq!(unfused.arena_bytes, 3 * 4096);
    }

    #[test]
    fn scratch_is_placed_per_node() {
        fn scratch(g: &Graph, n: usize) -> usize {
            if matches!(g.nodes[n].op, Op::Conv2d(_)) {
                100
            } else {
                0
            }
        }
        let g = small_cnn();
        let p = plan(
            &g,
            &PlanOptions {
                scratch,
                ..PlanOptions::default()
            },
        )
        .unwrap();
        let (off, size) = p.scratch[0].unwrap();
        assert_eq!(size, 100);
        assert!(p.scratch[1].is_none());
        // Scratch must not overlap the conv's input or output.
        for t in [g.nodes[0].inputs[0].unwrap(), g.nodes[0].outputs[0]] {
            let r = p.range(t).unwrap();
            assert!(off + size <= r.start || r.end <= off);
        }
        assert_eq!(p.live_bytes[0], 64 + 256 + 100);
        assert_eq!(p.arena_bytes, 512, "the depthwise peak dominates");
    }

    #[test]
    fn random_dags_plan_and_verify() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..300 {
            let mut b = GraphBuilder::new("rand");
            let mut pool = vec![b.input("x", &[1, 4, 4, 8])];
            for _ in 0..12 {
                let a = pool[rnd(pool.len())];
                let t = match rnd(5) {
                    0 => b.conv2d(a, 8, (3, 3), 1, Padding::Same, Activation::None),
                    1 => b.unary(Op::Relu, a),
                    2 => {
                        let c = pool[rnd(pool.len())];
                        b.add(a, c, Activation::None)
                    }
                    3 => b
                        .reshape(a, &[1, 128])
                        .and_then(|r| b.reshape(r, &[1, 4, 4, 8])),
                    _ => {
                        // A residual block the fuser can take.
                        let m = b.conv2d(a, 8, (1, 1), 1, Padding::Same, Activation::Relu);
                        let c = m.and_then(|m| {
                            b.conv2d(m, 8, (3, 3), 1, Padding::Same, Activation::None)
                        });
                        c.and_then(|c| b.add(a, c, Activation::Relu))
                    }
                }
                .unwrap();
                pool.push(t);
            }
            let mut outs = vec![*pool.last().unwrap()];
            if rnd(2) == 0 {
                outs.push(pool[rnd(pool.len())]);
            }
            outs.dedup();
            let g = b.finish(&outs);
            let p = match plan_default(&g) {
                Ok(p) => p,
                Err(e) => {
                    let (f, _) = crate::fuse::fuse_conv_add(&g);
                    for (i, n) in f.nodes.iter().enumerate() {
                        eprintln!("{i} {} {:?} -> {:?}", n.op.name(), n.inputs, n.outputs);
                    }
                    eprintln!("outputs {:?}", f.outputs);
                    panic!("{e}");
                }
            };
            assert!(p.arena_bytes >= p.peak_live_bytes());
            let lin = plan(
                &g,
                &PlanOptions {
                    planner: PlannerKind::Linear,
                    ..PlanOptions::default()
                },
            )
            .unwrap();
            assert!(p.arena_bytes <= lin.arena_bytes);
        }
    }

    #[test]
    fn verify_catches_clobbering() {
        let g = small_cnn();
        let mut p = plan_default(&g).unwrap();
        p.verify().unwrap();
        // Put the depthwise output on top of its input.
        let (x, y) = (g.nodes[1].inputs[0].unwrap(), g.nodes[1].outputs[0]);
        p.offsets[y] = p.offsets[x];
        let e = p.verify().unwrap_err().to_string();
        assert!(e.contains("node 1 (DEPTHWISE_CONV_2D)"), "{e}");
    }

    #[test]
    fn bad_alignment_and_invalid_graph_are_errors() {
        let g = small_cnn();
        let o = PlanOptions {
            alignment: 3,
            ..PlanOptions::default()
        };
        assert!(plan(&g, &o).is_err());
        let mut bad = g.clone();
        bad.nodes[0].inputs.clear();
        assert!(plan_default(&bad).is_err());
    }
}
