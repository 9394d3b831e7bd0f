//! `.tflite` bytes → [`Graph`], with validation strong enough that nothing downstream
//! (planner, runtime, code generation) can panic or allocate without bound on a hostile file.
//!
//! Order of work: size check → flatbuffers verifier (with limits scaled to the file size, so a
//! small file cannot make us copy a lot) → schema version → operator codes → tensors (type,
//! shape, quantization, constant data incl. buffers stored after the flatbuffer via
//! offset/size) → operators of subgraph 0 (op, options, operand counts and indices) → graph
//! inputs/outputs. Only subgraph 0 is read; other subgraphs are what its control-flow ops
//! would call, and those ops are not supported.
//!
//! Bounds enforced here (documented as constants): tensor size, total activation size, rank.
//! Semantic checks that need shape inference (e.g. filter shape vs input channels) belong to
//! `tinyforge-graph`'s validation.

use std::path::Path;

use flatbuffers::{ForwardsUOffset, Verifiable, Verifier, VerifierOptions};
use tinyforge_graph::{DType, Graph, Node, Op, Quant, Tensor, SUPPORTED_OPS};

use crate::ops;
use crate::schema::{self, builtin, field, tensor_type, ModelV};
use crate::view::Table;
use crate::TfliteError;

type Result<T> = std::result::Result<T, TfliteError>;

/// Largest tensor accepted, in bytes (constant or activation).
pub const MAX_TENSOR_BYTES: usize = 64 << 20;
/// Largest sum of all activation (non-constant) tensor sizes accepted, in bytes.
pub const MAX_ACTIVATION_BYTES: usize = 256 << 20;
/// Largest tensor rank accepted.
pub const MAX_RANK: usize = 8;
/// Largest file accepted: flatbuffers address at most 2 GiB.
pub const MAX_FILE_BYTES: usize = i32::MAX as usize;

/// Reads a `.tflite` model from memory.
///
/// The bytes are verified with the flatbuffers verifier first, then mapped to the IR and
/// validated (see the module docs). Errors name the offending tensor or node.
pub fn read(bytes: &[u8]) -> Result<Graph> {
    if bytes.len() < 8 {
        return Err(TfliteError::Invalid(format!(
            "{} bytes is too short for a .tflite file",
            bytes.len()
        )));
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err(TfliteError::Invalid(format!(
            "{} bytes exceeds the 2 GiB flatbuffer limit",
            bytes.len()
        )));
    }
    verify(bytes)?;
    Reader::new(bytes)?.read()
}

/// Reads a `.tflite` model from a file; errors name the file.
pub fn read_file(path: impl AsRef<Path>) -> Result<Graph> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| TfliteError::Io(e).in_file(path))?;
    read(&bytes).map_err(|e| e.in_file(path))
}

/// Runs the flatbuffers verifier over the tables tinyforge reads.
///
/// The apparent-size limit (bytes the verifier may visit, counting shared objects once per
/// reference) is a small multiple of the file size: a real model never shares much, while a
/// hostile one could otherwise point thousands of tensors at one large buffer or name and make
/// the reader copy it each time.
fn verify(bytes: &[u8]) -> Result<()> {
    let opts = VerifierOptions {
        max_depth: 64,
        max_tables: (bytes.len() / 4).max(1024),
        max_apparent_size: bytes.len().saturating_mul(16).saturating_add(1 << 20),
        ignore_missing_null_terminator: true,
    };
    let mut v = Verifier::new(&opts, bytes);
    <ForwardsUOffset<ModelV>>::run_verifier(&mut v, 0)?;
    Ok(())
}

/// What an operator code refers to.
enum OpCode {
    Builtin(i32),
    Custom(String),
}

struct Reader<'a> {
    bytes: &'a [u8],
    model: Table<'a>,
    codes: Vec<OpCode>,
    /// Bytes of constant data still allowed to be copied (see [`verify`] for why a budget).
    const_budget: usize,
    activation_bytes: usize,
}

