//! The prepare step: validation, fusion and planning of a graph, then one [`Step`] per node
//! with its kernel parameters computed once (TFLite Micro's Prepare).
//!
//! Everything that can be checked before data flows is checked here — operand presence and
//! dtypes, constant sizes, quantization parameters, region alignment — so that `invoke` only
//! fails on a kernel's own checks, and never panics.
use tinyforge_graph::{Activation, DType, Graph, Node, Op, Padding, Tensor, TensorId};
use tinyforge_kernels as k;
use tinyforge_kernels::conv::{ConvGeometry, FusedActivation};
use tinyforge_kernels::Shape4;

use crate::arena::Region;
use crate::error::{RuntimeError, RuntimeResult};
use crate::exec::{ConvS8, DwS8, FcS8, In, Kind, Step};

/// Arena offsets of every activation tensor, from the memory plan.
#[derive(Debug, Clone)]
pub struct Layout {
    pub size: usize,
    /// `Some(offset)` for every planned (non-constant, used) tensor.
    pub offsets: Vec<Option<usize>>,
    /// Byte size of every tensor.
    pub bytes: Vec<usize>,
    /// The original int8 filter of every hybrid conv (float input, int8 weights), by tensor id;
    /// the planned graph holds a dequantized float copy in its place.
    pub hybrid_filters: Vec<Option<Tensor>>,
}

impl Layout {
    pub fn region(&self, id: TensorId) -> RuntimeResult<Region> {
        let offset = self
            .offsets
            .get(id)
            .copied()
            .flatten()
            .ok_or_else(|| RuntimeError::Plan(format!("tensor {id} has no arena offset")))?;
        let len = self.bytes.get(id).copied().unwrap_or(0);
        let r = Region { offset, len };
        if offset.checked_add(len).is_none_or(|e| e > self.size) {
            return Err(RuntimeError::Plan(format!(
                "tensor {id} ({len} bytes at {offset}) lies outside the {} byte arena",
                self.size
            )));
        }
        Ok(r)
    }
}

/// Validates, fuses and plans `graph` with the default plan options (the same plan `inspect`
/// reports and `deploy` emits).
pub fn plan(graph: Graph) -> RuntimeResult<(Graph, Layout)> {
    let (graph, hybrid_filters) = split_hybrid(graph);
    let plan = tinyforge_graph::plan::plan_default(&graph)?;
    let bytes = plan
        .graph
        .tensors
        .iter()
        .map(|t| tinyforge_graph::shape::checked_bytes(t).unwrap_or(0))
        .collect();
    let layout = Layout {
        size: plan.arena_bytes,
        offsets: plan.offsets,
        bytes,
        hybrid_filters,
    };
    Ok((plan.graph, layout))
}

/// Replaces the int8 per-channel filter of every hybrid CONV_2D (float input) by its
/// dequantized float copy, so validation and planning see a float conv, and returns the
/// originals for [`crate::hybrid`]. Anything else stays as it is (and validation judges it).
fn split_hybrid(mut g: Graph) -> (Graph, Vec<Option<Tensor>>) {
    let mut originals: Vec<Option<Tensor>> = vec![None; g.tensors.len()];
    let mut candidates = Vec::new();
    for node in &g.nodes {
        if !matches!(node.op, Op::Conv2d(_)) {
            continue;
        }
        let t = |k: usize| {
            node.inputs
                .get(k)
                .copied()
                .flatten()
                .and_then(|i| g.tensors.get(i).map(|t| (i, t)))
        };
        let (Some((_, x)), Some((f, w))) = (t(0), t(1)) else {
            continue;
        };
        let scales_ok = w.quant.as_ref().is_some_and(|q| {
            q.scale.len() == 1
                || (q.scale.len() == w.shape.first().copied().unwrap_or(0) && q.axis == 0)
        });
        if x.dtype == DType::F32 && w.dtype == DType::I8 && w.is_const() && scales_ok {
            candidates.push(f);
        }
    }
    for f in candidates {
        let w = &g.tensors[f];
        let (Some(q), Some(data)) = (&w.quant, &w.data) else {
            continue;
        };
        let channels = w.shape.first().copied().unwrap_or(0);
        if q.scale.is_empty() || channels == 0 || data.len() % channels != 0 {
            continue;
        }
        let per = data.len() / channels;
        let pick = |c: usize| if q.scale.len() == 1 { 0 } else { c };
        let values: Vec<u8> = data
            .iter()
            .enumerate()
            .flat_map(|(i, &b)| {
                let c = pick(i / per);
                let zp = q.zero_point.get(c).copied().unwrap_or(0) as f32;
                (q.scale.get(c).copied().unwrap_or(0.0) * (b as i8 as f32 - zp)).to_le_bytes()
            })
            .collect();
        let mut deq = w.clone();
        deq.dtype = DType::F32;
        deq.quant = None;
        deq.data = Some(values);
        originals[f] = Some(std::mem::replace(&mut g.tensors[f], deq));
    }
    (g, originals)
}

/// A step operand before staging decisions.
enum Operand {
    Act(Region),
    /// Aligned copy of a constant and its byte length.
    Const(Vec<u32>, usize),
}

/// Per-node context for building a step: the node, its tensors, error helpers.
struct Ctx<'g> {
    g: &'g Graph,
    layout: &'g Layout,
    sparse: crate::sparse::SparsePolicy,
    n: usize,
    node: &'g Node,
}

