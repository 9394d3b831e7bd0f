//! Facts of the TFLite flatbuffer schema (`schema.fbs`, schema version 3) that tinyforge needs:
//! field ids of the tables we read and write, enum values, builtin operator names, and the
//! flatbuffers verifier for those tables.
//!
//! Written by hand from the schema's field ids and types, not generated. A field with id `n`
//! lives at vtable offset `4 + 2n`; a union field with id `n` occupies ids `n - 1` (its type
//! byte) and `n` (the table offset). Neighbours: the crate's table view reads these tables without
//! `unsafe`, [`crate::reader`] and [`crate::writer`] map them to and from the IR.

use flatbuffers::{ForwardsUOffset, InvalidFlatbuffer, Vector, Verifiable, Verifier};

/// The schema version tinyforge reads and writes; TFLite and TFLite Micro reject any other.
pub const SCHEMA_VERSION: u32 = 3;
/// The file identifier at bytes 4..8 of a `.tflite` file.
pub const FILE_IDENTIFIER: &str = "TFL3";

/// Vtable offset of the field with schema id `id`.
pub const fn vt(id: u16) -> u16 {
    4 + 2 * id
}

/// Field ids, one module per table.
pub mod field {
    pub mod model {
        pub const VERSION: u16 = 0;
        pub const OPERATOR_CODES: u16 = 1;
        pub const SUBGRAPHS: u16 = 2;
        pub const DESCRIPTION: u16 = 3;
        pub const BUFFERS: u16 = 4;
        pub const METADATA_BUFFER: u16 = 5;
        pub const METADATA: u16 = 6;
    }
    pub mod subgraph {
        pub const TENSORS: u16 = 0;
        pub const INPUTS: u16 = 1;
        pub const OUTPUTS: u16 = 2;
        pub const OPERATORS: u16 = 3;
        pub const NAME: u16 = 4;
    }
    pub mod tensor {
        pub const SHAPE: u16 = 0;
        pub const TYPE: u16 = 1;
        pub const BUFFER: u16 = 2;
        pub const NAME: u16 = 3;
        pub const QUANTIZATION: u16 = 4;
        pub const IS_VARIABLE: u16 = 5;
        pub const SPARSITY: u16 = 6;
        pub const SHAPE_SIGNATURE: u16 = 7;
    }
    pub mod quant {
        pub const MIN: u16 = 0;
        pub const MAX: u16 = 1;
        pub const SCALE: u16 = 2;
        pub const ZERO_POINT: u16 = 3;
        pub const DETAILS_TYPE: u16 = 4;
        pub const DETAILS: u16 = 5;
        pub const QUANTIZED_DIMENSION: u16 = 6;
    }
    pub mod buffer {
        pub const DATA: u16 = 0;
        pub const OFFSET: u16 = 1;
        pub const SIZE: u16 = 2;
    }
    pub mod metadata {
        pub const NAME: u16 = 0;
        pub const BUFFER: u16 = 1;
    }
    pub mod opcode {
        pub const DEPRECATED_BUILTIN_CODE: u16 = 0;
        pub const CUSTOM_CODE: u16 = 1;
        pub const VERSION: u16 = 2;
        pub const BUILTIN_CODE: u16 = 3;
    }
    pub mod operator {
        pub const OPCODE_INDEX: u16 = 0;
        pub const INPUTS: u16 = 1;
        pub const OUTPUTS: u16 = 2;
        pub const BUILTIN_OPTIONS_TYPE: u16 = 3;
        pub const BUILTIN_OPTIONS: u16 = 4;
        pub const CUSTOM_OPTIONS: u16 = 5;
    }
    /// Conv2DOptions; DepthwiseConv2DOptions shares the first three ids.
    pub mod conv {
        pub const PADDING: u16 = 0;
        pub const STRIDE_W: u16 = 1;
        pub const STRIDE_H: u16 = 2;
        pub const ACTIVATION: u16 = 3;
        pub const DILATION_W: u16 = 4;
        pub const DILATION_H: u16 = 5;
    }
    pub mod depthwise {
        pub const PADDING: u16 = 0;
        pub const STRIDE_W: u16 = 1;
        pub const STRIDE_H: u16 = 2;
        pub const DEPTH_MULTIPLIER: u16 = 3;
        pub const ACTIVATION: u16 = 4;
        pub const DILATION_W: u16 = 5;
        pub const DILATION_H: u16 = 6;
    }
    pub mod pool {
        pub const PADDING: u16 = 0;
        pub const STRIDE_W: u16 = 1;
        pub const STRIDE_H: u16 = 2;
        pub const FILTER_W: u16 = 3;
        pub const FILTER_H: u16 = 4;
        pub const ACTIVATION: u16 = 5;
    }
    pub mod fully_connected {
        pub const ACTIVATION: u16 = 0;
        pub const WEIGHTS_FORMAT: u16 = 1;
        pub const KEEP_NUM_DIMS: u16 = 2;
    }
    /// AddOptions and MulOptions.
    pub mod binary {
        pub const ACTIVATION: u16 = 0;
    }
    pub mod softmax {
        pub const BETA: u16 = 0;
    }
    pub mod concatenation {
        pub const AXIS: u16 = 0;
        pub const ACTIVATION: u16 = 1;
    }
    pub mod reshape {
        pub const NEW_SHAPE: u16 = 0;
    }
    pub mod squeeze {
        pub const SQUEEZE_DIMS: u16 = 0;
    }
    pub mod reducer {
        pub const KEEP_DIMS: u16 = 0;
    }
}

