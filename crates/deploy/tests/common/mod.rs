//! Graphs and inputs shared by the code-generation tests (C against the runtime, the Rust crate
//! against the C library), so both check the very same models.
#![allow(dead_code)]

use tinyforge_graph::build::GraphBuilder;
use tinyforge_graph::{Activation, Graph, Op, Padding, Quant};

pub fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
        .collect()
}

/// float32 in → QUANTIZE → FC → requantizing QUANTIZE → DEQUANTIZE → float32 out, the shape
/// of a model converted with float inputs and outputs.
pub fn float_io_graph() -> Graph {
    use tinyforge_graph::{DType, Node, Tensor};
    let mut b = GraphBuilder::new("float io");
    let q = b.input("q", &[1, 16]);
    let fc = b.fully_connected(q, 6, Activation::None).unwrap();
    let mut g = b.finish(&[]);
    g.tensors[q].quant = Some(Quant::per_tensor(0.04, -7));
    g.tensors[fc].quant = Some(Quant::per_tensor(0.09, 11));
    let float = |name: &str, shape: &[usize]| Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::F32,
        quant: None,
        data: None,
    };
    let x = g.add_tensor(float("x", &[1, 16]));
    let mut rq = tinyforge_graph::build::act_i8("requantized", &[1, 6]);
    rq.quant = Some(Quant::per_tensor(0.05, -30));
    let rq = g.add_tensor(rq);
    let y = g.add_tensor(float("y", &[1, 6]));
    g.nodes.insert(
        0,
        Node {
            op: Op::Quantize,
            inputs: vec![Some(x)],
            outputs: vec![q],
        },
    );
    g.nodes.push(Node {
        op: Op::Quantize,
        inputs: vec![Some(fc)],
        outputs: vec![rq],
    });
    g.nodes.push(Node {
        op: Op::Dequantize,
        inputs: vec![Some(rq)],
        outputs: vec![y],
    });
    g.inputs = vec![x];
    g.outputs = vec![y];
    g
}

/// conv → PAD (asymmetric, channels too) → VALID conv, as converters write explicit padding.
pub fn pad_graph() -> Graph {
    use tinyforge_graph::build::{act_i8, const_i32};
    use tinyforge_graph::Node;
    let mut b = GraphBuilder::new("pad");
    let x = b.input("x", &[1, 5, 4, 3]);
    let c = b
        .conv2d(x, 4, (1, 1), 1, Padding::Valid, Activation::None)
        .unwrap();
    let mut g = b.finish(&[]);
    let pads = g.add_tensor(const_i32("pads", &[4, 2], &[0, 0, 1, 2, 2, 1, 0, 1]));
    let mut padded = act_i8("padded", &[1, 8, 7, 5]);
    padded.quant = Some(Quant::per_tensor(0.06, -9));
    let pd = g.add_tensor(padded);
    g.nodes.push(Node {
        op: Op::Pad,
        inputs: vec![Some(c), Some(pads)],
        outputs: vec![pd],
    });
    g.outputs = vec![pd];
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 4));
    g.tensors[c].quant = Some(Quant::per_tensor(0.06, -9));
    g
}

/// Two convolutions of one input joined on the channel axis (an Inception-style block).
pub fn concat_graph() -> Graph {
    use tinyforge_graph::build::act_i8;
    use tinyforge_graph::Node;
    let mut b = GraphBuilder::new("concat");
    let x = b.input("x", &[1, 4, 4, 3]);
    let c1 = b
        .conv2d(x, 3, (1, 1), 1, Padding::Valid, Activation::None)
        .unwrap();
    let c2 = b
        .conv2d(x, 5, (3, 3), 1, Padding::Same, Activation::Relu)
        .unwrap();
    let mut g = b.finish(&[]);
    let mut joined = act_i8("joined", &[1, 4, 4, 8]);
    joined.quant = Some(Quant::per_tensor(0.07, -2));
    let j = g.add_tensor(joined);
    g.nodes.push(Node {
        op: Op::Concatenation {
            axis: -1,
            activation: Activation::None,
        },
        inputs: vec![Some(c1), Some(c2)],
        outputs: vec![j],
    });
    g.outputs = vec![j];
    g.tensors[x].quant = Some(Quant::per_tensor(0.05, 4));
    g.tensors[c1].quant = Some(Quant::per_tensor(0.07, -2));
    g.tensors[c2].quant = Some(Quant::per_tensor(0.07, -2));
    g
}