fn tensor_err(index: usize, t: &Tensor, msg: impl Into<String>) -> TfliteError {
    TfliteError::Tensor {
        index,
        name: t.name.clone(),
        msg: msg.into(),
    }
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self> {
        let model = Table::root(bytes)?;
        let version = model.u32(field::model::VERSION, 0)?;
        if version != schema::SCHEMA_VERSION {
            return Err(TfliteError::Invalid(format!(
                "schema version {version}, only version {} is supported",
                schema::SCHEMA_VERSION
            )));
        }
        Ok(Reader {
            bytes,
            model,
            codes: Vec::new(),
            const_budget: bytes.len().saturating_mul(4).saturating_add(1 << 20),
            activation_bytes: 0,
        })
    }

    fn read(mut self) -> Result<Graph> {
        self.read_codes()?;
        let subgraphs = self.model.tables(field::model::SUBGRAPHS)?;
        if subgraphs.is_empty() {
            return Err(TfliteError::Invalid("the model has no subgraph".into()));
        }
        let sg = subgraphs.get(0)?;
        let mut graph = Graph {
            name: sg.string(field::subgraph::NAME)?.unwrap_or_default(),
            ..Graph::default()
        };

        let tensors = sg.tables(field::subgraph::TENSORS)?;
        graph.tensors.reserve(tensors.len());
        for i in 0..tensors.len() {
            let t = self.read_tensor(i, tensors.get(i)?)?;
            graph.tensors.push(t);
        }

        let operators = sg.tables(field::subgraph::OPERATORS)?;
        graph.nodes.reserve(operators.len());
        for i in 0..operators.len() {
            let node = self.read_node(i, operators.get(i)?, &graph)?;
            graph.nodes.push(node);
        }

        let n = graph.tensors.len();
        graph.inputs = graph_io(sg.i32s(field::subgraph::INPUTS)?, n, "input")?;
        graph.outputs = graph_io(sg.i32s(field::subgraph::OUTPUTS)?, n, "output")?;
        Ok(graph)
    }

    fn read_codes(&mut self) -> Result<()> {
        let codes = self.model.tables(field::model::OPERATOR_CODES)?;
        for i in 0..codes.len() {
            let c = codes.get(i)?;
            // TFLite reads the larger of the two fields: old files only set the int8 one, new
            // files put 127 (placeholder) there for codes above 127.
            let deprecated = i32::from(c.i8(field::opcode::DEPRECATED_BUILTIN_CODE, 0)?);
            let code = deprecated.max(c.i32(field::opcode::BUILTIN_CODE, 0)?);
            self.codes.push(if code == builtin::CUSTOM {
                OpCode::Custom(
                    c.string(field::opcode::CUSTOM_CODE)?
                        .unwrap_or_else(|| "<unnamed>".into()),
                )
            } else {
                OpCode::Builtin(code)
            });
        }
        Ok(())
    }

    fn read_tensor(&mut self, index: usize, t: Table<'a>) -> Result<Tensor> {
        use field::tensor::*;
        let mut tensor = Tensor {
            name: t.string(NAME)?.unwrap_or_default(),
            shape: Vec::new(),
            dtype: DType::F32,
            quant: None,
            data: None,
        };
        let type_code = t.i8(TYPE, tensor_type::FLOAT32)?;
        tensor.dtype = dtype(type_code).ok_or_else(|| {
            let name = schema::tensor_type_name(type_code).unwrap_or("unknown");
            tensor_err(
                index,
                &tensor,
                format!(
                    "type {name} (code {type_code}) is not supported; supported: FLOAT32, \
                     INT8, UINT8, INT16, INT32, INT64, BOOL, INT4, INT2"
                ),
            )
        })?;
        if t.table(SPARSITY)?.is_some() {
            return Err(tensor_err(
                index,
                &tensor,
                "sparse tensors are not supported",
            ));
        }

        let dims = t.i32s(SHAPE)?.unwrap_or_default();
        if dims.len() > MAX_RANK {
            return Err(tensor_err(
                index,
                &tensor,
                format!("rank {} exceeds the maximum {MAX_RANK}", dims.len()),
            ));
        }
        let mut elements: usize = 1;
        for &d in &dims {
            if d <= 0 {
                return Err(tensor_err(
                    index,
                    &tensor,
                    format!("shape {dims:?} has a non-positive dimension"),
                ));
            }
            elements = elements
                .checked_mul(d as usize)
                .filter(|&e| e <= MAX_TENSOR_BYTES)
                .ok_or_else(|| {
                    tensor_err(
                        index,
                        &tensor,
                        format!("shape {dims:?} exceeds {MAX_TENSOR_BYTES} bytes"),
                    )
                })?;
            tensor.shape.push(d as usize);
        }
        let size = tensor.dtype.bytes_for(elements);
        if size > MAX_TENSOR_BYTES {
            return Err(tensor_err(
                index,
                &tensor,
                format!("shape {dims:?} exceeds {MAX_TENSOR_BYTES} bytes"),
            ));
        }

        if let Some(q) = t.table(QUANTIZATION)? {
            tensor.quant = read_quant(q, &tensor).map_err(|m| tensor_err(index, &tensor, m))?;
        }

        let buffer = t.u32(BUFFER, 0)? as usize;
        tensor.data = self
            .buffer_data(buffer)
            .map_err(|m| tensor_err(index, &tensor, m))?;
        match &tensor.data {
            Some(data) if data.len() != size => {
                return Err(tensor_err(
                    index,
                    &tensor,
                    format!(
                        "constant buffer {buffer} holds {} bytes, shape {:?} of {} needs {size}",
                        data.len(),
                        tensor.shape,
                        tensor.dtype.name()
                    ),
                ))
            }
            Some(_) => {}
            None => {
                self.activation_bytes += size;
                if self.activation_bytes > MAX_ACTIVATION_BYTES {
                    return Err(tensor_err(
                        index,
                        &tensor,
                        format!("activations exceed {MAX_ACTIVATION_BYTES} bytes in total"),
                    ));
                }
            }
        }
        Ok(tensor)
    }

    /// The constant data of buffer `index`; `None` for an empty buffer (an activation).
    fn buffer_data(&mut self, index: usize) -> std::result::Result<Option<Vec<u8>>, String> {
        let buffers = self
            .model
            .tables(field::model::BUFFERS)
            .map_err(|e| e.to_string())?;
        if index >= buffers.len() {
            return Err(format!(
                "buffer index {index} out of range ({} buffers)",
                buffers.len()
            ));
        }
        let b = buffers.get(index).map_err(|e| e.to_string())?;
        let inline = b.bytes(field::buffer::DATA).map_err(|e| e.to_string())?;
        let data: &[u8] = match inline {
            Some(d) if !d.is_empty() => d,
            _ => {
                // Large models keep buffers after the flatbuffer; TFLite treats offset 0 and 1 as
                // "not set" (1 is a placeholder the converter writes before relocating).
                let offset = b.u64(field::buffer::OFFSET, 0).map_err(|e| e.to_string())?;
                let size = b.u64(field::buffer::SIZE, 0).map_err(|e| e.to_string())?;
                if offset <= 1 || size == 0 {
                    return Ok(None);
                }
                let range = usize::try_from(offset)
                    .ok()
                    .zip(usize::try_from(size).ok())
                    .and_then(|(o, s)| Some(o..o.checked_add(s)?))
                    .filter(|r| r.end <= self.bytes.len())
                    .ok_or_else(|| {
                        format!(
                            "buffer {index} at offset {offset} size {size} lies outside the \
                             {}-byte file",
                            self.bytes.len()
                        )
                    })?;
                &self.bytes[range]
            }
        };
        if data.len() > MAX_TENSOR_BYTES {
            return Err(format!(
                "buffer {index} holds {} bytes, more than {MAX_TENSOR_BYTES}",
                data.len()
            ));
        }
        self.const_budget = self.const_budget.checked_sub(data.len()).ok_or_else(|| {
            "constant buffers shared by many tensors add up to far more than the file size"
                .to_string()
        })?;
        Ok(Some(data.to_vec()))
    }

    fn read_node(&self, index: usize, o: Table<'a>, graph: &Graph) -> Result<Node> {
        use field::operator::*;
        let code_index = o.u32(OPCODE_INDEX, 0)? as usize;
        let code = self.codes.get(code_index).ok_or_else(|| {
            TfliteError::Invalid(format!(
                "node {index}: opcode_index {code_index} out of range ({} operator codes)",
                self.codes.len()
            ))
        })?;
        let code = match code {
            OpCode::Builtin(c) => *c,
            OpCode::Custom(name) => return Err(unsupported(index, format!("CUSTOM '{name}'"))),
        };
        let name = schema::builtin_name(code)
            .map(str::to_string)
            .unwrap_or_else(|| format!("builtin code {code}"));
        let node_err = |msg: String| TfliteError::Node {
            node: index,
            op: name.clone(),
            msg,
        };
        let opts = o.table(BUILTIN_OPTIONS)?;
        let op = ops::read_op(code, o.u8(BUILTIN_OPTIONS_TYPE, 0)?, opts)
            .map_err(&node_err)?
            .ok_or_else(|| unsupported(index, name.clone()))?;

        let n = graph.tensors.len();
        let raw_inputs = o.i32s(INPUTS)?.unwrap_or_default();
        let raw_outputs = o.i32s(OUTPUTS)?.unwrap_or_default();
        let arity = ops::arity(&op);
        if raw_inputs.len() < arity.min_inputs || raw_inputs.len() > arity.max_inputs {
            let expected = if arity.max_inputs == usize::MAX {
                format!("at least {}", arity.min_inputs)
            } else if arity.min_inputs == arity.max_inputs {
                arity.min_inputs.to_string()
            } else {
                format!("{} to {}", arity.min_inputs, arity.max_inputs)
            };
            return Err(node_err(format!(
                "{} inputs, expected {expected}",
                raw_inputs.len()
            )));
        }
        if raw_outputs.len() != 1 {
            return Err(node_err(format!(
                "{} outputs, expected 1",
                raw_outputs.len()
            )));
        }
        let mut inputs = Vec::with_capacity(raw_inputs.len());
        for (pos, &i) in raw_inputs.iter().enumerate() {
            inputs.push(match i {
                -1 if arity.optional.contains(&pos) => None,
                -1 => return Err(node_err(format!("input {pos} is required but absent (-1)"))),
                i if i >= 0 && (i as usize) < n => Some(i as usize),
                i => {
                    return Err(node_err(format!(
                        "input {pos} refers to tensor {i}, out of range ({n} tensors)"
                    )))
                }
            });
        }
        let mut outputs = Vec::with_capacity(raw_outputs.len());
        for (pos, &i) in raw_outputs.iter().enumerate() {
            let id = usize::try_from(i).ok().filter(|&i| i < n).ok_or_else(|| {
                node_err(format!(
                    "output {pos} refers to tensor {i}, out of range ({n} tensors)"
                ))
            })?;
            if graph.tensors[id].is_const() {
                return Err(node_err(format!(
                    "output {pos} (tensor {id}) is a constant"
                )));
            }
            outputs.push(id);
        }
        check_axes(&op, &inputs, &outputs, graph).map_err(node_err)?;
        Ok(Node {
            op,
            inputs,
            outputs,
        })
    }
}

