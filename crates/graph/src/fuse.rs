//! Graph rewrites done before memory planning: CONV_2D + residual ADD → [`Op::Conv2dAdd`].
//!
//! A residual block ends in `ADD(skip, CONV_2D(x))`. Run as two ops, the conv output, the skip
//! and the sum are all live at the ADD, which sets the layer-wise memory floor of ResNets. Fused,
//! the convolution's epilogue adds the skip element and writes the sum over the skip in place:
//! the conv output is never materialised and the sum needs no buffer of its own.
//!
//! Fusion conditions (all must hold; anything else is left alone):
//! - the ADD has two operands and one output, all int8, the output the same shape as both;
//! - one operand is the output of an int8 CONV_2D and is read by nothing but this ADD (once) and
//!   is not a graph output;
//! - the other operand (the skip) is a distinct non-constant tensor with the conv output's shape
//!   and dtype, read by no node after the ADD, not a graph output, not a view (RESHAPE or
//!   SQUEEZE output) and with no view of it read later or output — so its bytes really die at
//!   the ADD and the planner may overwrite them;
//! - the conv's input is not the skip nor a view of it (the conv reads a neighbourhood of its
//!   input while the fused node overwrites the skip element by element).
//!
//! - moving the conv to the ADD's place keeps its input alive until the ADD: no fusion in
//!   between may overwrite that input.
//!
//! When both operands qualify, the one produced later is fused (its conv already sits next to
//! the ADD, so no lifetime grows). The fused node takes the ADD's place; the conv node is
//! removed; tensor ids are unchanged (the conv output stays in `tensors` for its quantization
//! parameters but no node reads or writes it). Neighbours: [`mod@crate::plan`] places the fused
//! output at the skip's offset; `tinyforge-runtime` runs it with the kernels' `conv2d_s8_add`.
use crate::ir::{DType, Graph, Node, Op, TensorId};

/// One fusion done by [`fuse_conv_add`] (node indices of the input graph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fused {
    pub conv_node: usize,
    pub add_node: usize,
}

/// Follows RESHAPE/SQUEEZE producers back to the tensor whose bytes a view shares.
fn view_root(g: &Graph, producer: &[Option<usize>], mut t: TensorId) -> TensorId {
    // Bounded by the node count: the graph may be hostile, loops must not hang.
    for _ in 0..=g.nodes.len() {
        let Some(p) = producer.get(t).copied().flatten() else {
            break;
        };
        let node = &g.nodes[p];
        match (&node.op, node.inputs.first().copied().flatten()) {
            (Op::Reshape | Op::Squeeze { .. }, Some(src)) if src < g.tensors.len() => t = src,
            _ => break,
        }
    }
    t
}

