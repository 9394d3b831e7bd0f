//! Rust code generation: a `no_std` crate holding the weights and the call sequence of one planned
//! int8 graph, running on `tinyforge-kernels` (the same kernels as the host runtime).
//!
//! Output: `Cargo.toml` (depends on `tinyforge-kernels` by path), `src/lib.rs` (weights and
//! per-layer parameters as `static`s, a `Model` owning ONE arena of the planned size,
//! `input_mut(i)` / `invoke()` / `output(i)`), and `examples/infer.rs` (a std driver: samples on
//! stdin, outputs on stdout) used by the tests to compare with the host runtime.
//!
//! Safe Rust cannot hand a kernel an output that overlaps one of its inputs, so the layout must
//! keep every node's output disjoint from its inputs (reshape views excepted: they emit nothing).
//! Plan with `PlanOptions { fuse: false, in_place: false, .. }`; other layouts are refused with
//! [`DeployError::Unsupported`]. Requantization constants are those of the C emitter (TFLite
//! Micro's prepare), so both generated libraries compute the same bytes.
use crate::emit_c::{ident, write_file, EmitOptions};
use crate::error::{DeployError, DeployResult};
use crate::layout::ArenaLayout;
use crate::lower::{lower, AddP, Filter, Kernel, Nhwc, WeightEnc, Window};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tinyforge_graph::{DType, Graph, TensorId};
use tinyforge_kernels::sparse::SPARSE_TILE;

/// Summary of an emitted Rust crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmittedRust {
    pub dir: PathBuf,
    /// Cargo package name of the crate.
    pub package: String,
    pub arena_bytes: usize,
    pub input_bytes: Vec<usize>,
    pub output_bytes: Vec<usize>,
}

fn shape(s: &Nhwc) -> String {
    format!("Shape4::new({}, {}, {}, {})", s.n, s.h, s.w, s.c)
}

fn geometry(w: &Window) -> String {
    format!(
        "ConvGeometry {{ stride_h: {}, stride_w: {}, dilation_h: {}, dilation_w: {}, pad_h: {}, pad_w: {} }}",
        w.stride_h, w.stride_w, w.dil_h, w.dil_w, w.pad_h, w.pad_w
    )
}

fn add_literal(p: &AddP) -> String {
    format!(
        "AddParamsS8 {{ input1_offset: {}, input2_offset: {}, output_offset: {}, left_shift: {}, \
         input1_multiplier: {}, input1_shift: {}, input2_multiplier: {}, input2_shift: {}, \
         output_multiplier: {}, output_shift: {}, act_min: {}, act_max: {} }}",
        p.in1_offset,
        p.in2_offset,
        p.out_offset,
        p.left_shift,
        p.in1_mult,
        p.in1_shift,
        p.in2_mult,
        p.in2_shift,
        p.out_mult,
        p.out_shift,
        p.act_min,
        p.act_max
    )
}

fn array<T: std::fmt::Display>(out: &mut String, name: &str, ty: &str, v: &[T]) {
    let _ = write!(out, "static {name}: [{ty}; {}] = [", v.len());
    for (i, x) in v.iter().enumerate() {
        if i % 24 == 0 {
            out.push_str("\n    ");
        }
        let _ = write!(out, "{x},");
    }
    out.push_str("\n];\n");
}

fn const_values(g: &Graph, id: TensorId) -> DeployResult<(Vec<i64>, &'static str)> {
    let t = &g.tensors[id];
    let d = t
        .data
        .as_deref()
        .ok_or_else(|| DeployError::Invalid(format!("{} is not constant", t.name)))?;
    Ok(match t.dtype {
        DType::I8 => (d.iter().map(|&b| b as i8 as i64).collect(), "i8"),
        DType::I32 => (
            d.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            "i32",
        ),
        other => {
            return Err(DeployError::Unsupported(format!(
                "constant {} of type {}",
                t.name,
                other.name()
            )))
        }
    })
}

