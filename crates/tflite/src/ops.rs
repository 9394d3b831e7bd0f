//! The op table: for each TFLite builtin tinyforge executes, its code, operand counts, and the
//! reader and writer of its options table, kept side by side so the two directions stay
//! symmetric.
//!
//! Reading follows TFLite: an options table that is absent (or of another union type) reads as
//! the schema defaults, and the values are then checked for sanity (strides, dilations, filter
//! sizes and depth multipliers in `1..=MAX_WINDOW`, known padding and activation codes), so the
//! planner and kernels never see a zero stride or an unrepresentable window. Neighbours:
//! [`crate::reader`] and [`crate::writer`] call in here; [`crate::schema`] holds the raw codes.

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use tinyforge_graph::{
    Activation, Conv2dOptions, DType, DepthwiseConv2dOptions, FullyConnectedOptions, Op, Padding,
    Pool2dOptions,
};

use crate::schema::{activation, builtin, field, options, padding, vt};
use crate::view::Table;
use crate::TfliteError;

/// The largest stride, dilation, filter size or depth multiplier accepted; far above any real
/// model, low enough that window arithmetic cannot overflow.
pub const MAX_WINDOW: i32 = 1 << 16;

/// Operand counts of an op, as TFLite checks them.
#[derive(Debug, Clone, Copy)]
pub struct Arity {
    pub min_inputs: usize,
    pub max_inputs: usize,
    /// Input positions that may be `None` (TFLite's optional operand −1).
    pub optional: &'static [usize],
}

const ONE: Arity = Arity {
    min_inputs: 1,
    max_inputs: 1,
    optional: &[],
};
const TWO: Arity = Arity {
    min_inputs: 2,
    max_inputs: 2,
    optional: &[],
};
const WEIGHTED: Arity = Arity {
    min_inputs: 2,
    max_inputs: 3,
    optional: &[2],
};

/// Operand counts of `op`.
pub fn arity(op: &Op) -> Arity {
    match op {
        Op::Conv2d(_) | Op::DepthwiseConv2d(_) | Op::FullyConnected(_) => WEIGHTED,
        Op::Add { .. } | Op::Mul { .. } | Op::Pad | Op::Mean { .. } => TWO,
        Op::Reshape => Arity {
            min_inputs: 1,
            max_inputs: 2,
            optional: &[1],
        },
        Op::Concatenation { .. } => Arity {
            min_inputs: 1,
            max_inputs: usize::MAX,
            optional: &[],
        },
        Op::Conv2dAdd { .. } => Arity {
            min_inputs: 4,
            max_inputs: 4,
            optional: &[2],
        },
        _ => ONE,
    }
}

/// Reads the op for builtin `code` from its options table (`None`: absent or of another union
/// type). `Ok(None)` means tinyforge does not support the op. `Err` carries a message about the
/// options.
pub fn read_op(code: i32, opts_type: u8, opts: Option<Table>) -> Result<Option<Op>, String> {
    let expect = |t: u8| if opts_type == t { opts } else { None };
    let op = match code {
        builtin::CONV_2D => Op::Conv2d(de_conv2d(expect(options::CONV_2D))?),
        builtin::DEPTHWISE_CONV_2D => {
            Op::DepthwiseConv2d(de_depthwise(expect(options::DEPTHWISE_CONV_2D))?)
        }
        builtin::FULLY_CONNECTED => {
            Op::FullyConnected(de_fully_connected(expect(options::FULLY_CONNECTED))?)
        }
        builtin::AVERAGE_POOL_2D => Op::AveragePool2d(de_pool(expect(options::POOL_2D))?),
        builtin::MAX_POOL_2D => Op::MaxPool2d(de_pool(expect(options::POOL_2D))?),
        builtin::ADD => Op::Add {
            activation: de_binary(expect(options::ADD))?,
        },
        builtin::MUL => Op::Mul {
            activation: de_binary(expect(options::MUL))?,
        },
        builtin::RESHAPE => Op::Reshape,
        builtin::SQUEEZE => Op::Squeeze {
            dims: de_squeeze(expect(options::SQUEEZE))?,
        },
        builtin::SOFTMAX => Op::Softmax {
            beta: de_softmax(expect(options::SOFTMAX))?,
        },
        builtin::LOGISTIC => Op::Logistic,
        builtin::TANH => Op::Tanh,
        builtin::RELU => Op::Relu,
        builtin::RELU6 => Op::Relu6,
        builtin::PAD => Op::Pad,
        builtin::CONCATENATION => {
            let (axis, activation) = de_concatenation(expect(options::CONCATENATION))?;
            Op::Concatenation { axis, activation }
        }
        builtin::MEAN => Op::Mean {
            keep_dims: de_reducer(expect(options::REDUCER))?,
        },
        builtin::QUANTIZE => Op::Quantize,
        builtin::DEQUANTIZE => Op::Dequantize,
        _ => return Ok(None),
    };
    Ok(Some(op))
}