/// `BuiltinOperator` codes of the ops tinyforge maps.
pub mod builtin {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const TANH: i32 = 28;
    pub const CUSTOM: i32 = 32;
    pub const PAD: i32 = 34;
    pub const MEAN: i32 = 40;
    pub const SQUEEZE: i32 = 43;
    pub const QUANTIZE: i32 = 114;
    /// Codes above this only fit the int32 `builtin_code` field; `deprecated_builtin_code`
    /// (int8) then holds this placeholder value.
    pub const PLACEHOLDER_FOR_GREATER_OP_CODES: i32 = 127;
}

/// `BuiltinOptions` union discriminants of the options tables tinyforge maps.
pub mod options {
    pub const NONE: u8 = 0;
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const CONCATENATION: u8 = 10;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
    pub const MUL: u8 = 21;
    pub const PAD: u8 = 22;
    pub const REDUCER: u8 = 27;
    pub const SQUEEZE: u8 = 30;
    pub const DEQUANTIZE: u8 = 38;
    pub const QUANTIZE: u8 = 89;
}

/// `TensorType` codes.
pub mod tensor_type {
    pub const FLOAT32: i8 = 0;
    pub const INT32: i8 = 2;
    pub const UINT8: i8 = 3;
    pub const INT64: i8 = 4;
    pub const BOOL: i8 = 6;
    pub const INT16: i8 = 7;
    pub const INT8: i8 = 9;
    pub const INT4: i8 = 17;
    /// Four 2-bit values per byte in tinyforge's layout (see `tinyforge_graph::DType::I2`);
    /// TFLite Micro has no kernel that reads it.
    pub const INT2: i8 = 19;
}

/// `Padding` enum.
pub mod padding {
    pub const SAME: i8 = 0;
    pub const VALID: i8 = 1;
}

/// `ActivationFunctionType` enum.
pub mod activation {
    pub const NONE: i8 = 0;
    pub const RELU: i8 = 1;
    pub const RELU_N1_TO_1: i8 = 2;
    pub const RELU6: i8 = 3;
    pub const TANH: i8 = 4;
    pub const SIGN_BIT: i8 = 5;
}

/// The builtin operator name of `code`, or `None` for codes this schema does not know.
pub fn builtin_name(code: i32) -> Option<&'static str> {
    usize::try_from(code)
        .ok()
        .and_then(|c| BUILTIN_NAMES.get(c).copied())
}

/// The `TensorType` name of `code`, or `None` for codes this schema does not know.
pub fn tensor_type_name(code: i8) -> Option<&'static str> {
    usize::try_from(code)
        .ok()
        .and_then(|c| TENSOR_TYPE_NAMES.get(c).copied())
}

// ---------------------------------------------------------------------------------------------
// Verifier. Each marker type verifies one table: every field tinyforge reads is checked for
// bounds, alignment and type width before `view` touches it. Strings are verified as byte
// vectors, because TFLite Micro accepts names that are not UTF-8 and so do we.