/// The filter argument of a kernel call: `&T{id}` for int8 weights, a `PackedWeights` for
/// packed ones (the tensor's bytes, read in place), a `Tfsr2` over the sparse blob (rows =
/// output channels; for depthwise, pass the channel count as `rows`).
/// Writes the statics it needs once per tensor.
fn filter_arg(
    g: &Graph,
    f: &Filter,
    rows: usize,
    statics: &mut String,
    emitted: &mut BTreeSet<TensorId>,
) -> DeployResult<String> {
    let name = format!("T{}", f.id);
    let t = &g.tensors[f.id];
    let first = emitted.insert(f.id);
    if first {
        let _ = writeln!(
            statics,
            "/// {}: {}",
            t.name.replace('\n', " "),
            f.describe()
        );
    }
    Ok(match &f.enc {
        WeightEnc::Int8 => {
            if first {
                let (v, ty) = const_values(g, f.id)?;
                array(statics, &name, ty, &v);
            }
            format!("&{name}")
        }
        WeightEnc::Packed(bits) => {
            if first {
                array(statics, &name, "u8", t.data.as_deref().unwrap_or_default());
            }
            format!(
                "PackedWeights {{ data: &{name}, bits: WeightBits::{bits:?}, len: {} }}",
                f.elements
            )
        }
        WeightEnc::Sparse { data, .. } => {
            if first {
                array(statics, &name, "u8", data);
            }
            format!(
                "&Tfsr2 {{ rows: {rows}, row_len: {}, data: &{name} }}",
                f.elements / rows.max(1)
            )
        }
    })
}

/// Emits the `no_std` crate for `graph` into `out_dir`; `kernels` is the path of the
/// `tinyforge-kernels` crate the generated one depends on.
pub fn emit_rust(
    graph: &Graph,
    layout: &dyn ArenaLayout,
    out_dir: &Path,
    kernels: &Path,
) -> DeployResult<EmittedRust> {
    emit_rust_with(graph, layout, out_dir, kernels, &EmitOptions::default())
}

