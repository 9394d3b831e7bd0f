//! Sparse-weight dispatch: int8 conv, depthwise and fully-connected filters that are mostly
//! zeros (after pruning) are turned at prepare time into a [`SparsePlan`] of
//! [`tinyforge_kernels::sparse`] and executed by the sparse kernels, which skip zeros.
//!
//! Results are bit-identical to the dense kernels (same products, same requantization), so the
//! choice is one of speed only, made per layer by [`runs_sparse`]: a cost model whose density
//! thresholds were measured against the dense AVX2 paths on the layer shapes of the MNIST and
//! KWS DS-CNNs (`cargo bench -p tinyforge-kernels --bench sparse`, which prints the crossover
//! density per shape). Below a threshold the sparse kernel is faster on every measured shape,
//! so a pruned model never runs slower than its dense form. [`SparsePolicy`] overrides the
//! choice (`tinyforge bench --compare-dense` times both). Flash size is another matter: the
//! `TFSR2` blob deploy stores is chosen by size alone (`tinyforge-compress`'s report).
//!
//! Grouped convolutions, int4 filters and asymmetric FC weights stay dense.
use tinyforge_kernels::sparse::{build_plan, depthwise_rows, plan_len, SparsePlan};
use tinyforge_kernels::KernelError;

/// Which int8 layers run on the sparse kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SparsePolicy {
    /// Per layer, by the cost model ([`runs_sparse`]).
    #[default]
    Auto,
    /// Never: every layer dense (the baseline of `bench --compare-dense`).
    Dense,
    /// Every layer that the sparse kernels can run, whatever its density.
    Always,
}

/// Weight layer kinds with a sparse kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparseLayerKind {
    /// Ungrouped int8 convolution: `taps = KH·KW` filter taps over `in_channels`.
    Conv {
        taps: usize,
        in_channels: usize,
    },
    Depthwise,
    FullyConnected,
}

/// Largest density (non-zero / all weights) at which the sparse kernel of `kind` is chosen.
///
/// Measured on the host (AVX2, `cargo bench -p tinyforge-kernels --bench sparse`): the sparse
/// conv's cost is a per-tile gather and the same requantization as dense plus one step per
/// non-zero, so it wins where rows are long enough for the skipped products to outweigh the
/// gather — crossovers ≈ 50 % for 1×1 convs of 16, 32 and 64 input channels (14×14, 7×7 and
/// 25×5 maps), ≈ 40 % for a 3×3 conv of 32 channels, never for a 3×3 conv of one channel
/// (9-weight rows). Depthwise and the small FC layers run faster dense at every measured
/// density (their dense kernels are tiny and vectorized across channels). The thresholds sit
/// well below the measured crossovers (the timings vary by ±15 % on a busy host), so the
/// choice errs towards dense.
pub fn density_threshold(kind: SparseLayerKind) -> f64 {
    match kind {
        SparseLayerKind::Conv { taps, in_channels } => match taps * in_channels {
            k if k >= 32 => 0.35,
            k if k >= 16 => 0.25,
            _ => 0.0,
        },
        SparseLayerKind::FullyConnected | SparseLayerKind::Depthwise => 0.0,
    }
}

/// Whether a layer of `kind` with `nonzeros` of `weights` weights runs sparse under `policy`.
pub fn runs_sparse(
    policy: SparsePolicy,
    kind: SparseLayerKind,
    nonzeros: usize,
    weights: usize,
) -> bool {
    match policy {
        SparsePolicy::Dense => false,
        SparsePolicy::Always => weights > 0,
        SparsePolicy::Auto => {
            let t = density_threshold(kind);
            weights > 0 && t > 0.0 && (nonzeros as f64) <= t * weights as f64
        }
    }
}

/// A sparse plan owned by a prepared step.
#[derive(Debug, Clone)]
pub(crate) struct SparseS8 {
    rows: usize,
    row_len: usize,
    row_start: Vec<u32>,
    cols: Vec<u32>,
    vals: Vec<i16>,
}

impl SparseS8 {
    /// The plan of `w` (`rows × row_len` int8, rows as the kernels define them).
    fn from_rows(w: &[i8], rows: usize, row_len: usize) -> Result<SparseS8, KernelError> {
        let n = plan_len(w, rows, row_len)?;
        let mut s = SparseS8 {
            rows,
            row_len,
            row_start: vec![0; rows + 1],
            cols: vec![0; n],
            vals: vec![0; n],
        };
        build_plan(w, rows, row_len, &mut s.row_start, &mut s.cols, &mut s.vals)?;
        Ok(s)
    }

    pub fn plan(&self) -> Result<SparsePlan<'_>, KernelError> {
        SparsePlan::new(
            self.rows,
            self.row_len,
            &self.row_start,
            &self.cols,
            &self.vals,
        )
    }
}

fn nonzeros(w: &[u8]) -> usize {
    w.iter().filter(|&&b| b != 0).count()
}

/// The step kind of a prepared int8 conv: sparse when the policy says so, else dense.
pub(crate) fn conv_kind(
    policy: SparsePolicy,
    filter_bytes: &[u8],
    p: crate::exec::ConvS8,
    filter: tinyforge_graph::TensorId,
    bias: Option<Vec<i32>>,
) -> crate::exec::Kind {
    let fs = p.filter_shape;
    let k = fs.h * fs.w * fs.c;
    let eligible = p.input_shape.c == fs.c
        && (-127..=128).contains(&p.input_offset)
        && filter_bytes.len() == fs.n * k;
    let kind = SparseLayerKind::Conv {
        taps: fs.h * fs.w,
        in_channels: fs.c,
    };
    if eligible && runs_sparse(policy, kind, nonzeros(filter_bytes), filter_bytes.len()) {
        if let Ok(w) = SparseS8::from_rows(bytemuck::cast_slice(filter_bytes), fs.n, k) {
            return crate::exec::Kind::ConvS8Sparse { p, w, bias };
        }
    }
    crate::exec::Kind::ConvS8 { p, filter, bias }
}

