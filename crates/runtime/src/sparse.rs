//! Sparse-weight dispatch: int8 conv and fully-connected filters that are mostly zeros (after
//! pruning) are encoded once at prepare time in the `TFSR1` encoding of
//! [`tinyforge_kernels::sparse`] and executed by the sparse kernels, which skip zeros.
//!
//! Results are bit-identical to the dense kernels (same products, same requantization), so the
//! choice is purely one of speed and size: a filter is encoded when its encoding takes at most
//! [`SPARSE_MAX_RATIO`] of the dense bytes (≈ 45 % zeros or more), the point from which
//! skipping zeros beats the dense GEMM paths. The 1×4-block encoding is used when it is
//! smaller (block-pruned filters). Grouped convolutions and asymmetric FC weights stay dense.
use tinyforge_kernels::sparse::{encode, encoded_len, SparseFilter};

/// Largest encoded/dense size ratio at which a filter is executed sparse.
pub const SPARSE_MAX_RATIO: f64 = 0.6;

/// An encoded filter owned by a prepared step.
#[derive(Debug, Clone)]
pub(crate) struct SparseS8 {
    pub rows: usize,
    pub row_len: usize,
    pub block: usize,
    pub data: Vec<u8>,
}

impl SparseS8 {
    /// Encodes `filter` (`rows × row_len` int8) when it is sparse enough to pay off.
    pub fn encode_if_sparse(filter: &[u8], rows: usize, row_len: usize) -> Option<SparseS8> {
        let w: &[i8] = bytemuck::cast_slice(filter);
        let dense = w.len();
        let (block, len) = [1usize, 4]
            .into_iter()
            .filter_map(|b| encoded_len(w, rows, row_len, b).ok().map(|l| (b, l)))
            .min_by_key(|&(_, l)| l)?;
        if len as f64 > SPARSE_MAX_RATIO * dense as f64 {
            return None;
        }
        let mut data = vec![0u8; len];
        encode(w, rows, row_len, block, &mut data).ok()?;
        Some(SparseS8 {
            rows,
            row_len,
            block,
            data,
        })
    }

    pub fn filter(&self) -> SparseFilter<'_> {
        SparseFilter {
            rows: self.rows,
            row_len: self.row_len,
            block: self.block,
            data: &self.data,
        }
    }
}

/// The step kind of a prepared int8 conv: sparse when the filter pays off, else dense.
pub(crate) fn conv_kind(
    filter_bytes: &[u8],
    p: crate::exec::ConvS8,
    filter: tinyforge_graph::TensorId,
    bias: Option<Vec<i32>>,
) -> crate::exec::Kind {
    let fs = p.filter_shape;
    let ungrouped = p.input_shape.c == fs.c;
    match ungrouped
        .then(|| SparseS8::encode_if_sparse(filter_bytes, fs.n, fs.h * fs.w * fs.c))
        .flatten()
    {
        Some(w) => crate::exec::Kind::ConvS8Sparse { p, w, bias },
        None => crate::exec::Kind::ConvS8 { p, filter, bias },
    }
}

/// The step kind of a prepared int8 fully-connected layer: sparse when it pays off.
pub(crate) fn fc_kind(
    filter_bytes: &[u8],
    p: crate::exec::FcS8,
    filter: tinyforge_graph::TensorId,
    bias: Option<Vec<i32>>,
) -> crate::exec::Kind {
    let sparse = (p.filter_offset == 0)
        .then(|| SparseS8::encode_if_sparse(filter_bytes, p.output_depth, p.input_depth))
        .flatten();
    match sparse {
        Some(w) => crate::exec::Kind::FcS8Sparse { p, w, bias },
        None => crate::exec::Kind::FcS8 { p, filter, bias },
    }
}

#[cfg(test)]
mod tests {
    use tinyforge_graph::build::GraphBuilder;
    use tinyforge_graph::{Activation, Graph, Padding};

    use crate::exec::Kind;
    use crate::Runtime;

    /// Zeroes ~85 % of every conv / FC filter, deterministically.
    fn sparsify(g: &mut Graph) {
        let filters: Vec<usize> = g
            .nodes
            .iter()
            .filter_map(|n| n.inputs.get(1).copied().flatten())
            .collect();
        for f in filters {
            if let Some(d) = g.tensors[f].data.as_mut() {
                for (i, b) in d.iter_mut().enumerate() {
                    if (i * 7919) % 100 >= 15 {
                        *b = 0;
                    }
                }
            }
        }
    }

    /// The same runtime with every sparse step turned back into its dense kernel.
    fn densified(g: Graph) -> Runtime {
        let mut rt = Runtime::new(g).unwrap();
        for s in &mut rt.steps {
            let node = &rt.graph.nodes[s.node];
            let fid = node.inputs[1].unwrap();
            let kind = std::mem::replace(&mut s.kind, Kind::Copy);
            s.kind = match kind {
                Kind::ConvS8Sparse { p, bias, .. } => Kind::ConvS8 {
                    p,
                    filter: fid,
                    bias,
                },
                Kind::FcS8Sparse { p, bias, .. } => Kind::FcS8 {
                    p,
                    filter: fid,
                    bias,
                },
                k => k,
            };
        }
        rt
    }

    #[test]
    fn sparse_steps_match_dense_kernels_bit_for_bit() {
        let mut b = GraphBuilder::new("sparse");
        let x = b.input("x", &[1, 10, 10, 8]);
        let a = b
            .conv2d(x, 32, (3, 3), 2, Padding::Same, Activation::Relu)
            .unwrap();
        let c = b
            .conv2d(a, 24, (1, 1), 1, Padding::Same, Activation::None)
            .unwrap();
        let mut g = b.finish(&[c]);
        sparsify(&mut g);
        let mut sparse = Runtime::new(g.clone()).unwrap();
        let n_sparse = sparse
            .steps
            .iter()
            .filter(|s| matches!(s.kind, Kind::ConvS8Sparse { .. }))
            .count();
        assert_eq!(n_sparse, 2);
        let mut dense = densified(g);
        for seed in 0..4u32 {
            let input: Vec<u8> = (0..sparse.input_bytes(0))
                .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as u8)
                .collect();
            sparse.invoke(&[&input]).unwrap();
            dense.invoke(&[&input]).unwrap();
            assert_eq!(sparse.output(0), dense.output(0));
        }
    }

    #[test]
    fn dense_filters_stay_dense() {
        let mut b = GraphBuilder::new("dense");
        let x = b.input("x", &[1, 6, 6, 4]);
        let a = b
            .conv2d(x, 8, (3, 3), 1, Padding::Same, Activation::Relu)
            .unwrap();
        let rt = Runtime::new(b.finish(&[a])).unwrap();
        assert!(rt
            .steps
            .iter()
            .all(|s| !matches!(s.kind, Kind::ConvS8Sparse { .. })));
    }
}
