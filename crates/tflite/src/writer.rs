//! [`Graph`] → `.tflite` bytes that LiteRT and TFLite Micro load.
//!
//! Layout follows what the TFLite converter writes: schema version 3, file identifier `TFL3`,
//! buffer 0 empty (every activation points at it), one buffer per constant tensor, operator
//! codes with both `deprecated_builtin_code` (clamped to 127) and `builtin_code`, one options
//! table per op, per-tensor or per-channel quantization. A fused `Conv2dAdd` node is written as
//! the CONV_2D and ADD it stands for (its `conv_out` tensor becomes a real tensor again), so
//! any runtime can load the file. The graph is checked first: bad indices or inconsistent
//! constants are a [`TfliteError::Write`], never a panic or a file that fails to load.
//!
//! Constants with identical bytes share one buffer (runtimes treat buffers as read-only).
//! [`write_with`] with [`WriteOptions::compact`] drops what no runtime reads; with
//! [`WriteOptions::tflm_only`] also what only TFLite Micro can do without, for the smallest file
//! a microcontroller loads (see [`WriteOptions`]).

use std::collections::HashMap;

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use tinyforge_graph::{DType, Graph, Op, Tensor, TensorId};

use crate::ops;
use crate::reader::{type_code, zero_point_range};
use crate::schema::{builtin, field, vt, FILE_IDENTIFIER, SCHEMA_VERSION};
use crate::TfliteError;

type Result<T> = std::result::Result<T, TfliteError>;

/// A node as written: one TFLite operator.
struct FlatNode {
    op: Op,
    inputs: Vec<Option<TensorId>>,
    outputs: Vec<TensorId>,
}

fn err(msg: impl Into<String>) -> TfliteError {
    TfliteError::Write(msg.into())
}

/// What [`write_with`] keeps beyond what a runtime executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Leave out what no runtime reads: tensors no operator or graph edge uses (the rest
    /// renumbered in order), tensor names except on graph inputs and outputs, the model
    /// description and the subgraph name, and the quantization of int32 biases of per-channel
    /// int8 convolutions (implied: both runtimes derive the requantization from input, filter
    /// and output). LiteRT and TFLite Micro both load the result.
    pub compact: bool,
    /// Also write one zero point for per-channel parameters whose zero points are all equal
    /// (implies `compact`): TFLite Micro's allocator broadcasts a length-1 zero-point array;
    /// LiteRT refuses such files ("1 zero_point values and 16 scale values"), so they are for
    /// microcontrollers only.
    pub tflm_only: bool,
}

/// Serialises `graph` as a `.tflite` flatbuffer that LiteRT and TFLite Micro load.
pub fn write(graph: &Graph) -> Result<Vec<u8>> {
    write_with(graph, &WriteOptions::default())
}

/// Keeps only the tensors an operator or a graph edge uses, renumbered in their order.
fn used_only(graph: &Graph) -> Graph {
    let mut used = vec![false; graph.tensors.len()];
    let mark = |id: usize, used: &mut Vec<bool>| {
        if let Some(u) = used.get_mut(id) {
            *u = true;
        }
    };
    for n in &graph.nodes {
        for &i in n.inputs.iter().flatten() {
            mark(i, &mut used);
        }
        for &o in &n.outputs {
            mark(o, &mut used);
        }
        if let Op::Conv2dAdd { conv_out, .. } = &n.op {
            mark(*conv_out, &mut used);
        }
    }
    for &i in graph.inputs.iter().chain(&graph.outputs) {
        mark(i, &mut used);
    }
    if used.iter().all(|&u| u) {
        return graph.clone();
    }
    let mut new_id = vec![usize::MAX; graph.tensors.len()];
    let mut g = graph.clone();
    g.tensors.clear();
    for (i, t) in graph.tensors.iter().enumerate() {
        if used[i] {
            new_id[i] = g.tensors.len();
            g.tensors.push(t.clone());
        }
    }
    // Out-of-range ids stay out of range (`check` reports them): map them past the end.
    let map = |i: usize| new_id.get(i).copied().unwrap_or(usize::MAX);
    for n in &mut g.nodes {
        for i in n.inputs.iter_mut().flatten() {
            *i = map(*i);
        }
        for o in &mut n.outputs {
            *o = map(*o);
        }
        if let Op::Conv2dAdd { conv_out, .. } = &mut n.op {
            *conv_out = map(*conv_out);
        }
    }
    for i in g.inputs.iter_mut().chain(g.outputs.iter_mut()) {
        *i = map(*i);
    }
    g
}

