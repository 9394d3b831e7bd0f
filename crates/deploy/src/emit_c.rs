//! C code generation: a portable C99 library that runs one planned int8 graph with no
//! interpreter.
//!
//! Output files (all in one directory, no subfolders, so any build system takes them as is):
//! - `tf_kernels.h` / `tf_kernels.c`: the int8 kernels (ports of `tinyforge-kernels`);
//! - `tf_model.h`: the API — `tf_input(i)`, `tf_invoke()`, `tf_output(i)`, sizes;
//! - `tf_model.c`: weights and biases as `const` arrays (flash), ONE static arena of exactly
//!   the planned size, the per-layer constant structs, and `tf_invoke()` calling the kernels in
//!   order with every shape and requantization constant baked in.
//!
//! Ops: CONV_2D (and the planner's fused CONV_2D+ADD), DEPTHWISE_CONV_2D, FULLY_CONNECTED,
//! AVERAGE/MAX_POOL_2D, ADD, MUL, SOFTMAX, MEAN over H·W, PAD, CONCATENATION, RESHAPE/SQUEEZE,
//! RELU/RELU6/LOGISTIC/TANH and int8 re-QUANTIZE (as exact 256-entry tables), and float32
//! model inputs/outputs through QUANTIZE/DEQUANTIZE. Anything else is
//! [`crate::DeployError::Unsupported`] with the node named.
//!
//! Invariants: the arena size is the layout's `arena_bytes()` (the im2col scratch some
//! convolutions need is a separate static buffer, reported as `scratch_bytes`); tensor offsets
//! are those of the layout. Defining `TF_BENCH_LAYERS` makes `tf_invoke` call `bench_layer()`
//! before each layer, which the emulator harness uses for per-layer instruction counts.
use crate::error::{DeployError, DeployResult};
use crate::layout::ArenaLayout;
use crate::lower::{lower, AddP, Filter, Kernel, Lowered, WeightEnc, Window};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tinyforge_graph::{Graph, TensorId};

pub(crate) const KERNELS_H: &str = include_str!("../c/tf_kernels.h");
pub(crate) const KERNELS_C: &str = include_str!("../c/tf_kernels.c");

/// What one emitted layer computes, for reports (MACs per instruction per layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Index of the node in the graph.
    pub node: usize,
    /// TFLite builtin name of the op (`CONV_2D+ADD` for the fused pair).
    pub op: &'static str,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// How the layer's filter is stored (conv, depthwise, fully connected).
    pub weights: Option<WeightInfo>,
}

/// The storage chosen for one layer's filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightInfo {
    /// `int8`, `int4`, `int2` (packed, read in place) or `sparse` (a `TFSR2` blob, header included).
    pub encoding: &'static str,
    /// Bytes in flash as emitted.
    pub bytes: usize,
    /// Bytes the same filter takes as plain int8.
    pub int8_bytes: usize,
    /// Weights in the filter.
    pub elements: usize,
    /// Non-zero weights.
    pub nonzeros: usize,
    /// One line for people, e.g. `sparse 79 %, 412 B of 2,048 B (TFSR2 gaps, block 1)`.
    pub summary: String,
}

impl From<&Filter> for WeightInfo {
    fn from(f: &Filter) -> Self {
        WeightInfo {
            encoding: f.kind(),
            bytes: f.stored_bytes(),
            int8_bytes: f.elements,
            elements: f.elements,
            nonzeros: f.nonzeros,
            summary: f.describe(),
        }
    }
}

impl WeightInfo {
    /// Zero weights / all weights.
    pub fn sparsity(&self) -> f64 {
        1.0 - self.nonzeros as f64 / self.elements.max(1) as f64
    }
}

/// Choices of the code generators that do not change results.
#[derive(Debug, Clone, PartialEq)]
pub struct EmitOptions {
    /// Store int8 conv / depthwise / fully-connected filters as their smallest `TFSR2` blob
    /// where it is at most [`crate::SPARSE_MAX_RATIO`] of the dense bytes (default `true`;
    /// in-place depthwise layers stay dense).
    pub sparse: bool,
    /// Shortest row (weights per output channel) stored sparse (default
    /// [`crate::SPARSE_MIN_ROW`], where the sparse kernels stop being slower on a Cortex-M4).
    pub sparse_min_row: usize,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            sparse: true,
            sparse_min_row: crate::lower::SPARSE_MIN_ROW,
        }
    }
}