/// The step kind of a prepared int8 depthwise conv.
pub(crate) fn dw_kind(
    policy: SparsePolicy,
    filter_bytes: &[u8],
    p: crate::exec::DwS8,
    filter: tinyforge_graph::TensorId,
    bias: Option<Vec<i32>>,
) -> crate::exec::Kind {
    let fs = p.filter_shape;
    let taps = fs.h * fs.w;
    let eligible = filter_bytes.len() == taps * fs.c;
    if eligible
        && runs_sparse(
            policy,
            SparseLayerKind::Depthwise,
            nonzeros(filter_bytes),
            filter_bytes.len(),
        )
    {
        let mut rows = vec![0i8; filter_bytes.len()];
        let ok = depthwise_rows(bytemuck::cast_slice(filter_bytes), taps, fs.c, &mut rows)
            .and_then(|()| SparseS8::from_rows(&rows, fs.c, taps));
        if let Ok(w) = ok {
            return crate::exec::Kind::DwS8Sparse { p, w, bias };
        }
    }
    crate::exec::Kind::DwS8 { p, filter, bias }
}

/// The step kind of a prepared int8 fully-connected layer.
pub(crate) fn fc_kind(
    policy: SparsePolicy,
    filter_bytes: &[u8],
    p: crate::exec::FcS8,
    filter: tinyforge_graph::TensorId,
    bias: Option<Vec<i32>>,
) -> crate::exec::Kind {
    let eligible = p.filter_offset == 0 && filter_bytes.len() == p.output_depth * p.input_depth;
    if eligible
        && runs_sparse(
            policy,
            SparseLayerKind::FullyConnected,
            nonzeros(filter_bytes),
            filter_bytes.len(),
        )
    {
        if let Ok(w) = SparseS8::from_rows(
            bytemuck::cast_slice(filter_bytes),
            p.output_depth,
            p.input_depth,
        ) {
            return crate::exec::Kind::FcS8Sparse { p, w, bias };
        }
    }
    crate::exec::Kind::FcS8 { p, filter, bias }
}

#[cfg(test)]
mod tests {
    use tinyforge_graph::build::GraphBuilder;
    use tinyforge_graph::{Activation, Graph, Padding};

    use super::SparsePolicy;
    use crate::exec::Kind;
    use crate::Runtime;

    /// Zeroes ~85 % of every conv / depthwise / FC filter, deterministically.
    fn sparsify(g: &mut Graph) {
        let filters: Vec<usize> = g
            .nodes
            .iter()
            .filter_map(|n| n.inputs.get(1).copied().flatten())
            .collect();
        for f in filters {
            if let Some(d) = g.tensors[f].data.as_mut() {
                for (i, b) in d.iter_mut().enumerate() {
                    if (i * 7919) % 100 >= 8 {
                        *b = 0;
                    }
                }
            }
        }
    }

    fn count_sparse(rt: &Runtime) -> usize {
        rt.steps
            .iter()
            .filter(|s| {
                matches!(
                    s.kind,
                    Kind::ConvS8Sparse { .. } | Kind::DwS8Sparse { .. } | Kind::FcS8Sparse { .. }
                )
            })
            .count()
    }

    fn net() -> Graph {
        let mut b = GraphBuilder::new("sparse");
        let x = b.input("x", &[1, 10, 10, 8]);
        let a = b
            .conv2d(x, 32, (3, 3), 2, Padding::Same, Activation::Relu)
            .unwrap();
        let d = b
            .depthwise(a, (3, 3), 1, Padding::Same, Activation::Relu)
            .unwrap();
        let c = b
            .conv2d(d, 24, (1, 1), 1, Padding::Same, Activation::None)
            .unwrap();
        b.finish(&[c])
    }

    #[test]
    fn sparse_steps_match_dense_kernels_bit_for_bit() {
        let mut g = net();
        sparsify(&mut g);
        let mut sparse = Runtime::with_sparse_policy(g.clone(), SparsePolicy::Always).unwrap();
        assert_eq!(count_sparse(&sparse), 3);
        let mut auto = Runtime::new(g.clone()).unwrap();
        // The cost model runs the 3×3 conv over 8 channels (72 weights a row) and the 1×1
        // conv over 32 channels sparse, the depthwise dense.
        assert_eq!(count_sparse(&auto), 2);
        let mut dense = Runtime::with_sparse_policy(g, SparsePolicy::Dense).unwrap();
        assert_eq!(count_sparse(&dense), 0);
        for seed in 0..4u32 {
            let input: Vec<u8> = (0..sparse.input_bytes(0))
                .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as u8)
                .collect();
            sparse.invoke(&[&input]).unwrap();
            dense.invoke(&[&input]).unwrap();
            auto.invoke(&[&input]).unwrap();
            assert_eq!(sparse.output(0), dense.output(0));
            assert_eq!(auto.output(0), dense.output(0));
        }
    }

    #[test]
    fn dense_filters_stay_dense() {
        let rt = Runtime::new(net()).unwrap();
        assert_eq!(count_sparse(&rt), 0);
    }
}