impl<'g> Ctx<'g> {
    fn op(&self) -> &'static str {
        self.node.op.name()
    }
    fn bad(&self, reason: impl Into<String>) -> RuntimeError {
        RuntimeError::BadNode {
            node: self.n,
            op: self.op(),
            reason: reason.into(),
        }
    }
    fn unsupported(&self, reason: impl Into<String>) -> RuntimeError {
        RuntimeError::Unsupported {
            node: self.n,
            op: self.op(),
            reason: reason.into(),
        }
    }
    fn kernel(&self, e: k::KernelError) -> RuntimeError {
        self.bad(format!("parameters rejected by the kernel ({e:?})"))
    }
    fn tensor(&self, id: TensorId) -> RuntimeResult<&'g Tensor> {
        self.g
            .tensors
            .get(id)
            .ok_or_else(|| self.bad(format!("tensor {id} does not exist")))
    }
    fn input_id(&self, k: usize) -> RuntimeResult<TensorId> {
        self.node
            .inputs
            .get(k)
            .copied()
            .flatten()
            .ok_or_else(|| self.bad(format!("operand {k} is missing")))
    }
    fn input(&self, k: usize) -> RuntimeResult<&'g Tensor> {
        self.tensor(self.input_id(k)?)
    }
    fn opt_input(&self, k: usize) -> RuntimeResult<Option<&'g Tensor>> {
        match self.node.inputs.get(k).copied().flatten() {
            Some(id) => self.tensor(id).map(Some),
            None => Ok(None),
        }
    }
    fn output_id(&self) -> RuntimeResult<TensorId> {
        match self.node.outputs.as_slice() {
            [o] => Ok(*o),
            _ => Err(self.unsupported(format!("{} outputs", self.node.outputs.len()))),
        }
    }
    fn output(&self) -> RuntimeResult<&'g Tensor> {
        self.tensor(self.output_id()?)
    }
    fn out_region(&self) -> RuntimeResult<Region> {
        let id = self.output_id()?;
        let t = self.tensor(id)?;
        if t.is_const() {
            return Err(self.bad("output is a constant"));
        }
        self.layout.region(id)
    }
    /// Arena region of activation operand `k`.
    fn act_region(&self, k: usize) -> RuntimeResult<Region> {
        let id = self.input_id(k)?;
        if self.tensor(id)?.is_const() {
            return Err(self.unsupported(format!(
                "operand {k} is a constant, an activation was expected"
            )));
        }
        self.layout.region(id)
    }
    /// Constant bytes of operand `k`, checked against its declared size.
    fn const_data(&self, t: &'g Tensor) -> RuntimeResult<&'g [u8]> {
        let data = t
            .data
            .as_deref()
            .ok_or_else(|| self.unsupported(format!("`{}` must be a constant", t.name)))?;
        if Some(data.len()) != tinyforge_graph::shape::checked_bytes(t) {
            return Err(self.bad(format!(
                "constant `{}` has {} bytes, its shape says {:?}",
                t.name,
                data.len(),
                t.shape
            )));
        }
        Ok(data)
    }
    fn const_i32(&self, t: &'g Tensor) -> RuntimeResult<Vec<i32>> {
        if t.dtype != DType::I32 {
            return Err(self.unsupported(format!(
                "`{}` is {}, int32 expected",
                t.name,
                t.dtype.name()
            )));
        }
        Ok(self
            .const_data(t)?
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn const_f32(&self, t: &'g Tensor) -> RuntimeResult<Vec<f32>> {
        if t.dtype != DType::F32 {
            return Err(self.unsupported(format!(
                "`{}` is {}, float32 expected",
                t.name,
                t.dtype.name()
            )));
        }
        Ok(self
            .const_data(t)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    /// Per-tensor scale and zero point.
    fn qparams(&self, t: &Tensor) -> RuntimeResult<(f32, i32)> {
        let q = t
            .quant
            .as_ref()
            .ok_or_else(|| self.bad(format!("`{}` has no quantization parameters", t.name)))?;
        let (Some(&s), Some(&z)) = (q.scale.first(), q.zero_point.first()) else {
            return Err(self.bad(format!("`{}` has empty quantization parameters", t.name)));
        };
        if !(s.is_finite() && s > 0.0) {
            return Err(self.bad(format!("`{}` has scale {s}", t.name)));
        }
        let z =
            i32::try_from(z).map_err(|_| self.bad(format!("`{}` has zero point {z}", t.name)))?;
        Ok((s, z))
    }
    /// Operand `k`, activation or constant.
    fn operand(&self, k: usize) -> RuntimeResult<Operand> {
        let t = self.input(k)?;
        if t.is_const() {
            let data = self.const_data(t)?;
            let mut words = vec![0u32; data.len().div_ceil(4)];
            bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..data.len()].copy_from_slice(data);
            Ok(Operand::Const(words, data.len()))
        } else {
            self.act_region(k).map(Operand::Act)
        }
    }
    fn step(&self, ins: Vec<Region>, out: Region, kind: Kind) -> Step {
        self.step_ops(ins.into_iter().map(Operand::Act).collect(), out, kind)
    }
    fn step_ops(&self, ops: Vec<Operand>, out: Region, kind: Kind) -> Step {
        let mut staged_at = 0;
        let mut consts = Vec::new();
        let ins = ops
            .into_iter()
            .map(|op| match op {
                Operand::Act(region) => {
                    let staged = region.overlaps(&out).then(|| {
                        let s = staged_at;
                        staged_at += region.len.next_multiple_of(4);
                        s
                    });
                    In {
                        region,
                        staged,
                        konst: None,
                    }
                }
                Operand::Const(words, len) => {
                    consts.push(words);
                    In {
                        region: Region { offset: 0, len },
                        staged: None,
                        konst: Some(consts.len() - 1),
                    }
                }
            })
            .collect();
        Step {
            node: self.n,
            op: self.op(),
            ins,
            out,
            kind,
            consts,
        }
    }
}

fn act(a: Activation) -> FusedActivation {
    match a {
        Activation::None => FusedActivation::None,
        Activation::Relu => FusedActivation::Relu,
        Activation::Relu6 => FusedActivation::Relu6,
        Activation::ReluN1To1 => FusedActivation::ReluN1To1,
    }
}

fn padding(p: Padding) -> k::padding::Padding {
    match p {
        Padding::Same => k::padding::Padding::Same,
        Padding::Valid => k::padding::Padding::Valid,
    }
}

/// An NHWC shape of rank 4 exactly.
fn nhwc(c: &Ctx<'_>, t: &Tensor) -> RuntimeResult<Shape4> {
    match t.shape.as_slice() {
        &[n, h, w, ch] => Ok(Shape4::new(n, h, w, ch)),
        s => Err(c.unsupported(format!("`{}` has shape {s:?}, rank 4 expected", t.name))),
    }
}

/// Any shape as `[1, …, last]` padded to rank 4 (rank ≤ 4).
fn shape4(c: &Ctx<'_>, t: &Tensor) -> RuntimeResult<Shape4> {
    let s = &t.shape;
    if s.len() > 4 {
        return Err(c.unsupported(format!("`{}` has rank {}", t.name, s.len())));
    }
    let mut d = [1usize; 4];
    d[4 - s.len()..].copy_from_slice(s);
    Ok(Shape4::new(d[0], d[1], d[2], d[3]))
}

/// Int8 weights, or packed int4 / int2 weights (which the packed kernels read in place).
fn require_int8_or_packed(c: &Ctx<'_>, t: &Tensor) -> RuntimeResult<()> {
    if matches!(t.dtype, DType::I4 | DType::I2) {
        return Ok(());
    }
    require_dtype(c, t, DType::I8)
}

fn require_dtype(c: &Ctx<'_>, t: &Tensor, want: DType) -> RuntimeResult<()> {
    if t.dtype != want {
        return Err(c.unsupported(format!(
            "`{}` is {}, {} expected",
            t.name,
            t.dtype.name(),
            want.name()
        )));
    }
    Ok(())
}

/// Builds the steps of every node of a planned graph.
pub fn prepare(g: &Graph, layout: &Layout) -> RuntimeResult<Vec<Step>> {
    prepare_with(g, layout, crate::sparse::SparsePolicy::Auto)
}

/// [`prepare`] with a choice of which int8 layers run on the sparse kernels.
pub fn prepare_with(
    g: &Graph,
    layout: &Layout,
    sparse: crate::sparse::SparsePolicy,
) -> RuntimeResult<Vec<Step>> {
    g.nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let c = Ctx {
                g,
                layout,
                sparse,
                n,
                node,
            };
            prepare_node(&c)
        })
        .collect()
}

fn prepare_node(c: &Ctx<'_>) -> RuntimeResult<Step> {
    match &c.node.op {
        Op::Reshape | Op::Squeeze { .. } => {
            let (i, o) = (c.input(0)?, c.output()?);
            if i.dtype != o.dtype
                || tinyforge_graph::shape::checked_bytes(i)
                    != tinyforge_graph::shape::checked_bytes(o)
            {
                return Err(c.bad("input and output sizes differ"));
            }
            let inr = c.act_region(0)?;
            // A view shares its bytes: no staging, the copy is a memmove.
            Ok(Step {
                node: c.n,
                op: c.op(),
                ins: vec![In {
                    region: inr,
                    staged: None,
                    konst: None,
                }],
                out: c.out_region()?,
                kind: Kind::Copy,
                consts: Vec::new(),
            })
        }
        Op::Conv2d(o) => conv(c, o, None),
        Op::Conv2dAdd {
            conv: o,
            conv_out,
            conv_is_first,
            add_activation,
        } => conv(c, o, Some((*conv_out, *conv_is_first, *add_activation))),
        Op::DepthwiseConv2d(o) => depthwise(c, o),
        Op::FullyConnected(o) => fully_connected(c, o),
        Op::AveragePool2d(o) => pool(c, o, false),
        Op::MaxPool2d(o) => pool(c, o, true),
        Op::Softmax { beta } => softmax(c, *beta),
        Op::Add { activation } => binary(c, *activation, false),
        Op::Mul { activation } => binary(c, *activation, true),
        Op::Relu | Op::Relu6 | Op::Logistic | Op::Tanh => unary(c),
        Op::Quantize => quantize(c),
        Op::Dequantize => dequantize(c),
        Op::Mean { .. } => mean(c),
        Op::Pad => pad(c),
        Op::Concatenation { axis, activation } => concat(c, *axis, *activation),
    }
}

/// CONV_2D, plain or fused with a residual ADD (`fused = (conv_out, conv_is_first, act)`).
fn conv(
    c: &Ctx<'_>,
    o: &tinyforge_graph::Conv2dOptions,
    fused: Option<(TensorId, bool, Activation)>,
) -> RuntimeResult<Step> {
    let (input, filter, out) = (c.input(0)?, c.input(1)?, c.output()?);
    let bias = c.opt_input(2)?;
    let (is, fs, os) = (nhwc(c, input)?, nhwc(c, filter)?, nhwc(c, out)?);
    let (geometry, oh, ow) = ConvGeometry::from_padding(
        padding(o.padding),
        (is.h, is.w),
        (fs.h, fs.w),
        (o.stride_h, o.stride_w),
        (o.dilation_h, o.dilation_w),
    )
    .map_err(|e| c.kernel(e))?;
    if (oh, ow) != (os.h, os.w) {
        return Err(c.bad(format!(
            "output is {}×{}, the geometry gives {oh}×{ow}",
            os.h, os.w
        )));
    }
    let out_region = c.out_region()?;
    match input.dtype {
        DType::F32 => {
            if fused.is_some() {
                return Err(c.unsupported("fused conv + add on float tensors"));
            }
            require_dtype(c, filter, DType::F32)?;
            require_dtype(c, out, DType::F32)?;
            let p = k::conv::Conv2dF32Params::prepare(is, fs, os, geometry, act(o.activation))
                .map_err(|e| c.kernel(e))?;
            let filter_id = c.input_id(1)?;
            if let Some(Some(orig)) = c.layout.hybrid_filters.get(filter_id) {
                let data = c.const_data(orig)?;
                let q = orig
                    .quant
                    .as_ref()
                    .ok_or_else(|| c.bad("hybrid filter lost its scales"))?;
                if q.zero_point.iter().any(|&z| z != 0) {
                    return Err(c.unsupported("hybrid conv with non-zero weight zero points"));
                }
                let h = crate::hybrid::HybridConv {
                    input_shape: is,
                    filter_shape: fs,
                    output_shape: os,
                    geometry,
                    act_min: p.act_min,
                    act_max: p.act_max,
                    filter: bytemuck::cast_slice::<u8, i8>(data).to_vec(),
                    scales: q.scale.clone(),
                    bias: bias.map(|b| c.const_f32(b)).transpose()?,
                };
                let mut step = c.step(vec![c.act_region(0)?], out_region, Kind::Copy);
                let scratch_at = step.staging_bytes();
                step.kind = Kind::HybridConv { p: h, scratch_at };
                return Ok(step);
            }
            let filter = c.const_f32(filter)?;
            let bias = bias.map(|b| c.const_f32(b)).transpose()?;
            Ok(c.step(
                vec![c.act_region(0)?],
                out_region,
                Kind::ConvF32 { p, filter, bias },
            ))
        }
        DType::I8 => {
            require_int8_or_packed(c, filter)?;
            c.const_data(filter)?;
            let (in_s, in_z) = c.qparams(input)?;
            let fq = filter
                .quant
                .as_ref()
                .ok_or_else(|| c.bad("filter has no quantization parameters"))?;
            // The conv's own output: the node output, or for a fused node the hidden conv_out.
            let conv_out = match fused {
                Some((id, _, _)) => c.tensor(id)?,
                None => out,
            };
            require_dtype(c, conv_out, DType::I8)?;
            let (out_s, out_z) = c.qparams(conv_out)?;
            let mut mult = vec![0; fs.n];
            let mut shift = vec![0; fs.n];
            let quant = k::conv::ConvQuant {
                input_scale: in_s,
                input_zero_point: in_z,
                filter_scales: &fq.scale,
                output_scale: out_s,
                output_zero_point: out_z,
                activation: act(o.activation),
            };
            let params = k::conv::Conv2dS8Params::prepare(
                is, fs, os, geometry, &quant, &mut mult, &mut shift,
            )
            .map_err(|e| c.kernel(e))?;
            let p = ConvS8::from_params(&params);
            let bias = bias.map(|b| c.const_i32(b)).transpose()?;
            let filter = c.input_id(1)?;
            match fused {
                None => {
                    require_dtype(c, out, DType::I8)?;
                    // Packed filters stay packed: the sparse plans read int8 bytes.
                    let ft = c.tensor(filter)?;
                    let kind = if ft.dtype == DType::I8 {
                        crate::sparse::conv_kind(c.sparse, c.const_data(ft)?, p, filter, bias)
                    } else {
                        Kind::ConvS8 { p, filter, bias }
                    };
                    Ok(c.step(vec![c.act_region(0)?], out_region, kind))
                }
                Some((_, conv_is_first, add_act)) => {
                    let skip_id = c.input_id(3)?;
                    let skip_t = c.tensor(skip_id)?;
                    require_dtype(c, skip_t, DType::I8)?;
                    require_dtype(c, out, DType::I8)?;
                    let (sk_s, sk_z) = c.qparams(skip_t)?;
                    let (o_s, o_z) = c.qparams(out)?;
                    let ((s1, z1), (s2, z2)) = if conv_is_first {
                        ((out_s, out_z), (sk_s, sk_z))
                    } else {
                        ((sk_s, sk_z), (out_s, out_z))
                    };
                    let add = k::conv::AddS8Params::prepare(s1, z1, s2, z2, o_s, o_z, act(add_act))
                        .map_err(|e| c.kernel(e))?;
                    let skip = c.act_region(3)?;
                    if skip.len != out_region.len {
                        return Err(c.bad("skip and output sizes differ"));
                    }
                    let order = if conv_is_first {
                        k::conv::AddOperandOrder::ConvFirst
                    } else {
                        k::conv::AddOperandOrder::SkipFirst
                    };
                    Ok(c.step(
                        vec![c.act_region(0)?],
                        out_region,
                        Kind::ConvS8Add {
                            p,
                            add,
                            order,
                            filter,
                            bias,
                            skip,
                        },
                    ))
                }
            }
        }
        d => Err(c.unsupported(format!("{} input", d.name()))),
    }
}

/// Filter quantization: scales (one, or one per output channel) and the zero point.
fn filter_quant<'g>(c: &Ctx<'g>, filter: &'g Tensor) -> RuntimeResult<(&'g [f32], i32)> {
    let q = filter
        .quant
        .as_ref()
        .ok_or_else(|| c.bad("filter has no quantization parameters"))?;
    if q.scale.is_empty() {
        return Err(c.bad("filter has no scales"));
    }
    let z = q.zero_point.first().copied().unwrap_or(0);
    let z = i32::try_from(z).map_err(|_| c.bad(format!("filter zero point {z}")))?;
    Ok((&q.scale, z))
}

