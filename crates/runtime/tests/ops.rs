//! Small hand-built graphs that exercise the runtime's binding logic on ops the reference
//! models do not contain: PAD (zero-point fill), CONCATENATION (including a constant operand),
//! in-place element-wise ops (output planned over an input), QUANTIZE/DEQUANTIZE at the edges,
//! and typed errors instead of panics on graphs the runtime cannot execute.
use tinyforge_graph::build::{act_i8, const_i32};
use tinyforge_graph::{Activation, DType, Graph, Node, Op, Quant, Tensor};
use tinyforge_runtime::{Runtime, RuntimeError};

fn node(op: Op, inputs: &[usize], outputs: &[usize]) -> Node {
    Node {
        op,
        inputs: inputs.iter().map(|&i| Some(i)).collect(),
        outputs: outputs.to_vec(),
    }
}

fn f32_act(name: &str, shape: &[usize]) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::F32,
        quant: None,
        data: None,
    }
}

fn with_quant(mut t: Tensor, scale: f32, zp: i64) -> Tensor {
    t.quant = Some(Quant::per_tensor(scale, zp));
    t
}

fn i8s(b: &[u8]) -> Vec<i8> {
    b.iter().map(|&x| x as i8).collect()
}

#[test]
fn pad_fills_with_the_zero_point() {
    let mut g = Graph::default();
    let x = g.add_tensor(with_quant(act_i8("x", &[1, 2, 2, 1]), 0.5, -3));
    let p = g.add_tensor(const_i32("p", &[4, 2], &[0, 0, 1, 1, 0, 0, 0, 0]));
    let y = g.add_tensor(with_quant(act_i8("y", &[1, 4, 2, 1]), 0.5, -3));
    g.nodes.push(node(Op::Pad, &[x, p], &[y]));
    g.inputs = vec![x];
    g.outputs = vec![y];
    let mut rt = Runtime::new(g).unwrap();
    rt.invoke(&[&[1u8, 2, 3, 4]]).unwrap();
    assert_eq!(i8s(rt.output(0)), vec![-3, -3, 1, 2, 3, 4, -3, -3]);
}

#[test]
fn concatenation_joins_activations_and_constants() {
    let mut g = Graph::default();
    let q = |t| with_quant(t, 0.25, 1);
    let a = g.add_tensor(q(act_i8("a", &[1, 2, 1])));
    let mut k = q(act_i8("k", &[1, 2, 2]));
    k.data = Some(vec![10, 11, 12, 13]);
    let k = g.add_tensor(k);
    let y = g.add_tensor(q(act_i8("y", &[1, 2, 3])));
    g.nodes.push(node(
        Op::Concatenation {
            axis: -1,
            activation: Activation::None,
        },
        &[a, k],
        &[y],
    ));
    g.inputs = vec![a];
    g.outputs = vec![y];
    let mut rt = Runtime::new(g).unwrap();
    rt.invoke(&[&[7u8, 8]]).unwrap();
    assert_eq!(i8s(rt.output(0)), vec![7, 10, 11, 8, 12, 13]);
}

#[test]
fn quantize_relu_dequantize_chain_runs_in_place() {
    // float → int8 → RELU (planned over its input) → float.
    let mut g = Graph::default();
    let x = g.add_tensor(f32_act("x", &[4]));
    let q = g.add_tensor(with_quant(act_i8("q", &[4]), 0.5, 0));
    let r = g.add_tensor(with_quant(act_i8("r", &[4]), 0.5, 0));
    let y = g.add_tensor(f32_act("y", &[4]));
    g.nodes.push(node(Op::Quantize, &[x], &[q]));
    g.nodes.push(node(Op::Relu, &[q], &[r]));
    g.nodes.push(node(Op::Dequantize, &[r], &[y]));
    g.inputs = vec![x];
    g.outputs = vec![y];
    let mut rt = Runtime::new(g).unwrap();
    let input: Vec<u8> = [-1.0f32, 0.26, 1.0, 70.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    rt.invoke(&[&input]).unwrap();
    let out: Vec<f32> = rt
        .output(0)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // 0.26 / 0.5 = 0.52 rounds to 1 → 0.5; 70 saturates at 127 → 63.5; negatives clamp to 0.
    assert_eq!(out, vec![0.0, 0.5, 1.0, 63.5]);
}

#[test]
fn float_add_in_place_matches_plain_sum() {
    let mut g = Graph::default();
    let a = g.add_tensor(f32_act("a", &[3]));
    let b = g.add_tensor(f32_act("b", &[3]));
    let t = g.add_tensor(f32_act("t", &[3]));
    let y = g.add_tensor(f32_act("y", &[3]));
    g.nodes.push(node(Op::Relu, &[a], &[t]));
    g.nodes.push(node(
        Op::Add {
            activation: Activation::None,
        },
        &[t, b],
        &[y],
    ));
    g.inputs = vec![a, b];
    g.outputs = vec![y];
    let mut rt = Runtime::new(g).unwrap();
    let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    rt.invoke(&[&f(&[-1.0, 2.0, 3.0]), &f(&[10.0, 20.0, 30.0])])
        .unwrap();
    assert_eq!(rt.output(0), f(&[10.0, 22.0, 33.0]).as_slice());
}

#[test]
fn wrong_inputs_are_typed_errors() {
    let mut g = Graph::default();
    let x = g.add_tensor(f32_act("x", &[2]));
    let y = g.add_tensor(f32_act("y", &[2]));
    g.nodes.push(node(Op::Relu, &[x], &[y]));
    g.inputs = vec![x];
    g.outputs = vec![y];
    let mut rt = Runtime::new(g).unwrap();
    assert!(matches!(
        rt.invoke(&[]),
        Err(RuntimeError::InputCount {
            expected: 1,
            got: 0
        })
    ));
    assert!(matches!(
        rt.invoke(&[&[0u8; 7]]),
        Err(RuntimeError::InputSize {
            index: 0,
            expected: 8,
            got: 7
        })
    ));
}

#[test]
fn unexecutable_graphs_are_typed_errors() {
    // An int8 RELU6 whose output is quantized differently from its input: TFLM refuses it.
    let mut g = Graph::default();
    let x = g.add_tensor(with_quant(act_i8("x", &[4]), 0.1, 0));
    let y = g.add_tensor(with_quant(act_i8("y", &[4]), 0.2, 0));
    g.nodes.push(node(Op::Relu6, &[x], &[y]));
    g.inputs = vec![x];
    g.outputs = vec![y];
    assert!(Runtime::new(g).is_err());
    // A graph output that is a constant.
    let mut g = Graph::default();
    let c = g.add_tensor(const_i32("c", &[1], &[5]));
    g.outputs = vec![c];
    assert!(Runtime::new(g).is_err());
}
