//! Prepared steps and their execution: one [`Step`] per node, holding the kernel parameters
//! computed once by [`crate::prepare`] and the arena regions of its operands.
//!
//! Running a step binds its regions to the arena (inputs shared, output exclusive, see
//! [`crate::arena`]), then calls one kernel. Inputs that overlap the output — known at prepare
//! time, since the plan is static — are copied to the staging buffer first, so every kernel sees
//! disjoint slices; the only true in-place kernel is the fused conv + add, which writes over
//! its skip operand by design.
use tinyforge_graph::{Graph, TensorId};
use tinyforge_kernels as k;
use tinyforge_kernels::conv::{AddOperandOrder, AddS8Params, Conv2dF32Params, Conv2dS8Params};
use tinyforge_kernels::depthwise::{DepthwiseF32Params, DepthwiseS8Params};
use tinyforge_kernels::fully_connected::{FullyConnectedF32Params, FullyConnectedS8Params};
use tinyforge_kernels::{KernelError, Shape4};

use crate::arena::{as_f32, as_f32_mut, as_i8, as_i8_mut, split_out, Region};
use crate::error::{RuntimeError, RuntimeResult};

/// One activation operand of a step.
#[derive(Debug, Clone)]
pub(crate) struct In {
    pub region: Region,
    /// Offset in the staging buffer when the region overlaps the step's output.
    pub staged: Option<usize>,
    /// Index into [`Step::consts`] when the operand is a constant (e.g. ADD with a bias).
    pub konst: Option<usize>,
}

/// The int8 conv parameters, owned (the kernel's `Params` borrows its per-channel arrays).
#[derive(Debug, Clone)]
pub(crate) struct ConvS8 {
    pub input_shape: Shape4,
    pub filter_shape: Shape4,
    pub output_shape: Shape4,
    pub geometry: k::conv::ConvGeometry,
    pub input_offset: i32,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub multipliers: Vec<i32>,
    pub shifts: Vec<i32>,
}

impl ConvS8 {
    pub fn from_params(p: &Conv2dS8Params<'_>) -> Self {
        ConvS8 {
            input_shape: p.input_shape,
            filter_shape: p.filter_shape,
            output_shape: p.output_shape,
            geometry: p.geometry,
            input_offset: p.input_offset,
            output_offset: p.output_offset,
            act_min: p.act_min,
            act_max: p.act_max,
            multipliers: p.output_multiplier.to_vec(),
            shifts: p.output_shift.to_vec(),
        }
    }
    pub fn params(&self) -> Conv2dS8Params<'_> {
        Conv2dS8Params {
            input_shape: self.input_shape,
            filter_shape: self.filter_shape,
            output_shape: self.output_shape,
            geometry: self.geometry,
            input_offset: self.input_offset,
            output_offset: self.output_offset,
            act_min: self.act_min,
            act_max: self.act_max,
            output_multiplier: &self.multipliers,
            output_shift: &self.shifts,
        }
    }
}

/// The int8 depthwise parameters, owned.
#[derive(Debug, Clone)]
pub(crate) struct DwS8 {
    pub input_shape: Shape4,
    pub filter_shape: Shape4,
    pub output_shape: Shape4,
    pub geometry: k::conv::ConvGeometry,
    pub depth_multiplier: usize,
    pub input_offset: i32,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub multipliers: Vec<i32>,
    pub shifts: Vec<i32>,
}

impl DwS8 {
    pub fn from_params(p: &DepthwiseS8Params<'_>) -> Self {
        DwS8 {
            input_shape: p.input_shape,
            filter_shape: p.filter_shape,
            output_shape: p.output_shape,
            geometry: p.geometry,
            depth_multiplier: p.depth_multiplier,
            input_offset: p.input_offset,
            output_offset: p.output_offset,
            act_min: p.act_min,
            act_max: p.act_max,
            multipliers: p.output_multiplier.to_vec(),
            shifts: p.output_shift.to_vec(),
        }
    }
    pub fn params(&self) -> DepthwiseS8Params<'_> {
        DepthwiseS8Params {
            input_shape: self.input_shape,
            filter_shape: self.filter_shape,
            output_shape: self.output_shape,
            geometry: self.geometry,
            depth_multiplier: self.depth_multiplier,
            input_offset: self.input_offset,
            output_offset: self.output_offset,
            act_min: self.act_min,
            act_max: self.act_max,
            output_multiplier: &self.multipliers,
            output_shift: &self.shifts,
        }
    }
}