fn depthwise(c: &Ctx<'_>, o: &tinyforge_graph::DepthwiseConv2dOptions) -> RuntimeResult<Step> {
    let (input, filter, out) = (c.input(0)?, c.input(1)?, c.output()?);
    let bias = c.opt_input(2)?;
    let (is, fs, os) = (nhwc(c, input)?, nhwc(c, filter)?, nhwc(c, out)?);
    let (geometry, oh, ow) = ConvGeometry::from_padding(
        padding(o.padding),
        (is.h, is.w),
        (fs.h, fs.w),
        (o.stride_h, o.stride_w),
        (o.dilation_h, o.dilation_w),
    )
    .map_err(|e| c.kernel(e))?;
    if (oh, ow) != (os.h, os.w) {
        return Err(c.bad(format!(
            "output is {}×{}, the geometry gives {oh}×{ow}",
            os.h, os.w
        )));
    }
    let out_region = c.out_region()?;
    let ins = vec![c.act_region(0)?];
    match input.dtype {
        DType::F32 => {
            require_dtype(c, filter, DType::F32)?;
            require_dtype(c, out, DType::F32)?;
            let p =
                k::depthwise::DepthwiseF32Params::prepare(is, fs, os, geometry, act(o.activation))
                    .map_err(|e| c.kernel(e))?;
            let filter = c.const_f32(filter)?;
            let bias = bias.map(|b| c.const_f32(b)).transpose()?;
            Ok(c.step(ins, out_region, Kind::DwF32 { p, filter, bias }))
        }
        DType::I8 => {
            require_int8_or_packed(c, filter)?;
            require_dtype(c, out, DType::I8)?;
            c.const_data(filter)?;
            let (in_s, in_z) = c.qparams(input)?;
            let (out_s, out_z) = c.qparams(out)?;
            let (scales, _) = filter_quant(c, filter)?;
            // Sizes per-channel tables from the (bounded) constant filter, never from an
            // activation shape alone.
            if os.c != fs.c {
                return Err(c.bad(format!("{} output channels, the filter has {}", os.c, fs.c)));
            }
            let mut mult = vec![0; os.c];
            let mut shift = vec![0; os.c];
            let quant = k::conv::ConvQuant {
                input_scale: in_s,
                input_zero_point: in_z,
                filter_scales: scales,
                output_scale: out_s,
                output_zero_point: out_z,
                activation: act(o.activation),
            };
            let params = k::depthwise::DepthwiseS8Params::prepare(
                is, fs, os, geometry, &quant, &mut mult, &mut shift,
            )
            .map_err(|e| c.kernel(e))?;
            let p = DwS8::from_params(&params);
            let bias = bias.map(|b| c.const_i32(b)).transpose()?;
            let fid = c.input_id(1)?;
            let kind = if filter.dtype == DType::I8 {
                crate::sparse::dw_kind(c.sparse, c.const_data(filter)?, p, fid, bias)
            } else {
                Kind::DwS8 {
                    p,
                    filter: fid,
                    bias,
                }
            };
            Ok(c.step(ins, out_region, kind))
        }
        d => Err(c.unsupported(format!("{} input", d.name()))),
    }
}

