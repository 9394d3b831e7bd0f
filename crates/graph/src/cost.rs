//! Cost model: parameters, multiply-accumulates, weight and activation bytes per node and in
//! total.
//!
//! Definitions (the report and the fit check rely on them):
//! - **params**: elements of the weight and bias operands of CONV_2D, DEPTHWISE_CONV_2D and
//!   FULLY_CONNECTED (and the fused conv+add);
//! - **MACs**: conv `out_elems × KH × KW × I` (I = filter input channels, so grouped convs count
//!   right), depthwise `out_elems × KH × KW`, fully connected `batch × O × I`; other ops do no
//!   MACs but report **ops**: one per output element for element-wise ops, `KH × KW` per output
//!   element for pools, one per input element for MEAN and SOFTMAX;
//! - **weight bytes**: storage of every constant operand (weights, biases, shape/axis tensors) —
//!   what goes to flash; graph totals count a shared constant once;
//! - **activation bytes**: non-constant inputs plus outputs of the node (distinct tensors).
//!
//! Works on unvalidated graphs without panicking (out-of-range ids count as empty, arithmetic
//! saturates), but the numbers only mean something on a validated graph.
use crate::ir::{Graph, Op, Tensor};
use crate::shape::{checked_bytes, checked_elements};

/// Cost of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeCost {
    pub params: u64,
    pub macs: u64,
    pub ops: u64,
    pub weight_bytes: u64,
    pub activation_bytes: u64,
}

/// Per-node costs and graph totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphCost {
    pub nodes: Vec<NodeCost>,
    pub params: u64,
    pub macs: u64,
    pub ops: u64,
    /// Distinct constant tensors used by nodes, in bytes.
    pub weight_bytes: u64,
    /// Sum over nodes of the per-node activation bytes (traffic, not memory).
    pub activation_bytes: u64,
}

fn elems(t: Option<&Tensor>) -> u64 {
    t.and_then(|t| checked_elements(&t.shape)).unwrap_or(0) as u64
}

fn bytes(t: &Tensor) -> u64 {
    checked_bytes(t).unwrap_or(0) as u64
}

/// The cost of node `n` (zero for a node index out of range).
pub fn node_cost(g: &Graph, n: usize) -> NodeCost {
    let Some(node) = g.nodes.get(n) else {
        return NodeCost::default();
    };
    let input = |k: usize| {
        node.inputs
            .get(k)
            .copied()
            .flatten()
            .and_then(|id| g.tensors.get(id))
    };
    let out = node.outputs.first().and_then(|&id| g.tensors.get(id));
    let out_elems = elems(out);
    let dim = |t: Option<&Tensor>, k: usize| -> u64 {
        t.and_then(|t| t.shape.get(k)).copied().unwrap_or(0) as u64
    };
    let mut c = NodeCost::default();
    let weighted = |c: &mut NodeCost| c.params = elems(input(1)).saturating_add(elems(input(2)));
    match &node.op {
        Op::Conv2d(_) | Op::Conv2dAdd { .. } => {
            let f = input(1);
            let per_out = dim(f, 1)
                .saturating_mul(dim(f, 2))
                .saturating_mul(dim(f, 3));
            c.macs = out_elems.saturating_mul(per_out);
            weighted(&mut c);
            if matches!(node.op, Op::Conv2dAdd { .. }) {
                c.ops = out_elems;
            }
        }
        Op::DepthwiseConv2d(_) => {
            let f = input(1);
            c.macs = out_elems.saturating_mul(dim(f, 1).saturating_mul(dim(f, 2)));
            weighted(&mut c);
        }
        Op::FullyConnected(_) => {
            c.macs = out_elems.saturating_mul(dim(input(1), 1));
            weighted(&mut c);
        }
        Op::AveragePool2d(o) | Op::MaxPool2d(o) => {
            c.ops = out_elems.saturating_mul((o.filter_h as u64).saturating_mul(o.filter_w as u64));
        }
        Op::Mean { .. } | Op::Softmax { .. } => c.ops = elems(input(0)),
        Op::Add { .. }
        | Op::Mul { .. }
        | Op::Logistic
        | Op::Tanh
        | Op::Relu
        | Op::Relu6
        | Op::Quantize
        | Op::Dequantize => c.ops = out_elems,
        Op::Reshape | Op::Squeeze { .. } | Op::Pad | Op::Concatenation { .. } => {}
    }
    let mut seen: Vec<usize> = Vec::new();
    for &id in node.inputs.iter().flatten().chain(&node.outputs) {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if let Some(t) = g.tensors.get(id) {
            if t.is_const() {
                c.weight_bytes = c.weight_bytes.saturating_add(bytes(t));
            } else {
                c.activation_bytes = c.activation_bytes.saturating_add(bytes(t));
            }
        }
    }
    c
}