fn unsupported(node: usize, op: String) -> TfliteError {
    TfliteError::UnsupportedOp {
        node,
        op,
        supported: SUPPORTED_OPS.join(", "),
    }
}

/// Axis options must name a dimension of the tensor they index (negative counts from the end).
fn check_axes(
    op: &Op,
    inputs: &[Option<usize>],
    outputs: &[usize],
    graph: &Graph,
) -> std::result::Result<(), String> {
    let rank_of = |id: Option<usize>| id.map_or(0, |i| graph.tensors[i].shape.len()) as i64;
    let in_range = |axis: i32, rank: i64| (-rank..rank).contains(&i64::from(axis));
    match op {
        Op::Concatenation { axis, .. } => {
            let rank = rank_of(outputs.first().copied());
            if !in_range(*axis, rank) {
                return Err(format!("axis {axis} out of range for rank {rank}"));
            }
        }
        Op::Squeeze { dims } => {
            let rank = rank_of(inputs.first().copied().flatten());
            if let Some(d) = dims.iter().find(|&&d| !in_range(d, rank)) {
                return Err(format!("squeeze dim {d} out of range for rank {rank}"));
            }
        }
        _ => {}
    }
    Ok(())
}

fn graph_io(ids: Option<Vec<i32>>, n: usize, what: &str) -> Result<Vec<usize>> {
    ids.unwrap_or_default()
        .into_iter()
        .map(|i| {
            usize::try_from(i).ok().filter(|&i| i < n).ok_or_else(|| {
                TfliteError::Invalid(format!(
                    "graph {what} refers to tensor {i}, out of range ({n} tensors)"
                ))
            })
        })
        .collect()
}