fn fully_connected(c: &Ctx<'_>, o: &tinyforge_graph::FullyConnectedOptions) -> RuntimeResult<Step> {
    let (input, filter, out) = (c.input(0)?, c.input(1)?, c.output()?);
    let bias = c.opt_input(2)?;
    let (out_depth, in_depth) = match filter.shape.as_slice() {
        &[o, i] => (o, i),
        s => return Err(c.unsupported(format!("filter shape {s:?}, [O, I] expected"))),
    };
    let in_elems = input.elements();
    if in_depth == 0 || in_elems % in_depth != 0 {
        return Err(c.bad(format!(
            "input of {in_elems} elements is not a multiple of depth {in_depth}"
        )));
    }
    let batches = in_elems / in_depth;
    if batches.checked_mul(out_depth) != Some(out.elements()) {
        return Err(c.bad(format!(
            "output has {} elements, {batches} × {out_depth} expected",
            out.elements()
        )));
    }
    let out_region = c.out_region()?;
    let ins = vec![c.act_region(0)?];
    match input.dtype {
        DType::F32 => {
            require_dtype(c, filter, DType::F32)?;
            require_dtype(c, out, DType::F32)?;
            let p = k::fully_connected::FullyConnectedF32Params::prepare(
                batches,
                in_depth,
                out_depth,
                act(o.activation),
            );
            let filter = c.const_f32(filter)?;
            let bias = bias.map(|b| c.const_f32(b)).transpose()?;
            Ok(c.step(ins, out_region, Kind::FcF32 { p, filter, bias }))
        }
        DType::I8 => {
            require_int8_or_packed(c, filter)?;
            require_dtype(c, out, DType::I8)?;
            c.const_data(filter)?;
            let (in_s, in_z) = c.qparams(input)?;
            let (out_s, out_z) = c.qparams(out)?;
            let (scales, fz) = filter_quant(c, filter)?;
            let mut mult = vec![0; scales.len()];
            let mut shift = vec![0; scales.len()];
            let quant = k::fully_connected::FcQuant {
                input_scale: in_s,
                input_zero_point: in_z,
                filter_scales: scales,
                filter_zero_point: fz,
                output_scale: out_s,
                output_zero_point: out_z,
                activation: act(o.activation),
            };
            let params = k::fully_connected::FullyConnectedS8Params::prepare(
                batches, in_depth, out_depth, &quant, &mut mult, &mut shift,
            )
            .map_err(|e| c.kernel(e))?;
            let p = FcS8::from_params(&params);
            let bias = bias.map(|b| c.const_i32(b)).transpose()?;
            let fid = c.input_id(1)?;
            let ft = c.tensor(fid)?;
            let kind = if ft.dtype == DType::I8 {
                crate::sparse::fc_kind(c.sparse, c.const_data(ft)?, p, fid, bias)
            } else {
                Kind::FcS8 {
                    p,
                    filter: fid,
                    bias,
                }
            };
            Ok(c.step(ins, out_region, kind))
        }
        d => Err(c.unsupported(format!("{} input", d.name()))),
    }
}