/// The builtin code of `op` (the fused `Conv2dAdd` is written as its two parts by the writer).
pub fn builtin_code(op: &Op) -> Option<i32> {
    Some(match op {
        Op::Conv2d(_) => builtin::CONV_2D,
        Op::DepthwiseConv2d(_) => builtin::DEPTHWISE_CONV_2D,
        Op::FullyConnected(_) => builtin::FULLY_CONNECTED,
        Op::AveragePool2d(_) => builtin::AVERAGE_POOL_2D,
        Op::MaxPool2d(_) => builtin::MAX_POOL_2D,
        Op::Add { .. } => builtin::ADD,
        Op::Mul { .. } => builtin::MUL,
        Op::Reshape => builtin::RESHAPE,
        Op::Squeeze { .. } => builtin::SQUEEZE,
        Op::Softmax { .. } => builtin::SOFTMAX,
        Op::Logistic => builtin::LOGISTIC,
        Op::Tanh => builtin::TANH,
        Op::Relu => builtin::RELU,
        Op::Relu6 => builtin::RELU6,
        Op::Pad => builtin::PAD,
        Op::Concatenation { .. } => builtin::CONCATENATION,
        Op::Mean { .. } => builtin::MEAN,
        Op::Quantize => builtin::QUANTIZE,
        Op::Dequantize => builtin::DEQUANTIZE,
        Op::Conv2dAdd { .. } => return None,
    })
}

/// The operator version to record, chosen like the TFLite converter does for the common cases
/// (quantized kernels arrived in later versions). TFLite Micro ignores versions; LiteRT only
/// needs one it registers, which every value here is.
pub fn op_version(op: &Op, input_dtype: Option<DType>, output_dtype: Option<DType>) -> i32 {
    let quantized = matches!(
        input_dtype,
        Some(DType::I8 | DType::U8 | DType::I16 | DType::I4 | DType::I2)
    );
    match op {
        Op::Reshape | Op::Squeeze { .. } => 1,
        Op::Quantize => match (input_dtype, output_dtype) {
            (Some(DType::F32), _) => 1,
            _ => 2,
        },
        Op::Dequantize => match input_dtype {
            Some(DType::U8) => 1,
            _ => 2,
        },
        Op::Conv2d(_) | Op::DepthwiseConv2d(_) if quantized => 3,
        Op::FullyConnected(_) if quantized => 4,
        _ if quantized => 2,
        _ => 1,
    }
}

/// Writes the options table of `op`; returns its union type and offset. `output_shape` is the
/// shape of the node's first output (RESHAPE records it as `new_shape`, which LiteRT uses when
/// the shape operand is absent).
pub fn write_options<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    op: &Op,
    output_shape: &[usize],
) -> Result<(u8, Option<WIPOffset<UnionWIPOffset>>), TfliteError> {
    let (kind, table) = match op {
        Op::Conv2d(o) => (options::CONV_2D, ser_conv2d(fbb, o)?),
        Op::DepthwiseConv2d(o) => (options::DEPTHWISE_CONV_2D, ser_depthwise(fbb, o)?),
        Op::FullyConnected(o) => (options::FULLY_CONNECTED, ser_fully_connected(fbb, o)),
        Op::AveragePool2d(o) | Op::MaxPool2d(o) => (options::POOL_2D, ser_pool(fbb, o)?),
        Op::Add { activation } => (options::ADD, ser_binary(fbb, *activation)),
        Op::Mul { activation } => (options::MUL, ser_binary(fbb, *activation)),
        Op::Reshape => (options::RESHAPE, ser_reshape(fbb, output_shape)?),
        Op::Squeeze { dims } => (options::SQUEEZE, ser_squeeze(fbb, dims)),
        Op::Softmax { beta } => (options::SOFTMAX, ser_softmax(fbb, *beta)),
        Op::Concatenation { axis, activation } => (
            options::CONCATENATION,
            ser_concatenation(fbb, *axis, *activation),
        ),
        Op::Mean { keep_dims } => (options::REDUCER, ser_reducer(fbb, *keep_dims)),
        Op::Pad => (options::PAD, empty_table(fbb)),
        Op::Quantize => (options::QUANTIZE, empty_table(fbb)),
        Op::Dequantize => (options::DEQUANTIZE, empty_table(fbb)),
        Op::Logistic | Op::Tanh | Op::Relu | Op::Relu6 => return Ok((options::NONE, None)),
        Op::Conv2dAdd { .. } => {
            return Err(TfliteError::Write(
                "the fused CONV_2D+ADD must be split before writing".into(),
            ))
        }
    };
    Ok((kind, Some(table)))
}

