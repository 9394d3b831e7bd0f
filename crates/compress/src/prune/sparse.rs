//! Sizes of int8 graphs in the `TFSR2` sparse weight format
//! ([`tinyforge_kernels::sparse::format`]): per conv / depthwise / fully-connected layer, the
//! dense filter bytes, the smallest encoded bytes and its layout, the sparsity, and whether the
//! host runtime executes the layer sparse — as `inspect` and the pruning report show them.
//!
//! Two separate choices: *storage* (flash) keeps a filter encoded whenever the encoding is
//! smaller than the dense bytes ([`SparseLayer::stored_bytes`]); *execution* on the host
//! follows the runtime's measured cost model
//! ([`tinyforge_runtime::sparse::runs_sparse`]). Rows follow the kernels' definition (one per
//! output channel; depthwise rows are the channel's taps).

use serde::Serialize;
use tinyforge_graph::{DType, Graph, Op};
use tinyforge_kernels::sparse::{depthwise_rows, smallest_encoding, Layout};
use tinyforge_runtime::sparse::{runs_sparse, SparseLayerKind, SparsePolicy};

/// One conv / depthwise / FC filter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparseLayer {
    /// Node index.
    pub node: usize,
    /// Op name.
    pub op: &'static str,
    /// Filter tensor name.
    pub tensor: String,
    /// Weights.
    pub weights: usize,
    /// Exact zeros.
    pub zeros: usize,
    /// Dense int8 bytes.
    pub dense_bytes: usize,
    /// Bytes of the smallest `TFSR2` blob (header included).
    pub encoded_bytes: usize,
    /// Its body: `"bitmap"` or `"gaps"`.
    pub layout: &'static str,
    /// Its block size (1, or 4 for 1×4 blocks).
    pub block: usize,
    /// Whether the host runtime runs this layer on a sparse kernel (cost model).
    pub host_sparse: bool,
}

impl SparseLayer {
    /// Zeros / weights.
    pub fn sparsity(&self) -> f32 {
        self.zeros as f32 / self.weights.max(1) as f32
    }
    /// Flash bytes of the filter: the encoding when it is smaller than the dense bytes.
    pub fn stored_bytes(&self) -> usize {
        self.encoded_bytes.min(self.dense_bytes)
    }
}

/// Per-layer sparse sizes of every int8 conv / depthwise / FC filter of `g`.
pub fn sparse_layers(g: &Graph) -> Vec<SparseLayer> {
    let mut out = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        let Some(Some(fid)) = node.inputs.get(1) else {
            continue;
        };
        let Some(t) = g.tensors.get(*fid) else {
            continue;
        };
        let (DType::I8, Some(data)) = (t.dtype, t.data.as_ref()) else {
            continue;
        };
        let w: Vec<i8> = data.iter().map(|&b| b as i8).collect();
        let shape = &t.shape;
        // (rows, row_len, kind) as the kernels define rows.
        let (rows, row_len, kind, rows_w) = match &node.op {
            Op::Conv2d(_) | Op::Conv2dAdd { .. } => {
                let rows = shape.first().copied().unwrap_or(0);
                let taps = shape.get(1).copied().unwrap_or(1) * shape.get(2).copied().unwrap_or(1);
                (
                    rows,
                    w.len() / rows.max(1),
                    SparseLayerKind::Conv {
                        taps,
                        in_channels: shape.get(3).copied().unwrap_or(1),
                    },
                    w.clone(),
                )
            }
            Op::FullyConnected(_) => {
                let rows = shape.first().copied().unwrap_or(0);
                (
                    rows,
                    w.len() / rows.max(1),
                    SparseLayerKind::FullyConnected,
                    w.clone(),
                )
            }
            Op::DepthwiseConv2d(_) => {
                let ch = shape.last().copied().unwrap_or(0);
                let taps = w.len() / ch.max(1);
                let mut r = vec![0i8; w.len()];
                if depthwise_rows(&w, taps, ch, &mut r).is_err() {
                    continue;
                }
                (ch, taps, SparseLayerKind::Depthwise, r)
            }
            _ => continue,
        };
        if rows == 0 || row_len == 0 || rows * row_len != w.len() {
            continue;
        }
        let Ok((enc, encoded)) = smallest_encoding(&rows_w, rows, row_len, true) else {
            continue;
        };
        let zeros = w.iter().filter(|&&v| v == 0).count();
        out.push(SparseLayer {
            node: i,
            op: node.op.name(),
            tensor: t.name.clone(),
            weights: w.len(),
            zeros,
            dense_bytes: w.len(),
            encoded_bytes: encoded,
            layout: match enc.layout {
                Layout::Bitmap => "bitmap",
                Layout::Gaps => "gaps",
            },
            block: enc.block,
            host_sparse: host_runnable(g, node, shape)
                && runs_sparse(SparsePolicy::Auto, kind, w.len() - zeros, w.len()),
        });
    }
    out
}

/// Whether the runtime has a sparse kernel for this node: not for a conv fused with its
/// residual add, nor for a grouped conv.
fn host_runnable(g: &Graph, node: &tinyforge_graph::Node, filter_shape: &[usize]) -> bool {
    match node.op {
        Op::Conv2dAdd { .. } => false,
        Op::Conv2d(_) => {
            let in_c = node
                .inputs
                .first()
                .copied()
                .flatten()
                .and_then(|i| g.tensors.get(i))
                .and_then(|t| t.shape.last().copied());
            in_c == filter_shape.last().copied()
        }
        _ => true,
    }
}

/// `(dense bytes, stored bytes)` summed over every filter of `g`.
pub fn weight_bytes(g: &Graph) -> (usize, usize) {
    sparse_layers(g).iter().fold((0, 0), |(d, s), l| {
        (d + l.dense_bytes, s + l.stored_bytes())
    })
}