type Bytes<'a> = Vector<'a, u8>;
type I32s<'a> = Vector<'a, i32>;
type Tables<'a, T> = Vector<'a, ForwardsUOffset<T>>;

/// Any table whose fields tinyforge never reads (its layout is still checked).
pub struct AnyTableV;
impl Verifiable for AnyTableV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?.finish();
        Ok(())
    }
}

pub struct ModelV;
impl Verifiable for ModelV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::model::*;
        v.visit_table(pos)?
            .visit_field::<u32>("version", vt(VERSION), false)?
            .visit_field::<ForwardsUOffset<Tables<OperatorCodeV>>>(
                "operator_codes",
                vt(OPERATOR_CODES),
                false,
            )?
            .visit_field::<ForwardsUOffset<Tables<SubGraphV>>>("subgraphs", vt(SUBGRAPHS), false)?
            .visit_field::<ForwardsUOffset<Bytes>>("description", vt(DESCRIPTION), false)?
            .visit_field::<ForwardsUOffset<Tables<BufferV>>>("buffers", vt(BUFFERS), false)?
            .visit_field::<ForwardsUOffset<I32s>>("metadata_buffer", vt(METADATA_BUFFER), false)?
            .visit_field::<ForwardsUOffset<Tables<MetadataV>>>("metadata", vt(METADATA), false)?
            .finish();
        Ok(())
    }
}

pub struct OperatorCodeV;
impl Verifiable for OperatorCodeV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::opcode::*;
        v.visit_table(pos)?
            .visit_field::<i8>(
                "deprecated_builtin_code",
                vt(DEPRECATED_BUILTIN_CODE),
                false,
            )?
            .visit_field::<ForwardsUOffset<Bytes>>("custom_code", vt(CUSTOM_CODE), false)?
            .visit_field::<i32>("version", vt(VERSION), false)?
            .visit_field::<i32>("builtin_code", vt(BUILTIN_CODE), false)?
            .finish();
        Ok(())
    }
}

pub struct SubGraphV;
impl Verifiable for SubGraphV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::subgraph::*;
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<Tables<TensorV>>>("tensors", vt(TENSORS), false)?
            .visit_field::<ForwardsUOffset<I32s>>("inputs", vt(INPUTS), false)?
            .visit_field::<ForwardsUOffset<I32s>>("outputs", vt(OUTPUTS), false)?
            .visit_field::<ForwardsUOffset<Tables<OperatorV>>>("operators", vt(OPERATORS), false)?
            .visit_field::<ForwardsUOffset<Bytes>>("name", vt(NAME), false)?
            .finish();
        Ok(())
    }
}

pub struct TensorV;
impl Verifiable for TensorV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::tensor::*;
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<I32s>>("shape", vt(SHAPE), false)?
            .visit_field::<i8>("type", vt(TYPE), false)?
            .visit_field::<u32>("buffer", vt(BUFFER), false)?
            .visit_field::<ForwardsUOffset<Bytes>>("name", vt(NAME), false)?
            .visit_field::<ForwardsUOffset<QuantizationV>>("quantization", vt(QUANTIZATION), false)?
            .visit_field::<bool>("is_variable", vt(IS_VARIABLE), false)?
            .visit_field::<ForwardsUOffset<AnyTableV>>("sparsity", vt(SPARSITY), false)?
            .visit_field::<ForwardsUOffset<I32s>>("shape_signature", vt(SHAPE_SIGNATURE), false)?
            .finish();
        Ok(())
    }
}

pub struct QuantizationV;
impl Verifiable for QuantizationV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::quant::*;
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<Vector<f32>>>("min", vt(MIN), false)?
            .visit_field::<ForwardsUOffset<Vector<f32>>>("max", vt(MAX), false)?
            .visit_field::<ForwardsUOffset<Vector<f32>>>("scale", vt(SCALE), false)?
            .visit_field::<ForwardsUOffset<Vector<i64>>>("zero_point", vt(ZERO_POINT), false)?
            .visit_union::<u8, _>(
                "details_type",
                vt(DETAILS_TYPE),
                "details",
                vt(DETAILS),
                false,
                |_, v, pos| v.verify_union_variant::<ForwardsUOffset<AnyTableV>>("details", pos),
            )?
            .visit_field::<i32>("quantized_dimension", vt(QUANTIZED_DIMENSION), false)?
            .finish();
        Ok(())
    }
}