// --- shared option fields ---------------------------------------------------------------------

fn de_padding(code: i8) -> Result<Padding, String> {
    match code {
        padding::SAME => Ok(Padding::Same),
        padding::VALID => Ok(Padding::Valid),
        other => Err(format!("unknown padding code {other}")),
    }
}

fn ser_padding(p: Padding) -> i8 {
    match p {
        Padding::Same => padding::SAME,
        Padding::Valid => padding::VALID,
    }
}

fn de_activation(code: i8) -> Result<Activation, String> {
    match code {
        activation::NONE => Ok(Activation::None),
        activation::RELU => Ok(Activation::Relu),
        activation::RELU_N1_TO_1 => Ok(Activation::ReluN1To1),
        activation::RELU6 => Ok(Activation::Relu6),
        activation::TANH => Err("fused activation TANH is not supported".into()),
        activation::SIGN_BIT => Err("fused activation SIGN_BIT is not supported".into()),
        other => Err(format!("unknown fused activation code {other}")),
    }
}

fn ser_activation(a: Activation) -> i8 {
    match a {
        Activation::None => activation::NONE,
        Activation::Relu => activation::RELU,
        Activation::ReluN1To1 => activation::RELU_N1_TO_1,
        Activation::Relu6 => activation::RELU6,
    }
}

/// A window parameter (stride, dilation, filter size, depth multiplier) in `1..=MAX_WINDOW`.
fn de_window(name: &str, v: i32) -> Result<usize, String> {
    if (1..=MAX_WINDOW).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("{name} is {v}, must be in 1..={MAX_WINDOW}"))
    }
}

fn ser_window(name: &str, v: usize) -> Result<i32, TfliteError> {
    i32::try_from(v)
        .ok()
        .filter(|v| (1..=MAX_WINDOW).contains(v))
        .ok_or_else(|| TfliteError::Write(format!("{name} {v} is not in 1..={MAX_WINDOW}")))
}

/// Reads an `i8`/`i32`/… field of an optional table, defaulting like the schema.
macro_rules! get {
    ($t:expr, $ty:ident, $id:expr, $default:expr) => {
        match $t {
            Some(t) => t.$ty($id, $default).map_err(|e| e.to_string())?,
            None => $default,
        }
    };
}

fn empty_table<'b>(fbb: &mut FlatBufferBuilder<'b>) -> WIPOffset<UnionWIPOffset> {
    let start = fbb.start_table();
    fbb.end_table(start).as_union_value()
}

// --- CONV_2D ------------------------------------------------------------------------------------

fn de_conv2d(t: Option<Table>) -> Result<Conv2dOptions, String> {
    use field::conv::*;
    Ok(Conv2dOptions {
        padding: de_padding(get!(t, i8, PADDING, 0))?,
        stride_w: de_window("stride_w", get!(t, i32, STRIDE_W, 0))?,
        stride_h: de_window("stride_h", get!(t, i32, STRIDE_H, 0))?,
        activation: de_activation(get!(t, i8, ACTIVATION, 0))?,
        dilation_w: de_window("dilation_w_factor", get!(t, i32, DILATION_W, 1))?,
        dilation_h: de_window("dilation_h_factor", get!(t, i32, DILATION_H, 1))?,
    })
}

fn ser_conv2d<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    o: &Conv2dOptions,
) -> Result<WIPOffset<UnionWIPOffset>, TfliteError> {
    use field::conv::*;
    let start = fbb.start_table();
    fbb.push_slot_always::<i32>(vt(STRIDE_W), ser_window("stride_w", o.stride_w)?);
    fbb.push_slot_always::<i32>(vt(STRIDE_H), ser_window("stride_h", o.stride_h)?);
    fbb.push_slot::<i32>(vt(DILATION_W), ser_window("dilation_w", o.dilation_w)?, 1);
    fbb.push_slot::<i32>(vt(DILATION_H), ser_window("dilation_h", o.dilation_h)?, 1);
    fbb.push_slot::<i8>(vt(PADDING), ser_padding(o.padding), 0);
    fbb.push_slot::<i8>(vt(ACTIVATION), ser_activation(o.activation), 0);
    Ok(fbb.end_table(start).as_union_value())
}