/// Int32 tensors used as the bias (input 2) of an int8 CONV_2D / DEPTHWISE_CONV_2D with
/// per-channel filter scales: TFLM derives each channel's requantization from input, filter and
/// output scales and never reads the bias's. (With per-tensor scales, e.g. FULLY_CONNECTED, it
/// checks the bias scale against input × filter, so those keep theirs.)
fn implied_bias_quant(graph: &Graph, nodes: &[FlatNode]) -> Vec<bool> {
    let mut implied = vec![false; graph.tensors.len()];
    for n in nodes {
        if !matches!(n.op, Op::Conv2d(_) | Op::DepthwiseConv2d(_)) {
            continue;
        }
        let t = |k: usize| {
            n.inputs
                .get(k)
                .copied()
                .flatten()
                .map(|i| &graph.tensors[i])
        };
        let int8_input = t(0).is_some_and(|x| x.dtype == DType::I8);
        let per_channel = t(1)
            .and_then(|f| f.quant.as_ref())
            .is_some_and(|q| q.is_per_channel());
        if let Some(Some(b)) = n.inputs.get(2) {
            if int8_input && per_channel && graph.tensors[*b].dtype == DType::I32 {
                implied[*b] = true;
            }
        }
    }
    // A tensor also read elsewhere keeps its parameters.
    for n in nodes {
        let bias = matches!(
            n.op,
            Op::Conv2d(_) | Op::DepthwiseConv2d(_) | Op::FullyConnected(_)
        );
        for (k, &i) in n.inputs.iter().enumerate() {
            if let Some(i) = i {
                if !(bias && k == 2) {
                    implied[i] = false;
                }
            }
        }
    }
    implied
}