/// Fuses every qualifying CONV_2D + ADD pair; returns the new graph and what was fused.
///
/// Expects a validated graph (indices in range); on anything unexpected it simply does not fuse.
pub fn fuse_conv_add(g: &Graph) -> (Graph, Vec<Fused>) {
    let nt = g.tensors.len();
    let mut producer: Vec<Option<usize>> = vec![None; nt];
    let mut reads = vec![0usize; nt];
    let mut last_read: Vec<Option<usize>> = vec![None; nt];
    for (n, node) in g.nodes.iter().enumerate() {
        for &o in &node.outputs {
            if let Some(p) = producer.get_mut(o) {
                *p = Some(n);
            }
        }
        for &i in node.inputs.iter().flatten() {
            if i < nt {
                reads[i] += 1;
                last_read[i] = Some(n);
            }
        }
    }
    let is_output = |t: TensorId| g.outputs.contains(&t);
    // Views share their root's bytes: the root is only dead once all its views are.
    let mut root_last: Vec<Option<usize>> = last_read.clone();
    let mut root_output: Vec<bool> = (0..nt).map(is_output).collect();
    for t in 0..nt {
        let r = view_root(g, &producer, t);
        if r != t {
            root_last[r] = root_last[r].max(last_read[t]);
            root_output[r] |= root_output[t];
        }
    }
    let int8 = |t: TensorId| {
        g.tensors
            .get(t)
            .is_some_and(|t| t.dtype == DType::I8 && !t.is_const())
    };

    // (add node, skip root) of fusions done: that root's bytes are overwritten at that node.
    let mut overwritten: Vec<(usize, TensorId)> = Vec::new();
    let mut replaced: Vec<Option<Node>> = vec![None; g.nodes.len()];
    let mut removed = vec![false; g.nodes.len()];
    let mut fused = Vec::new();
    for (a, add) in g.nodes.iter().enumerate() {
        let Op::Add { activation } = add.op else {
            continue;
        };
        let (Some(x0), Some(x1)) = (
            add.inputs.first().copied().flatten(),
            add.inputs.get(1).copied().flatten(),
        ) else {
            continue;
        };
        if add.inputs.len() != 2 || add.outputs.len() != 1 || x0 == x1 {
            continue;
        }
        let out = add.outputs[0];
        if !(int8(x0) && int8(x1) && int8(out)) {
            continue;
        }
        let shape = &g.tensors[out].shape;
        if &g.tensors[x0].shape != shape || &g.tensors[x1].shape != shape {
            continue;
        }
        // Latest-produced operand first.
        let mut cands = [(0usize, x0, x1), (1, x1, x0)];
        cands.sort_by_key(|&(_, c, _)| std::cmp::Reverse(producer[c]));
        for (k, conv_t, skip) in cands {
            let Some(p) = producer[conv_t] else { continue };
            if removed[p] || replaced[p].is_some() {
                continue;
            }
            let conv = &g.nodes[p];
            let Op::Conv2d(opts) = conv.op else { continue };
            let Some(conv_in) = conv.inputs.first().copied().flatten() else {
                continue;
            };
            // Moving the conv from `p` to `a` makes its input live until `a`: no earlier fusion
            // in between may have overwritten those bytes.
            let in_root = view_root(g, &producer, conv_in);
            let moved_ok = !overwritten
                .iter()
                .any(|&(at, r)| r == in_root && p < at && at < a);
            // Packed int4 weights run in their own kernel, which has no fused epilogue.
            let int8_filter = conv
                .inputs
                .get(1)
                .copied()
                .flatten()
                .and_then(|f| g.tensors.get(f))
                .is_some_and(|f| f.dtype == DType::I8);
            let ok = moved_ok
                && int8_filter
                && reads[conv_t] == 1
                && !is_output(conv_t)
                && int8(conv_in)
                && root_last[skip] == Some(a)
                && !root_output[skip]
                && view_root(g, &producer, skip) == skip
                && view_root(g, &producer, conv_in) != skip
                && conv.outputs.len() == 1
                && (2..=3).contains(&conv.inputs.len());
            if !ok {
                continue;
            }
            let bias = conv.inputs.get(2).copied().flatten();
            replaced[a] = Some(Node {
                op: Op::Conv2dAdd {
                    conv: opts,
                    conv_out: conv_t,
                    conv_is_first: k == 0,
                    add_activation: activation,
                },
                inputs: vec![Some(conv_in), conv.inputs[1], bias, Some(skip)],
                outputs: vec![out],
            });
            removed[p] = true;
            overwritten.push((a, skip));
            root_last[in_root] = root_last[in_root].max(Some(a));
            fused.push(Fused {
                conv_node: p,
                add_node: a,
            });
            break;
        }
    }
    let mut out = Graph {
        nodes: Vec::with_capacity(g.nodes.len()),
        ..g.clone()
    };
    for (n, node) in g.nodes.iter().enumerate() {
        if removed[n] {
            continue;
        }
        out.nodes
            .push(replaced[n].take().unwrap_or_else(|| node.clone()));
    }
    (out, fused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Activation, Padding};
    use crate::testutil::GraphBuilder;

    /// x → conv a → conv b → conv c; add(a, c) → out.
    fn residual() -> Graph {
        let mut b = GraphBuilder::new("res");
        let x = b.input("x", &[1, 8, 8, 4]);
        let a = b
            .conv2d(x, 4, (3, 3), 1, Padding::Same, Activation::Relu)
            .unwrap();
        let m = b
            .conv2d(a, 4, (3, 3), 1, Padding::Same, Activation::Relu)
            .unwrap();
        let c = b
            .conv2d(m, 4, (3, 3), 1, Padding::Same, Activation::None)
            .unwrap();
        let s = b.add(a, c, Activation::Relu).unwrap();
        b.finish(&[s])
    }

    #[test]
    fn fuses_residual_add() {
        let g = residual();
        let (f, fused) = fuse_conv_add(&g);
        assert_eq!(
            fused,
            vec![Fused {
                conv_node: 2,
                add_node: 3
            }]
        );
        assert_eq!(f.nodes.len(), 3);
        crate::validate(&f).unwrap();
        match &f.nodes[2].op {
            Op::Conv2dAdd {
                conv_out,
                conv_is_first,
                add_activation,
                ..
            } => {
                assert_eq!(*conv_out, g.nodes[2].outputs[0]);
                assert!(!conv_is_first);
                assert_eq!(*add_activation, Activation::Relu);
            }
            other => panic!("not fused: {other:?}"),
        }
        assert_eq!(f.nodes[2].inputs[0], Some(g.nodes[1].outputs[0]));
        assert_eq!(f.nodes[2].inputs[3], Some(g.nodes[0].outputs[0]));
        assert_eq!(f.nodes[2].outputs, g.nodes[3].outputs);
    }

    #[test]
    fn skip_used_later_is_not_fused() {
        let mut g = residual();
        let skip = g.nodes[0].outputs[0];
        g.outputs.push(skip);
        assert!(fuse_conv_add(&g).1.is_empty());
    }

    #[test]
    fn skip_with_a_live_view_is_not_fused() {
        let mut b = GraphBuilder::new("view");
        let x = b.input("x", &[1, 4, 4, 2]);
        let a = b
            .conv2d(x, 2, (1, 1), 1, Padding::Same, Activation::None)
            .unwrap();
        let v = b.reshape(a, &[1, 32]).unwrap();
        let m = b
            .conv2d(a, 2, (1, 1), 1, Padding::Same, Activation::None)
            .unwrap();
        let c = b
            .conv2d(m, 2, (3, 3), 1, Padding::Same, Activation::None)
            .unwrap();
        let s = b.add(a, c, Activation::None).unwrap();
        let g = b.finish(&[s, v]);
        assert!(fuse_conv_add(&g).1.is_empty());
        crate::plan::plan_default(&g).unwrap();
    }

    #[test]
    fn conv_reading_skip_is_not_fused() {
        // add(x1, conv(x1)): the conv would overwrite its own input.
        let mut b = GraphBuilder::new("self");
        let x = b.input("x", &[1, 4, 4, 2]);
        let x1 = b
            .conv2d(x, 2, (1, 1), 1, Padding::Same, Activation::None)
            .unwrap();
        let c = b
            .conv2d(x1, 2, (3, 3), 1, Padding::Same, Activation::None)
            .unwrap();
        let s = b.add(x1, c, Activation::None).unwrap();
        let g = b.finish(&[s]);
        let (f, fused) = fuse_conv_add(&g);
        // The only candidate conv reads the skip x1: forbidden.
        assert!(fused.is_empty(), "{fused:?}");
        assert_eq!(f, g);
    }
}