// --- DEPTHWISE_CONV_2D --------------------------------------------------------------------------

fn de_depthwise(t: Option<Table>) -> Result<DepthwiseConv2dOptions, String> {
    use field::depthwise::*;
    Ok(DepthwiseConv2dOptions {
        padding: de_padding(get!(t, i8, PADDING, 0))?,
        stride_w: de_window("stride_w", get!(t, i32, STRIDE_W, 0))?,
        stride_h: de_window("stride_h", get!(t, i32, STRIDE_H, 0))?,
        depth_multiplier: de_window("depth_multiplier", get!(t, i32, DEPTH_MULTIPLIER, 0))?,
        activation: de_activation(get!(t, i8, ACTIVATION, 0))?,
        dilation_w: de_window("dilation_w_factor", get!(t, i32, DILATION_W, 1))?,
        dilation_h: de_window("dilation_h_factor", get!(t, i32, DILATION_H, 1))?,
    })
}

fn ser_depthwise<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    o: &DepthwiseConv2dOptions,
) -> Result<WIPOffset<UnionWIPOffset>, TfliteError> {
    use field::depthwise::*;
    let start = fbb.start_table();
    fbb.push_slot_always::<i32>(vt(STRIDE_W), ser_window("stride_w", o.stride_w)?);
    fbb.push_slot_always::<i32>(vt(STRIDE_H), ser_window("stride_h", o.stride_h)?);
    fbb.push_slot_always::<i32>(
        vt(DEPTH_MULTIPLIER),
        ser_window("depth_multiplier", o.depth_multiplier)?,
    );
    fbb.push_slot::<i32>(vt(DILATION_W), ser_window("dilation_w", o.dilation_w)?, 1);
    fbb.push_slot::<i32>(vt(DILATION_H), ser_window("dilation_h", o.dilation_h)?, 1);
    fbb.push_slot::<i8>(vt(PADDING), ser_padding(o.padding), 0);
    fbb.push_slot::<i8>(vt(ACTIVATION), ser_activation(o.activation), 0);
    Ok(fbb.end_table(start).as_union_value())
}

// --- AVERAGE_POOL_2D / MAX_POOL_2D --------------------------------------------------------------

fn de_pool(t: Option<Table>) -> Result<Pool2dOptions, String> {
    use field::pool::*;
    Ok(Pool2dOptions {
        padding: de_padding(get!(t, i8, PADDING, 0))?,
        stride_w: de_window("stride_w", get!(t, i32, STRIDE_W, 0))?,
        stride_h: de_window("stride_h", get!(t, i32, STRIDE_H, 0))?,
        filter_w: de_window("filter_width", get!(t, i32, FILTER_W, 0))?,
        filter_h: de_window("filter_height", get!(t, i32, FILTER_H, 0))?,
        activation: de_activation(get!(t, i8, ACTIVATION, 0))?,
    })
}

fn ser_pool<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    o: &Pool2dOptions,
) -> Result<WIPOffset<UnionWIPOffset>, TfliteError> {
    use field::pool::*;
    let start = fbb.start_table();
    fbb.push_slot_always::<i32>(vt(STRIDE_W), ser_window("stride_w", o.stride_w)?);
    fbb.push_slot_always::<i32>(vt(STRIDE_H), ser_window("stride_h", o.stride_h)?);
    fbb.push_slot_always::<i32>(vt(FILTER_W), ser_window("filter_width", o.filter_w)?);
    fbb.push_slot_always::<i32>(vt(FILTER_H), ser_window("filter_height", o.filter_h)?);
    fbb.push_slot::<i8>(vt(PADDING), ser_padding(o.padding), 0);
    fbb.push_slot::<i8>(vt(ACTIVATION), ser_activation(o.activation), 0);
    Ok(fbb.end_table(start).as_union_value())
}

// --- FULLY_CONNECTED ----------------------------------------------------------------------------

fn de_fully_connected(t: Option<Table>) -> Result<FullyConnectedOptions, String> {
    use field::fully_connected::*;
    let format = get!(t, i8, WEIGHTS_FORMAT, 0);
    if format != 0 {
        return Err(format!(
            "weights_format {format} (shuffled weights) is not supported, only DEFAULT"
        ));
    }
    Ok(FullyConnectedOptions {
        activation: de_activation(get!(t, i8, ACTIVATION, 0))?,
        keep_num_dims: get!(t, bool, KEEP_NUM_DIMS, false),
    })
}