pub struct BufferV;
impl Verifiable for BufferV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::buffer::*;
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<Bytes>>("data", vt(DATA), false)?
            .visit_field::<u64>("offset", vt(OFFSET), false)?
            .visit_field::<u64>("size", vt(SIZE), false)?
            .finish();
        Ok(())
    }
}

pub struct MetadataV;
impl Verifiable for MetadataV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::metadata::*;
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<Bytes>>("name", vt(NAME), false)?
            .visit_field::<u32>("buffer", vt(BUFFER), false)?
            .finish();
        Ok(())
    }
}

pub struct OperatorV;
impl Verifiable for OperatorV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::operator::*;
        v.visit_table(pos)?
            .visit_field::<u32>("opcode_index", vt(OPCODE_INDEX), false)?
            .visit_field::<ForwardsUOffset<I32s>>("inputs", vt(INPUTS), false)?
            .visit_field::<ForwardsUOffset<I32s>>("outputs", vt(OUTPUTS), false)?
            .visit_union::<u8, _>(
                "builtin_options_type",
                vt(BUILTIN_OPTIONS_TYPE),
                "builtin_options",
                vt(BUILTIN_OPTIONS),
                false,
                verify_builtin_options,
            )?
            .visit_field::<ForwardsUOffset<Bytes>>("custom_options", vt(CUSTOM_OPTIONS), false)?
            .finish();
        Ok(())
    }
}

fn verify_builtin_options(kind: u8, v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
    match kind {
        options::CONV_2D => {
            v.verify_union_variant::<ForwardsUOffset<Conv2DOptionsV>>("Conv2DOptions", pos)
        }
        options::DEPTHWISE_CONV_2D => v
            .verify_union_variant::<ForwardsUOffset<DepthwiseConv2DOptionsV>>(
                "DepthwiseConv2DOptions",
                pos,
            ),
        options::POOL_2D => {
            v.verify_union_variant::<ForwardsUOffset<Pool2DOptionsV>>("Pool2DOptions", pos)
        }
        options::FULLY_CONNECTED => v
            .verify_union_variant::<ForwardsUOffset<FullyConnectedOptionsV>>(
                "FullyConnectedOptions",
                pos,
            ),
        options::SOFTMAX => {
            v.verify_union_variant::<ForwardsUOffset<SoftmaxOptionsV>>("SoftmaxOptions", pos)
        }
        options::CONCATENATION => v.verify_union_variant::<ForwardsUOffset<ConcatenationOptionsV>>(
            "ConcatenationOptions",
            pos,
        ),
        options::ADD | options::MUL => {
            v.verify_union_variant::<ForwardsUOffset<BinaryOptionsV>>("AddOptions/MulOptions", pos)
        }
        options::RESHAPE => {
            v.verify_union_variant::<ForwardsUOffset<ReshapeOptionsV>>("ReshapeOptions", pos)
        }
        options::SQUEEZE => {
            v.verify_union_variant::<ForwardsUOffset<SqueezeOptionsV>>("SqueezeOptions", pos)
        }
        options::REDUCER => {
            v.verify_union_variant::<ForwardsUOffset<ReducerOptionsV>>("ReducerOptions", pos)
        }
        _ => v.verify_union_variant::<ForwardsUOffset<AnyTableV>>("BuiltinOptions", pos),
    }
}

pub struct Conv2DOptionsV;
impl Verifiable for Conv2DOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::conv::*;
        v.visit_table(pos)?
            .visit_field::<i8>("padding", vt(PADDING), false)?
            .visit_field::<i32>("stride_w", vt(STRIDE_W), false)?
            .visit_field::<i32>("stride_h", vt(STRIDE_H), false)?
            .visit_field::<i8>("fused_activation_function", vt(ACTIVATION), false)?
            .visit_field::<i32>("dilation_w_factor", vt(DILATION_W), false)?
            .visit_field::<i32>("dilation_h_factor", vt(DILATION_H), false)?
            .finish();
        Ok(())
    }
}

