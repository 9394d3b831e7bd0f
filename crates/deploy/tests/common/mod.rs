//! Graphs and inputs shared by the code-generation tests (C against the runtime, the Rust crate
//! against the C library), so both check the very same models.
#![allow(dead_code)]

use tinyforge_graph::build::GraphBuilder;
use tinyforge_graph::{Activation, DType, Graph, Op, Padding, Quant, TensorId};

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

pub const INPUT: [usize; 4] = [1, 10, 9, 3];

/// The residual block every code-generation test net opens with: conv 3×3/2 (ReLU) →
/// depthwise 3×3 (ReLU6) → 1×1 conv → add of the conv's output (ReLU), which the planner
/// fuses into the 1×1 conv. Returns `[conv, depthwise, pointwise, add]`.
pub fn residual_stem(b: &mut GraphBuilder, x: TensorId) -> [TensorId; 4] {
    let c1 = b
        .conv2d(x, 8, (3, 3), 2, Padding::Same, Activation::Relu)
        .unwrap();
    let d1 = b
        .depthwise(c1, (3, 3), 1, Padding::Same, Activation::Relu6)
        .unwrap();
    let p1 = b
        .conv2d(d1, 8, (1, 1), 1, Padding::Valid, Activation::None)
        .unwrap();
    let a1 = b.add(p1, c1, Activation::Relu).unwrap();
    [c1, d1, p1, a1]
}

/// The test net of the compressed-filter tests: conv 3×3/2 (K = 27: int4 rows start mid-byte) → depthwise → 1×1 conv fused with a residual
/// add (K = 8) → conv 3×3 (K = 72) → depthwise with a channel tail → pool → FC (K = 7) →
/// softmax.
pub fn compressed_net() -> Graph {
    let mut b = GraphBuilder::new("compressed net");
    let x = b.input("image", &INPUT);
    let [c1, d1, p1, a1] = residual_stem(&mut b, x);
    let c2 = b
        .conv2d(a1, 7, (3, 3), 1, Padding::Valid, Activation::None)
        .unwrap();
    let d2 = b
        .depthwise(c2, (3, 3), 1, Padding::Same, Activation::None)
        .unwrap();
    let pool = b.avg_pool(d2, (3, 3), 1, Padding::Valid).unwrap();
    let flat = b.reshape(pool, &[1, 7]).unwrap();
    let fc = b.fully_connected(flat, 5, Activation::None).unwrap();
    let sm = b.unary(Op::Softmax { beta: 1.0 }, fc).unwrap();
    let mut g = b.finish(&[sm]);
    g.tensors[x].quant = Some(Quant::per_tensor(0.02, -5));
    g.tensors[c1].quant = Some(Quant::per_tensor(0.03, -128));
    g.tensors[d1].quant = Some(Quant::per_tensor(0.025, -10));
    g.tensors[p1].quant = Some(Quant::per_tensor(0.04, 3));
    g.tensors[c2].quant = Some(Quant::per_tensor(0.05, 9));
    g.tensors[fc].quant = Some(Quant::per_tensor(0.2, 3));
    g.tensors[sm].quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    g
}

/// The filter tensors of conv, depthwise and fully-connected nodes.
pub fn filters(g: &Graph) -> Vec<usize> {
    g.nodes
        .iter()
        .filter(|n| {
            matches!(
                n.op,
                Op::Conv2d(_) | Op::DepthwiseConv2d(_) | Op::FullyConnected(_)
            )
        })
        .filter_map(|n| n.inputs[1])
        .collect()
}

/// Every filter re-quantized to `bits` (4 or 2: the top bits of the int8 pattern) and packed:
/// TFLite's INT4 layout (element 2k in the low nibble) or tinyforge's int2 (element 4k + j in
/// bits 2j..2j+2).
pub fn to_packed(mut g: Graph, bits: usize) -> Graph {
    let per = 8 / bits;
    for id in filters(&g) {
        let t = &mut g.tensors[id];
        let v: Vec<i8> = t
            .data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&b| (b as i8) >> (8 - bits))
            .collect();
        let mut packed = vec![0u8; v.len().div_ceil(per)];
        let mask = ((1u16 << bits) - 1) as u8;
        for (i, &x) in v.iter().enumerate() {
            packed[i / per] |= ((x as u8) & mask) << (bits * (i % per));
        }
        t.dtype = if bits == 4 { DType::I4 } else { DType::I2 };
        t.data = Some(packed);
    }
    g
}

