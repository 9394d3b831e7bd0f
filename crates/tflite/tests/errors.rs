//! Hand-built files exercising each rejection path of the reader, plus the writer's handling
//! of fused nodes. The tiny builder here writes raw tables from the schema's field ids, so each
//! test states exactly which field is wrong.

mod common;

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use tinyforge_graph::{Activation, Conv2dOptions, DType, Op, Padding};
use tinyforge_tflite::schema::{builtin, field, options, tensor_type, vt};
use tinyforge_tflite::{read, read_file, write, TfliteError};

struct T {
    shape: Vec<i32>,
    ty: i8,
    buffer: u32,
    scale: Vec<f32>,
    zero_point: Vec<i64>,
    qdim: i32,
}

fn t(shape: &[i32], ty: i8, buffer: u32) -> T {
    T {
        shape: shape.to_vec(),
        ty,
        buffer,
        scale: vec![],
        zero_point: vec![],
        qdim: 0,
    }
}

enum Buf {
    Empty,
    Inline(Vec<u8>),
    /// Offset/size of data appended after the flatbuffer (offset filled in by `build`).
    External(Vec<u8>),
    Raw {
        offset: u64,
        size: u64,
    },
}

struct Op_ {
    code: (i8, i32, Option<&'static str>),
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    /// (union type, stride) for a Conv2DOptions table, or none.
    conv_stride: Option<(u8, i32)>,
}

struct Spec {
    version: u32,
    tensors: Vec<T>,
    buffers: Vec<Buf>,
    ops: Vec<Op_>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
}

/// A float RELU from tensor 0 to tensor 1, the base of most tests.
fn relu() -> Spec {
    Spec {
        version: 3,
        tensors: vec![
            t(&[1, 4], tensor_type::FLOAT32, 0),
            t(&[1, 4], tensor_type::FLOAT32, 0),
        ],
        buffers: vec![Buf::Empty],
        ops: vec![Op_ {
            code: (builtin::RELU as i8, builtin::RELU, None),
            inputs: vec![0],
            outputs: vec![1],
            conv_stride: None,
        }],
        inputs: vec![0],
        outputs: vec![1],
    }
}

fn build(s: &Spec) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let mut external = Vec::new();
    let buffers: Vec<_> = s
        .buffers
        .iter()
        .map(|b| {
            let data = match b {
                Buf::Inline(d) => Some(fbb.create_vector(d)),
                _ => None,
            };
            let start = fbb.start_table();
            if let Some(d) = data {
                fbb.push_slot_always(vt(field::buffer::DATA), d);
            }
            match b {
                Buf::External(d) => {
                    // Placeholder offset, patched after finishing (TFLite's converter does the same).
                    external.push(d.clone());
                    fbb.push_slot_always::<u64>(
                        vt(field::buffer::OFFSET),
                        0xDEAD_BEEF_0000 + external.len() as u64,
                    );
                    fbb.push_slot_always::<u64>(vt(field::buffer::SIZE), d.len() as u64);
                }
                Buf::Raw { offset, size } => {
                    fbb.push_slot_always::<u64>(vt(field::buffer::OFFSET), *offset);
                    fbb.push_slot_always::<u64>(vt(field::buffer::SIZE), *size);
                }
                _ => {}
            }
            fbb.end_table(start)
        })
        .collect();
    let tensors: Vec<_> = s
        .tensors
        .iter()
        .map(|t| {
            let shape = fbb.create_vector(&t.shape);
            let q = (!t.scale.is_empty()).then(|| {
                let sc = fbb.create_vector(&t.scale);
                let zp = fbb.create_vector(&t.zero_point);
                let st = fbb.start_table();
                fbb.push_slot_always(vt(field::quant::SCALE), sc);
                fbb.push_slot_always(vt(field::quant::ZERO_POINT), zp);
                fbb.push_slot_always::<i32>(vt(field::quant::QUANTIZED_DIMENSION), t.qdim);
                fbb.end_table(st)
            });
            let start = fbb.start_table();
            fbb.push_slot_always(vt(field::tensor::SHAPE), shape);
            fbb.push_slot_always::<i8>(vt(field::tensor::TYPE), t.ty);
            fbb.push_slot_always::<u32>(vt(field::tensor::BUFFER), t.buffer);
            if let Some(q) = q {
                fbb.push_slot_always(vt(field::tensor::QUANTIZATION), q);
            }
            fbb.end_table(start)
        })
        .collect();
    let mut codes = Vec::new();
    let mut ops = Vec::new();
    for (i, o) in s.ops.iter().enumerate() {
        let custom = o.code.2.map(|c| fbb.create_string(c));
        let start = fbb.start_table();
        fbb.push_slot_always::<i8>(vt(field::opcode::DEPRECATED_BUILTIN_CODE), o.code.0);
        fbb.push_slot_always::<i32>(vt(field::opcode::BUILTIN_CODE), o.code.1);
        if let Some(c) = custom {
            fbb.push_slot_always(vt(field::opcode::CUSTOM_CODE), c);
        }
        codes.push(fbb.end_table(start));
        let opts = o.conv_stride.map(|(ty, stride)| {
            let st = fbb.start_table();
            fbb.push_slot_always::<i32>(vt(field::conv::STRIDE_W), stride);
            fbb.push_slot_always::<i32>(vt(field::conv::STRIDE_H), stride);
            (ty, fbb.end_table(st))
        });
        let ins = fbb.create_vector(&o.inputs);
        let outs = fbb.create_vector(&o.outputs);
        let start = fbb.start_table();
        fbb.push_slot_always::<u32>(vt(field::operator::OPCODE_INDEX), i as u32);
        fbb.push_slot_always(vt(field::operator::INPUTS), ins);
        fbb.push_slot_always(vt(field::operator::OUTPUTS), outs);
        if let Some((ty, table)) = opts {
            fbb.push_slot_always::<u8>(vt(field::operator::BUILTIN_OPTIONS_TYPE), ty);
            fbb.push_slot_always(vt(field::operator::BUILTIN_OPTIONS), table);
        }
        ops.push(fbb.end_table(start));
    }
    let tensors = fbb.create_vector(&tensors);
    let ops = fbb.create_vector(&ops);
    let ins = fbb.create_vector(&s.inputs);
    let outs = fbb.create_vector(&s.outputs);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(field::subgraph::TENSORS), tensors);
    fbb.push_slot_always(vt(field::subgraph::OPERATORS), ops);
    fbb.push_slot_always(vt(field::subgraph::INPUTS), ins);
    fbb.push_slot_always(vt(field::subgraph::OUTPUTS), outs);
    let sg: WIPOffset<_> = fbb.end_table(start);
    let codes = fbb.create_vector(&codes);
    let sgs = fbb.create_vector(&[sg]);
    let buffers = fbb.create_vector(&buffers);
    let start = fbb.start_table();
    fbb.push_slot_always::<u32>(vt(field::model::VERSION), s.version);
    fbb.push_slot_always(vt(field::model::OPERATOR_CODES), codes);
    fbb.push_slot_always(vt(field::model::SUBGRAPHS), sgs);
    fbb.push_slot_always(vt(field::model::BUFFERS), buffers);
    let model = fbb.end_table(start);
    fbb.finish(model, Some("TFL3"));
    let mut bytes = fbb.finished_data().to_vec();
    for (k, d) in external.iter().enumerate() {
        let marker = (0xDEAD_BEEF_0000u64 + k as u64 + 1).to_le_bytes();
        let p = bytes.windows(8).position(|w| w == marker).unwrap();
        let offset = bytes.len() as u64;
        bytes[p..p + 8].copy_from_slice(&offset.to_le_bytes());
        bytes.extend_from_slice(d);
    }
    bytes
}