fn ser_fully_connected<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    o: &FullyConnectedOptions,
) -> WIPOffset<UnionWIPOffset> {
    use field::fully_connected::*;
    let start = fbb.start_table();
    fbb.push_slot::<i8>(vt(ACTIVATION), ser_activation(o.activation), 0);
    fbb.push_slot::<bool>(vt(KEEP_NUM_DIMS), o.keep_num_dims, false);
    fbb.end_table(start).as_union_value()
}

// --- ADD / MUL ----------------------------------------------------------------------------------

fn de_binary(t: Option<Table>) -> Result<Activation, String> {
    de_activation(get!(t, i8, field::binary::ACTIVATION, 0))
}

fn ser_binary<'b>(fbb: &mut FlatBufferBuilder<'b>, a: Activation) -> WIPOffset<UnionWIPOffset> {
    let start = fbb.start_table();
    fbb.push_slot::<i8>(vt(field::binary::ACTIVATION), ser_activation(a), 0);
    fbb.end_table(start).as_union_value()
}

// --- RESHAPE ------------------------------------------------------------------------------------
// The target shape is the output tensor's shape (and the optional shape operand), so nothing is
// read from ReshapeOptions.

fn ser_reshape<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    output_shape: &[usize],
) -> Result<WIPOffset<UnionWIPOffset>, TfliteError> {
    let dims = output_shape
        .iter()
        .map(|&d| i32::try_from(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TfliteError::Write("reshape dimension exceeds i32".into()))?;
    let v = fbb.create_vector(&dims);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(field::reshape::NEW_SHAPE), v);
    Ok(fbb.end_table(start).as_union_value())
}

// --- SQUEEZE ------------------------------------------------------------------------------------

/// TFLite's squeeze kernels hold at most eight axes.
const MAX_SQUEEZE_DIMS: usize = 8;

fn de_squeeze(t: Option<Table>) -> Result<Vec<i32>, String> {
    let dims = match t {
        Some(t) => t
            .i32s(field::squeeze::SQUEEZE_DIMS)
            .map_err(|e| e.to_string())?
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if dims.len() > MAX_SQUEEZE_DIMS {
        return Err(format!(
            "{} squeeze_dims, at most {MAX_SQUEEZE_DIMS}",
            dims.len()
        ));
    }
    Ok(dims)
}

fn ser_squeeze<'b>(fbb: &mut FlatBufferBuilder<'b>, dims: &[i32]) -> WIPOffset<UnionWIPOffset> {
    let v = fbb.create_vector(dims);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(field::squeeze::SQUEEZE_DIMS), v);
    fbb.end_table(start).as_union_value()
}

// --- SOFTMAX ------------------------------------------------------------------------------------

fn de_softmax(t: Option<Table>) -> Result<f32, String> {
    let beta = get!(t, f32, field::softmax::BETA, 0.0);
    if !beta.is_finite() {
        return Err(format!("softmax beta {beta} is not finite"));
    }
    Ok(beta)
}

fn ser_softmax<'b>(fbb: &mut FlatBufferBuilder<'b>, beta: f32) -> WIPOffset<UnionWIPOffset> {
    let start = fbb.start_table();
    fbb.push_slot_always::<f32>(vt(field::softmax::BETA), beta);
    fbb.end_table(start).as_union_value()
}

// --- CONCATENATION ------------------------------------------------------------------------------

fn de_concatenation(t: Option<Table>) -> Result<(i32, Activation), String> {
    use field::concatenation::*;
    Ok((
        get!(t, i32, AXIS, 0),
        de_activation(get!(t, i8, ACTIVATION, 0))?,
    ))
}

fn ser_concatenation<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    axis: i32,
    a: Activation,
) -> WIPOffset<UnionWIPOffset> {
    use field::concatenation::*;
    let start = fbb.start_table();
    fbb.push_slot_always::<i32>(vt(AXIS), axis);
    fbb.push_slot::<i8>(vt(ACTIVATION), ser_activation(a), 0);
    fbb.end_table(start).as_union_value()
}

// --- MEAN ---------------------------------------------------------------------------------------

fn de_reducer(t: Option<Table>) -> Result<bool, String> {
    Ok(get!(t, bool, field::reducer::KEEP_DIMS, false))
}

fn ser_reducer<'b>(fbb: &mut FlatBufferBuilder<'b>, keep_dims: bool) -> WIPOffset<UnionWIPOffset> {
    let start = fbb.start_table();
    fbb.push_slot::<bool>(vt(field::reducer::KEEP_DIMS), keep_dims, false);
    fbb.end_table(start).as_union_value()
}