fn dtype(code: i8) -> Option<DType> {
    Some(match code {
        tensor_type::FLOAT32 => DType::F32,
        tensor_type::INT32 => DType::I32,
        tensor_type::UINT8 => DType::U8,
        tensor_type::INT64 => DType::I64,
        tensor_type::BOOL => DType::Bool,
        tensor_type::INT16 => DType::I16,
        tensor_type::INT8 => DType::I8,
        tensor_type::INT4 => DType::I4,
        tensor_type::INT2 => DType::I2,
        _ => return None,
    })
}

/// The TFLite type code of `d` (inverse of [`dtype`]).
pub(crate) fn type_code(d: DType) -> i8 {
    match d {
        DType::F32 => tensor_type::FLOAT32,
        DType::I32 => tensor_type::INT32,
        DType::U8 => tensor_type::UINT8,
        DType::I64 => tensor_type::INT64,
        DType::Bool => tensor_type::BOOL,
        DType::I16 => tensor_type::INT16,
        DType::I8 => tensor_type::INT8,
        DType::I4 => tensor_type::INT4,
        DType::I2 => tensor_type::INT2,
    }
}

/// The range a zero point must lie in for tensors of type `d`.
pub(crate) fn zero_point_range(d: DType) -> std::ops::RangeInclusive<i64> {
    match d {
        DType::I8 => -128..=127,
        DType::U8 => 0..=255,
        DType::I16 => -32768..=32767,
        DType::I4 => -8..=7,
        DType::I2 => -2..=1,
        _ => i64::from(i32::MIN)..=i64::from(i32::MAX),
    }
}