fn err(s: &Spec) -> String {
    read(&build(s)).unwrap_err().to_string()
}

#[test]
fn the_base_model_reads() {
    let g = read(&build(&relu())).unwrap();
    assert_eq!(g.nodes[0].op, Op::Relu);
    assert_eq!((g.inputs.clone(), g.outputs.clone()), (vec![0], vec![1]));
}

#[test]
fn unsupported_builtin_names_the_op_and_lists_supported_ones() {
    let mut s = relu();
    s.ops[0].code = (41, 41, None);
    let e = read(&build(&s)).unwrap_err();
    assert!(matches!(e, TfliteError::UnsupportedOp { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("SUB") && msg.contains("CONV_2D") && msg.contains("DEQUANTIZE"),
        "{msg}"
    );
}

#[test]
fn custom_op_is_named() {
    let mut s = relu();
    s.ops[0].code = (32, 32, Some("MyFancyOp"));
    assert!(err(&s).contains("CUSTOM 'MyFancyOp'"));
}

#[test]
fn opcode_is_the_larger_of_both_fields() {
    // Old files set only the int8 field; new ones put 127 there for large codes.
    let mut s = relu();
    s.ops[0].code = (builtin::RELU as i8, 0, None);
    assert_eq!(read(&build(&s)).unwrap().nodes[0].op, Op::Relu);
    s.ops[0].code = (127, 150, None);
    let msg = err(&s);
    assert!(msg.contains("unsupported op GELU"), "{msg}");
}

#[test]
fn wrong_schema_version_is_rejected() {
    let mut s = relu();
    s.version = 2;
    assert!(err(&s).contains("schema version 2"));
}

#[test]
fn operand_problems_are_rejected() {
    let mut s = relu();
    s.ops[0].inputs = vec![7];
    assert!(err(&s).contains("out of range"));
    let mut s = relu();
    s.ops[0].inputs = vec![-1];
    assert!(err(&s).contains("required"));
    let mut s = relu();
    s.ops[0].inputs = vec![0, 0];
    assert!(err(&s).contains("2 inputs, expected 1"));
    let mut s = relu();
    s.outputs = vec![9];
    assert!(err(&s).contains("graph output"));
}

#[test]
fn tensor_problems_are_rejected() {
    let mut s = relu();
    s.tensors[0].shape = vec![1, 0];
    assert!(err(&s).contains("non-positive"));
    let mut s = relu();
    s.tensors[0].shape = vec![1 << 16, 1 << 16];
    assert!(err(&s).contains("exceeds"));
    let mut s = relu();
    s.tensors[0].shape = vec![1; 9];
    assert!(err(&s).contains("rank 9"));
    let mut s = relu();
    s.tensors[0].ty = 1; // FLOAT16
    assert!(err(&s).contains("FLOAT16"));
    let mut s = relu();
    s.tensors[0].buffer = 5;
    assert!(err(&s).contains("buffer index 5"));
    let mut s = relu();
    s.buffers.push(Buf::Inline(vec![0; 15]));
    s.tensors[0].buffer = 1;
    assert!(err(&s).contains("holds 15 bytes"));
}

#[test]
fn constant_output_is_rejected() {
    let mut s = relu();
    s.buffers.push(Buf::Inline(vec![0; 16]));
    s.tensors[1].buffer = 1;
    assert!(err(&s).contains("is a constant"));
}

#[test]
fn quantization_is_checked() {
    let mut s = relu();
    s.tensors[0].ty = tensor_type::INT8;
    s.tensors[0].scale = vec![0.5, 0.25];
    s.tensors[0].zero_point = vec![0, 0];
    s.tensors[0].qdim = 1;
    assert!(err(&s).contains("2 per-channel scales along dimension 1 of size 4"));
    s.tensors[0].shape = vec![1, 2];
    s.tensors[1].shape = vec![1, 2];
    s.tensors[1].ty = tensor_type::INT8;
    let g = read(&build(&s)).unwrap();
    let q = g.tensors[0].quant.as_ref().unwrap();
    assert_eq!((q.scale.clone(), q.axis), (vec![0.5, 0.25], 1));
    // One zero point for several scales is broadcast, as TFLite Micro's allocator does.
    s.tensors[0].zero_point = vec![3];
    let g = read(&build(&s)).unwrap();
    assert_eq!(g.tensors[0].quant.as_ref().unwrap().zero_point, vec![3, 3]);
    s.tensors[0].zero_point = vec![0, 0, 0];
    assert!(err(&s).contains("2 scales and 3 zero points"));
    s.tensors[0].zero_point = vec![0, 300];
    assert!(err(&s).contains("zero point 300"));
    s.tensors[0].zero_point = vec![0, 0];
    s.tensors[0].scale = vec![f32::NAN, 1.0];
    assert!(err(&s).contains("scale NaN"));
}

#[test]
fn int4_and_external_buffers_are_read() {
    let mut s = relu();
    // A packed int4 constant of 5 elements needs 3 bytes.
    s.tensors.push(t(&[5], tensor_type::INT4, 1));
    s.buffers.push(Buf::Inline(vec![0x21, 0x43, 0x05]));
    // A constant stored after the flatbuffer.
    s.tensors.push(t(&[2], tensor_type::INT32, 2));
    s.buffers.push(Buf::External(vec![1, 0, 0, 0, 2, 0, 0, 0]));
    // A packed int2 constant of 5 elements needs 2 bytes (tinyforge's layout, INT2 = 19).
    s.tensors.push(t(&[5], tensor_type::INT2, 3));
    s.buffers.push(Buf::Inline(vec![0b10_00_11_01, 0x01]));
    let g = read(&build(&s)).unwrap();
    assert_eq!(g.tensors[2].dtype, DType::I4);
    assert_eq!(g.tensors[4].dtype, DType::I2);
    assert_eq!(
        g.tensors[4].data.as_deref(),
        Some(&[0b10_00_11_01, 0x01][..])
    );
    // The writer keeps the type: the graph round-trips.
    assert_eq!(read(&write(&g).unwrap()).unwrap(), g);
    assert_eq!(g.tensors[2].data.as_deref(), Some(&[0x21, 0x43, 0x05][..]));
    assert_eq!(
        g.tensors[3].data.as_deref(),
        Some(&[1, 0, 0, 0, 2, 0, 0, 0][..])
    );

    let mut s = relu();
    s.tensors.push(t(&[2], tensor_type::INT32, 1));
    s.buffers.push(Buf::Raw {
        offset: u64::MAX - 2,
        size: 8,
    });
    assert!(err(&s).contains("outside"));
}

#[test]
fn conv_options_are_checked() {
    let conv = |stride: i32, opts_type: u8| {
        let mut s = relu();
        s.tensors = vec![
            t(&[1, 4, 4, 1], tensor_type::FLOAT32, 0),
            t(&[1, 1, 1, 1], tensor_type::FLOAT32, 1),
            t(&[1, 4, 4, 1], tensor_type::FLOAT32, 0),
        ];
        s.buffers.push(Buf::Inline(vec![0; 4]));
        s.ops[0] = Op_ {
            code: (3, 3, None),
            inputs: vec![0, 1, -1],
            outputs: vec![2],
            conv_stride: Some((opts_type, stride)),
        };
        s.outputs = vec![2];
        s
    };
    let g = read(&build(&conv(1, options::CONV_2D))).unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Conv2d(Conv2dOptions {
            padding: Padding::Same,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            activation: Activation::None,
        })
    );
    assert_eq!(g.nodes[0].inputs[2], None);
    assert!(err(&conv(0, options::CONV_2D)).contains("stride_w is 0"));
    assert!(err(&conv(1 << 20, options::CONV_2D)).contains("stride_w is 1048576"));
    // Options of another type read as absent, i.e. the schema defaults (stride 0).
    assert!(err(&conv(1, options::POOL_2D)).contains("stride_w is 0"));
}

#[test]
fn fused_conv_add_is_written_as_its_two_ops() {
    let path = common::repo_root().join("testdata/models/pretrainedResnet_quant.tflite");
    let g = read_file(path).unwrap();
    // Find a CONV_2D whose output feeds the ADD right after it, and fuse the pair by hand.
    let (ci, ai) = g
        .nodes
        .iter()
        .enumerate()
        .find_map(|(ci, c)| {
            let a = g.nodes.get(ci + 1)?;
            (matches!(c.op, Op::Conv2d(_))
                && matches!(a.op, Op::Add { .. })
                && a.inputs.contains(&Some(c.outputs[0])))
            .then_some((ci, ci + 1))
        })
        .unwrap();
    let (conv, add) = (&g.nodes[ci], &g.nodes[ai]);
    let Op::Conv2d(conv_opts) = conv.op else {
        unreachable!()
    };
    let Op::Add { activation } = add.op else {
        unreachable!()
    };
    let conv_out = conv.outputs[0];
    let conv_is_first = add.inputs[0] == Some(conv_out);
    let skip = if conv_is_first {
        add.inputs[1]
    } else {
        add.inputs[0]
    };
    let mut fused = g.clone();
    let mut inputs = conv.inputs.clone();
    inputs.resize(3, None);
    inputs.push(skip);
    fused.nodes[ci] = tinyforge_graph::Node {
        op: Op::Conv2dAdd {
            conv: conv_opts,
            conv_out,
            conv_is_first,
            add_activation: activation,
        },
        inputs,
        outputs: add.outputs.clone(),
    };
    fused.nodes.remove(ai);
    assert_eq!(read(&write(&fused).unwrap()).unwrap(), g);
}

#[test]
fn writer_rejects_inconsistent_graphs() {
    let mut g = read(&build(&relu())).unwrap();
    g.nodes[0].inputs = vec![Some(42)];
    assert!(matches!(write(&g), Err(TfliteError::Write(_))));
    let mut g = read(&build(&relu())).unwrap();
    g.tensors[0].data = Some(vec![0; 3]);
    assert!(write(&g).unwrap_err().to_string().contains("needs 16"));
}