/// Costs of every node and the totals.
pub fn graph_cost(g: &Graph) -> GraphCost {
    let nodes: Vec<NodeCost> = (0..g.nodes.len()).map(|n| node_cost(g, n)).collect();
    let sum = |f: fn(&NodeCost) -> u64| nodes.iter().fold(0u64, |a, c| a.saturating_add(f(c)));
    let mut used = vec![false; g.tensors.len()];
    let mut weight_bytes = 0u64;
    for node in &g.nodes {
        for id in node.inputs.iter().flatten().copied() {
            if let (Some(t), Some(u)) = (g.tensors.get(id), used.get_mut(id)) {
                if t.is_const() && !*u {
                    *u = true;
                    weight_bytes = weight_bytes.saturating_add(bytes(t));
                }
            }
        }
    }
    GraphCost {
        params: sum(|c| c.params),
        macs: sum(|c| c.macs),
        ops: sum(|c| c.ops),
        activation_bytes: sum(|c| c.activation_bytes),
        weight_bytes,
        nodes,
    }
}

/// The layer-wise memory floor: the largest, over nodes, sum of the distinct non-constant
/// inputs and outputs of one node — what any planner that keeps each op's operands whole needs.
pub fn layerwise_floor(g: &Graph) -> u64 {
    (0..g.nodes.len())
        .map(|n| node_cost(g, n).activation_bytes)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;
    use crate::testutil::small_cnn;

    #[test]
    fn small_cnn_costs() {
        let g = small_cnn();
        let c = graph_cost(&g);
        // conv 8×8×4 outputs × 3×3×1; depthwise 8×8×4 × 3×3; fc 3 × 4.
        assert_eq!(c.nodes[0].macs, 256 * 9);
        assert_eq!(c.nodes[1].macs, 256 * 9);
        assert_eq!(c.nodes[4].macs, 12);
        assert_eq!(c.macs, 256 * 9 * 2 + 12);
        assert_eq!(c.nodes[0].params, 4 * 9 + 4);
        assert_eq!(c.params, (36 + 4) + (36 + 4) + (12 + 3));
        // conv: weights 36 B + bias 16 B; activations 64 + 256 B.
        assert_eq!(c.nodes[0].weight_bytes, 36 + 16);
        assert_eq!(c.nodes[0].activation_bytes, 64 + 256);
        // pool: 8×8 window per output element.
        assert_eq!(c.nodes[2].ops, 4 * 64);
        // weights of conv, dw, fc plus the reshape's 8-byte shape tensor.
        assert_eq!(c.weight_bytes, 52 + 52 + 12 + 12 + 8);
        assert_eq!(layerwise_floor(&g), 512);
    }

    #[test]
    fn shared_constant_counted_once() {
        let mut g = small_cnn();
        let w = g.nodes[4].inputs[1];
        let extra = g.nodes[4].clone();
        let out = g.add_tensor(g.tensors[extra.outputs[0]].clone());
        g.nodes.push(crate::ir::Node {
            outputs: vec![out],
            ..extra
        });
        assert_eq!(g.nodes[6].inputs[1], w);
        let before = graph_cost(&small_cnn()).weight_bytes;
        assert_eq!(graph_cost(&g).weight_bytes, before);
    }

    #[test]
    fn packed_weights_count_their_packed_bytes() {
        // The conv filter has 36 elements: 18 bytes as int4, 9 as int2.
        for (dtype, want) in [(DType::I4, 18), (DType::I2, 9)] {
            let mut g = small_cnn();
            let w = g.nodes[0].inputs[1].unwrap();
            g.tensors[w].dtype = dtype;
            assert_eq!(node_cost(&g, 0).weight_bytes, want + 16);
        }
        assert_eq!(DType::I2.bytes_for(5), 2);
        assert_eq!(DType::I4.bytes_for(5), 3);
    }
}
