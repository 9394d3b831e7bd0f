//! Core IR types: tensors, quantization parameters, ops and the graph.
//!
//! Invariants (checked by validation, relied on by planner and runtime):
//! - every tensor index in a node is `< graph.tensors.len()`;
//! - constant tensors (weights, biases, shape operands) carry `data`, activations do not;
//! - nodes are stored in a valid execution (topological) order.

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    I8,
    U8,
    I16,
    I32,
    I64,
    Bool,
    /// 4-bit signed integers, packed two per byte (low nibble first), as TFLite's INT4.
    I4,
    /// 2-bit signed integers (−2..1), packed four per byte: element `4k + j` in bits
    /// `2j..2j+2` of byte `k`, two's complement, the last byte padded with zeros. Stored in
    /// `.tflite` as TFLite's INT2 type code (TFLite Micro has no INT2 kernels; tinyforge's
    /// runtime and generated code read this layout in place).
    I2,
}

impl DType {
    /// Bytes per element; `None` for sub-byte types (see [`DType::bytes_for`]).
    pub fn size(self) -> Option<usize> {
        match self {
            DType::F32 | DType::I32 => Some(4),
            DType::I8 | DType::U8 | DType::Bool => Some(1),
            DType::I16 => Some(2),
            DType::I64 => Some(8),
            DType::I4 | DType::I2 => None,
        }
    }

    /// Storage bytes for `elements` values of this type.
    pub fn bytes_for(self, elements: usize) -> usize {
        match self {
            DType::I4 => elements.div_ceil(2),
            DType::I2 => elements.div_ceil(4),
            _ => elements * self.size().unwrap_or(1),
        }
    }

    /// Bits per element of the packed sub-byte types (`None` for whole-byte types).
    pub fn packed_bits(self) -> Option<u32> {
        match self {
            DType::I4 => Some(4),
            DType::I2 => Some(2),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
            DType::I4 => "int4",
            DType::I2 => "int2",
        }
    }
}

/// Affine quantization: `real = scale × (q − zero_point)`.
///
/// Per-tensor when `scale.len() == 1`; per-channel along `axis` otherwise (then
/// `zero_point.len() == scale.len()`).
#[derive(Debug, Clone, PartialEq)]
pub struct Quant {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub axis: usize,
}

impl Quant {
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        Quant {
            scale: vec![scale],
            zero_point: vec![zero_point],
            axis: 0,
        }
    }
    pub fn is_per_channel(&self) -> bool {
        self.scale.len() > 1
    }
}

/// A tensor: an activation (no data) or a constant (weights, bias, shape operand).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub quant: Option<Quant>,
    /// Little-endian raw bytes for constants.
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn bytes(&self) -> usize {
        self.dtype.bytes_for(self.elements())
    }
    pub fn is_const(&self) -> bool {
        self.data.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

/// Activation fused into an op's output clamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    Relu6,
    ReluN1To1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dOptions {
    pub padding: Padding,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthwiseConv2dOptions {
    pub padding: Padding,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub depth_multiplier: usize,
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dOptions {
    pub padding: Padding,
    pub stride_h: usize,
    pub stride_w: usize,
    pub filter_h: usize,
    pub filter_w: usize,
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullyConnectedOptions {
    pub activation: Activation,
    pub keep_num_dims: bool,
}

/// The operator of a node. Inputs follow TFLite's operand order (e.g. conv: input, filter, bias).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Conv2d(Conv2dOptions),
    DepthwiseConv2d(DepthwiseConv2dOptions),
    FullyConnected(FullyConnectedOptions),
    AveragePool2d(Pool2dOptions),
    MaxPool2d(Pool2dOptions),
    Add {
        activation: Activation,
    },
    Mul {
        activation: Activation,
    },
    Reshape,
    Squeeze {
        dims: Vec<i32>,
    },
    Softmax {
        beta: f32,
    },
    Logistic,
    Tanh,
    Relu,
    Relu6,
    Pad,
    Concatenation {
        axis: i32,
        activation: Activation,
    },
    Mean {
        keep_dims: bool,
    },
    Quantize,
    Dequantize,
    /// A CONV_2D whose output feeds only a residual ADD, fused by the planner (never read from
    /// files). Inputs: `[input, filter, bias, skip]`; the output is written in place over `skip`
    /// (the planner gives both the same arena offset). Each element is computed exactly as the
    /// unfused pair would: the conv's int8 result (quantized as `conv_out`, a tensor kept for its
    /// quantization parameters but never materialised), then the ADD with `skip`, so results stay
    /// bit-exact. `conv_is_first` keeps the ADD's operand order.
    Conv2dAdd {
        conv: Conv2dOptions,
        conv_out: TensorId,
        conv_is_first: bool,
        add_activation: Activation,
    },
}

impl Op {
    /// The TFLite builtin name, used in tables and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "CONV_2D",
            Op::DepthwiseConv2d(_) => "DEPTHWISE_CONV_2D",
            Op::FullyConnected(_) => "FULLY_CONNECTED",
            Op::AveragePool2d(_) => "AVERAGE_POOL_2D",
            Op::MaxPool2d(_) => "MAX_POOL_2D",
            Op::Add { .. } => "ADD",
            Op::Mul { .. } => "MUL",
            Op::Reshape => "RESHAPE",
            Op::Squeeze { .. } => "SQUEEZE",
            Op::Softmax { .. } => "SOFTMAX",
            Op::Logistic => "LOGISTIC",
            Op::Tanh => "TANH",
            Op::Relu => "RELU",
            Op::Relu6 => "RELU6",
            Op::Pad => "PAD",
            Op::Concatenation { .. } => "CONCATENATION",
            Op::Mean { .. } => "MEAN",
            Op::Quantize => "QUANTIZE",
            Op::Dequantize => "DEQUANTIZE",
            Op::Conv2dAdd { .. } => "CONV_2D+ADD",
        }
    }
}

/// The TFLite builtin names tinyforge executes, for "unsupported op" messages.
pub const SUPPORTED_OPS: &[&str] = &[
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "ADD",
    "MUL",
    "RESHAPE",
    "SQUEEZE",
    "SOFTMAX",
    "LOGISTIC",
    "TANH",
    "RELU",
    "RELU6",
    "PAD",
    "CONCATENATION",
    "MEAN",
    "QUANTIZE",
    "DEQUANTIZE",
];

/// One operation. `None` inputs are TFLite's optional operands (index −1), e.g. a missing bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
}

/// A whole model: tensors, nodes in execution order, graph inputs and outputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub name: String,
    pub tensors: Vec<Tensor>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}

impl Graph {
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id]
    }
    /// Appends a tensor and returns its id.
    pub fn add_tensor(&mut self, t: Tensor) -> TensorId {
        self.tensors.push(t);
        self.tensors.len() - 1
    }
}