/// The int8 fully-connected parameters, owned.
#[derive(Debug, Clone)]
pub(crate) struct FcS8 {
    pub batches: usize,
    pub input_depth: usize,
    pub output_depth: usize,
    pub input_offset: i32,
    pub filter_offset: i32,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub multipliers: Vec<i32>,
    pub shifts: Vec<i32>,
}

impl FcS8 {
    pub fn from_params(p: &FullyConnectedS8Params<'_>) -> Self {
        FcS8 {
            batches: p.batches,
            input_depth: p.input_depth,
            output_depth: p.output_depth,
            input_offset: p.input_offset,
            filter_offset: p.filter_offset,
            output_offset: p.output_offset,
            act_min: p.act_min,
            act_max: p.act_max,
            multipliers: p.output_multiplier.to_vec(),
            shifts: p.output_shift.to_vec(),
        }
    }
    pub fn params(&self) -> FullyConnectedS8Params<'_> {
        FullyConnectedS8Params {
            batches: self.batches,
            input_depth: self.input_depth,
            output_depth: self.output_depth,
            input_offset: self.input_offset,
            filter_offset: self.filter_offset,
            output_offset: self.output_offset,
            act_min: self.act_min,
            act_max: self.act_max,
            output_multiplier: &self.multipliers,
            output_shift: &self.shifts,
        }
    }
}

impl Kind {
    /// Whether the step runs a sparse kernel.
    pub(crate) fn is_sparse(&self) -> bool {
        matches!(
            self,
            Kind::ConvS8Sparse { .. } | Kind::FcS8Sparse { .. } | Kind::DwS8Sparse { .. }
        )
    }
}

