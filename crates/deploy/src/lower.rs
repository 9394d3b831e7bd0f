//! Lowering: a graph plus its arena layout becomes a flat list of kernel calls with every
//! constant resolved (TFLite Micro's "prepare", done once on the host).
//!
//! All numbers follow TFLite Micro's prepare code so the emitted kernels stay bit-exact:
//! per-channel multipliers from `(double)in_scale * (double)w_scale / (double)out_scale`,
//! fully-connected multipliers from the f32 product `in_scale * w_scale` widened to double,
//! activation bounds quantized in f32, ADD with a 20-bit left shift, softmax with 5 integer bits
//! for the scaled difference. Convolution and fully-connected biases are folded with the input
//! offset (`bias + in_offset·Σw`) so device inner loops multiply raw int8 values; the fold is
//! exact integer arithmetic (wrapping, as the device's int32 accumulator).
//!
//! Filters are stored the way that costs least: packed int4 / int2 weights stay packed (the
//! kernels read them in place), and an int8 conv / depthwise / fully-connected filter whose
//! `TFSR2` blob (the smallest one, exactly as `tinyforge_kernels::sparse::smallest_encoding`
//! and `encode_tfsr2` produce it, which is also what `tinyforge inspect` reports) is small
//! enough ([`SPARSE_MAX_RATIO`]; conv / FC rows of at least [`SPARSE_MIN_ROW`] weights) is
//! stored as that blob and run in place by the sparse kernels, which skip zeros. Depthwise
//! filters are judged by size alone (their rows are 9-tap channels, the row-length rule was
//! measured on conv rows) and stay dense when the plan runs them in place. The choice is made
//! per layer and recorded in [`Filter`] so the emitters can print it.
//!
//! Neighbours: [`crate::emit_c`] prints the result as C; `layout` supplies the arena offsets.
use crate::error::{DeployError, DeployResult};
use crate::layout::ArenaLayout;
use tinyforge_graph::{Activation, DType, Graph, Node, Op, Padding, Tensor, TensorId};
use tinyforge_kernels::fixedpoint::quantize_multiplier;
use tinyforge_kernels::packed::{PackedWeights, WeightBits};
use tinyforge_kernels::sparse::{Encoding, Layout};

/// Largest `TFSR2`-encoded / dense byte ratio at which an int8 conv, depthwise or
/// fully-connected filter is emitted sparse (≈ 70 % zeros or more with a bitmap body, ≈ 67 %
/// with a gap body).
pub const SPARSE_MAX_RATIO: f64 = 0.5;

/// Shortest filter row (weights per output channel) emitted sparse by default: 16-weight rows
/// ran slower sparse than with the dense SMLAD loop, as the per-output requantization, not the
/// MACs, dominates such short rows. Measured on the emulated Cortex-M4
/// (`bench/mcu_compressed.sh`, MNIST DS-CNN pruned to 80 %, instructions per inference): the
/// 32-weight-row 1×1 conv at 70 % zeros (bitmap body) runs in 244,321 instructions against
/// 279,193 dense (−12 %), the 64-weight-row one at 90 % zeros (gap body) in 285,039 against
/// 443,758 (−36 %); the whole inference 1,944,930 against 2,137,800 (−9.0 %).
pub const SPARSE_MIN_ROW: usize = 32;

/// How a filter is stored in flash and read by its kernel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WeightEnc {
    /// One int8 per weight.
    Int8,
    /// Packed sub-byte weights in the tensor's own layout, read in place.
    Packed(WeightBits),
    /// A `TFSR2` blob (header included; layout and block size in `enc`), executed in place
    /// by the sparse kernels. Depthwise rows are the output channels' taps.
    Sparse { enc: Encoding, data: Vec<u8> },
}

/// A conv / depthwise / fully-connected filter as the generated code stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub id: TensorId,
    pub enc: WeightEnc,
    /// Weights in the filter.
    pub elements: usize,
    /// Non-zero weights.
    pub nonzeros: usize,
}

impl Filter {
    /// Bytes the filter takes in flash as emitted.
    pub fn stored_bytes(&self) -> usize {
        match &self.enc {
            WeightEnc::Int8 => self.elements,
            WeightEnc::Packed(bits) => bits.bytes_for(self.elements),
            WeightEnc::Sparse { data, .. } => data.len(),
        }
    }

    /// Short name of the storage: `int8`, `int4`, `int2`, `sparse`.
    pub fn kind(&self) -> &'static str {
        match &self.enc {
            WeightEnc::Int8 => "int8",
            WeightEnc::Packed(WeightBits::I4) => "int4",
            WeightEnc::Packed(WeightBits::I2) => "int2",
            WeightEnc::Sparse { .. } => "sparse",
        }
    }

    /// Fraction of zero weights.
    pub fn sparsity(&self) -> f64 {
        1.0 - self.nonzeros as f64 / self.elements.max(1) as f64
    }

    /// One line for comments and summaries, e.g.
    /// `sparse 79 %, 412 B of 2,048 B (TFSR2 gaps, block 1)`.
    pub fn describe(&self) -> String {
        let dense = self.elements;
        match &self.enc {
            WeightEnc::Int8 => format!(
                "int8, {} B ({:.0} % zeros)",
                thousands(dense),
                100.0 * self.sparsity()
            ),
            WeightEnc::Packed(_) => format!(
                "{} packed, {} B of {} B as int8",
                self.kind(),
                thousands(self.stored_bytes()),
                thousands(dense)
            ),
            WeightEnc::Sparse { enc, .. } => format!(
                "sparse {:.0} %, {} B of {} B (TFSR2 {}, block {})",
                100.0 * self.sparsity(),
                thousands(self.stored_bytes()),
                thousands(dense),
                layout_name(enc.layout),
                enc.block
            ),
        }
    }
}