/// Serialises `graph` as a `.tflite` flatbuffer, keeping what `opts` asks for.
pub fn write_with(graph: &Graph, opts: &WriteOptions) -> Result<Vec<u8>> {
    let compacted;
    let compact = opts.compact || opts.tflm_only;
    let graph = if compact {
        compacted = used_only(graph);
        &compacted
    } else {
        graph
    };
    let nodes = flatten(graph)?;
    check(graph, &nodes)?;
    let io: Vec<bool> = (0..graph.tensors.len())
        .map(|i| graph.inputs.contains(&i) || graph.outputs.contains(&i))
        .collect();
    let implied = if compact {
        implied_bias_quant(graph, &nodes)
    } else {
        vec![false; graph.tensors.len()]
    };

    let mut fbb = FlatBufferBuilder::with_capacity(
        graph
            .tensors
            .iter()
            .filter_map(|t| t.data.as_ref().map(Vec::len))
            .sum::<usize>()
            + 4096,
    );

    // Buffers: 0 is the empty sentinel, then one per distinct constant.
    let mut buffers = vec![empty_buffer(&mut fbb)];
    let mut buffer_of = vec![0u32; graph.tensors.len()];
    let mut seen: HashMap<&[u8], u32> = HashMap::new();
    for (i, t) in graph.tensors.iter().enumerate() {
        if let Some(data) = &t.data {
            if let Some(&b) = seen.get(data.as_slice()) {
                buffer_of[i] = b;
                continue;
            }
            let v = fbb.create_vector(data);
            let start = fbb.start_table();
            fbb.push_slot_always(vt(field::buffer::DATA), v);
            buffers.push(fbb.end_table(start));
            buffer_of[i] = u32::try_from(buffers.len() - 1).map_err(|_| err("too many buffers"))?;
            seen.insert(data, buffer_of[i]);
        }
    }

    let tensors: Vec<_> = graph
        .tensors
        .iter()
        .zip(&buffer_of)
        .enumerate()
        .map(|(i, (t, &b))| {
            let how = TensorForm {
                name: !compact || io[i],
                quant: !implied[i],
                one_zero_point: opts.tflm_only,
            };
            write_tensor(&mut fbb, t, b, how)
        })
        .collect::<Result<_>>()?;

    let mut codes: Vec<(i32, i32)> = Vec::new();
    let mut operators = Vec::with_capacity(nodes.len());
    for n in &nodes {
        let code = ops::builtin_code(&n.op).ok_or_else(|| err("unexpected fused op"))?;
        let dtype_of =
            |id: Option<&Option<usize>>| id.copied().flatten().map(|i| graph.tensors[i].dtype);
        let version = ops::op_version(
            &n.op,
            dtype_of(n.inputs.first()),
            n.outputs.first().map(|&o| graph.tensors[o].dtype),
        );
        let opcode_index = match codes.iter().position(|&c| c == (code, version)) {
            Some(i) => i,
            None => {
                codes.push((code, version));
                codes.len() - 1
            }
        };
        let out_shape = n
            .outputs
            .first()
            .map_or(&[][..], |&o| &graph.tensors[o].shape[..]);
        let (opt_type, opt) = ops::write_options(&mut fbb, &n.op, out_shape)?;
        let ins: Vec<i32> = n
            .inputs
            .iter()
            .map(|i| i.map_or(-1, |i| i as i32))
            .collect();
        let outs: Vec<i32> = n.outputs.iter().map(|&i| i as i32).collect();
        let ins = fbb.create_vector(&ins);
        let outs = fbb.create_vector(&outs);
        use field::operator::*;
        let start = fbb.start_table();
        fbb.push_slot::<u32>(vt(OPCODE_INDEX), opcode_index as u32, 0);
        fbb.push_slot_always(vt(INPUTS), ins);
        fbb.push_slot_always(vt(OUTPUTS), outs);
        if let Some(opt) = opt {
            fbb.push_slot_always(vt(BUILTIN_OPTIONS), opt);
            fbb.push_slot_always::<u8>(vt(BUILTIN_OPTIONS_TYPE), opt_type);
        }
        operators.push(fbb.end_table(start));
    }

    let codes: Vec<_> = codes
        .iter()
        .map(|&(code, version)| {
            use field::opcode::*;
            let start = fbb.start_table();
            fbb.push_slot_always::<i32>(vt(BUILTIN_CODE), code);
            fbb.push_slot_always::<i32>(vt(VERSION), version);
            fbb.push_slot_always::<i8>(
                vt(DEPRECATED_BUILTIN_CODE),
                code.min(builtin::PLACEHOLDER_FOR_GREATER_OP_CODES) as i8,
            );
            fbb.end_table(start)
        })
        .collect();

    let subgraph = {
        use field::subgraph::*;
        let tensors = fbb.create_vector(&tensors);
        let inputs: Vec<i32> = graph.inputs.iter().map(|&i| i as i32).collect();
        let outputs: Vec<i32> = graph.outputs.iter().map(|&i| i as i32).collect();
        let inputs = fbb.create_vector(&inputs);
        let outputs = fbb.create_vector(&outputs);
        let operators = fbb.create_vector(&operators);
        let name = (!compact).then(|| fbb.create_string(&graph.name));
        let start = fbb.start_table();
        fbb.push_slot_always(vt(TENSORS), tensors);
        fbb.push_slot_always(vt(INPUTS), inputs);
        fbb.push_slot_always(vt(OUTPUTS), outputs);
        fbb.push_slot_always(vt(OPERATORS), operators);
        if let Some(name) = name {
            fbb.push_slot_always(vt(NAME), name);
        }
        fbb.end_table(start)
    };

    let model = {
        use field::model::*;
        let codes = fbb.create_vector(&codes);
        let subgraphs = fbb.create_vector(&[subgraph]);
        let description = (!compact).then(|| fbb.create_string("tinyforge"));
        let buffers = fbb.create_vector(&buffers);
        let start = fbb.start_table();
        fbb.push_slot_always::<u32>(vt(VERSION), SCHEMA_VERSION);
        fbb.push_slot_always(vt(OPERATOR_CODES), codes);
        fbb.push_slot_always(vt(SUBGRAPHS), subgraphs);
        if let Some(description) = description {
            fbb.push_slot_always(vt(DESCRIPTION), description);
        }
        fbb.push_slot_always(vt(BUFFERS), buffers);
        fbb.end_table(start)
    };
    fbb.finish(model, Some(FILE_IDENTIFIER));
    Ok(fbb.finished_data().to_vec())
}