/// What a step computes, with its prepared parameters and constant operands.
#[derive(Debug)]
pub(crate) enum Kind {
    /// RESHAPE / SQUEEZE: the bytes are unchanged; a move when the plan did not alias them.
    Copy,
    ConvS8 {
        p: ConvS8,
        filter: TensorId,
        bias: Option<Vec<i32>>,
    },
    /// Fused conv + residual add; `skip` is the region the result is written over.
    ConvS8Add {
        p: ConvS8,
        add: AddS8Params,
        order: AddOperandOrder,
        filter: TensorId,
        bias: Option<Vec<i32>>,
        skip: Region,
    },
    ConvF32 {
        p: Conv2dF32Params,
        filter: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
    DwS8 {
        p: DwS8,
        filter: TensorId,
        bias: Option<Vec<i32>>,
    },
    DwF32 {
        p: DepthwiseF32Params,
        filter: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
    FcS8 {
        p: FcS8,
        filter: TensorId,
        bias: Option<Vec<i32>>,
    },
    /// Int8 conv / FC over a sparse-encoded filter (see [`crate::sparse`]).
    ConvS8Sparse {
        p: ConvS8,
        w: crate::sparse::SparseS8,
        bias: Option<Vec<i32>>,
    },
    FcS8Sparse {
        p: FcS8,
        w: crate::sparse::SparseS8,
        bias: Option<Vec<i32>>,
    },
    DwS8Sparse {
        p: DwS8,
        w: crate::sparse::SparseS8,
        bias: Option<Vec<i32>>,
    },
    FcF32 {
        p: FullyConnectedF32Params,
        filter: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
    PoolS8 {
        p: k::pooling::PoolS8Params,
        max: bool,
    },
    PoolF32 {
        p: k::pooling::PoolF32Params,
        max: bool,
    },
    SoftmaxS8 {
        p: k::activation::softmax_s8::SoftmaxParamsS8,
        depth: usize,
    },
    SoftmaxF32 {
        beta: f32,
        depth: usize,
    },
    AddS8 {
        p: k::elementwise::add_s8::AddParamsS8,
        s1: Shape4,
        s2: Shape4,
    },
    AddF32 {
        act: k::activation::FusedActivation,
        s1: Shape4,
        s2: Shape4,
    },
    MulS8 {
        p: k::elementwise::mul_s8::MulParamsS8,
        s1: Shape4,
        s2: Shape4,
    },
    MulF32 {
        act: k::activation::FusedActivation,
        s1: Shape4,
        s2: Shape4,
    },
    ReluS8(k::activation::relu_s8::ReluParamsS8),
    Relu6S8(k::activation::relu_s8::Relu6ParamsS8),
    ReluF32(k::activation::FusedActivation),
    LogisticS8(k::activation::logistic_s8::LogisticParamsS8),
    LogisticF32,
    TanhS8(k::activation::tanh_s8::TanhParamsS8),
    TanhF32,
    /// float → int8.
    Quantize(k::quantize::quantize_f32::QuantizeParams),
    /// int8 → int8 with new parameters.
    Requantize(k::quantize::requantize::RequantizeParams),
    /// int8 → float.
    Dequantize(k::quantize::dequantize::DequantizeParams),
    MeanS8 {
        p: k::reduce::mean_s8::MeanParamsS8,
        shape: Shape4,
    },
    MeanF32 {
        axes: k::reduce::ReduceAxes,
        shape: Shape4,
    },
    PadS8 {
        paddings: k::movement::pad::Paddings,
        shape: Shape4,
        value: i8,
    },
    PadF32 {
        paddings: k::movement::pad::Paddings,
        shape: Shape4,
    },
    /// CONCATENATION along `axis` of the rank-4-padded shapes; `float` selects the element type.
    Concat {
        axis: usize,
        shapes: Vec<Shape4>,
        float: bool,
    },
    /// Float conv with int8 weights (LiteRT's dynamic-range path); its quantized input copy
    /// lives in the staging buffer from `scratch_at`.
    HybridConv {
        p: crate::hybrid::HybridConv,
        scratch_at: usize,
    },
}

/// One prepared node.
#[derive(Debug)]
pub struct Step {
    pub(crate) node: usize,
    pub(crate) op: &'static str,
    pub(crate) ins: Vec<In>,
    pub(crate) out: Region,
    pub(crate) kind: Kind,
    /// Constant operands, as aligned copies (word-backed, so float views never fail).
    pub(crate) consts: Vec<Vec<u32>>,
}

/// The operands of a bound step.
struct Inputs<'a> {
    shared: crate::arena::Shared<'a>,
    staging: &'a [u8],
    ins: &'a [In],
    consts: &'a [Vec<u32>],
}

impl<'a> Inputs<'a> {
    fn get(&self, k: usize) -> Option<&'a [u8]> {
        let i = self.ins.get(k)?;
        if let Some(c) = i.konst {
            let b: &[u8] = bytemuck::cast_slice(self.consts.get(c)?);
            return b.get(..i.region.len);
        }
        match i.staged {
            Some(s) => self.staging.get(s..s + i.region.len),
            None => self.shared.get(i.region),
        }
    }
}

/// Constant bytes of tensor `id` (validated at prepare time to exist).
fn const_bytes(g: &Graph, id: TensorId) -> &[u8] {
    g.tensors
        .get(id)
        .and_then(|t| t.data.as_deref())
        .unwrap_or(&[])
}

/// The packed int4 / int2 weights of tensor `id`, read in place by the packed kernels (no
/// unpacked copy exists in RAM); `None` for int8 weights.
fn packed_filter(g: &Graph, id: TensorId) -> Option<k::packed::PackedWeights<'_>> {
    let t = g.tensors.get(id)?;
    let bits = match t.dtype {
        tinyforge_graph::DType::I4 => k::packed::WeightBits::I4,
        tinyforge_graph::DType::I2 => k::packed::WeightBits::I2,
        _ => return None,
    };
    Some(k::packed::PackedWeights {
        data: const_bytes(g, id),
        bits,
        len: t.elements(),
    })
}

impl Step {
    /// Staging bytes this step needs (sum of its overlapping inputs, 4-byte aligned each).
    pub fn staging_bytes(&self) -> usize {
        let staged = self
            .ins
            .iter()
            .filter_map(|i| i.staged.map(|s| s + i.region.len.next_multiple_of(4)))
            .max()
            .unwrap_or(0);
        match &self.kind {
            Kind::HybridConv { p, scratch_at } => {
                staged.max(scratch_at.saturating_add(p.scratch_bytes()))
            }
            _ => staged,
        }
    }

    fn err(&self, err: KernelError) -> RuntimeError {
        RuntimeError::Kernel {
            node: self.node,
            op: self.op,
            err,
        }
    }

    fn plan_err(&self, what: &str) -> RuntimeError {
        RuntimeError::Plan(format!("node {} ({}): {what}", self.node, self.op))
    }