/// `2048` → `2,048`.
pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An NHWC shape with missing leading dimensions set to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Nhwc {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Nhwc {
    pub(crate) fn of_pub(t: &Tensor) -> DeployResult<Nhwc> {
        Nhwc::of(t)
    }

    fn of(t: &Tensor) -> DeployResult<Nhwc> {
        let s = &t.shape;
        if s.len() > 4 {
            return Err(DeployError::Unsupported(format!(
                "tensor {} has rank {} (at most 4 supported)",
                t.name,
                s.len()
            )));
        }
        let mut d = [1usize; 4];
        d[4 - s.len()..].copy_from_slice(s);
        Ok(Nhwc {
            n: d[0],
            h: d[1],
            w: d[2],
            c: d[3],
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AddP {
    pub in1_offset: i32,
    pub in2_offset: i32,
    pub out_offset: i32,
    pub in1_mult: i32,
    pub in2_mult: i32,
    pub out_mult: i32,
    pub in1_shift: i32,
    pub in2_shift: i32,
    pub out_shift: i32,
    pub left_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub k_h: usize,
    pub k_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dil_h: usize,
    pub dil_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kernel {
    Conv {
        input: Nhwc,
        output: Nhwc,
        win: Window,
        in_offset: i32,
        out_offset: i32,
        act: (i32, i32),
        filter: Filter,
        bias_folded: Vec<i32>,
        mult: Vec<i32>,
        shift: Vec<i32>,
        /// Fused residual add: params, skip tensor offset, conv_is_first.
        add: Option<(AddP, usize, bool)>,
    },
    Depthwise {
        input: Nhwc,
        output: Nhwc,
        win: Window,
        depth_mult: usize,
        in_offset: i32,
        out_offset: i32,
        act: (i32, i32),
        filter: Filter,
        bias: Vec<i32>,
        mult: Vec<i32>,
        shift: Vec<i32>,
    },
    FullyConnected {
        batches: usize,
        in_n: usize,
        out_n: usize,
        out_offset: i32,
        act: (i32, i32),
        /// One entry (per-tensor weights) or one per output.
        mult: Vec<i32>,
        shift: Vec<i32>,
        filter: Filter,
        bias_folded: Vec<i32>,
    },
    Pool {
        max: bool,
        input: Nhwc,
        output: Nhwc,
        win: Window,
        act: (i32, i32),
    },
    Add {
        p: AddP,
        other: usize,
        elements: usize,
    },
    /// Element-wise MUL of two same-shaped int8 tensors (TFLM's `MulElementwise`); `p` holds
    /// in1_offset, in2_offset, out_offset, multiplier, shift, act_min, act_max.
    Mul {
        p: [i32; 7],
        other: usize,
        elements: usize,
    },
    Softmax {
        rows: usize,
        depth: usize,
        in_mult: i32,
        in_left_shift: i32,
        diff_min: i32,
    },
    Copy {
        bytes: usize,
    },
    /// MEAN over H and W (global average pooling as Keras exports it).
    MeanHw {
        input: Nhwc,
        in_zp: i32,
        out_zp: i32,
        /// TFLM's multiplier and shift, before and after folding in `1 / (H·W)`.
        raw: (i32, i32),
        folded: (i32, i32),
    },
    /// CONCATENATION of same-quantized int8 tensors: for each of `outer` slices, the `inner`
    /// bytes of every input in order. `inputs` are (arena offset, inner bytes).
    Concat {
        outer: usize,
        inputs: Vec<(usize, usize)>,
    },
    /// PAD of a 4-D int8 tensor with its zero point (input and output share quantization).
    Pad {
        input: Nhwc,
        before: [usize; 4],
        after: [usize; 4],
        value: i8,
    },
    /// QUANTIZE float32 → int8: `clamp(round_half_away(x / scale) + zp)`, division in f32.
    QuantizeF32 {
        scale: f32,
        zero_point: i32,
        elements: usize,
    },
    /// DEQUANTIZE int8 → float32 through the 256 exact values (TFLM multiplies in double,
    /// which a Cortex-M4F would emulate in software).
    DequantizeLut {
        table: Vec<f32>,
        elements: usize,
    },
    /// An element-wise int8 → int8 map (RELU, RELU6, LOGISTIC, TANH): with 256 possible
    /// inputs, a table filled by the Rust kernels' own per-element functions is exact.
    Lut {
        table: Vec<i8>,
        elements: usize,
    },
}

/// One kernel call: reads `input` (arena offset), writes `output` (arena offset).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layer {
    pub node: usize,
    pub op: &'static str,
    pub input: usize,
    pub output: usize,
    pub kernel: Kernel,
    /// Multiply-accumulates of this layer (0 for data movement).
    pub macs: u64,
}

impl Layer {
    /// The layer's filter (conv, depthwise, fully connected).
    pub fn filter(&self) -> Option<&Filter> {
        match &self.kernel {
            Kernel::Conv { filter, .. }
            | Kernel::Depthwise { filter, .. }
            | Kernel::FullyConnected { filter, .. } => Some(filter),
            _ => None,
        }
    }
}

/// A graph input or output in the arena.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IoTensor {
    pub name: String,
    pub offset: usize,
    pub bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lowered {
    pub layers: Vec<Layer>,
    pub inputs: Vec<IoTensor>,
    pub outputs: Vec<IoTensor>,
    pub arena_bytes: usize,
    /// im2col / in-place scratch the kernels need (bytes, a static buffer beside the arena).
    pub scratch_bytes: usize,
}

fn tensor(g: &Graph, id: TensorId) -> DeployResult<&Tensor> {
    g.tensors
        .get(id)
        .ok_or_else(|| DeployError::Invalid(format!("tensor index {id} out of range")))
}

fn operand<'g>(g: &'g Graph, n: &Node, i: usize) -> DeployResult<(TensorId, &'g Tensor)> {
    let id = n
        .inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| DeployError::Invalid(format!("{}: operand {i} missing", n.op.name())))?;
    Ok((id, tensor(g, id)?))
}

/// Per-tensor (scale, zero point) of an int8 activation.
fn qparams(t: &Tensor) -> DeployResult<(f32, i32)> {
    if t.dtype != DType::I8 {
        return Err(DeployError::Unsupported(format!(
            "tensor {} is {}; the code generator emits int8 graphs",
            t.name,
            t.dtype.name()
        )));
    }
    let q = t.quant.as_ref().ok_or_else(|| {
        DeployError::Invalid(format!("int8 tensor {} has no quantization", t.name))
    })?;
    match (q.scale.first(), q.zero_point.first()) {
        (Some(&s), Some(&z)) if s.is_finite() && s > 0.0 && (-128..=127).contains(&z) => {
            Ok((s, z as i32))
        }
        _ => Err(DeployError::Invalid(format!(
            "tensor {} has an unusable scale/zero point",
            t.name
        ))),
    }
}

/// Packed sub-byte width of a weight type (`None` for whole bytes).
fn packed_bits(dtype: DType) -> Option<WeightBits> {
    match dtype {
        DType::I4 => Some(WeightBits::I4),
        DType::I2 => Some(WeightBits::I2),
        _ => None,
    }
}

/// The weights of a constant int8 / int4 / int2 filter as int8 values, and how they are stored.
fn filter_values(t: &Tensor) -> DeployResult<(Vec<i8>, WeightEnc)> {
    let n = t.elements();
    match (&t.data, t.dtype, packed_bits(t.dtype)) {
        (Some(d), DType::I8, _) if d.len() == n => {
            Ok((d.iter().map(|&b| b as i8).collect(), WeightEnc::Int8))
        }
        (Some(d), _, Some(bits)) => {
            let p = PackedWeights::new(d, bits, n).ok_or_else(|| {
                DeployError::Invalid(format!(
                    "weights {}: {} bytes of {} data for {n} elements ({} expected)",
                    t.name,
                    d.len(),
                    t.dtype.name(),
                    bits.bytes_for(n)
                ))
            })?;
            Ok((
                (0..n).map(|i| p.get(i) as i8).collect(),
                WeightEnc::Packed(bits),
            ))
        }
        _ => Err(DeployError::Unsupported(format!(
            "weights {} must be constant int8, int4 or int2 ({} given)",
            t.name,
            t.dtype.name()
        ))),
    }
}

/// `bitmap` or `gaps`, as `tinyforge inspect` names the `TFSR2` layouts.
pub(crate) fn layout_name(l: Layout) -> &'static str {
    match l {
        Layout::Bitmap => "bitmap",
        Layout::Gaps => "gaps",
    }
}

/// The smallest `TFSR2` blob of `rows` (`rows × row_len`, already in the encoding's row
/// order), when it takes at most [`SPARSE_MAX_RATIO`] of the dense bytes.
pub(crate) fn sparse_choice(rows_w: &[i8], rows: usize, row_len: usize) -> Option<WeightEnc> {
    use tinyforge_kernels::sparse::{encode_tfsr2, smallest_encoding};
    let (enc, len) = smallest_encoding(rows_w, rows, row_len, true).ok()?;
    if len as f64 > SPARSE_MAX_RATIO * rows_w.len() as f64 {
        return None;
    }
    let mut data = vec![0u8; len];
    encode_tfsr2(rows_w, rows, row_len, enc, &mut data).ok()?;
    Some(WeightEnc::Sparse { enc, data })
}

/// Which sparse storage a filter may get.
#[derive(Debug, Clone, Copy)]
enum SparseRows {
    /// Dense or packed only.
    No,
    /// Conv / FC: `rows` outputs of `row_len` weights, sparse when rows hold at least
    /// `min_row` weights (the Cortex-M4 speed rule) and the size rule holds.
    Rows {
        rows: usize,
        row_len: usize,
        min_row: usize,
    },
    /// Depthwise `[1, KH, KW, C]`: `C` rows of `taps`, size rule only (the kernel walks the
    /// blob once per output pixel; the row-length rule was measured for conv / FC rows).
    Depthwise { taps: usize, channels: usize },
}

/// The filter of a conv / depthwise / fully-connected layer with its int8 values (in the
/// tensor's own order).
fn filter_of(t: &Tensor, id: TensorId, sparse: SparseRows) -> DeployResult<(Filter, Vec<i8>)> {
    let (values, mut enc) = filter_values(t)?;
    if enc == WeightEnc::Int8 {
        let choice = match sparse {
            SparseRows::No => None,
            SparseRows::Rows {
                rows,
                row_len,
                min_row,
            } if row_len >= min_row && rows > 0 => sparse_choice(&values, rows, row_len),
            SparseRows::Rows { .. } => None,
            SparseRows::Depthwise { taps, channels } => {
                let mut rows_w = vec![0i8; values.len()];
                tinyforge_kernels::sparse::depthwise_rows(&values, taps, channels, &mut rows_w)
                    .ok()
                    .and_then(|()| sparse_choice(&rows_w, channels, taps))
            }
        };
        if let Some(s) = choice {
            enc = s;
        }
    }
    let filter = Filter {
        id,
        enc,
        elements: values.len(),
        nonzeros: values.iter().filter(|&&v| v != 0).count(),
    };
    Ok((filter, values))
}

/// Conv / FC sparse rule for `rows × row_len` under the lowering's `sparse` option.
fn rows_rule(sparse: Option<usize>, rows: usize, row_len: usize) -> SparseRows {
    match sparse {
        Some(min_row) => SparseRows::Rows {
            rows,
            row_len,
            min_row,
        },
        None => SparseRows::No,
    }
}

fn weight_scales(t: &Tensor, channels: usize) -> DeployResult<Vec<f32>> {
    let q = t
        .quant
        .as_ref()
        .ok_or_else(|| DeployError::Invalid(format!("weights {} have no quantization", t.name)))?;
    if q.zero_point.iter().any(|&z| z != 0) {
        return Err(DeployError::Unsupported(format!(
            "weights {} have a non-zero zero point (int8 weights are symmetric)",
            t.name
        )));
    }
    match q.scale.len() {
        1 => Ok(vec![q.scale[0]; channels]),
        n if n == channels => Ok(q.scale.clone()),
        n => Err(DeployError::Invalid(format!(
            "weights {}: {n} scales for {channels} channels",
            t.name
        ))),
    }
}

fn bias_values(g: &Graph, n: &Node, i: usize, channels: usize) -> DeployResult<Vec<i32>> {
    let Some(Some(id)) = n.inputs.get(i).copied() else {
        return Ok(vec![0; channels]);
    };
    let t = tensor(g, id)?;
    match (&t.data, t.dtype) {
        (Some(d), DType::I32) if d.len() == channels * 4 => Ok(d
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        _ => Err(DeployError::Unsupported(format!(
            "bias {} must be constant int32 with {channels} values",
            t.name
        ))),
    }
}

/// TFLM's `CalculateActivationRangeQuantized` for int8 (bounds quantized in f32).
pub(crate) fn act_range(act: Activation, scale: f32, zp: i32) -> (i32, i32) {
    let q = |f: f32| {
        let r = f / scale;
        // half away from zero, as std::round
        let r = if r >= 0.0 {
            (r + 0.5).floor()
        } else {
            -((-r + 0.5).floor())
        };
        zp.saturating_add(r.clamp(-1e9, 1e9) as i32)
    };
    match act {
        Activation::None => (-128, 127),
        Activation::Relu => ((-128).max(q(0.0)), 127),
        Activation::Relu6 => ((-128).max(q(0.0)), 127.min(q(6.0))),
        Activation::ReluN1To1 => ((-128).max(q(-1.0)), 127.min(q(1.0))),
    }
}

/// TFLite's padding for one axis given the output size it declares.
fn padding(input: usize, k: usize, stride: usize, dil: usize, output: usize) -> usize {
    let eff = (k - 1) * dil + 1;
    let total = ((output.saturating_sub(1)) * stride + eff).saturating_sub(input);
    total / 2
}

fn out_size(input: usize, k: usize, stride: usize, dil: usize, pad: Padding) -> Option<usize> {
    if stride == 0 || dil == 0 || k == 0 {
        return None;
    }
    let eff = (k - 1) * dil + 1;
    match pad {
        Padding::Same => Some(input.div_ceil(stride)),
        Padding::Valid if eff <= input => Some((input - eff + 1).div_ceil(stride)),
        Padding::Valid => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn window(
    node: usize,
    input: Nhwc,
    output: Nhwc,
    k: (usize, usize),
    stride: (usize, usize),
    dil: (usize, usize),
    pad: Padding,
) -> DeployResult<Window> {
    let oh = out_size(input.h, k.0, stride.0, dil.0, pad);
    let ow = out_size(input.w, k.1, stride.1, dil.1, pad);
    if oh != Some(output.h) || ow != Some(output.w) {
        return Err(DeployError::Invalid(format!(
            "node {node}: output {}x{} does not match the window over {}x{}",
            output.h, output.w, input.h, input.w
        )));
    }
    let fits16 = |v: usize| v <= u16::MAX as usize;
    if ![
        input.h, input.w, input.c, output.c, k.0, k.1, stride.0, stride.1, dil.0, dil.1,
    ]
    .into_iter()
    .all(fits16)
    {
        return Err(DeployError::Unsupported(format!(
            "node {node}: dimensions beyond 65535"
        )));
    }
    let win = Window {
        k_h: k.0,
        k_w: k.1,
        stride_h: stride.0,
        stride_w: stride.1,
        dil_h: dil.0,
        dil_w: dil.1,
        pad_h: padding(input.h, k.0, stride.0, dil.0, output.h),
        pad_w: padding(input.w, k.1, stride.1, dil.1, output.w),
    };
    Ok(win)
}

/// Conv and depthwise parameter structs hold the window geometry in bytes.
fn byte_window(node: usize, win: Window) -> DeployResult<Window> {
    let geometry = [
        win.k_h,
        win.k_w,
        win.stride_h,
        win.stride_w,
        win.dil_h,
        win.dil_w,
        win.pad_h,
        win.pad_w,
    ];
    if geometry.iter().any(|&v| v > u8::MAX as usize) {
        return Err(DeployError::Unsupported(format!(
            "node {node}: window geometry beyond 255 ({geometry:?})"
        )));
    }
    Ok(win)
}

/// TFLM's int8 ADD prepare for inputs (s1, z1), (s2, z2) into output (so, zo).
pub(crate) fn add_params(a: (f32, i32), b: (f32, i32), out: (f32, i32), act: Activation) -> AddP {
    let left_shift = 20;
    let twice_max = 2.0 * a.0.max(b.0) as f64;
    let (in1_mult, in1_shift) = quantize_multiplier(a.0 as f64 / twice_max);
    let (in2_mult, in2_shift) = quantize_multiplier(b.0 as f64 / twice_max);
    let (out_mult, out_shift) =
        quantize_multiplier(twice_max / ((1i64 << left_shift) as f64 * out.0 as f64));
    let (act_min, act_max) = act_range(act, out.0, out.1);
    AddP {
        in1_offset: -a.1,
        in2_offset: -b.1,
        out_offset: out.1,
        in1_mult,
        in2_mult,
        out_mult,
        in1_shift,
        in2_shift,
        out_shift,
        left_shift,
        act_min,
        act_max,
    }
}

/// `bias[o] + in_offset · Σ_k w[o][k]`, wrapping like the int32 accumulator.
fn fold_bias(bias: &[i32], weights: &[i8], k: usize, in_offset: i32) -> Vec<i32> {
    bias.iter()
        .enumerate()
        .map(|(o, &b)| {
            let s: i32 = weights[o * k..(o + 1) * k].iter().map(|&w| w as i32).sum();
            b.wrapping_add(in_offset.wrapping_mul(s))
        })
        .collect()
}

fn offset_of(layout: &dyn ArenaLayout, g: &Graph, id: TensorId) -> DeployResult<usize> {
    let t = tensor(g, id)?;
    let off = layout.offset(id).ok_or_else(|| {
        DeployError::Invalid(format!("tensor {} ({id}) has no arena offset", t.name))
    })?;
    if off + t.bytes() > layout.arena_bytes() {
        return Err(DeployError::Invalid(format!(
            "tensor {} at offset {off} ({} bytes) overruns the {}-byte arena",
            t.name,
            t.bytes(),
            layout.arena_bytes()
        )));
    }
    Ok(off)
}

#[allow(clippy::too_many_arguments)]
fn lower_conv(
    g: &Graph,
    n: &Node,
    idx: usize,
    opts: &tinyforge_graph::Conv2dOptions,
    conv_out: TensorId,
    out_id: TensorId,
    fused: Option<(TensorId, bool, Activation)>,
    layout: &dyn ArenaLayout,
    sparse: Option<usize>,
) -> DeployResult<(Kernel, u64)> {
    let (_, x) = operand(g, n, 0)?;
    let (_, w) = operand(g, n, 1)?;
    let co = tensor(g, conv_out)?;
    let (input, output) = (Nhwc::of(x)?, Nhwc::of(co)?);
    let (xs, xz) = qparams(x)?;
    let (os, oz) = qparams(co)?;
    if w.shape.len() != 4 || w.shape[3] != input.c || w.shape[0] != output.c {
        return Err(DeployError::Unsupported(format!(
            "node {idx}: conv filter {:?} over input channels {} (grouped convolution is not emitted)",
            w.shape, input.c
        )));
    }
    if input.n != output.n {
        return Err(DeployError::Invalid(format!("node {idx}: batch mismatch")));
    }
    let win = byte_window(
        idx,
        window(
            idx,
            input,
            output,
            (w.shape[1], w.shape[2]),
            (opts.stride_h, opts.stride_w),
            (opts.dilation_h, opts.dilation_w),
            opts.padding,
        )?,
    )?;
    let k = w.shape[1] * w.shape[2] * w.shape[3];
    let w_id = n.inputs[1].unwrap_or_default();
    let (filter, wd) = filter_of(w, w_id, rows_rule(sparse, output.c, k))?;
    let scales = weight_scales(w, output.c)?;
    let (mult, shift): (Vec<i32>, Vec<i32>) = scales
        .iter()
        .map(|&s| quantize_multiplier(xs as f64 * s as f64 / os as f64))
        .unzip();
    let bias = bias_values(g, n, 2, output.c)?;
    let add = match fused {
        None => None,
        Some((skip, conv_is_first, add_act)) => {
            let st = tensor(g, skip)?;
            let ot = tensor(g, out_id)?;
            if st.shape != co.shape || ot.shape != co.shape {
                return Err(DeployError::Unsupported(format!(
                    "node {idx}: fused add with broadcasting"
                )));
            }
            let (sq, oq) = (qparams(st)?, qparams(ot)?);
            let p = if conv_is_first {
                add_params((os, oz), sq, oq, add_act)
            } else {
                add_params(sq, (os, oz), oq, add_act)
            };
            Some((p, offset_of(layout, g, skip)?, conv_is_first))
        }
    };
    let macs = (output.n * output.h * output.w * output.c * k) as u64;
    Ok((
        Kernel::Conv {
            input,
            output,
            win,
            in_offset: -xz,
            out_offset: oz,
            act: act_range(opts.activation, os, oz),
            filter,
            bias_folded: fold_bias(&bias, &wd, k, -xz),
            mult,
            shift,
            add,
        },
        macs,
    ))
}

/// Lowers every node of `g` (in order) against `layout`; `sparse` (the shortest row allowed)
/// lets int8 conv / FC filters be stored in the sparse encoding where it pays off.
pub(crate) fn lower(
    g: &Graph,
    layout: &dyn ArenaLayout,
    sparse: Option<usize>,
) -> DeployResult<Lowered> {
    if let Some((tensors, nodes)) = layout.graph_size() {
        if (tensors, nodes) != (g.tensors.len(), g.nodes.len()) {
            return Err(DeployError::Invalid(format!(
                "the layout was planned for a graph of {tensors} tensors and {nodes} nodes, \
                 this one has {} and {} (emit the plan's own, fused, graph)",
                g.tensors.len(),
                g.nodes.len()
            )));
        }
    }
    let mut layers = Vec::with_capacity(g.nodes.len());
    let mut scratch = 0usize;
    for (idx, n) in g.nodes.iter().enumerate() {
        let out_id = *n
            .outputs
            .first()
            .ok_or_else(|| DeployError::Invalid(format!("node {idx} has no output")))?;
        let out_t = tensor(g, out_id)?;
        let (in_id, in_t) = operand(g, n, 0)?;
        let input_off = offset_of(layout, g, in_id)?;
        let output_off = offset_of(layout, g, out_id)?;
        let (kernel, macs) = match &n.op {
            Op::Conv2d(o) => lower_conv(g, n, idx, o, out_id, out_id, None, layout, sparse)?,
            Op::Conv2dAdd {
                conv,
                conv_out,
                conv_is_first,
                add_activation,
            } => {
                let (skip, _) = operand(g, n, 3)?;
                lower_conv(
                    g,
                    n,
                    idx,
                    conv,
                    *conv_out,
                    out_id,
                    Some((skip, *conv_is_first, *add_activation)),
                    layout,
                    sparse,
                )?
            }
            Op::DepthwiseConv2d(o) => {
                let (_, w) = operand(g, n, 1)?;
                let (input, output) = (Nhwc::of(in_t)?, Nhwc::of(out_t)?);
                let (xs, xz) = qparams(in_t)?;
                let (os, oz) = qparams(out_t)?;
                if w.shape.len() != 4 || w.shape[3] != output.c || input.c == 0 {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: depthwise filter {:?}",
                        w.shape
                    )));
                }
                let dm = output.c / input.c;
                if dm * input.c != output.c {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: {} output channels from {} input channels",
                        output.c, input.c
                    )));
                }
                let win = byte_window(
                    idx,
                    window(
                        idx,
                        input,
                        output,
                        (w.shape[1], w.shape[2]),
                        (o.stride_h, o.stride_w),
                        (o.dilation_h, o.dilation_w),
                        o.padding,
                    )?,
                )?;
                // In place the output overwrites input pixels later pixels still read; only
                // the dense kernel has the channel-at-a-time path for that.
                let dw_sparse = if sparse.is_some() && input_off != output_off {
                    SparseRows::Depthwise {
                        taps: w.shape[1] * w.shape[2],
                        channels: output.c,
                    }
                } else {
                    SparseRows::No
                };
                let (filter, _) = filter_of(w, n.inputs[1].unwrap_or_default(), dw_sparse)?;
                let scales = weight_scales(w, output.c)?;
                let (mult, shift) = scales
                    .iter()
                    .map(|&s| quantize_multiplier(xs as f64 * s as f64 / os as f64))
                    .unzip();
                if input_off == output_off && dm != 1 {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: in-place depthwise needs depth multiplier 1"
                    )));
                }
                if input_off == output_off {
                    scratch = scratch.max(output.h * output.w);
                }
                let macs = (output.n * output.h * output.w * output.c * win.k_h * win.k_w) as u64;
                (
                    Kernel::Depthwise {
                        input,
                        output,
                        win,
                        depth_mult: dm,
                        in_offset: -xz,
                        out_offset: oz,
                        act: act_range(o.activation, os, oz),
                        filter,
                        bias: bias_values(g, n, 2, output.c)?,
                        mult,
                        shift,
                    },
                    macs,
                )
            }
            Op::FullyConnected(o) => {
                let (_, w) = operand(g, n, 1)?;
                if w.shape.len() != 2 || w.shape[1] == 0 {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: fully-connected weights {:?}",
                        w.shape
                    )));
                }
                let (out_n, in_n) = (w.shape[0], w.shape[1]);
                if in_t.elements() % in_n != 0 || out_t.elements() != in_t.elements() / in_n * out_n
                {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: input {:?} / weights {:?} / output {:?}",
                        in_t.shape, w.shape, out_t.shape
                    )));
                }
                let (xs, xz) = qparams(in_t)?;
                let (os, oz) = qparams(out_t)?;
                let per_channel = w.quant.as_ref().is_some_and(|q| q.scale.len() > 1);
                let ws = weight_scales(w, out_n)?;
                let (mult, shift): (Vec<i32>, Vec<i32>) = if per_channel {
                    ws.iter()
                        .map(|&s| quantize_multiplier(xs as f64 * s as f64 / os as f64))
                        .unzip()
                } else {
                    // TFLM multiplies the two f32 scales in f32 before widening.
                    let (m, s) = quantize_multiplier((xs * ws[0]) as f64 / os as f64);
                    (vec![m], vec![s])
                };
                let bias = bias_values(g, n, 2, out_n)?;
                let (filter, wd) = filter_of(
                    w,
                    n.inputs[1].unwrap_or_default(),
                    rows_rule(sparse, out_n, in_n),
                )?;
                let batches = in_t.elements() / in_n;
                if batches > u16::MAX as usize
                    || in_n > u16::MAX as usize
                    || out_n > u16::MAX as usize
                {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: dimensions beyond 65535"
                    )));
                }
                (
                    Kernel::FullyConnected {
                        batches,
                        in_n,
                        out_n,
                        out_offset: oz,
                        act: act_range(o.activation, os, oz),
                        mult,
                        shift,
                        filter,
                        bias_folded: fold_bias(&bias, &wd, in_n, -xz),
                    },
                    (batches * in_n * out_n) as u64,
                )
            }
            Op::AveragePool2d(o) | Op::MaxPool2d(o) => {
                let (input, output) = (Nhwc::of(in_t)?, Nhwc::of(out_t)?);
                let (xq, oq) = (qparams(in_t)?, qparams(out_t)?);
                if xq != oq {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: pooling that changes quantization"
                    )));
                }
                let win = window(
                    idx,
                    input,
                    output,
                    (o.filter_h, o.filter_w),
                    (o.stride_h, o.stride_w),
                    (1, 1),
                    o.padding,
                )?;
                (
                    Kernel::Pool {
                        max: matches!(n.op, Op::MaxPool2d(_)),
                        input,
                        output,
                        win,
                        act: act_range(o.activation, oq.0, oq.1),
                    },
                    0,
                )
            }
            Op::Add { activation } => {
                let (b_id, b_t) = operand(g, n, 1)?;
                if in_t.shape != b_t.shape || out_t.shape != in_t.shape {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: ADD with broadcasting ({:?} + {:?})",
                        in_t.shape, b_t.shape
                    )));
                }
                let p = add_params(qparams(in_t)?, qparams(b_t)?, qparams(out_t)?, *activation);
                (
                    Kernel::Add {
                        p,
                        other: offset_of(layout, g, b_id)?,
                        elements: out_t.elements(),
                    },
                    0,
                )
            }
            Op::Mul { activation } => {
                use tinyforge_kernels::elementwise::mul_s8::MulParamsS8;
                use tinyforge_kernels::quantize::QuantParams;
                let (b_id, b_t) = operand(g, n, 1)?;
                if in_t.shape != b_t.shape || out_t.shape != in_t.shape {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: MUL with broadcasting ({:?} * {:?})",
                        in_t.shape, b_t.shape
                    )));
                }
                let (a, b, o) = (qparams(in_t)?, qparams(b_t)?, qparams(out_t)?);
                let act = match activation {
                    Activation::None => tinyforge_kernels::conv::FusedActivation::None,
                    Activation::Relu => tinyforge_kernels::conv::FusedActivation::Relu,
                    Activation::Relu6 => tinyforge_kernels::conv::FusedActivation::Relu6,
                    Activation::ReluN1To1 => tinyforge_kernels::conv::FusedActivation::ReluN1To1,
                };
                let p = MulParamsS8::prepare::<i8>(
                    QuantParams::new(a.0, a.1),
                    QuantParams::new(b.0, b.1),
                    QuantParams::new(o.0, o.1),
                    act,
                )
                .map_err(|e| DeployError::Unsupported(format!("node {idx} (MUL): {e:?}")))?;
                (
                    Kernel::Mul {
                        p: [
                            p.input1_offset,
                            p.input2_offset,
                            p.output_offset,
                            p.output_multiplier,
                            p.output_shift,
                            p.act_min,
                            p.act_max,
                        ],
                        other: offset_of(layout, g, b_id)?,
                        elements: out_t.elements(),
                    },
                    0,
                )
            }
            Op::Softmax { beta } => {
                let (xs, _) = qparams(in_t)?;
                let (os, oz) = qparams(out_t)?;
                if os != 1.0 / 256.0 || oz != -128 {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: int8 softmax output must have scale 1/256, zero point -128"
                    )));
                }
                let depth = *in_t.shape.last().unwrap_or(&1);
                if depth == 0 || depth > u16::MAX as usize {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: softmax depth {depth}"
                    )));
                }
                let (in_mult, in_left_shift, diff_min) = softmax_params(*beta, xs);
                (
                    Kernel::Softmax {
                        rows: in_t.elements() / depth,
                        depth,
                        in_mult,
                        in_left_shift,
                        diff_min,
                    },
                    0,
                )
            }
            Op::Concatenation { axis, activation } => {
                let rank = out_t.shape.len() as i32;
                let ax = if *axis < 0 { axis + rank } else { *axis };
                if !(0..rank).contains(&ax) || *activation != Activation::None {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: CONCATENATION on axis {axis} with {activation:?}"
                    )));
                }
                let ax = ax as usize;
                let oq = qparams(out_t)?;
                let outer: usize = out_t.shape[..ax].iter().product();
                let mut inputs = Vec::new();
                for i in 0..n.inputs.len() {
                    let (id, t) = operand(g, n, i)?;
                    if qparams(t)? != oq || t.shape.len() != out_t.shape.len() {
                        return Err(DeployError::Unsupported(format!(
                            "node {idx}: CONCATENATION inputs must share the output's rank and \
                             quantization (TFLite Micro requires it for int8)"
                        )));
                    }
                    inputs.push((
                        offset_of(layout, g, id)?,
                        t.shape[ax..].iter().product::<usize>(),
                    ));
                }
                if outer * inputs.iter().map(|i| i.1).sum::<usize>() != out_t.elements() {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: inputs do not add up to the output"
                    )));
                }
                (Kernel::Concat { outer, inputs }, 0)
            }
            Op::Pad => {
                use tinyforge_kernels::movement::pad::Paddings;
                let (_, pt) = operand(g, n, 1)?;
                let flat: Vec<i32> = match (&pt.data, pt.dtype) {
                    (Some(d), DType::I32) => d
                        .chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                    _ => {
                        return Err(DeployError::Unsupported(format!(
                            "node {idx}: PAD paddings must be a constant int32 tensor"
                        )))
                    }
                };
                if flat.len() != 2 * in_t.shape.len() {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: {} padding values for a rank-{} input",
                        flat.len(),
                        in_t.shape.len()
                    )));
                }
                let pairs: Vec<[i32; 2]> = flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
                let p = Paddings::from_tflite(&pairs)
                    .map_err(|e| DeployError::Unsupported(format!("node {idx} (PAD): {e:?}")))?;
                let (xq, oq) = (qparams(in_t)?, qparams(out_t)?);
                if xq != oq {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: PAD with different input and output quantization"
                    )));
                }
                let input = Nhwc::of(in_t)?;
                let padded = [
                    input.n + p.before[0] + p.after[0],
                    input.h + p.before[1] + p.after[1],
                    input.w + p.before[2] + p.after[2],
                    input.c + p.before[3] + p.after[3],
                ];
                if padded.iter().product::<usize>() != out_t.elements()
                    || padded
                        .iter()
                        .chain(&p.before)
                        .chain(&p.after)
                        .any(|&v| v > u16::MAX as usize)
                {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: output is not the padded input"
                    )));
                }
                (
                    Kernel::Pad {
                        input,
                        before: p.before,
                        after: p.after,
                        value: oq.1 as i8,
                    },
                    0,
                )
            }
            Op::Quantize | Op::Dequantize => {
                use tinyforge_kernels::quantize::dequantize::DequantizeParams;
                use tinyforge_kernels::quantize::requantize::RequantizeParams;
                use tinyforge_kernels::quantize::QuantParams;
                if in_t.elements() != out_t.elements() {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: {} changes the element count",
                        n.op.name()
                    )));
                }
                let kerr =
                    |e| DeployError::Unsupported(format!("node {idx} ({}): {e:?}", n.op.name()));
                let elements = out_t.elements();
                let quant_of = |t: &Tensor| -> DeployResult<(f32, i32)> {
                    let q = t.quant.as_ref().ok_or_else(|| {
                        DeployError::Invalid(format!("{} has no quantization", t.name))
                    })?;
                    match (q.scale.first(), q.zero_point.first()) {
                        (Some(&s), Some(&z)) if q.scale.len() == 1 => Ok((s, z as i32)),
                        _ => Err(DeployError::Unsupported(format!(
                            "{}: per-channel activation quantization",
                            t.name
                        ))),
                    }
                };
                match (&n.op, in_t.dtype, out_t.dtype) {
                    (Op::Quantize, DType::F32, DType::I8) => {
                        let (scale, zero_point) = qparams(out_t)?;
                        (
                            Kernel::QuantizeF32 {
                                scale,
                                zero_point,
                                elements,
                            },
                            0,
                        )
                    }
                    (Op::Quantize, DType::I8, DType::I8) => {
                        let (i, o) = (qparams(in_t)?, qparams(out_t)?);
                        let p = RequantizeParams::prepare::<i8, i8>(
                            QuantParams::new(i.0, i.1),
                            QuantParams::new(o.0, o.1),
                        )
                        .map_err(kerr)?;
                        let table = (0..=255u8)
                            .map(|b| p.requantize_one::<i8, i8>(b as i8))
                            .collect();
                        (Kernel::Lut { table, elements }, 0)
                    }
                    (Op::Dequantize, DType::I8, DType::F32) => {
                        let (s, z) = quant_of(in_t)?;
                        let p = DequantizeParams::prepare::<i8>(QuantParams::new(s, z))
                            .map_err(kerr)?;
                        let table = (0..=255u8).map(|b| p.dequantize_one(b as i8)).collect();
                        (Kernel::DequantizeLut { table, elements }, 0)
                    }
                    (op, a, b) => {
                        return Err(DeployError::Unsupported(format!(
                            "node {idx}: {} from {} to {}",
                            op.name(),
                            a.name(),
                            b.name()
                        )))
                    }
                }
            }
            Op::Relu | Op::Relu6 | Op::Logistic | Op::Tanh => {
                if in_t.elements() != out_t.elements() {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: element-wise op changes the element count"
                    )));
                }
                (
                    Kernel::Lut {
                        table: unary_table(&n.op, qparams(in_t)?, qparams(out_t)?).map_err(
                            |e| {
                                DeployError::Unsupported(format!(
                                    "node {idx} ({}): {e:?}",
                                    n.op.name()
                                ))
                            },
                        )?,
                        elements: out_t.elements(),
                    },
                    0,
                )
            }
            Op::Mean { .. } => {
                use tinyforge_kernels::quantize::QuantParams;
                use tinyforge_kernels::reduce::mean_s8::{mean_multiplier, MeanParamsS8};
                let (_, axes_t) = operand(g, n, 1)?;
                let axes: Vec<i32> = match (&axes_t.data, axes_t.dtype) {
                    (Some(d), DType::I32) => d
                        .chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                    _ => {
                        return Err(DeployError::Unsupported(format!(
                            "node {idx}: MEAN axes must be a constant int32 tensor"
                        )))
                    }
                };
                let input = Nhwc::of(in_t)?;
                let (xq, oq) = (qparams(in_t)?, qparams(out_t)?);
                let p = MeanParamsS8::prepare::<i8>(
                    QuantParams::new(xq.0, xq.1),
                    QuantParams::new(oq.0, oq.1),
                    &axes,
                    true,
                )
                .map_err(|e| DeployError::Unsupported(format!("node {idx} (MEAN): {e:?}")))?;
                if in_t.shape.len() != 4 || p.axes.0 != [false, true, true, false] {
                    return Err(DeployError::Unsupported(format!(
                        "node {idx}: MEAN over axes {axes:?} (only H and W of a 4-D input)"
                    )));
                }
                let count = (input.h * input.w) as i64;
                (
                    Kernel::MeanHw {
                        input,
                        in_zp: xq.1,
                        out_zp: oq.1,
                        raw: (p.multiplier, p.shift),
                        folded: mean_multiplier(p.multiplier, p.shift, count),
                    },
                    0,
                )
            }
            Op::Reshape | Op::Squeeze { .. } => {
                if in_t.bytes() != out_t.bytes() {
                    return Err(DeployError::Invalid(format!(
                        "node {idx}: reshape changes the byte count"
                    )));
                }
                (
                    Kernel::Copy {
                        bytes: out_t.bytes(),
                    },
                    0,
                )
            }
            // every op of today's IR is handled; ops added to the IR later land here
            #[allow(unreachable_patterns)]
            other => {
                return Err(DeployError::Unsupported(format!(
                    "op {} (node {idx}) has no microcontroller kernel yet",
                    other.name()
                )))
            }
        };
        if let Kernel::Conv {
            input, win, filter, ..
        } = &kernel
        {
            let direct = win.k_h == 1 && win.k_w == 1 && win.pad_h == 0 && win.pad_w == 0;
            // patches gathered per pass (as tf_conv2d_s8_scratch): two for the dense and
            // packed kernels unless 1×1, four sparse; block 1 interleaves them into a tile
            // even for 1×1 convolutions
            let patches = match &filter.enc {
                WeightEnc::Sparse { enc, .. } if enc.block == 1 => 4,
                WeightEnc::Sparse { .. } if !direct => 4,
                _ if !direct => 2,
                _ => 0,
            };
            scratch = scratch.max(patches * win.k_h * win.k_w * input.c);
        }
        layers.push(Layer {
            node: idx,
            op: n.op.name(),
            input: input_off,
            output: output_off,
            kernel,
            macs,
        });
    }
    let io = |ids: &[TensorId]| -> DeployResult<Vec<IoTensor>> {
        ids.iter()
            .map(|&id| {
                let t = tensor(g, id)?;
                // float32 inputs/outputs come with a QUANTIZE / DEQUANTIZE node
                if t.dtype != DType::F32 {
                    qparams(t)?;
                }
                Ok(IoTensor {
                    name: t.name.clone(),
                    offset: offset_of(layout, g, id)?,
                    bytes: t.bytes(),
                })
            })
            .collect()
    };
    Ok(Lowered {
        layers,
        inputs: io(&g.inputs)?,
        outputs: io(&g.outputs)?,
        arena_bytes: layout.arena_bytes(),
        scratch_bytes: scratch,
    })
}