fn empty_buffer<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
) -> WIPOffset<flatbuffers::TableFinishedWIPOffset> {
    let start = fbb.start_table();
    fbb.end_table(start)
}

/// Which optional parts of a tensor are written.
#[derive(Debug, Clone, Copy)]
struct TensorForm {
    name: bool,
    quant: bool,
    /// Collapse equal per-channel zero points to one entry.
    one_zero_point: bool,
}

fn write_tensor<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    t: &Tensor,
    buffer: u32,
    how: TensorForm,
) -> Result<WIPOffset<flatbuffers::TableFinishedWIPOffset>> {
    use field::tensor::*;
    let dims: Vec<i32> = t.shape.iter().map(|&d| d as i32).collect();
    let shape = fbb.create_vector(&dims);
    let name = (how.name && !t.name.is_empty()).then(|| fbb.create_string(&t.name));
    let quant = t.quant.as_ref().filter(|_| how.quant).map(|q| {
        use field::quant::*;
        let scale = fbb.create_vector(&q.scale);
        let same = q.zero_point.windows(2).all(|w| w[0] == w[1]);
        let zps = if how.one_zero_point && same {
            &q.zero_point[..1]
        } else {
            &q.zero_point[..]
        };
        let zero_point = fbb.create_vector(zps);
        let start = fbb.start_table();
        fbb.push_slot_always(vt(SCALE), scale);
        fbb.push_slot_always(vt(ZERO_POINT), zero_point);
        fbb.push_slot::<i32>(vt(QUANTIZED_DIMENSION), q.axis as i32, 0);
        fbb.end_table(start)
    });
    let start = fbb.start_table();
    fbb.push_slot_always(vt(SHAPE), shape);
    fbb.push_slot_always::<u32>(vt(BUFFER), buffer);
    if let Some(name) = name {
        fbb.push_slot_always(vt(NAME), name);
    }
    if let Some(q) = quant {
        fbb.push_slot_always(vt(QUANTIZATION), q);
    }
    fbb.push_slot::<i8>(vt(TYPE), type_code(t.dtype), 0);
    Ok(fbb.end_table(start))
}

/// Splits fused nodes into the TFLite operators they stand for.
fn flatten(graph: &Graph) -> Result<Vec<FlatNode>> {
    let mut out = Vec::with_capacity(graph.nodes.len());
    for (i, n) in graph.nodes.iter().enumerate() {
        match &n.op {
            Op::Conv2dAdd {
                conv,
                conv_out,
                conv_is_first,
                add_activation,
            } => {
                let [input, filter, bias, skip] = n.inputs[..] else {
                    return Err(err(format!(
                        "node {i} (CONV_2D+ADD) has {} inputs, expected 4",
                        n.inputs.len()
                    )));
                };
                let skip = Some(skip.ok_or_else(|| err(format!("node {i}: missing skip input")))?);
                out.push(FlatNode {
                    op: Op::Conv2d(*conv),
                    inputs: vec![input, filter, bias],
                    outputs: vec![*conv_out],
                });
                let conv_out = Some(*conv_out);
                out.push(FlatNode {
                    op: Op::Add {
                        activation: *add_activation,
                    },
                    inputs: if *conv_is_first {
                        vec![conv_out, skip]
                    } else {
                        vec![skip, conv_out]
                    },
                    outputs: n.outputs.clone(),
                });
            }
            op => out.push(FlatNode {
                op: op.clone(),
                inputs: n.inputs.clone(),
                outputs: n.outputs.clone(),
            }),
        }
    }
    Ok(out)
}