/// Zeroes about `keep_out` tenths of every conv / FC filter, weight by weight (`block` 1) or in
/// 1×4 blocks along the input dimension (`block` 4).
pub fn prune(mut g: Graph, keep_out: u32, block: usize) -> Graph {
    let dw: Vec<usize> = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::DepthwiseConv2d(_)))
        .filter_map(|n| n.inputs[1])
        .collect();
    for id in filters(&g).into_iter().filter(|id| !dw.contains(id)) {
        let t = &mut g.tensors[id];
        let row = t.shape[1..].iter().product::<usize>();
        let data = t.data.as_mut().unwrap();
        let mut s = id as u32 * 7919 + 1;
        for r in 0..data.len() / row {
            for j in (0..row).step_by(block) {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if (s >> 16) % 10 < keep_out {
                    for e in j..(j + block).min(row) {
                        data[r * row + e] = 0;
                    }
                }
            }
        }
    }
    g
}

pub const GAP_INPUT: [usize; 4] = [1, 7, 6, 4];

/// A depthwise-separable block whose depthwise (32 rows of 9 taps) and pointwise (16 rows of
/// 32 weights, as long as [`tinyforge_deploy::SPARSE_MIN_ROW`]) filters are pruned to about
/// 95 % zeros by [`prune_hard`], where the `TFSR2` gap stream is the smallest blob: conv 3×3 →
/// depthwise 3×3 → 1×1 conv → pool → FC → softmax.
pub fn gap_net() -> Graph {
    let mut b = GraphBuilder::new("gap net");
    let x = b.input("image", &GAP_INPUT);
    let c1 = b
        .conv2d(x, 32, (3, 3), 1, Padding::Same, Activation::Relu)
        .unwrap();
    let d1 = b
        .depthwise(c1, (3, 3), 1, Padding::Same, Activation::Relu6)
        .unwrap();
    let p1 = b
        .conv2d(d1, 16, (1, 1), 1, Padding::Valid, Activation::Relu)
        .unwrap();
    let pool = b.avg_pool(p1, (7, 6), 1, Padding::Valid).unwrap();
    let flat = b.reshape(pool, &[1, 16]).unwrap();
    let fc = b.fully_connected(flat, 5, Activation::None).unwrap();
    let sm = b.unary(Op::Softmax { beta: 1.0 }, fc).unwrap();
    let mut g = b.finish(&[sm]);
    g.tensors[x].quant = Some(Quant::per_tensor(0.02, -5));
    g.tensors[c1].quant = Some(Quant::per_tensor(0.03, -128));
    g.tensors[d1].quant = Some(Quant::per_tensor(0.01, -128));
    g.tensors[fc].quant = Some(Quant::per_tensor(0.05, 3));
    g.tensors[sm].quant = Some(Quant::per_tensor(1.0 / 256.0, -128));
    g
}

/// Zeroes about 95 % of the weights of every depthwise and 1×1 conv filter (the first conv
/// and the FC stay dense), never a whole filter.
pub fn prune_hard(mut g: Graph) -> Graph {
    let ids: Vec<usize> = g
        .nodes
        .iter()
        .filter(|n| match &n.op {
            Op::DepthwiseConv2d(_) => true,
            Op::Conv2d(_) => n.inputs[1].is_some_and(|w| g.tensors[w].shape[1] == 1),
            _ => false,
        })
        .filter_map(|n| n.inputs[1])
        .collect();
    for id in ids {
        let data = g.tensors[id].data.as_mut().unwrap();
        let mut s = id as u32 * 104_729 + 3;
        for (i, v) in data.iter_mut().enumerate() {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if i > 0 && (s >> 16) % 100 < 95 {
                *v = 0;
            } else if *v == 0 {
                *v = 1;
            }
        }
    }
    g
}