impl EmitOptions {
    pub(crate) fn sparse_rows(&self) -> Option<usize> {
        self.sparse.then_some(self.sparse_min_row)
    }
}

/// Summary of an emitted C library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmittedC {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// Size of the static activation arena (the plan's size).
    pub arena_bytes: usize,
    /// Static im2col / in-place scratch beside the arena.
    pub scratch_bytes: usize,
    /// Bytes of constant weights, biases and per-channel constants placed in flash.
    pub const_bytes: usize,
    pub input_bytes: Vec<usize>,
    pub output_bytes: Vec<usize>,
    pub layers: Vec<LayerInfo>,
}

impl EmittedC {
    /// Total multiply-accumulates per inference.
    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|l| l.macs).sum()
    }
}

/// The generated model source, before it is written anywhere (shared by the Arduino emitter).
pub(crate) struct ModelSource {
    pub header: String,
    pub source: String,
    pub lowered: Lowered,
    pub const_bytes: usize,
}

fn c_ident(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A C comment body that cannot terminate the comment.
fn c_comment(s: &str) -> String {
    s.replace("*/", "* /").replace(['\n', '\r'], " ")
}

fn write_array<T: std::fmt::Display>(out: &mut String, decl: &str, values: &[T]) {
    let _ = writeln!(out, "{decl}[{}] = {{", values.len().max(1));
    if values.is_empty() {
        out.push_str("    0,\n");
    }
    for chunk in values.chunks(16) {
        out.push_str("    ");
        for v in chunk {
            let _ = write!(out, "{v},");
        }
        out.push('\n');
    }
    out.push_str("};\n");
}

fn window_fields(w: &Window) -> String {
    format!(
        ".k_h = {}, .k_w = {}, .stride_h = {}, .stride_w = {}, .dil_h = {}, .dil_w = {}, .pad_h = {}, .pad_w = {}",
        w.k_h, w.k_w, w.stride_h, w.stride_w, w.dil_h, w.dil_w, w.pad_h, w.pad_w
    )
}

fn add_fields(p: &AddP) -> String {
    format!(
        ".in1_offset = {}, .in2_offset = {}, .out_offset = {}, .in1_mult = {}, .in2_mult = {}, \
         .out_mult = {}, .in1_shift = {}, .in2_shift = {}, .out_shift = {}, .left_shift = {}, \
         .act_min = {}, .act_max = {}",
        p.in1_offset,
        p.in2_offset,
        p.out_offset,
        p.in1_mult,
        p.in2_mult,
        p.out_mult,
        p.in1_shift,
        p.in2_shift,
        p.out_shift,
        p.left_shift,
        p.act_min,
        p.act_max
    )
}

pub(crate) fn generate(
    graph: &Graph,
    layout: &dyn ArenaLayout,
    opts: &EmitOptions,
) -> DeployResult<ModelSource> {
    let lowered = lower(graph, layout, opts.sparse_rows())?;
    if lowered.inputs.is_empty() || lowered.outputs.is_empty() {
        return Err(DeployError::Invalid(
            "graph has no inputs or no outputs".into(),
        ));
    }
    let mut consts = String::new();
    let mut body = String::new();
    let mut weights: BTreeMap<TensorId, String> = BTreeMap::new();
    let mut const_bytes = 0usize;
    let mut weight_array = |f: &Filter, consts: &mut String, const_bytes: &mut usize| -> String {
        if let Some(name) = weights.get(&f.id) {
            return name.clone();
        }
        let t = &graph.tensors[f.id];
        // packed and plain weights are the tensor's own bytes; sparse ones its encoding
        let bytes: &[u8] = match &f.enc {
            WeightEnc::Sparse { data, .. } => data,
            WeightEnc::Int8 | WeightEnc::Packed(_) => t.data.as_deref().unwrap_or_default(),
        };
        let data: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
        let name = format!("tf_w{}", f.id);
        let _ = writeln!(
            consts,
            "/* {} {:?}: {} */",
            c_comment(&t.name),
            t.shape,
            f.describe()
        );
        write_array(consts, &format!("static const int8_t {name}"), &data);
        *const_bytes += data.len();
        weights.insert(f.id, name.clone());
        name
    };
    // the entry point and the struct fields naming the filter storage
    let storage = |f: &Filter, prefix: &str| -> (String, String) {
        match &f.enc {
            WeightEnc::Int8 => (format!("{prefix}_s8"), String::new()),
            WeightEnc::Packed(bits) => (
                format!("{prefix}_packed"),
                format!(
                    ".wbits = {}, ",
                    match bits {
                        tinyforge_kernels::packed::WeightBits::I4 => 4,
                        tinyforge_kernels::packed::WeightBits::I2 => 2,
                    }
                ),
            ),
            // depthwise params have no block field: the kernels read the blob's header
            WeightEnc::Sparse { enc, .. } if prefix != "tf_depthwise_conv2d" => (
                format!("{prefix}_sparse"),
                format!(".sparse_block = {}, ", enc.block),
            ),
            WeightEnc::Sparse { .. } => (format!("{prefix}_sparse"), String::new()),
        }
    };
    let i32_array = |consts: &mut String, const_bytes: &mut usize, name: &str, v: &[i32]| {
        write_array(consts, &format!("static const int32_t {name}"), v);
        *const_bytes += 4 * v.len();
    };
    // shifts fit in −31..=30: one byte each keeps per-channel constants small in flash
    let shift_array = |consts: &mut String, const_bytes: &mut usize, name: &str, v: &[i32]| {
        write_array(consts, &format!("static const int8_t {name}"), v);
        *const_bytes += v.len();
    };
    let scratch = if lowered.scratch_bytes > 0 {
        "tf_scratch"
    } else {
        "NULL"
    };

    for (li, l) in lowered.layers.iter().enumerate() {
        let node = &graph.nodes[l.node];
        let out_name = node
            .outputs
            .first()
            .map(|&o| graph.tensors[o].name.as_str())
            .unwrap_or("");
        let _ = writeln!(
            body,
            "    /* layer {li}: node {} {} -> {} */",
            l.node,
            l.op,
            c_comment(out_name)
        );
        body.push_str("    TF_LAYER_MARK();\n");
        let p = format!("tf_l{li}");
        match &l.kernel {
            Kernel::Conv {
                input,
                output,
                win,
                in_offset,
                out_offset,
                act,
                filter,
                bias_folded,
                mult,
                shift,
                add,
            } => {
                let w = weight_array(filter, &mut consts, &mut const_bytes);
                let (func, wfields) = storage(filter, "tf_conv2d");
                let _ = writeln!(body, "    /* weights: {} */", filter.describe());
                i32_array(
                    &mut consts,
                    &mut const_bytes,
                    &format!("{p}_bias"),
                    bias_folded,
                );
                i32_array(&mut consts, &mut const_bytes, &format!("{p}_mult"), mult);
                shift_array(&mut consts, &mut const_bytes, &format!("{p}_shift"), shift);
                let (add_ptr, skip, first) = match add {
                    Some((a, skip_off, first)) => {
                        let _ = writeln!(
                            consts,
                            "static const tf_add_params {p}_add = {{{}}};",
                            add_fields(a)
                        );
                        (format!("&{p}_add"), format!("A({skip_off})"), *first as u8)
                    }
                    None => ("NULL".to_string(), "NULL".to_string(), 0),
                };
                let _ = writeln!(
                    consts,
                    "static const tf_conv_params {p} = {{.batches = {}, .in_h = {}, .in_w = {}, .in_c = {}, \
                     .out_h = {}, .out_w = {}, .out_c = {}, {}, .in_offset = {in_offset}, \
                     .out_offset = {out_offset}, .act_min = {}, .act_max = {}, .add = {add_ptr}, \
                     .conv_is_first = {first}, {wfields}.filter = {w}, .bias = {p}_bias, .mult = {p}_mult, .shift = {p}_shift}};",
                    input.n, input.h, input.w, input.c, output.h, output.w, output.c,
                    window_fields(win), act.0, act.1
                );
                let _ = writeln!(
                    body,
                    "    {func}(&{p}, A({}), {skip}, A({}), {scratch});",
                    l.input, l.output
                );
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
                bias,
                mult,
                shift,
            } => {
                let w = weight_array(filter, &mut consts, &mut const_bytes);
                let (func, wfields) = storage(filter, "tf_depthwise_conv2d");
                let _ = writeln!(body, "    /* weights: {} */", filter.describe());
                i32_array(&mut consts, &mut const_bytes, &format!("{p}_bias"), bias);
                i32_array(&mut consts, &mut const_bytes, &format!("{p}_mult"), mult);
                shift_array(&mut consts, &mut const_bytes, &format!("{p}_shift"), shift);
                let _ = writeln!(
                    consts,
                    "static const tf_dw_params {p} = {{.batches = {}, .in_h = {}, .in_w = {}, .in_c = {}, \
                     .out_h = {}, .out_w = {}, .out_c = {}, .depth_mult = {depth_mult}, {}, \
                     .in_offset = {in_offset}, .out_offset = {out_offset}, .act_min = {}, .act_max = {}, \
                     {wfields}.filter = {w}, .bias = {p}_bias, .mult = {p}_mult, .shift = {p}_shift}};",
                    input.n, input.h, input.w, input.c, output.h, output.w, output.c,
                    window_fields(win), act.0, act.1
                );
                if matches!(filter.enc, WeightEnc::Int8) {
                    let _ = writeln!(
                        body,
                        "    {func}(&{p}, A({}), A({}), {scratch});",
                        l.input, l.output
                    );
                } else {
                    let _ = writeln!(body, "    {func}(&{p}, A({}), A({}));", l.input, l.output);
                }
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
                bias_folded,
            } => {
                let w = weight_array(filter, &mut consts, &mut const_bytes);
                let (func, wfields) = storage(filter, "tf_fully_connected");
                let _ = writeln!(body, "    /* weights: {} */", filter.describe());
                i32_array(
                    &mut consts,
                    &mut const_bytes,
                    &format!("{p}_bias"),
                    bias_folded,
                );
                i32_array(&mut consts, &mut const_bytes, &format!("{p}_mult"), mult);
                shift_array(&mut consts, &mut const_bytes, &format!("{p}_shift"), shift);
                let _ = writeln!(
                    consts,
                    "static const tf_fc_params {p} = {{.batches = {batches}, .in_n = {in_n}, .out_n = {out_n}, \
                     .out_offset = {out_offset}, .act_min = {}, .act_max = {}, .per_channel = {}, {wfields}.filter = {w}, .bias = {p}_bias, .mult = {p}_mult, .shift = {p}_shift}};",
                    act.0, act.1, (mult.len() > 1) as u8
                );
                let _ = writeln!(body, "    {func}(&{p}, A({}), A({}));", l.input, l.output);
            }
            Kernel::Pool {
                max,
                input,
                output,
                win,
                act,
            } => {
                let _ = writeln!(
                    consts,
                    "static const tf_pool_params {p} = {{.batches = {}, .in_h = {}, .in_w = {}, .c = {}, \
                     .out_h = {}, .out_w = {}, .f_h = {}, .f_w = {}, .stride_h = {}, .stride_w = {}, \
                     .pad_h = {}, .pad_w = {}, .act_min = {}, .act_max = {}}};",
                    input.n, input.h, input.w, input.c, output.h, output.w, win.k_h, win.k_w,
                    win.stride_h, win.stride_w, win.pad_h, win.pad_w, act.0, act.1
                );
                let f = if *max {
                    "tf_max_pool_s8"
                } else {
                    "tf_avg_pool_s8"
                };
                let _ = writeln!(body, "    {f}(&{p}, A({}), A({}));", l.input, l.output);
            }
            Kernel::Add {
                p: a,
                other,
                elements,
            } => {
                let _ = writeln!(
                    consts,
                    "static const tf_add_params {p} = {{{}}};",
                    add_fields(a)
                );
                let _ = writeln!(
                    body,
                    "    tf_add_s8(&{p}, A({}), A({other}), A({}), {elements});",
                    l.input, l.output
                );
            }
            Kernel::Mul {
                p: m,
                other,
                elements,
            } => {
                let _ = writeln!(
                    consts,
                    "static const tf_mul_params {p} = {{.in1_offset = {}, .in2_offset = {}, .out_offset = {}, \
                     .mult = {}, .shift = {}, .act_min = {}, .act_max = {}}};",
                    m[0], m[1], m[2], m[3], m[4], m[5], m[6]
                );
                let _ = writeln!(
                    body,
                    "    tf_mul_s8(&{p}, A({}), A({other}), A({}), {elements});",
                    l.input, l.output
                );
            }
            Kernel::Softmax {
                rows,
                depth,
                in_mult,
                in_left_shift,
                diff_min,
            } => {
                let _ = writeln!(
                    consts,
                    "static const tf_softmax_params {p} = {{.rows = {rows}, .depth = {depth}, \
                     .in_mult = {in_mult}, .in_left_shift = {in_left_shift}, .diff_min = {diff_min}}};"
                );
                let _ = writeln!(
                    body,
                    "    tf_softmax_s8(&{p}, A({}), A({}));",
                    l.input, l.output
                );
            }
            Kernel::MeanHw {
                input,
                in_zp,
                out_zp,
                folded,
                ..
            } => {
                let _ = writeln!(
                    consts,
                    "static const tf_mean_params {p} = {{.batches = {}, .h = {}, .w = {}, .c = {}, \
                     .in_zp = {in_zp}, .out_zp = {out_zp}, .mult = {}, .shift = {}}};",
                    input.n, input.h, input.w, input.c, folded.0, folded.1
                );
                let _ = writeln!(
                    body,
                    "    tf_mean_hw_s8(&{p}, A({}), A({}));",
                    l.input, l.output
                );
            }
            Kernel::Concat { outer, inputs } => {
                let srcs: Vec<String> = inputs.iter().map(|(o, _)| format!("A({o})")).collect();
                let inner: Vec<String> = inputs.iter().map(|(_, n)| n.to_string()).collect();
                let _ = writeln!(
                    consts,
                    "static const int8_t *const {p}_src[] = {{{}}};\nstatic const uint32_t {p}_inner[] = {{{}}};",
                    srcs.join(", "),
                    inner.join(", ")
                );
                let _ = writeln!(
                    body,
                    "    tf_concat_s8({}, {p}_src, {p}_inner, {outer}, A({}));",
                    inputs.len(),
                    l.output
                );
            }
            Kernel::Pad {
                input,
                before,
                after,
                value,
            } => {
                let _ = writeln!(
                    consts,
                    "static const tf_pad_params {p} = {{.in = {{{}, {}, {}, {}}}, .before = {{{}, {}, {}, {}}}, \
                     .after = {{{}, {}, {}, {}}}, .value = {value}}};",
                    input.n, input.h, input.w, input.c, before[0], before[1], before[2], before[3],
                    after[0], after[1], after[2], after[3]
                );
                let _ = writeln!(
                    body,
                    "    tf_pad_s8(&{p}, A({}), A({}));",
                    l.input, l.output
                );
            }
            Kernel::QuantizeF32 {
                scale,
                zero_point,
                elements,
            } => {
                let _ = writeln!(
                    body,
                    "    tf_quantize_f32_s8((const float *)(const void *)A({}), A({}), {elements}, {scale:?}f, {zero_point});",
                    l.input, l.output
                );
            }
            Kernel::DequantizeLut { table, elements } => {
                let values: Vec<String> = table.iter().map(|v| format!("{v:?}f")).collect();
                let _ = writeln!(
                    consts,
                    "/* DEQUANTIZE as a table: the exact float of every int8 */"
                );
                write_array(
                    &mut consts,
                    &format!("static const float {p}_table"),
                    &values,
                );
                const_bytes += 4 * table.len();
                let _ = writeln!(
                    body,
                    "    tf_dequantize_s8_f32({p}_table, A({}), (float *)(void *)A({}), {elements});",
                    l.input, l.output
                );
            }
            Kernel::Lut { table, elements } => {
                let _ = writeln!(
                    consts,
                    "/* element-wise {} as a table, indexed by the input byte */",
                    l.op
                );
                write_array(
                    &mut consts,
                    &format!("static const int8_t {p}_table"),
                    table,
                );
                const_bytes += table.len();
                let _ = writeln!(
                    body,
                    "    tf_lut_s8({p}_table, A({}), A({}), {elements});",
                    l.input, l.output
                );
            }
            Kernel::Copy { bytes } => {
                if l.input == l.output {
                    body.push_str("    /* a view: same bytes, nothing to move */\n");
                } else {
                    let _ = writeln!(
                        body,
                        "    tf_copy(A({}), A({}), {bytes});",
                        l.output, l.input
                    );
                }
            }
        }
    }

    let guard = "TF_MODEL_H";
    let mut header = String::new();
    let _ = write!(
        header,
        "/* Generated by tinyforge from model \"{name}\". Do not edit.\n\
         * int8 inputs and outputs live in the static arena; fill tf_input(i), call\n\
         * tf_invoke(), read tf_output(i). No heap, no interpreter, not reentrant. */\n\
         #ifndef {guard}\n#define {guard}\n\n#include <stddef.h>\n#include <stdint.h>\n\n\
         #ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n\
         #define TF_NUM_INPUTS {ni}\n#define TF_NUM_OUTPUTS {no}\n\
         #define TF_ARENA_BYTES {arena}\n#define TF_SCRATCH_BYTES {scratch_n}\n\n\
         int8_t *tf_input(int i);\nint8_t *tf_output(int i);\n\
         size_t tf_input_bytes(int i);\nsize_t tf_output_bytes(int i);\n\
         void tf_invoke(void);\n\n\
         #ifdef __cplusplus\n}}\n#endif\n#endif\n",
        name = c_comment(&graph.name),
        ni = lowered.inputs.len(),
        no = lowered.outputs.len(),
        arena = lowered.arena_bytes,
        scratch_n = lowered.scratch_bytes,
    );

    let mut source = String::new();
    let _ = write!(
        source,
        "/* Generated by tinyforge from model \"{}\": {} layers, {} MACs per inference. */\n\
         #include \"tf_model.h\"\n#include \"tf_kernels.h\"\n\n\
         #if defined(__GNUC__) || defined(__clang__)\n#define TF_ALIGNED __attribute__((aligned(16)))\n\
         #else\n#define TF_ALIGNED\n#endif\n\n\
         #ifdef TF_BENCH_LAYERS\nvoid bench_layer(void);\n#define TF_LAYER_MARK() bench_layer()\n\
         #else\n#define TF_LAYER_MARK() ((void)0)\n#endif\n\n\
         static int8_t tf_arena[{}] TF_ALIGNED;\n",
        c_comment(&graph.name),
        lowered.layers.len(),
        lowered.layers.iter().map(|l| l.macs).sum::<u64>(),
        lowered.arena_bytes.max(1)
    );
    if lowered.scratch_bytes > 0 {
        let _ = writeln!(
            source,
            "static int8_t tf_scratch[{}] TF_ALIGNED;",
            lowered.scratch_bytes
        );
    }
    let filters: Vec<String> = lowered
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            l.filter()
                .map(|f| format!(" *   layer {i} ({}): {}", l.op, c_comment(&f.describe())))
        })
        .collect();
    if !filters.is_empty() {
        let _ = writeln!(
            source,
            "\n/* Filters as stored in flash (int8, packed int4/int2 read in place, or the\n \
             * smallest TFSR2 sparse blob, walked in place, where that is at most {:.0} % of\n \
             * the int8 bytes and, for conv / FC, rows hold at least {} weights; sparse\n \
             * bytes include the 4-byte header, and no row table is stored):\n{}\n */",
            100.0 * crate::lower::SPARSE_MAX_RATIO,
            opts.sparse_min_row,
            filters.join("\n")
        );
    }
    source.push_str("#define A(off) (tf_arena + (off))\n\n");
    source.push_str(&consts);
    let table = |name: &str,
                 io: &[crate::lower::IoTensor],
                 f: &dyn Fn(&crate::lower::IoTensor) -> usize| {
        let vals: Vec<String> = io.iter().map(|t| f(t).to_string()).collect();
        format!(
            "static const uint32_t {name}[] = {{{}}};\n",
            vals.join(", ")
        )
    };
    source.push('\n');
    source.push_str(&table("tf_in_off", &lowered.inputs, &|t| t.offset));
    source.push_str(&table("tf_in_len", &lowered.inputs, &|t| t.bytes));
    source.push_str(&table("tf_out_off", &lowered.outputs, &|t| t.offset));
    source.push_str(&table("tf_out_len", &lowered.outputs, &|t| t.bytes));
    source.push_str(
        "\nint8_t *tf_input(int i) { return (i >= 0 && i < TF_NUM_INPUTS) ? A(tf_in_off[i]) : NULL; }\n\
         int8_t *tf_output(int i) { return (i >= 0 && i < TF_NUM_OUTPUTS) ? A(tf_out_off[i]) : NULL; }\n\
         size_t tf_input_bytes(int i) { return (i >= 0 && i < TF_NUM_INPUTS) ? tf_in_len[i] : 0; }\n\
         size_t tf_output_bytes(int i) { return (i >= 0 && i < TF_NUM_OUTPUTS) ? tf_out_len[i] : 0; }\n\n\
         void tf_invoke(void)\n{\n",
    );
    source.push_str(&body);
    source.push_str("}\n");
    Ok(ModelSource {
        header,
        source,
        lowered,
        const_bytes,
    })
}