    fn f32_out<'a>(&self, o: &'a mut [u8]) -> RuntimeResult<&'a mut [f32]> {
        as_f32_mut(o).ok_or_else(|| self.plan_err("misaligned float output"))
    }

    /// Runs the step over `arena`, with `staging` as copy space for overlapping inputs.
    pub fn run(&self, g: &Graph, arena: &mut [u8], staging: &mut [u32]) -> RuntimeResult<()> {
        let staging: &mut [u8] = bytemuck::cast_slice_mut(staging);
        for i in &self.ins {
            if let Some(s) = i.staged {
                let src = arena
                    .get(i.region.offset..i.region.end())
                    .ok_or_else(|| self.plan_err("input outside the arena"))?;
                staging
                    .get_mut(s..s + i.region.len)
                    .ok_or_else(|| self.plan_err("staging buffer too small"))?
                    .copy_from_slice(src);
            }
        }
        match &self.kind {
            Kind::Copy => {
                let src = self
                    .ins
                    .first()
                    .ok_or_else(|| self.plan_err("no input"))?
                    .region;
                if src.len != self.out.len
                    || src.end() > arena.len()
                    || self.out.end() > arena.len()
                {
                    return Err(self.plan_err("view size mismatch"));
                }
                if src.offset != self.out.offset {
                    arena.copy_within(src.offset..src.end(), self.out.offset);
                }
                return Ok(());
            }
            Kind::ConvS8Add { skip, .. } if *skip != self.out => {
                if skip.len != self.out.len
                    || skip.end() > arena.len()
                    || self.out.end() > arena.len()
                {
                    return Err(self.plan_err("skip size mismatch"));
                }
                arena.copy_within(skip.offset..skip.end(), self.out.offset);
            }
            _ => {}
        }
        let (shared, out) =
            split_out(arena, self.out).ok_or_else(|| self.plan_err("output outside the arena"))?;
        // Staged inputs first, then per-step scratch (hybrid conv only).
        let scratch_at = match &self.kind {
            Kind::HybridConv { scratch_at, .. } => (*scratch_at).min(staging.len()),
            _ => staging.len(),
        };
        let (staging, scratch) = staging.split_at_mut(scratch_at);
        let inputs = Inputs {
            shared,
            staging: &*staging,
            ins: &self.ins,
            consts: &self.consts,
        };
        let input = |k: usize| {
            inputs
                .get(k)
                .ok_or_else(|| self.plan_err("input overlaps the output"))
        };
        let f32_in =
            |k: usize| as_f32(input(k)?).ok_or_else(|| self.plan_err("misaligned float input"));
        let f32_out = |o| self.f32_out(o);
        match &self.kind {
            Kind::Copy => Ok(()),
            Kind::ConvS8 { p, filter, bias } => match packed_filter(g, *filter) {
                Some(w) => k::conv::conv2d_s4::conv2d_packed(
                    &p.params(),
                    as_i8(input(0)?),
                    w,
                    bias.as_deref(),
                    as_i8_mut(out),
                ),
                None => k::conv::conv2d_s8(
                    &p.params(),
                    as_i8(input(0)?),
                    as_i8(const_bytes(g, *filter)),
                    bias.as_deref(),
                    as_i8_mut(out),
                ),
            }
            .map_err(|e| self.err(e)),
            Kind::ConvS8Add {
                p,
                add,
                order,
                filter,
                bias,
                ..
            } => {
                let params = k::conv::Conv2dS8AddParams {
                    conv: p.params(),
                    add: *add,
                    order: *order,
                };
                k::conv::conv2d_s8_add(
                    &params,
                    as_i8(input(0)?),
                    as_i8(const_bytes(g, *filter)),
                    bias.as_deref(),
                    as_i8_mut(out),
                )
                .map_err(|e| self.err(e))
            }
            Kind::ConvF32 { p, filter, bias } => {
                k::conv::conv2d_f32(p, f32_in(0)?, filter, bias.as_deref(), f32_out(out)?)
                    .map_err(|e| self.err(e))
            }
            Kind::DwS8 { p, filter, bias } => match packed_filter(g, *filter) {
                Some(w) => k::depthwise::depthwise_conv2d_s4::depthwise_conv2d_packed(
                    &p.params(),
                    as_i8(input(0)?),
                    w,
                    bias.as_deref(),
                    as_i8_mut(out),
                ),
                None => k::depthwise::depthwise_conv2d_s8(
                    &p.params(),
                    as_i8(input(0)?),
                    as_i8(const_bytes(g, *filter)),
                    bias.as_deref(),
                    as_i8_mut(out),
                ),
            }
            .map_err(|e| self.err(e)),
            Kind::DwF32 { p, filter, bias } => k::depthwise::depthwise_conv2d_f32(
                p,
                f32_in(0)?,
                filter,
                bias.as_deref(),
                f32_out(out)?,
            )
            .map_err(|e| self.err(e)),
            Kind::FcS8 { p, filter, bias } => match packed_filter(g, *filter) {
                Some(w) => k::fully_connected::fully_connected_s4::fully_connected_packed(
                    &p.params(),
                    as_i8(input(0)?),
                    w,
                    bias.as_deref(),
                    as_i8_mut(out),
                ),
                None => k::fully_connected::fully_connected_s8(
                    &p.params(),
                    as_i8(input(0)?),
                    as_i8(const_bytes(g, *filter)),
                    bias.as_deref(),
                    as_i8_mut(out),
                ),
            }
            .map_err(|e| self.err(e)),
            Kind::ConvS8Sparse { p, w, bias } => {
                let fs = p.filter_shape;
                let mut scratch =
                    vec![0i16; k::sparse::conv2d_s8_sparse_plan_scratch(fs.h, fs.w, fs.c)];
                let x = as_i8(input(0)?);
                w.plan()
                    .and_then(|plan| {
                        k::sparse::conv2d_s8_sparse_plan(
                            &p.params(),
                            x,
                            &plan,
                            bias.as_deref(),
                            as_i8_mut(out),
                            &mut scratch,
                        )
                    })
                    .map_err(|e| self.err(e))
            }
            Kind::FcS8Sparse { p, w, bias } => {
                let x = as_i8(input(0)?);
                w.plan()
                    .and_then(|plan| {
                        k::sparse::fully_connected_s8_sparse_plan(
                            &p.params(),
                            x,
                            &plan,
                            bias.as_deref(),
                            as_i8_mut(out),
                        )
                    })
                    .map_err(|e| self.err(e))
            }
            Kind::DwS8Sparse { p, w, bias } => {
                let x = as_i8(input(0)?);
                w.plan()
                    .and_then(|plan| {
                        k::sparse::depthwise_conv2d_s8_sparse_plan(
                            &p.params(),
                            x,
                            &plan,
                            bias.as_deref(),
                            as_i8_mut(out),
                        )
                    })
                    .map_err(|e| self.err(e))
            }
            Kind::FcF32 { p, filter, bias } => k::fully_connected::fully_connected_f32(
                p,
                f32_in(0)?,
                filter,
                bias.as_deref(),
                f32_out(out)?,
            )
            .map_err(|e| self.err(e)),
            Kind::PoolS8 { p, max } => {
                let f = if *max {
                    k::pooling::max_pool2d_s8
                } else {
                    k::pooling::average_pool2d_s8
                };
                f(p, as_i8(input(0)?), as_i8_mut(out)).map_err(|e| self.err(e))
            }
            Kind::PoolF32 { p, max } => {
                let f = if *max {
                    k::pooling::max_pool2d_f32
                } else {
                    k::pooling::average_pool2d_f32
                };
                f(p, f32_in(0)?, f32_out(out)?).map_err(|e| self.err(e))
            }
            Kind::SoftmaxS8 { p, depth } => k::activation::softmax_s8::softmax_s8::<i8>(
                p,
                *depth,
                as_i8(input(0)?),
                as_i8_mut(out),
            )
            .map_err(|e| self.err(e)),
            Kind::SoftmaxF32 { beta, depth } => {
                k::activation::softmax_f32::softmax_f32(*beta, *depth, f32_in(0)?, f32_out(out)?)
                    .map_err(|e| self.err(e))
            }
            Kind::AddS8 { p, s1, s2 } => k::elementwise::add_s8::add_s8(
                p,
                *s1,
                as_i8(input(0)?),
                *s2,
                as_i8(input(1)?),
                as_i8_mut(out),
            )
            .map_err(|e| self.err(e)),
            Kind::AddF32 { act, s1, s2 } => k::elementwise::add_f32::add_f32(
                *act,
                *s1,
                f32_in(0)?,
                *s2,
                f32_in(1)?,
                f32_out(out)?,
            )
            .map_err(|e| self.err(e)),
            Kind::MulS8 { p, s1, s2 } => k::elementwise::mul_s8::mul_s8(
                p,
                *s1,
                as_i8(input(0)?),
                *s2,
                as_i8(input(1)?),
                as_i8_mut(out),
            )
            .map_err(|e| self.err(e)),
            Kind::MulF32 { act, s1, s2 } => k::elementwise::mul_f32::mul_f32(
                *act,
                *s1,
                f32_in(0)?,
                *s2,
                f32_in(1)?,
                f32_out(out)?,
            )
            .map_err(|e| self.err(e)),
            Kind::ReluS8(p) => k::activation::relu_s8::relu_s8(p, as_i8(input(0)?), as_i8_mut(out))
                .map_err(|e| self.err(e)),
            Kind::Relu6S8(p) => {
                k::activation::relu_s8::relu6_s8(p, as_i8(input(0)?), as_i8_mut(out))
                    .map_err(|e| self.err(e))
            }
            Kind::ReluF32(a) => k::activation::relu_f32::relu_f32(*a, f32_in(0)?, f32_out(out)?)
                .map_err(|e| self.err(e)),
            Kind::LogisticS8(p) => {
                k::activation::logistic_s8::logistic_s8(p, as_i8(input(0)?), as_i8_mut(out))
                    .map_err(|e| self.err(e))
            }
            Kind::LogisticF32 => {
                k::activation::logistic_f32::logistic_f32(f32_in(0)?, f32_out(out)?)
                    .map_err(|e| self.err(e))
            }
            Kind::TanhS8(p) => k::activation::tanh_s8::tanh_s8(p, as_i8(input(0)?), as_i8_mut(out))
                .map_err(|e| self.err(e)),
            Kind::TanhF32 => k::activation::tanh_f32::tanh_f32(f32_in(0)?, f32_out(out)?)
                .map_err(|e| self.err(e)),
            Kind::Quantize(p) => {
                k::quantize::quantize_f32::quantize_f32::<i8>(p, f32_in(0)?, as_i8_mut(out))
                    .map_err(|e| self.err(e))
            }
            Kind::Requantize(p) => {
                k::quantize::requantize::requantize::<i8, i8>(p, as_i8(input(0)?), as_i8_mut(out))
                    .map_err(|e| self.err(e))
            }
            Kind::Dequantize(p) => {
                k::quantize::dequantize::dequantize::<i8>(p, as_i8(input(0)?), f32_out(out)?)
                    .map_err(|e| self.err(e))
            }
            Kind::MeanS8 { p, shape } => {
                k::reduce::mean_s8::mean_s8(p, *shape, as_i8(input(0)?), as_i8_mut(out))
                    .map_err(|e| self.err(e))
            }
            Kind::PadS8 {
                paddings,
                shape,
                value,
            } => k::movement::pad::pad(paddings, *shape, as_i8(input(0)?), *value, as_i8_mut(out))
                .map_err(|e| self.err(e)),
            Kind::PadF32 { paddings, shape } => {
                k::movement::pad::pad(paddings, *shape, f32_in(0)?, 0.0, f32_out(out)?)
                    .map_err(|e| self.err(e))
            }
            Kind::Concat {
                axis,
                shapes,
                float,
            } => if *float {
                let parts = shapes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Ok((*s, f32_in(i)?)))
                    .collect::<RuntimeResult<Vec<_>>>()?;
                k::movement::concatenation::concatenation(*axis, &parts, f32_out(out)?)
            } else {
                let parts = shapes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Ok((*s, as_i8(input(i)?))))
                    .collect::<RuntimeResult<Vec<_>>>()?;
                k::movement::concatenation::concatenation(*axis, &parts, as_i8_mut(out))
            }
            .map_err(|e| self.err(e)),
            Kind::HybridConv { p, .. } => p
                .run(f32_in(0)?, as_i8_mut(scratch), f32_out(out)?)
                .map_err(|e| self.err(e)),
            Kind::MeanF32 { axes, shape } => {
                k::reduce::mean_f32::mean_f32(axes, *shape, f32_in(0)?, f32_out(out)?)
                    .map_err(|e| self.err(e))
            }
        }
    }
}