/// The 256-entry table of an element-wise int8 op, indexed by the input byte (`x as u8`),
/// computed with `tinyforge-kernels`' prepare and per-element functions.
pub(crate) fn unary_table(
    op: &Op,
    input: (f32, i32),
    output: (f32, i32),
) -> Result<Vec<i8>, tinyforge_kernels::KernelError> {
    use tinyforge_kernels::activation::logistic_s8::{logistic_s8_one, LogisticParamsS8};
    use tinyforge_kernels::activation::relu_s8::{Relu6ParamsS8, ReluParamsS8};
    use tinyforge_kernels::activation::tanh_s8::{prepare_tanh_s8, tanh_s8_one};
    use tinyforge_kernels::quantize::QuantParams;
    let (i, o) = (
        QuantParams::new(input.0, input.1),
        QuantParams::new(output.0, output.1),
    );
    let f: Box<dyn Fn(i8) -> i8> = match op {
        Op::Relu => {
            let p = ReluParamsS8::prepare(i, o)?;
            Box::new(move |x| p.apply(x))
        }
        Op::Relu6 => {
            let p = Relu6ParamsS8::prepare(i)?;
            // TFLM checks the upper bound first
            Box::new(move |x| {
                if x > p.six {
                    p.six
                } else if x < p.zero {
                    p.zero
                } else {
                    x
                }
            })
        }
        Op::Logistic => {
            let p = LogisticParamsS8::prepare(i, o)?;
            Box::new(move |x| logistic_s8_one(&p, x))
        }
        Op::Tanh => {
            let p = prepare_tanh_s8(i, o)?;
            Box::new(move |x| tanh_s8_one(&p, x))
        }
        _ => return Err(tinyforge_kernels::KernelError::BadParams),
    };
    Ok((0..=255u8).map(|b| f(b as i8)).collect())
}