fn act2(a: Activation) -> k::activation::FusedActivation {
    use k::activation::FusedActivation as F;
    match a {
        Activation::None => F::None,
        Activation::Relu => F::Relu,
        Activation::Relu6 => F::Relu6,
        Activation::ReluN1To1 => F::ReluN1To1,
    }
}

fn qp(c: &Ctx<'_>, t: &Tensor) -> RuntimeResult<k::quantize::QuantParams> {
    let (s, z) = c.qparams(t)?;
    Ok(k::quantize::QuantParams::new(s, z))
}

/// Input and output of a one-operand op, both of dtype `want` (or any, if `None`).
fn same_io<'g>(c: &Ctx<'g>) -> RuntimeResult<(&'g Tensor, &'g Tensor)> {
    let (i, o) = (c.input(0)?, c.output()?);
    if i.dtype != o.dtype {
        return Err(c.unsupported(format!(
            "input is {}, output {}",
            i.dtype.name(),
            o.dtype.name()
        )));
    }
    if i.elements() != o.elements() {
        return Err(c.bad("input and output sizes differ"));
    }
    Ok((i, o))
}

fn pool(c: &Ctx<'_>, o: &tinyforge_graph::Pool2dOptions, max: bool) -> RuntimeResult<Step> {
    let (input, out) = (c.input(0)?, c.output()?);
    let (is, os) = (nhwc(c, input)?, nhwc(c, out)?);
    let (geometry, oh, ow) = ConvGeometry::from_padding(
        padding(o.padding),
        (is.h, is.w),
        (o.filter_h, o.filter_w),
        (o.stride_h, o.stride_w),
        (1, 1),
    )
    .map_err(|e| c.kernel(e))?;
    if (oh, ow) != (os.h, os.w) {
        return Err(c.bad(format!(
            "output is {}×{}, the window gives {oh}×{ow}",
            os.h, os.w
        )));
    }
    let window = k::pooling::PoolWindow {
        input_shape: is,
        output_shape: os,
        filter_h: o.filter_h,
        filter_w: o.filter_w,
        geometry,
    };
    let ins = vec![c.act_region(0)?];
    let out_region = c.out_region()?;
    match (input.dtype, out.dtype) {
        (DType::I8, DType::I8) => {
            let (s, z) = c.qparams(out)?;
            let p = k::pooling::PoolS8Params::prepare(window, s, z, act(o.activation))
                .map_err(|e| c.kernel(e))?;
            Ok(c.step(ins, out_region, Kind::PoolS8 { p, max }))
        }
        (DType::F32, DType::F32) => {
            let p = k::pooling::PoolF32Params::prepare(window, act(o.activation))
                .map_err(|e| c.kernel(e))?;
            Ok(c.step(ins, out_region, Kind::PoolF32 { p, max }))
        }
        (a, b) => Err(c.unsupported(format!("{} → {}", a.name(), b.name()))),
    }
}