pub struct DepthwiseConv2DOptionsV;
impl Verifiable for DepthwiseConv2DOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::depthwise::*;
        v.visit_table(pos)?
            .visit_field::<i8>("padding", vt(PADDING), false)?
            .visit_field::<i32>("stride_w", vt(STRIDE_W), false)?
            .visit_field::<i32>("stride_h", vt(STRIDE_H), false)?
            .visit_field::<i32>("depth_multiplier", vt(DEPTH_MULTIPLIER), false)?
            .visit_field::<i8>("fused_activation_function", vt(ACTIVATION), false)?
            .visit_field::<i32>("dilation_w_factor", vt(DILATION_W), false)?
            .visit_field::<i32>("dilation_h_factor", vt(DILATION_H), false)?
            .finish();
        Ok(())
    }
}

pub struct Pool2DOptionsV;
impl Verifiable for Pool2DOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::pool::*;
        v.visit_table(pos)?
            .visit_field::<i8>("padding", vt(PADDING), false)?
            .visit_field::<i32>("stride_w", vt(STRIDE_W), false)?
            .visit_field::<i32>("stride_h", vt(STRIDE_H), false)?
            .visit_field::<i32>("filter_width", vt(FILTER_W), false)?
            .visit_field::<i32>("filter_height", vt(FILTER_H), false)?
            .visit_field::<i8>("fused_activation_function", vt(ACTIVATION), false)?
            .finish();
        Ok(())
    }
}

pub struct FullyConnectedOptionsV;
impl Verifiable for FullyConnectedOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::fully_connected::*;
        v.visit_table(pos)?
            .visit_field::<i8>("fused_activation_function", vt(ACTIVATION), false)?
            .visit_field::<i8>("weights_format", vt(WEIGHTS_FORMAT), false)?
            .visit_field::<bool>("keep_num_dims", vt(KEEP_NUM_DIMS), false)?
            .finish();
        Ok(())
    }
}

pub struct BinaryOptionsV;
impl Verifiable for BinaryOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<i8>(
                "fused_activation_function",
                vt(field::binary::ACTIVATION),
                false,
            )?
            .finish();
        Ok(())
    }
}

pub struct SoftmaxOptionsV;
impl Verifiable for SoftmaxOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<f32>("beta", vt(field::softmax::BETA), false)?
            .finish();
        Ok(())
    }
}

pub struct ConcatenationOptionsV;
impl Verifiable for ConcatenationOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        use field::concatenation::*;
        v.visit_table(pos)?
            .visit_field::<i32>("axis", vt(AXIS), false)?
            .visit_field::<i8>("fused_activation_function", vt(ACTIVATION), false)?
            .finish();
        Ok(())
    }
}

pub struct ReshapeOptionsV;
impl Verifiable for ReshapeOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<I32s>>(
                "new_shape",
                vt(field::reshape::NEW_SHAPE),
                false,
            )?
            .finish();
        Ok(())
    }
}

pub struct SqueezeOptionsV;
impl Verifiable for SqueezeOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<I32s>>(
                "squeeze_dims",
                vt(field::squeeze::SQUEEZE_DIMS),
                false,
            )?
            .finish();
        Ok(())
    }
}

pub struct ReducerOptionsV;
impl Verifiable for ReducerOptionsV {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<bool>("keep_dims", vt(field::reducer::KEEP_DIMS), false)?
            .finish();
        Ok(())
    }
}