/// TFLM's int8 softmax prepare: (input multiplier, left shift, diff_min) for 5 integer bits.
pub(crate) fn softmax_params(beta: f32, input_scale: f32) -> (i32, i32, i32) {
    const INTEGER_BITS: i32 = 5;
    let real = (beta as f64 * input_scale as f64 * (1i64 << (31 - INTEGER_BITS)) as f64)
        .min(((1i64 << 31) - 1) as f64);
    let (mult, shift) = quantize_multiplier(real);
    let max_input_rescaled = ((1i64 << INTEGER_BITS) - 1) as f64
        * (1i64 << (31 - INTEGER_BITS)) as f64
        / (1i64 << shift) as f64;
    (mult, shift, -(max_input_rescaled.floor() as i32))
}

#[cfg(test)]
mod tests {
    //! The generator's prepare must agree with `tinyforge-kernels`' prepare: both target TFLite
    //! Micro, and the emitted C is only bit-exact with the Rust kernels if the constants match.
    use super::*;
    use tinyforge_kernels::activation::softmax_s8::SoftmaxParamsS8;
    use tinyforge_kernels::conv::quant::{activation_range_s8, FusedActivation};
    use tinyforge_kernels::elementwise::add_s8::AddParamsS8;
    use tinyforge_kernels::padding::{compute_padding, Padding as KPadding};
    use tinyforge_kernels::quantize::QuantParams;

