//! Whole-graph validation: structure, topological order, and per-node shape checks.
//!
//! [`validate`] establishes the invariants listed in [`crate::ir`] that the cost model, the
//! planner and the runtime rely on: every index in range, every tensor's size representable,
//! constants' data as long as their shape says, each activation produced exactly once and before
//! it is read (nodes in execution order), graph inputs not produced by nodes and graph outputs
//! available, and every node's declared output shape equal to the one [`crate::shape`] infers.
//! It never panics: `.tflite` files are hostile input.
use crate::error::{GraphError, GraphResult};
use crate::ir::Graph;
use crate::shape::{checked_bytes, infer_node};

/// Checks the whole graph; the first problem found is returned.
pub fn validate(g: &Graph) -> GraphResult<()> {
    let nt = g.tensors.len();
    for (i, t) in g.tensors.iter().enumerate() {
        let bytes = checked_bytes(t)
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or_else(|| {
                GraphError::Invalid(format!(
                    "tensor {i} `{}` {:?} is too large",
                    t.name, t.shape
                ))
            })?;
        if let Some(d) = &t.data {
            if d.len() != bytes {
                return Err(GraphError::Invalid(format!(
                    "constant tensor {i} `{}` holds {} bytes, its shape {:?} × {} needs {bytes}",
                    t.name,
                    d.len(),
                    t.shape,
                    t.dtype.name()
                )));
            }
        }
    }
    let check_id = |id: usize, what: &str| -> GraphResult<()> {
        if id >= nt {
            Err(GraphError::Invalid(format!(
                "{what} refers to tensor {id}, the graph has {nt}"
            )))
        } else {
            Ok(())
        }
    };
    for &i in &g.inputs {
        check_id(i, "graph input")?;
    }
    for &o in &g.outputs {
        check_id(o, "graph output")?;
    }
    // available[t]: the tensor holds a value at this point of execution.
    let mut available: Vec<bool> = g.tensors.iter().map(|t| t.is_const()).collect();
    for &i in &g.inputs {
        if g.tensors[i].is_const() {
            return Err(GraphError::Invalid(format!(
                "graph input {i} `{}` is a constant",
                g.tensors[i].name
            )));
        }
        available[i] = true;
    }
    for (n, node) in g.nodes.iter().enumerate() {
        let op = node.op.name();
        let node_err = |msg: String| GraphError::Node { node: n, op, msg };
        for id in node.inputs.iter().flatten().copied() {
            if id >= nt {
                return Err(node_err(format!("input tensor {id} out of range ({nt})")));
            }
            if !available[id] {
                return Err(node_err(format!(
                    "reads tensor {id} `{}` before any node produces it (nodes out of order?)",
                    g.tensors[id].name
                )));
            }
        }
        if let crate::ir::Op::Conv2dAdd { conv_out, .. } = node.op {
            if conv_out >= nt {
                return Err(node_err(format!("conv_out tensor {conv_out} out of range")));
            }
        }
        for &id in &node.outputs {
            if id >= nt {
                return Err(node_err(format!("output tensor {id} out of range ({nt})")));
            }
            if available[id] {
                let t = &g.tensors[id];
                let why = if t.is_const() {
                    "is a constant"
                } else {
                    "is already produced (by a graph input or an earlier node)"
                };
                return Err(node_err(format!("output tensor {id} `{}` {why}", t.name)));
            }
            available[id] = true;
        }
        let shapes = infer_node(g, n)?;
        for (&id, want) in node.outputs.iter().zip(&shapes) {
            let t = &g.tensors[id];
            if &t.shape != want {
                return Err(GraphError::Shape {
                    node: n,
                    op,
                    msg: format!(
                        "output `{}` declared {:?}, inferred {:?}",
                        t.name, t.shape, want
                    ),
                });
            }
        }
    }
    for &o in &g.outputs {
        if !available[o] {
            return Err(GraphError::Invalid(format!(
                "graph output {o} `{}` is never produced",
                g.tensors[o].name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::*;
    use crate::testutil::*;

    #[test]
    fn small_cnn_validates() {
        let g = small_cnn();
        validate(&g).unwrap();
    }

    #[test]
    fn wrong_declared_shape_names_node() {
        let mut g = small_cnn();
        let out = g.nodes[0].outputs[0];
        g.tensors[out].shape = vec![1, 7, 7, 4];
        let e = validate(&g).unwrap_err();
        match e {
            GraphError::Shape { node, op, .. } => {
                assert_eq!(node, 0);
                assert_eq!(op, "CONV_2D");
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn out_of_order_nodes_rejected() {
        let mut g = small_cnn();
        g.nodes.swap(0, 1);
        let e = validate(&g).unwrap_err().to_string();
        assert!(e.contains("before any node produces it"), "{e}");
    }

    #[test]
    fn missing_quant_rejected() {
        let mut g = small_cnn();
        g.tensors[0].quant = None;
        let e = validate(&g).unwrap_err().to_string();
        assert!(e.contains("no quantization parameters"), "{e}");
    }

    #[test]
    fn dangling_and_huge_tensors_rejected() {
        let mut g = small_cnn();
        g.nodes[1].inputs[0] = Some(999);
        assert!(validate(&g).is_err());
        let mut g = small_cnn();
        g.tensors[0].shape = vec![usize::MAX, 4];
        assert!(validate(&g).is_err());
        let mut g = small_cnn();
        g.outputs.push(12345);
        assert!(validate(&g).is_err());
    }

    #[test]
    fn reshape_from_shape_tensor_with_wildcard() {
        let mut g = Graph::default();
        let x = g.add_tensor(act("x", &[1, 2, 3, 4]));
        let s = g.add_tensor(const_i32("s", &[2], &[1, -1]));
        let y = g.add_tensor(act("y", &[1, 24]));
        g.nodes.push(Node {
            op: Op::Reshape,
            inputs: vec![Some(x), Some(s)],
            outputs: vec![y],
        });
        g.inputs = vec![x];
        g.outputs = vec![y];
        validate(&g).unwrap();
        g.tensors[y].shape = vec![2, 12];
        assert!(validate(&g).is_err());
        // Without a shape tensor, the declared output shape is the target.
        g.nodes[0].inputs.pop();
        validate(&g).unwrap();
        g.tensors[y].shape = vec![5, 5];
        assert!(validate(&g).is_err());
    }

    #[test]
    fn mean_pad_squeeze_concat_add_fc() {
        let mut g = Graph::default();
        let x = g.add_tensor(act("x", &[1, 4, 4, 8]));
        let pads = g.add_tensor(const_i32("p", &[4, 2], &[0, 0, 1, 1, 2, 0, 0, 0]));
        let xp = g.add_tensor(act("xp", &[1, 6, 6, 8]));
        let axes = g.add_tensor(const_i32("ax", &[2], &[1, -2]));
        let m = g.add_tensor(act("m", &[1, 1, 1, 8]));
        let sq = g.add_tensor(act("sq", &[1, 8]));
        let b = g.add_tensor(act("b", &[8]));
        let sum = g.add_tensor(act("sum", &[1, 8]));
        let cat = g.add_tensor(act("cat", &[1, 16]));
        let w = g.add_tensor(const_i8("w", &[3, 16], Quant::per_tensor(0.1, 0)));
        let fc = g.add_tensor(act("fc", &[1, 3]));
        g.nodes = vec![
            Node {
                op: Op::Pad,
                inputs: vec![Some(x), Some(pads)],
                outputs: vec![xp],
            },
            Node {
                op: Op::Mean { keep_dims: true },
                inputs: vec![Some(xp), Some(axes)],
                outputs: vec![m],
            },
            Node {
                op: Op::Squeeze { dims: vec![1, 2] },
                inputs: vec![Some(m)],
                outputs: vec![sq],
            },
            Node {
                op: Op::Add {
                    activation: Activation::None,
                },
                inputs: vec![Some(sq), Some(b)],
                outputs: vec![sum],
            },
            Node {
                op: Op::Concatenation {
                    axis: -1,
                    activation: Activation::None,
                },
                inputs: vec![Some(sum), Some(sq)],
                outputs: vec![cat],
            },
            Node {
                op: Op::FullyConnected(FullyConnectedOptions {
                    activation: Activation::None,
                    keep_num_dims: false,
                }),
                inputs: vec![Some(cat), Some(w), None],
                outputs: vec![fc],
            },
        ];
        g.inputs = vec![x, b];
        g.outputs = vec![fc];
        validate(&g).unwrap();

        let mut bad = g.clone();
        bad.tensors[b].shape = vec![3];
        let e = validate(&bad).unwrap_err().to_string();
        assert!(e.contains("do not broadcast"), "{e}");

        let mut bad = g.clone();
        bad.nodes[2].op = Op::Squeeze { dims: vec![3] };
        assert!(validate(&bad).is_err());

        let mut bad = g.clone();
        bad.tensors[pads].data = Some(
            [0i32, 0, -1, 1, 2, 0, 0, 0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        );
        assert!(validate(&bad)
            .unwrap_err()
            .to_string()
            .contains("negative padding"));

        // Squeeze with no dims removes every 1.
        let mut sq_all = g.clone();
        sq_all.nodes[2].op = Op::Squeeze { dims: vec![] };
        sq_all.tensors[sq].shape = vec![8];
        sq_all.tensors[sum].shape = vec![8];
        sq_all.tensors[cat].shape = vec![16];
        sq_all.nodes[4].op = Op::Concatenation {
            axis: 0,
            activation: Activation::None,
        };
        validate(&sq_all).unwrap();

        // FC flattens a 4-D input into rows.
        let mut fc4 = g.clone();
        fc4.tensors[cat].shape = vec![1, 1, 1, 16];
        assert!(validate(&fc4).is_err(), "concat shape now disagrees");
    }

    #[test]
    fn never_panics_on_garbage() {
        // A deterministic sweep of corruptions over a valid graph: validation must return,
        // never panic.
        let base = small_cnn();
        let mut seed = 0x1234_5678u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let mut g = base.clone();
            for _ in 0..3 {
                let r = next();
                let ti = (r as usize >> 8) % g.tensors.len();
                let v = [0usize, 1, 2, 3, 7, 64, usize::MAX][(r as usize >> 20) % 7];
                match r % 7 {
                    0 => {
                        let t = &mut g.tensors[ti];
                        if !t.shape.is_empty() {
                            let k = (r as usize >> 30) % t.shape.len();
                            t.shape[k] = v;
                        }
                    }
                    1 => {
                        g.tensors[ti].shape.push(v);
                    }
                    2 => {
                        g.tensors[ti].shape.clear();
                    }
                    3 => {
                        let n = (r as usize >> 12) % g.nodes.len();
                        g.nodes[n].inputs.push(Some(v % (g.tensors.len() + 2)));
                    }
                    4 => {
                        let n = (r as usize >> 12) % g.nodes.len();
                        g.nodes[n].inputs.truncate(1);
                    }
                    5 => {
                        g.tensors[ti].dtype =
                            [DType::I4, DType::I2, DType::F32, DType::I64][r as usize % 4]
                    }
                    _ => g.tensors[ti].quant = None,
                }
            }
            let _ = validate(&g);
            let _ = crate::cost::graph_cost(&g);
            for n in 0..g.nodes.len() {
                let _ = crate::shape::infer_node(&g, n);
            }
            if let Ok(p) = crate::plan::plan_default(&g) {
                assert!(p.arena_bytes >= p.peak_live_bytes());
            }
        }
    }
}
