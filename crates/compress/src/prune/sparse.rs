//! Sizes of int8 graphs in the `TFSR1` sparse weight encoding
//! ([`tinyforge_kernels::sparse`]): per conv / fully-connected layer, the dense filter bytes,
//! the encoded bytes and the sparsity, as `inspect` and the pruning report show them.
//!
//! Which layers are encoded follows the runtime's rule ([`worth_encoding`]): int8 ungrouped
//! conv and symmetric fully-connected filters whose encoding is smaller than the dense bytes.

use serde::Serialize;
use tinyforge_graph::{DType, Graph, Op};
use tinyforge_kernels::sparse::encoded_len;

/// One conv / FC filter.
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
    /// Bytes in the unstructured encoding (block 1).
    pub encoded_bytes: usize,
    /// Bytes in the 1×4-block encoding.
    pub encoded_bytes_1x4: usize,
}

impl SparseLayer {
    /// Zeros / weights.
    pub fn sparsity(&self) -> f32 {
        self.zeros as f32 / self.weights.max(1) as f32
    }
    /// Bytes as the runtime keeps the filter: the smaller encoding when it is worth it
    /// ([`worth_encoding`]), else the dense bytes.
    pub fn stored_bytes(&self) -> usize {
        let e = self.encoded_bytes.min(self.encoded_bytes_1x4);
        if worth_encoding(self.dense_bytes, e) {
            e
        } else {
            self.dense_bytes
        }
    }
}

/// Whether a filter of `dense` bytes is stored and run encoded at `encoded` bytes: the
/// runtime's rule ([`tinyforge_runtime::sparse::SPARSE_MAX_RATIO`]).
pub fn worth_encoding(dense: usize, encoded: usize) -> bool {
    encoded as f64 <= tinyforge_runtime::sparse::SPARSE_MAX_RATIO * dense as f64
}

/// Per-layer sparse sizes of every int8 conv / depthwise / FC filter of `g`.
pub fn sparse_layers(g: &Graph) -> Vec<SparseLayer> {
    let mut out = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        let is_conv = matches!(
            node.op,
            Op::Conv2d(_) | Op::Conv2dAdd { .. } | Op::FullyConnected(_) | Op::DepthwiseConv2d(_)
        );
        let Some(Some(fid)) = node.inputs.get(1) else {
            continue;
        };
        let Some(t) = g.tensors.get(*fid) else {
            continue;
        };
        let (true, DType::I8, Some(data)) = (is_conv, t.dtype, t.data.as_ref()) else {
            continue;
        };
        let rows = t.shape.first().copied().unwrap_or(1).max(1);
        let w: Vec<i8> = data.iter().map(|&b| b as i8).collect();
        if w.is_empty() || !w.len().is_multiple_of(rows) {
            continue;
        }
        let k = w.len() / rows;
        let dense = w.len();
        let (e1, e4) = if matches!(node.op, Op::DepthwiseConv2d(_)) {
            // Depthwise filters are executed dense.
            (dense, dense)
        } else {
            (
                encoded_len(&w, rows, k, 1).unwrap_or(dense),
                encoded_len(&w, rows, k, 4).unwrap_or(dense),
            )
        };
        out.push(SparseLayer {
            node: i,
            op: node.op.name(),
            tensor: t.name.clone(),
            weights: w.len(),
            zeros: w.iter().filter(|&&v| v == 0).count(),
            dense_bytes: dense,
            encoded_bytes: e1,
            encoded_bytes_1x4: e4,
        });
    }
    out
}

/// `(dense bytes, stored bytes)` summed over every filter of `g`.
pub fn weight_bytes(g: &Graph) -> (usize, usize) {
    sparse_layers(g).iter().fold((0, 0), |(d, s), l| {
        (d + l.dense_bytes, s + l.stored_bytes())
    })
}