/// TFLite `BuiltinOperator` names, indexed by code (schema enum values 0..=209).
pub const BUILTIN_NAMES: &[&str] = &[
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    "FLOOR",
    "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION",
    "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",
    "LSH_PROJECTION",
    "LSTM",
    "MAX_POOL_2D",
    "MUL",
    "RELU",
    "RELU_N1_TO_1",
    "RELU6",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RNN",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SVDF",
    "TANH",
    "CONCAT_EMBEDDINGS",
    "SKIP_GRAM",
    "CALL",
    "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE",
    "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "GATHER",
    "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND",
    "TRANSPOSE",
    "MEAN",
    "SUB",
    "DIV",
    "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP",
    "TOPK_V2",
    "SPLIT",
    "LOG_SOFTMAX",
    "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "CAST",
    "PRELU",
    "MAXIMUM",
    "ARG_MAX",
    "MINIMUM",
    "LESS",
    "NEG",
    "PADV2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    "SELECT",
    "SLICE",
    "SIN",
    "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE",
    "TILE",
    "EXPAND_DIMS",
    "EQUAL",
    "NOT_EQUAL",
    "LOG",
    "SUM",
    "SQRT",
    "RSQRT",
    "SHAPE",
    "POW",
    "ARG_MIN",
    "FAKE_QUANT",
    "REDUCE_PROD",
    "REDUCE_MAX",
    "PACK",
    "LOGICAL_OR",
    "ONE_HOT",
    "LOGICAL_AND",
    "LOGICAL_NOT",
    "UNPACK",
    "REDUCE_MIN",
    "FLOOR_DIV",
    "REDUCE_ANY",
    "SQUARE",
    "ZEROS_LIKE",
    "FILL",
    "FLOOR_MOD",
    "RANGE",
    "RESIZE_NEAREST_NEIGHBOR",
    "LEAKY_RELU",
    "SQUARED_DIFFERENCE",
    "MIRROR_PAD",
    "ABS",
    "SPLIT_V",
    "UNIQUE",
    "CEIL",
    "REVERSE_V2",
    "ADD_N",
    "GATHER_ND",
    "COS",
    "WHERE",
    "RANK",
    "ELU",
    "REVERSE_SEQUENCE",
    "MATRIX_DIAG",
    "QUANTIZE",
    "MATRIX_SET_DIAG",
    "ROUND",
    "HARD_SWISH",
    "IF",
    "WHILE",
    "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND",
    "SELECT_V2",
    "DENSIFY",
    "SEGMENT_SUM",
    "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES",
    "CUMSUM",
    "CALL_ONCE",
    "BROADCAST_TO",
    "RFFT2D",
    "CONV_3D",
    "IMAG",
    "REAL",
    "COMPLEX_ABS",
    "HASHTABLE",
    "HASHTABLE_FIND",
    "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE",
    "REDUCE_ALL",
    "CONV_3D_TRANSPOSE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "BROADCAST_ARGS",
    "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE",
    "RANDOM_UNIFORM",
    "MULTINOMIAL",
    "GELU",
    "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM",
    "ATAN2",
    "UNSORTED_SEGMENT_MIN",
    "SIGN",
    "BITCAST",
    "BITWISE_XOR",
    "RIGHT_SHIFT",
    "STABLEHLO_LOGISTIC",
    "STABLEHLO_ADD",
    "STABLEHLO_DIVIDE",
    "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM",
    "STABLEHLO_RESHAPE",
    "STABLEHLO_CLAMP",
    "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM",
    "STABLEHLO_CONVOLUTION",
    "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL",
    "STABLEHLO_REDUCE",
    "STABLEHLO_ABS",
    "STABLEHLO_AND",
    "STABLEHLO_COSINE",
    "STABLEHLO_EXPONENTIAL",
    "STABLEHLO_FLOOR",
    "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM",
    "STABLEHLO_NEGATE",
    "STABLEHLO_OR",
    "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER",
    "STABLEHLO_RSQRT",
    "STABLEHLO_SELECT",
    "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH",
    "STABLEHLO_SCATTER",
    "STABLEHLO_COMPARE",
    "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE",
    "STABLEHLO_DYNAMIC_UPDATE_SLICE",
    "STABLEHLO_PAD",
    "STABLEHLO_IOTA",
    "STABLEHLO_DOT_GENERAL",
    "STABLEHLO_REDUCE_WINDOW",
    "STABLEHLO_SORT",
    "STABLEHLO_WHILE",
    "STABLEHLO_GATHER",
    "STABLEHLO_TRANSPOSE",
    "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR",
    "REDUCE_WINDOW",
    "STABLEHLO_COMPOSITE",
    "STABLEHLO_SHIFT_LEFT",
    "STABLEHLO_CBRT",
    "STABLEHLO_CASE",
];
/// TFLite `TensorType` names, indexed by type code.
pub const TENSOR_TYPE_NAMES: &[&str] = &[
    "FLOAT32",
    "FLOAT16",
    "INT32",
    "UINT8",
    "INT64",
    "STRING",
    "BOOL",
    "INT16",
    "COMPLEX64",
    "INT8",
    "FLOAT64",
    "COMPLEX128",
    "UINT64",
    "RESOURCE",
    "VARIANT",
    "UINT32",
    "UINT16",
    "INT4",
    "BFLOAT16",
    "INT2",
    "UINT4",
    "FLOAT8_E4M3FN",
    "FLOAT8_E5M2",
];