fn softmax(c: &Ctx<'_>, beta: f32) -> RuntimeResult<Step> {
    let (input, out) = same_io(c)?;
    let depth = input.shape.last().copied().unwrap_or(1);
    let ins = vec![c.act_region(0)?];
    let out_region = c.out_region()?;
    match input.dtype {
        DType::I8 => {
            let p = k::activation::softmax_s8::SoftmaxParamsS8::prepare::<i8>(
                beta,
                qp(c, input)?,
                qp(c, out)?,
            )
            .map_err(|e| c.kernel(e))?;
            Ok(c.step(ins, out_region, Kind::SoftmaxS8 { p, depth }))
        }
        DType::F32 => Ok(c.step(ins, out_region, Kind::SoftmaxF32 { beta, depth })),
        d => Err(c.unsupported(format!("{} input", d.name()))),
    }
}

/// ADD or MUL, with TFLite broadcasting over shapes of rank ≤ 4.
fn binary(c: &Ctx<'_>, a: Activation, mul: bool) -> RuntimeResult<Step> {
    let (x, y, out) = (c.input(0)?, c.input(1)?, c.output()?);
    if x.dtype != y.dtype || x.dtype != out.dtype {
        return Err(c.unsupported("operands of different dtypes"));
    }
    let (s1, s2, so) = (shape4(c, x)?, shape4(c, y)?, shape4(c, out)?);
    let b = k::elementwise::broadcast_shape(s1, s2).map_err(|e| c.kernel(e))?;
    if b.elements() != so.elements() {
        return Err(c.bad("output shape is not the broadcast of the operands"));
    }
    let ops = vec![c.operand(0)?, c.operand(1)?];
    let out_region = c.out_region()?;
    let kind = match (x.dtype, mul) {
        (DType::I8, false) => Kind::AddS8 {
            p: k::elementwise::add_s8::AddParamsS8::prepare::<i8>(
                qp(c, x)?,
                qp(c, y)?,
                qp(c, out)?,
                act2(a),
            )
            .map_err(|e| c.kernel(e))?,
            s1,
            s2,
        },
        (DType::I8, true) => Kind::MulS8 {
            p: k::elementwise::mul_s8::MulParamsS8::prepare::<i8>(
                qp(c, x)?,
                qp(c, y)?,
                qp(c, out)?,
                act2(a),
            )
            .map_err(|e| c.kernel(e))?,
            s1,
            s2,
        },
        (DType::F32, false) => Kind::AddF32 {
            act: act2(a),
            s1,
            s2,
        },
        (DType::F32, true) => Kind::MulF32 {
            act: act2(a),
            s1,
            s2,
        },
        (d, _) => return Err(c.unsupported(format!("{} operands", d.name()))),
    };
    Ok(c.step_ops(ops, out_region, kind))
}