/// Everything the builder relies on: indices in range, sizes representable, constants and
/// quantization consistent, operand counts as TFLite expects.
fn check(graph: &Graph, nodes: &[FlatNode]) -> Result<()> {
    let n = graph.tensors.len();
    if n > i32::MAX as usize {
        return Err(err("too many tensors"));
    }
    // The flatbuffers builder cannot grow past 2 GiB (it would panic); leave room for tables.
    let constant_bytes = graph
        .tensors
        .iter()
        .map(|t| t.data.as_ref().map_or(0, Vec::len))
        .fold(0usize, usize::saturating_add);
    if constant_bytes > crate::MAX_FILE_BYTES / 2 {
        return Err(err(format!(
            "{constant_bytes} bytes of constants exceed the 1 GiB this writer supports"
        )));
    }
    for (i, t) in graph.tensors.iter().enumerate() {
        let terr = |m: String| err(format!("tensor {i} ('{}'): {m}", t.name));
        if t.shape.iter().any(|&d| d == 0 || d > i32::MAX as usize) {
            return Err(terr(format!(
                "shape {:?} has a dimension outside 1..=i32::MAX",
                t.shape
            )));
        }
        let elements = t
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| terr("element count overflows".into()))?;
        if let Some(data) = &t.data {
            let need = t.dtype.bytes_for(elements);
            if data.len() != need {
                return Err(terr(format!(
                    "constant holds {} bytes, shape {:?} of {} needs {need}",
                    data.len(),
                    t.shape,
                    t.dtype.name()
                )));
            }
        }
        if let Some(q) = &t.quant {
            if q.scale.is_empty() || q.scale.len() != q.zero_point.len() {
                return Err(terr(format!(
                    "quantization has {} scales and {} zero points",
                    q.scale.len(),
                    q.zero_point.len()
                )));
            }
            if q.scale.iter().any(|s| !s.is_finite() || *s < 0.0) {
                return Err(terr(
                    "quantization scales must be finite and non-negative".into(),
                ));
            }
            let range = zero_point_range(t.dtype);
            if q.zero_point.iter().any(|z| !range.contains(z)) {
                return Err(terr(format!("zero point out of range {range:?}")));
            }
            if q.is_per_channel() && t.shape.get(q.axis) != Some(&q.scale.len()) {
                return Err(terr(format!(
                    "{} per-channel scales along axis {} of shape {:?}",
                    q.scale.len(),
                    q.axis,
                    t.shape
                )));
            }
            if !q.is_per_channel() && q.axis != 0 {
                return Err(terr("per-tensor quantization must have axis 0".into()));
            }
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        let name = node.op.name();
        let nerr = |m: String| err(format!("operator {i} ({name}): {m}"));
        let arity = ops::arity(&node.op);
        let k = node.inputs.len();
        if k < arity.min_inputs || k > arity.max_inputs {
            return Err(nerr(format!("{k} inputs")));
        }
        for (pos, inp) in node.inputs.iter().enumerate() {
            match inp {
                None if arity.optional.contains(&pos) => {}
                None => return Err(nerr(format!("input {pos} is required"))),
                Some(id) if *id >= n => {
                    return Err(nerr(format!("input tensor {id} out of range")))
                }
                Some(_) => {}
            }
        }
        if node.outputs.len() != 1 {
            return Err(nerr(format!("{} outputs, expected 1", node.outputs.len())));
        }
        if node.outputs.iter().any(|&o| o >= n) {
            return Err(nerr("output tensor out of range".into()));
        }
    }
    for (what, ids) in [("input", &graph.inputs), ("output", &graph.outputs)] {
        if let Some(id) = ids.iter().find(|&&id| id >= n) {
            return Err(err(format!("graph {what} tensor {id} out of range")));
        }
    }
    Ok(())
}