/// Reads quantization parameters the way TFLite Micro does: no scales means not quantized;
/// scales need as many zero points, or one shared by all; several scales are per-channel along `quantized_dimension`, which
/// must index a dimension of exactly that many channels.
fn read_quant(q: Table, t: &Tensor) -> std::result::Result<Option<Quant>, String> {
    use field::quant::*;
    let scale = q
        .f32s(SCALE)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    if scale.is_empty() {
        return Ok(None);
    }
    let mut zero_point = q
        .i64s(ZERO_POINT)
        .map_err(|e| e.to_string())?
        .ok_or("quantization has scales but no zero points")?;
    // TFLite Micro broadcasts a single zero point over per-channel scales (a space saving for
    // symmetric weights, whose zero points are all 0); accept what it accepts.
    if zero_point.len() == 1 && scale.len() > 1 {
        zero_point = vec![zero_point[0]; scale.len()];
    }
    if zero_point.len() != scale.len() {
        return Err(format!(
            "quantization has {} scales and {} zero points",
            scale.len(),
            zero_point.len()
        ));
    }
    if let Some(s) = scale.iter().find(|s| !s.is_finite() || **s < 0.0) {
        return Err(format!(
            "quantization scale {s} is not a finite non-negative number"
        ));
    }
    let range = zero_point_range(t.dtype);
    if let Some(z) = zero_point.iter().find(|z| !range.contains(z)) {
        return Err(format!(
            "zero point {z} out of range {range:?} for {}",
            t.dtype.name()
        ));
    }
    // Per-tensor parameters have no axis; TFLite ignores the field then, and so do we (stored
    // as 0 so nothing downstream indexes the shape with a stray value).
    let mut axis = 0;
    if scale.len() > 1 {
        let qd = q.i32(QUANTIZED_DIMENSION, 0).map_err(|e| e.to_string())?;
        axis = usize::try_from(qd).map_err(|_| format!("quantized_dimension {qd} is negative"))?;
        match t.shape.get(axis) {
            Some(&c) if c == scale.len() => {}
            Some(&c) => {
                return Err(format!(
                    "{} per-channel scales along dimension {axis} of size {c}",
                    scale.len()
                ))
            }
            None => {
                return Err(format!(
                    "quantized_dimension {axis} out of range for shape {:?}",
                    t.shape
                ))
            }
        }
    }
    Ok(Some(Quant {
        scale,
        zero_point,
        axis,
    }))
}