fn unary(c: &Ctx<'_>) -> RuntimeResult<Step> {
    let (input, out) = same_io(c)?;
    let ins = vec![c.act_region(0)?];
    let out_region = c.out_region()?;
    use k::activation::FusedActivation as F;
    let kind = match (&c.node.op, input.dtype) {
        (Op::Relu, DType::I8) => Kind::ReluS8(
            k::activation::relu_s8::ReluParamsS8::prepare(qp(c, input)?, qp(c, out)?)
                .map_err(|e| c.kernel(e))?,
        ),
        (Op::Relu6, DType::I8) => {
            let (qi, qo) = (qp(c, input)?, qp(c, out)?);
            if qi != qo {
                return Err(
                    c.unsupported("int8 RELU6 with different input and output quantization")
                );
            }
            Kind::Relu6S8(
                k::activation::relu_s8::Relu6ParamsS8::prepare(qi).map_err(|e| c.kernel(e))?,
            )
        }
        (Op::Logistic, DType::I8) => Kind::LogisticS8(
            k::activation::logistic_s8::LogisticParamsS8::prepare(qp(c, input)?, qp(c, out)?)
                .map_err(|e| c.kernel(e))?,
        ),
        (Op::Tanh, DType::I8) => Kind::TanhS8(
            k::activation::tanh_s8::prepare_tanh_s8(qp(c, input)?, qp(c, out)?)
                .map_err(|e| c.kernel(e))?,
        ),
        (Op::Relu, DType::F32) => Kind::ReluF32(F::Relu),
        (Op::Relu6, DType::F32) => Kind::ReluF32(F::Relu6),
        (Op::Logistic, DType::F32) => Kind::LogisticF32,
        (Op::Tanh, DType::F32) => Kind::TanhF32,
        (op, d) => return Err(c.unsupported(format!("{} on {}", op.name(), d.name()))),
    };
    Ok(c.step(ins, out_region, kind))
}

fn quantize(c: &Ctx<'_>) -> RuntimeResult<Step> {
    let (input, out) = (c.input(0)?, c.output()?);
    if input.elements() != out.elements() {
        return Err(c.bad("input and output sizes differ"));
    }
    let ins = vec![c.act_region(0)?];
    let out_region = c.out_region()?;
    let kind = match (input.dtype, out.dtype) {
        (DType::F32, DType::I8) => Kind::Quantize(
            k::quantize::quantize_f32::QuantizeParams::prepare::<i8>(qp(c, out)?)
                .map_err(|e| c.kernel(e))?,
        ),
        (DType::I8, DType::I8) => Kind::Requantize(
            k::quantize::requantize::RequantizeParams::prepare::<i8, i8>(
                qp(c, input)?,
                qp(c, out)?,
            )
            .map_err(|e| c.kernel(e))?,
        ),
        (a, b) => return Err(c.unsupported(format!("{} → {}", a.name(), b.name()))),
    };
    Ok(c.step(ins, out_region, kind))
}