pub(crate) fn write_file(path: &Path, text: &str) -> DeployResult<()> {
    std::fs::write(path, text).map_err(|e| DeployError::io(path, e))
}

/// Emits the C library for `graph` laid out by `layout` into `out_dir` (created if needed).
pub fn emit_c(graph: &Graph, layout: &dyn ArenaLayout, out_dir: &Path) -> DeployResult<EmittedC> {
    emit_c_with(graph, layout, out_dir, &EmitOptions::default())
}

/// [`emit_c`] with explicit [`EmitOptions`].
pub fn emit_c_with(
    graph: &Graph,
    layout: &dyn ArenaLayout,
    out_dir: &Path,
    opts: &EmitOptions,
) -> DeployResult<EmittedC> {
    let m = generate(graph, layout, opts)?;
    std::fs::create_dir_all(out_dir).map_err(|e| DeployError::io(out_dir, e))?;
    let files = [
        ("tf_kernels.h", KERNELS_H),
        ("tf_kernels.c", KERNELS_C),
        ("tf_model.h", m.header.as_str()),
        ("tf_model.c", m.source.as_str()),
    ];
    let io = crate::mcu::io_manifest(
        &m.lowered.inputs.iter().map(|t| t.bytes).collect::<Vec<_>>(),
        &m.lowered
            .outputs
            .iter()
            .map(|t| t.bytes)
            .collect::<Vec<_>>(),
    );
    let mut paths = Vec::new();
    let files = files
        .into_iter()
        .chain([(crate::mcu::IO_FILE, io.as_str())]);
    for (name, text) in files {
        let p = out_dir.join(name);
        write_file(&p, text)?;
        paths.push(p);
    }
    Ok(summary(out_dir, paths, &m))
}

pub(crate) fn summary(dir: &Path, files: Vec<PathBuf>, m: &ModelSource) -> EmittedC {
    EmittedC {
        dir: dir.to_path_buf(),
        files,
        arena_bytes: m.lowered.arena_bytes,
        scratch_bytes: m.lowered.scratch_bytes,
        const_bytes: m.const_bytes,
        input_bytes: m.lowered.inputs.iter().map(|t| t.bytes).collect(),
        output_bytes: m.lowered.outputs.iter().map(|t| t.bytes).collect(),
        layers: m
            .lowered
            .layers
            .iter()
            .map(|l| LayerInfo {
                node: l.node,
                op: l.op,
                macs: l.macs,
                weights: l.filter().map(WeightInfo::from),
            })
            .collect(),
    }
}

/// A C identifier derived from a model name (for Arduino library and example names).
pub(crate) fn ident(name: &str) -> String {
    let s = c_ident(name);
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("model_{s}")
    } else {
        s
    }
}