/// [`emit_rust`] with explicit [`EmitOptions`].
pub fn emit_rust_with(
    graph: &Graph,
    layout: &dyn ArenaLayout,
    out_dir: &Path,
    kernels: &Path,
    opts: &EmitOptions,
) -> DeployResult<EmittedRust> {
    let lowered = lower(graph, layout, opts.sparse_rows())?;
    let mut statics = String::new();
    let mut body = String::new();
    let mut emitted: BTreeSet<TensorId> = BTreeSet::new();
    let mut emitted_filters: BTreeSet<TensorId> = BTreeSet::new();
    // i32 scratch of the sparse convolutions (the largest one)
    let mut scratch_i32 = 0usize;
    let mut tensor_static = |id: TensorId, statics: &mut String| -> DeployResult<String> {
        let name = format!("T{id}");
        if emitted.insert(id) {
            let (v, ty) = const_values(graph, id)?;
            let _ = writeln!(statics, "/// {}", graph.tensors[id].name.replace('\n', " "));
            array(statics, &name, ty, &v);
        }
        Ok(name)
    };
    for (li, l) in lowered.layers.iter().enumerate() {
        let node = &graph.nodes[l.node];
        let in_id = node.inputs[0].unwrap_or_default();
        let out_id = node.outputs[0];
        let (in_len, out_len) = (graph.tensors[in_id].bytes(), graph.tensors[out_id].bytes());
        let overlaps = |off: usize, len: usize| off < l.output + out_len && l.output < off + len;
        let mut reads = vec![(l.input, in_len)];
        if let Kernel::Add { other, .. } = &l.kernel {
            let b = node.inputs[1].unwrap_or_default();
            reads.push((*other, graph.tensors[b].bytes()));
        }
        if let Kernel::Mul { other, .. } = &l.kernel {
            let b = node.inputs[1].unwrap_or_default();
            reads.push((*other, graph.tensors[b].bytes()));
        }
        if let Kernel::Concat { outer, inputs } = &l.kernel {
            reads = inputs.iter().map(|&(o, n)| (o, n * outer)).collect();
        }
        let view = matches!(l.kernel, Kernel::Copy { .. }) && l.input == l.output;
        if !view && reads.iter().any(|&(o, n)| overlaps(o, n)) {
            return Err(DeployError::Unsupported(format!(
                "node {} ({}) writes over its input; plan without in-place aliasing and fusion \
                 (PlanOptions {{ in_place: false, fuse: false, .. }}) for Rust code",
                l.node, l.op
            )));
        }
        let p = format!("L{li}");
        let _ = writeln!(body, "        // layer {li}: node {} {}", l.node, l.op);
        if view {
            body.push_str("        // a view: same bytes, nothing to move\n");
            continue;
        }
        let _ = writeln!(
            body,
            "        {{\n            let (l, o, r) = split(&mut self.arena, ({}, {out_len}));",
            l.output
        );
        let _ = writeln!(
            body,
            "            let x = view(l, r, ({}, {out_len}), ({}, {in_len}));",
            l.output, l.input
        );
        let bias_of = |i: usize,
                       statics: &mut String,
                       ts: &mut dyn FnMut(TensorId, &mut String) -> DeployResult<String>|
         -> DeployResult<String> {
            Ok(match node.inputs.get(i).copied().flatten() {
                Some(b) => format!("Some(&{})", ts(b, statics)?),
                None => "None".into(),
            })
        };
        match &l.kernel {
            Kernel::Conv {
                input,
                output,
                win,
                in_offset,
                out_offset,
                act,
                filter,
                mult,
                shift,
                add,
                ..
            } => {
                if add.is_some() {
                    return Err(DeployError::Unsupported(format!(
                        "node {}: the fused conv+add writes in place; plan without fusion and in-place \
                         aliasing (PlanOptions {{ in_place: false, fuse: false, .. }}) for Rust code",
                        l.node
                    )));
                }
                let fs = &graph.tensors[filter.id].shape;
                let w = filter_arg(graph, filter, fs[0], &mut statics, &mut emitted_filters)?;
                let b = bias_of(2, &mut statics, &mut tensor_static)?;
                array(&mut statics, &format!("{p}_M"), "i32", mult);
                array(&mut statics, &format!("{p}_S"), "i32", shift);
                let _ = writeln!(
                    statics,
                    "static {p}: Conv2dS8Params<'static> = Conv2dS8Params {{ input_shape: {}, \
                     filter_shape: Shape4::new({}, {}, {}, {}), output_shape: {}, geometry: {}, \
                     input_offset: {in_offset}, output_offset: {out_offset}, act_min: {}, act_max: {}, \
                     output_multiplier: &{p}_M, output_shift: &{p}_S }};",
                    shape(input),
                    fs[0],
                    fs[1],
                    fs[2],
                    fs[3],
                    shape(output),
                    geometry(win),
                    act.0,
                    act.1
                );
                let call = match &filter.enc {
                    WeightEnc::Int8 => format!("conv2d_s8(&{p}, x, {w}, {b}, o)"),
                    WeightEnc::Packed(_) => format!("conv2d_packed(&{p}, x, {w}, {b}, o)"),
                    WeightEnc::Sparse { .. } => {
                        scratch_i32 = scratch_i32.max(fs[1] * fs[2] * fs[3] * SPARSE_TILE);
                        format!("conv2d_s8_tfsr2(&{p}, x, {w}, {b}, o, &mut self.scratch)")
                    }
                };
                let _ = writeln!(body, "            {call}?;");
            }
            Kernel::Depthwise {
                input,
                output,
                win,
                depth_mult,
                in_offset,
                out_offset,
                act,
                filter,
                mult,
                shift,
                ..
            } => {
                let w = filter_arg(graph, filter, output.c, &mut statics, &mut emitted_filters)?;
                let b = bias_of(2, &mut statics, &mut tensor_static)?;
                array(&mut statics, &format!("{p}_M"), "i32", mult);
                array(&mut statics, &format!("{p}_S"), "i32", shift);
                let _ = writeln!(
                    statics,
                    "static {p}: DepthwiseS8Params<'static> = DepthwiseS8Params {{ input_shape: {}, \
                     filter_shape: Shape4::new(1, {}, {}, {}), output_shape: {}, geometry: {}, \
                     depth_multiplier: {depth_mult}, input_offset: {in_offset}, output_offset: {out_offset}, \
                     act_min: {}, act_max: {}, output_multiplier: &{p}_M, output_shift: &{p}_S }};",
                    shape(input),
                    win.k_h,
                    win.k_w,
                    output.c,
                    shape(output),
                    geometry(win),
                    act.0,
                    act.1
                );
                let f = match &filter.enc {
                    WeightEnc::Packed(_) => "depthwise_conv2d_packed",
                    WeightEnc::Sparse { .. } => "depthwise_conv2d_s8_tfsr2",
                    WeightEnc::Int8 => "depthwise_conv2d_s8",
                };
                let _ = writeln!(body, "            {f}(&{p}, x, {w}, {b}, o)?;");
            }
            Kernel::FullyConnected {
                batches,
                in_n,
                out_n,
                out_offset,
                act,
                mult,
                shift,
                filter,
                ..
            } => {
                let w = filter_arg(graph, filter, *out_n, &mut statics, &mut emitted_filters)?;
                let b = bias_of(2, &mut statics, &mut tensor_static)?;
                let in_zp = graph.tensors[in_id]
                    .quant
                    .as_ref()
                    .and_then(|q| q.zero_point.first().copied())
                    .unwrap_or(0);
                array(&mut statics, &format!("{p}_M"), "i32", mult);
                array(&mut statics, &format!("{p}_S"), "i32", shift);
                let _ = writeln!(
                    statics,
                    "static {p}: FullyConnectedS8Params<'static> = FullyConnectedS8Params {{ batches: {batches}, \
                     input_depth: {in_n}, output_depth: {out_n}, input_offset: {}, filter_offset: 0, \
                     output_offset: {out_offset}, act_min: {}, act_max: {}, output_multiplier: &{p}_M, \
                     output_shift: &{p}_S }};",
                    -in_zp,
                    act.0,
                    act.1
                );
                let f = match &filter.enc {
                    WeightEnc::Int8 => "fully_connected_s8",
                    WeightEnc::Packed(_) => "fully_connected_packed",
                    WeightEnc::Sparse { .. } => "fully_connected_s8_tfsr2",
                };
                let _ = writeln!(body, "            {f}(&{p}, x, {w}, {b}, o)?;");
            }
            Kernel::Pool {
                max,
                input,
                output,
                win,
                act,
            } => {
                let _ = writeln!(
                    statics,
                    "static {p}: PoolS8Params = PoolS8Params {{ window: PoolWindow {{ input_shape: {}, \
                     output_shape: {}, filter_h: {}, filter_w: {}, geometry: {} }}, act_min: {}, act_max: {} }};",
                    shape(input),
                    shape(output),
                    win.k_h,
                    win.k_w,
                    geometry(win),
                    act.0,
                    act.1
                );
                let f = if *max {
                    "max_pool2d_s8"
                } else {
                    "average_pool2d_s8"
                };
                let _ = writeln!(body, "            {f}(&{p}, x, o)?;");
            }
            Kernel::Add { p: a, other, .. } => {
                let b = node.inputs[1].unwrap_or_default();
                let b_len = graph.tensors[b].bytes();
                let s = Nhwc::of_pub(&graph.tensors[out_id])?;
                let _ = writeln!(statics, "static {p}: AddParamsS8 = {};", add_literal(a));
                let _ = writeln!(
                    body,
                    "            let y = view(l, r, ({}, {out_len}), ({other}, {b_len}));\n            \
                     add_s8(&{p}, {s}, x, {s}, y, o)?;",
                    l.output,
                    s = shape(&s)
                );
            }
            Kernel::Mul { p: m, other, .. } => {
                let b = node.inputs[1].unwrap_or_default();
                let b_len = graph.tensors[b].bytes();
                let s = Nhwc::of_pub(&graph.tensors[out_id])?;
                let _ = writeln!(
                    statics,
                    "static {p}: MulParamsS8 = MulParamsS8 {{ input1_offset: {}, input2_offset: {}, \
                     output_offset: {}, output_multiplier: {}, output_shift: {}, act_min: {}, act_max: {} }};",
                    m[0], m[1], m[2], m[3], m[4], m[5], m[6]
                );
                let _ = writeln!(
                    body,
                    "            let y = view(l, r, ({}, {out_len}), ({other}, {b_len}));\n            \
                     mul_s8(&{p}, {s}, x, {s}, y, o)?;",
                    l.output,
                    s = shape(&s)
                );
            }
            Kernel::Softmax {
                depth,
                in_mult,
                in_left_shift,
                diff_min,
                ..
            } => {
                let _ = writeln!(
                    statics,
                    "static {p}: SoftmaxParamsS8 = SoftmaxParamsS8 {{ input_multiplier: {in_mult}, \
                     input_left_shift: {in_left_shift}, diff_min: {diff_min} }};"
                );
                let _ = writeln!(body, "            softmax_s8::<i8>(&{p}, {depth}, x, o)?;");
            }
            Kernel::Copy { .. } => {
                body.push_str("            reshape(x, o)?;\n");
            }
            Kernel::MeanHw {
                input,
                in_zp,
                out_zp,
                raw,
                ..
            } => {
                let _ = writeln!(
                    statics,
                    "static {p}: MeanParamsS8 = MeanParamsS8 {{ axes: ReduceAxes([false, true, true, false]), \
                     multiplier: {}, shift: {}, input_zero_point: {in_zp}, output_zero_point: {out_zp} }};",
                    raw.0, raw.1
                );
                let _ = writeln!(body, "            mean_s8(&{p}, {}, x, o)?;", shape(input));
            }
            Kernel::Concat { outer, inputs } => {
                let mut parts = Vec::new();
                for (k, (off, inner)) in inputs.iter().enumerate() {
                    let _ = writeln!(
                        body,
                        "            let s{k} = view(l, r, ({}, {out_len}), ({off}, {}));",
                        l.output,
                        inner * outer
                    );
                    parts.push(format!("(s{k}, {inner})"));
                }
                let _ = writeln!(
                    body,
                    "            let _ = x;\n            let mut at = 0;\n            for k in 0..{outer} {{\n                \
                     for (src, n) in [{}] {{\n                    \
                     o[at..at + n].copy_from_slice(&src[k * n..(k + 1) * n]);\n                    at += n;\n                }}\n            }}",
                    parts.join(", ")
                );
            }
            Kernel::Pad {
                input,
                before,
                after,
                value,
            } => {
                let _ = writeln!(
                    statics,
                    "static {p}: Paddings = Paddings {{ before: {before:?}, after: {after:?} }};"
                );
                let _ = writeln!(
                    body,
                    "            pad(&{p}, {}, x, {value}, o)?;",
                    shape(input)
                );
            }
            Kernel::QuantizeF32 {
                scale, zero_point, ..
            } => {
                let _ = writeln!(
                    statics,
                    "static {p}: QuantizeParams = QuantizeParams {{ scale: {scale:?}, zero_point: {zero_point} }};"
                );
                let _ = writeln!(
                    body,
                    "            for (d, s) in o.iter_mut().zip(x.chunks_exact(4)) {{\n                \
                     let v = f32::from_le_bytes([s[0] as u8, s[1] as u8, s[2] as u8, s[3] as u8]);\n                \
                     *d = {p}.quantize_one::<i8>(v);\n            }}"
                );
            }
            Kernel::DequantizeLut { table, .. } => {
                let values: Vec<String> = table.iter().map(|v| format!("{v:?}")).collect();
                array(&mut statics, &format!("{p}_TABLE"), "f32", &values);
                let _ = writeln!(
                    body,
                    "            for (d, s) in o.chunks_exact_mut(4).zip(x) {{\n                \
                     for (b, v) in d.iter_mut().zip({p}_TABLE[*s as u8 as usize].to_le_bytes()) {{\n                    \
                     *b = v as i8;\n                }}\n            }}"
                );
            }
            Kernel::Lut { table, .. } => {
                array(&mut statics, &format!("{p}_TABLE"), "i8", table);
                let _ = writeln!(
                    body,
                    "            // element-wise {} through its 256-entry table\n            \
                     for (d, s) in o.iter_mut().zip(x) {{\n                *d = {p}_TABLE[*s as u8 as usize];\n            }}",
                    l.op
                );
            }
        }
        body.push_str("        }\n");
    }

    let package = format!(
        "tinyforge-model-{}",
        ident(&graph.name).to_lowercase().replace('_', "-")
    );
    let krate = package.replace('-', "_");
    let list = |v: &[usize]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let in_off: Vec<usize> = lowered.inputs.iter().map(|t| t.offset).collect();
    let in_len: Vec<usize> = lowered.inputs.iter().map(|t| t.bytes).collect();
    let out_off: Vec<usize> = lowered.outputs.iter().map(|t| t.offset).collect();
    let out_len: Vec<usize> = lowered.outputs.iter().map(|t| t.bytes).collect();
    let mut lib = String::new();
    let _ = write!(
        lib,
        "//! Generated by tinyforge from model \"{name}\". Do not edit.\n//!\n\
         //! int8 inference with no interpreter and no allocation: weights are `static`s (flash on a\n\
         //! microcontroller), activations live in one arena of {arena} bytes inside [`Model`].\n\
         #![no_std]\n#![allow(clippy::all, unused_imports)]\n\n\
         use tinyforge_kernels::activation::softmax_s8::{{softmax_s8, SoftmaxParamsS8}};\n\
         use tinyforge_kernels::conv::{{conv2d_s8, Conv2dS8Params, ConvGeometry}};\n\
         use tinyforge_kernels::conv::conv2d_s4::conv2d_packed;\n\
         use tinyforge_kernels::depthwise::depthwise_conv2d_s4::depthwise_conv2d_packed;\n\
         use tinyforge_kernels::fully_connected::fully_connected_s4::fully_connected_packed;\n\
         use tinyforge_kernels::packed::{{PackedWeights, WeightBits}};\n\
         use tinyforge_kernels::sparse::{{conv2d_s8_tfsr2, depthwise_conv2d_s8_tfsr2, fully_connected_s8_tfsr2, Tfsr2}};\n\
         use tinyforge_kernels::depthwise::{{depthwise_conv2d_s8, DepthwiseS8Params}};\n\
         use tinyforge_kernels::elementwise::add_s8::{{add_s8, AddParamsS8}};\n\
         use tinyforge_kernels::elementwise::mul_s8::{{mul_s8, MulParamsS8}};\n\
         use tinyforge_kernels::fully_connected::{{fully_connected_s8, FullyConnectedS8Params}};\n\
         use tinyforge_kernels::movement::reshape::reshape;\n\
         use tinyforge_kernels::movement::pad::{{pad, Paddings}};\n\
         use tinyforge_kernels::pooling::{{average_pool2d_s8, max_pool2d_s8, PoolS8Params, PoolWindow}};\n\
         use tinyforge_kernels::reduce::mean_s8::{{mean_s8, MeanParamsS8}};\n\
         use tinyforge_kernels::reduce::ReduceAxes;\n\
         use tinyforge_kernels::quantize::quantize_f32::QuantizeParams;\n\
         pub use tinyforge_kernels::KernelError;\n\
         use tinyforge_kernels::Shape4;\n\n\
         /// Bytes of the activation arena (the memory plan's size).\n\
         pub const ARENA_BYTES: usize = {arena};\n\
         /// Bytes of each input / output (int8).\n\
         pub const INPUT_BYTES: [usize; {ni}] = [{il}];\n\
         pub const OUTPUT_BYTES: [usize; {no}] = [{ol}];\n\
         const INPUT_OFFSETS: [usize; {ni}] = [{io}];\n\
         const OUTPUT_OFFSETS: [usize; {no}] = [{oo}];\n\n\
         /// The model and its arena. Put it in a `static` (or a `Box` on a host).\n\
         /// i32 scratch of the sparse convolutions.\n\
         const SCRATCH_I32: usize = {scratch};\n\n\
         pub struct Model {{\n    arena: [i8; ARENA_BYTES],\n    scratch: [i32; SCRATCH_I32],\n}}\n\n\
         /// The output region, and the arena on either side of it.\n\
         fn split(arena: &mut [i8], out: (usize, usize)) -> (&[i8], &mut [i8], &[i8]) {{\n\
         \x20   let (left, rest) = arena.split_at_mut(out.0);\n\
         \x20   let (o, right) = rest.split_at_mut(out.1);\n\
         \x20   (left, o, right)\n}}\n\n\
         /// An input region, which the layout keeps clear of the output region.\n\
         fn view<'a>(left: &'a [i8], right: &'a [i8], out: (usize, usize), r: (usize, usize)) -> &'a [i8] {{\n\
         \x20   if r.0 + r.1 <= out.0 {{\n        &left[r.0..r.0 + r.1]\n    }} else {{\n\
         \x20       let s = r.0 - out.0 - out.1;\n        &right[s..s + r.1]\n    }}\n}}\n\n\
         impl Model {{\n\
         \x20   pub const fn new() -> Self {{\n        Model {{ arena: [0; ARENA_BYTES], scratch: [0; SCRATCH_I32] }}\n    }}\n\n\
         \x20   /// Input `i` (quantized int8, as the model's input tensor). Panics if `i` is out of range.\n\
         \x20   pub fn input_mut(&mut self, i: usize) -> &mut [i8] {{\n\
         \x20       &mut self.arena[INPUT_OFFSETS[i]..INPUT_OFFSETS[i] + INPUT_BYTES[i]]\n    }}\n\n\
         \x20   /// Output `i` of the last [`Model::invoke`]. Panics if `i` is out of range.\n\
         \x20   pub fn output(&self, i: usize) -> &[i8] {{\n\
         \x20       &self.arena[OUTPUT_OFFSETS[i]..OUTPUT_OFFSETS[i] + OUTPUT_BYTES[i]]\n    }}\n\n\
         \x20   /// Runs every layer in order.\n\
         \x20   pub fn invoke(&mut self) -> Result<(), KernelError> {{\n{body}        Ok(())\n    }}\n}}\n\n\
         impl Default for Model {{\n    fn default() -> Self {{\n        Self::new()\n    }}\n}}\n\n{statics}",
        name = graph.name.replace('"', "'").replace('\n', " "),
        arena = lowered.arena_bytes,
        ni = in_len.len(),
        no = out_len.len(),
        il = list(&in_len),
        ol = list(&out_len),
        io = list(&in_off),
        oo = list(&out_off),
        scratch = scratch_i32,
    );
    let cargo = format!(
        "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\ntinyforge-kernels = {{ path = \"{}\" }}\n\n\
         # a standalone crate, wherever it is generated\n[workspace]\n",
        kernels.display().to_string().replace('\\', "/")
    );
    let example = format!(
        "//! Runs the model on every sample read from stdin (all inputs of a sample back to back) and\n\
         //! writes the outputs to stdout.\n\
         use std::io::{{Read, Write}};\nuse {krate}::{{Model, INPUT_BYTES, OUTPUT_BYTES}};\n\n\
         fn main() {{\n\
         \x20   let mut data = Vec::new();\n    std::io::stdin().read_to_end(&mut data).expect(\"stdin\");\n\
         \x20   let mut model = Box::new(Model::new());\n\
         \x20   let per: usize = INPUT_BYTES.iter().sum();\n\
         \x20   let mut out = std::io::stdout().lock();\n\
         \x20   for sample in data.chunks_exact(per) {{\n\
         \x20       let mut at = 0;\n\
         \x20       for (i, &n) in INPUT_BYTES.iter().enumerate() {{\n\
         \x20           for (d, s) in model.input_mut(i).iter_mut().zip(&sample[at..at + n]) {{\n\
         \x20               *d = *s as i8;\n            }}\n            at += n;\n        }}\n\
         \x20       model.invoke().expect(\"kernels accept the generated parameters\");\n\
         \x20       for i in 0..OUTPUT_BYTES.len() {{\n\
         \x20           let bytes: Vec<u8> = model.output(i).iter().map(|&v| v as u8).collect();\n\
         \x20           out.write_all(&bytes).expect(\"stdout\");\n        }}\n    }}\n}}\n"
    );
    let src = out_dir.join("src");
    let examples = out_dir.join("examples");
    for d in [&src, &examples] {
        std::fs::create_dir_all(d).map_err(|e| DeployError::io(d, e))?;
    }
    write_file(&out_dir.join("Cargo.toml"), &cargo)?;
    write_file(&src.join("lib.rs"), &lib)?;
    write_file(&examples.join("infer.rs"), &example)?;
    Ok(EmittedRust {
        dir: out_dir.to_path_buf(),
        package,
        arena_bytes: lowered.arena_bytes,
        input_bytes: in_len,
        output_bytes: out_len,
    })
}