fn dequantize(c: &Ctx<'_>) -> RuntimeResult<Step> {
    let (input, out) = (c.input(0)?, c.output()?);
    if input.elements() != out.elements() {
        return Err(c.bad("input and output sizes differ"));
    }
    match (input.dtype, out.dtype) {
        (DType::I8, DType::F32) => {
            let p = k::quantize::dequantize::DequantizeParams::prepare::<i8>(qp(c, input)?)
                .map_err(|e| c.kernel(e))?;
            Ok(c.step(vec![c.act_region(0)?], c.out_region()?, Kind::Dequantize(p)))
        }
        (a, b) => Err(c.unsupported(format!("{} → {}", a.name(), b.name()))),
    }
}

fn mean(c: &Ctx<'_>) -> RuntimeResult<Step> {
    let (input, out) = (c.input(0)?, c.output()?);
    let axes_t = c.input(1)?;
    let axes = c.const_i32(axes_t)?;
    let Op::Mean { keep_dims } = c.node.op else {
        return Err(c.bad("not a MEAN"));
    };
    let shape = shape4(c, input)?;
    if input.shape.len() != 4 {
        return Err(c.unsupported(format!("MEAN over a rank-{} tensor", input.shape.len())));
    }
    let ins = vec![c.act_region(0)?];
    let out_region = c.out_region()?;
    match (input.dtype, out.dtype) {
        (DType::I8, DType::I8) => {
            let p = k::reduce::mean_s8::MeanParamsS8::prepare::<i8>(
                qp(c, input)?,
                qp(c, out)?,
                &axes,
                keep_dims,
            )
            .map_err(|e| c.kernel(e))?;
            Ok(c.step(ins, out_region, Kind::MeanS8 { p, shape }))
        }
        (DType::F32, DType::F32) => {
            let axes = k::reduce::ReduceAxes::from_tflite(&axes).map_err(|e| c.kernel(e))?;
            Ok(c.step(ins, out_region, Kind::MeanF32 { axes, shape }))
        }
        (a, b) => Err(c.unsupported(format!("{} → {}", a.name(), b.name()))),
    }
}

fn pad(c: &Ctx<'_>) -> RuntimeResult<Step> {
    let (input, out) = (c.input(0)?, c.output()?);
    if input.dtype != out.dtype {
        return Err(c.unsupported("input and output dtypes differ"));
    }
    let pt = c.input(1)?;
    let flat = c.const_i32(pt)?;
    if flat.len() != 2 * input.shape.len() {
        return Err(c.bad(format!(
            "{} padding values for a rank-{} input",
            flat.len(),
            input.shape.len()
        )));
    }
    let pairs: Vec<[i32; 2]> = flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
    let paddings = k::movement::pad::Paddings::from_tflite(&pairs).map_err(|e| c.kernel(e))?;
    let shape = shape4(c, input)?;
    let padded = paddings
        .output_shape(shape)
        .ok_or_else(|| c.bad("padded shape overflows"))?;
    if padded.elements() != Some(out.elements()) {
        return Err(c.bad("output shape is not the padded input shape"));
    }
    let ins = vec![c.act_region(0)?];
    let out_region = c.out_region()?;
    match input.dtype {
        DType::I8 => {
            let (si, zi) = c.qparams(input)?;
            let (so, zo) = c.qparams(out)?;
            if (si, zi) != (so, zo) {
                return Err(c.unsupported("int8 PAD with different input and output quantization"));
            }
            let value = k::movement::pad::pad_value_s8(k::quantize::QuantParams::new(so, zo))
                .map_err(|e| c.kernel(e))?;
            Ok(c.step(
                ins,
                out_region,
                Kind::PadS8 {
                    paddings,
                    shape,
                    value,
                },
            ))
        }
        DType::F32 => Ok(c.step(ins, out_region, Kind::PadF32 { paddings, shape })),
        d => Err(c.unsupported(format!("{} input", d.name()))),
    }
}

fn concat(c: &Ctx<'_>, axis: i32, activation: Activation) -> RuntimeResult<Step> {
    if activation != Activation::None {
        return Err(c.unsupported("fused activation on CONCATENATION"));
    }
    let out = c.output()?;
    let rank = out.shape.len() as i64;
    let a = i64::from(axis);
    let a = if a < 0 { a + rank } else { a };
    if !(0..rank).contains(&a) || rank > 4 {
        return Err(c.bad(format!("axis {axis} for rank {rank}")));
    }
    let axis4 = (a + 4 - rank) as usize;
    let mut shapes = Vec::new();
    let mut ops = Vec::new();
    for k in 0..c.node.inputs.len() {
        let t = c.input(k)?;
        if t.dtype != out.dtype || t.shape.len() != out.shape.len() {
            return Err(c.unsupported("operands of different dtypes or ranks"));
        }
        if out.dtype == DType::I8 && c.qparams(t)? != c.qparams(out)? {
            return Err(c.unsupported(
                "int8 CONCATENATION with operands quantized unlike the output (as TFLite Micro)",
            ));
        }
        shapes.push(shape4(c, t)?);
        ops.push(c.operand(k)?);
    }
    let joined =
        k::movement::concatenation::concat_shape(axis4, &shapes).map_err(|e| c.kernel(e))?;
    if joined.elements() != Some(out.elements()) {
        return Err(c.bad("output shape is not the concatenation of the operands"));
    }
    let float = match out.dtype {
        DType::F32 => true,
        DType::I8 => false,
        d => return Err(c.unsupported(format!("{} operands", d.name()))),
    };
    let out_region = c.out_region()?;
    Ok(c.step_ops(
        ops,
        out_region,
        Kind::Concat {
            axis: axis4,
            shapes,
            float,
        },
    ))
}