    const ACTS: [(Activation, FusedActivation); 4] = [
        (Activation::None, FusedActivation::None),
        (Activation::Relu, FusedActivation::Relu),
        (Activation::Relu6, FusedActivation::Relu6),
        (Activation::ReluN1To1, FusedActivation::ReluN1To1),
    ];

    #[test]
    fn activation_ranges_match_the_kernels() {
        for (scale, zp) in [
            (0.02f32, -128),
            (0.023529412, -5),
            (1.0 / 256.0, 7),
            (0.5, 100),
        ] {
            for (a, k) in ACTS {
                assert_eq!(
                    act_range(a, scale, zp),
                    activation_range_s8(k, scale, zp).unwrap(),
                    "{a:?} {scale} {zp}"
                );
            }
        }
    }

    #[test]
    fn padding_matches_the_kernels() {
        for input in 1..20 {
            for k in 1..6 {
                for stride in 1..4 {
                    for dil in 1..3 {
                        for (pad, kp) in [
                            (Padding::Same, KPadding::Same),
                            (Padding::Valid, KPadding::Valid),
                        ] {
                            let Some(out) = out_size(input, k, stride, dil, pad) else {
                                // refused here; the kernels refuse too or yield an empty output
                                let k = compute_padding(input, k, stride, dil, kp);
                                assert!(k.is_err() || k.is_ok_and(|(_, out)| out == 0));
                                continue;
                            };
                            let (before, kout) =
                                compute_padding(input, k, stride, dil, kp).unwrap();
                            assert_eq!((padding(input, k, stride, dil, out), out), (before, kout));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn add_params_match_the_kernels() {
        let q = [(0.05f32, -3), (0.11, 9), (0.031, -128)];
        for &a in &q {
            for &b in &q {
                for &o in &q {
                    let mine = add_params(a, b, o, Activation::Relu);
                    let k = AddParamsS8::prepare::<i8>(
                        QuantParams::new(a.0, a.1),
                        QuantParams::new(b.0, b.1),
                        QuantParams::new(o.0, o.1),
                        FusedActivation::Relu,
                    )
                    .unwrap();
                    assert_eq!(
                        (mine.in1_mult, mine.in1_shift, mine.in2_mult, mine.in2_shift),
                        (
                            k.input1_multiplier,
                            k.input1_shift,
                            k.input2_multiplier,
                            k.input2_shift
                        )
                    );
                    assert_eq!(
                        (mine.out_mult, mine.out_shift, mine.left_shift),
                        (k.output_multiplier, k.output_shift, k.left_shift)
                    );
                    assert_eq!(
                        (
                            mine.in1_offset,
                            mine.in2_offset,
                            mine.out_offset,
                            mine.act_min,
                            mine.act_max
                        ),
                        (
                            k.input1_offset,
                            k.input2_offset,
                            k.output_offset,
                            k.act_min,
                            k.act_max
                        )
                    );
                }
            }
        }
    }

    #[test]
    fn softmax_params_match_the_kernels() {
        for scale in [0.0390625f32, 0.1, 0.25, 1.7, 0.003] {
            for beta in [1.0f32, 0.5] {
                let k = SoftmaxParamsS8::prepare::<i8>(
                    beta,
                    QuantParams::new(scale, 3),
                    QuantParams::new(1.0 / 256.0, -128),
                )
                .unwrap();
                assert_eq!(
                    softmax_params(beta, scale),
                    (k.input_multiplier, k.input_left_shift, k.diff_min),
                    "{scale} {beta}"
                );
            }
        }
    }

    #[test]
    fn folded_bias_equals_the_offset_sum() {
        // two output rows of three weights; in_offset 5
        let w = [1i8, -2, 3, -128, 127, 0];
        assert_eq!(fold_bias(&[10, -10], &w, 3, 5), vec![10 + 5 * 2, -10 - 5]);
    }
}
