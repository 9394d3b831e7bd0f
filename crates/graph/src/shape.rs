//! Per-op operand checks and output shape inference, with TFLite semantics.
//!
//! [`infer_node`] is the single "output facts" function of every op: it checks operand count,
//! dtypes and quantization presence, then computes the output shapes from the input shapes and
//! options (and, where TFLite reads them, from constant operand tensors: RESHAPE's shape, MEAN's
//! axes, PAD's paddings). [`mod@crate::validate`] compares the result with the declared shapes.
//!
//! Invariants: nothing here panics, whatever the graph — tensor indices are looked up with
//! `get`, and all shape arithmetic is checked (dimensions come from untrusted files).
//! Output sizes of convolutions and pools follow TFLite's `ComputeOutSize`
//! (SAME: `ceil(in / stride)`; VALID: `ceil((in − eff_k + 1) / stride)` with
//! `eff_k = (k − 1)·dilation + 1`), the same formula as the kernels' padding computation.
use crate::error::{GraphError, GraphResult};
use crate::ir::{DType, Graph, Op, Padding, Tensor, TensorId};

/// Element count of a shape, `None` on overflow.
pub fn checked_elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Storage bytes of a tensor, `None` on overflow.
pub fn checked_bytes(t: &Tensor) -> Option<usize> {
    let n = checked_elements(&t.shape)?;
    match t.dtype.size() {
        Some(s) => n.checked_mul(s),
        None => Some(t.dtype.bytes_for(n)),
    }
}

/// TFLite's output size of a convolution or pool along one spatial axis.
///
/// `None` when the window does not fit (VALID with a filter larger than the input), or for
/// zero strides/dilations/filters, which no kernel can execute.
pub fn conv_output_size(
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<usize> {
    if stride == 0 || dilation == 0 || filter == 0 {
        return None;
    }
    let eff = filter
        .checked_sub(1)?
        .checked_mul(dilation)?
        .checked_add(1)?;
    match padding {
        Padding::Same => Some(input.div_ceil(stride)),
        Padding::Valid => {
            if eff > input {
                return None;
            }
            Some((input - eff + 1).div_ceil(stride))
        }
    }
}

/// Numpy-style broadcast of two shapes (as TFLite ADD/MUL do), `None` if incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        // Align from the right: missing leading dims count as 1.
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        *o = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            return None;
        };
    }
    Some(out)
}

/// Context for checking one node: builds errors that name the node and op.
struct Ctx<'g> {
    g: &'g Graph,
    node: usize,
    op: &'static str,
    inputs: &'g [Option<TensorId>],
    outputs: &'g [TensorId],
}

impl<'g> Ctx<'g> {
    fn shape_err(&self, msg: impl Into<String>) -> GraphError {
        GraphError::Shape {
            node: self.node,
            op: self.op,
            msg: msg.into(),
        }
    }
    fn node_err(&self, msg: impl Into<String>) -> GraphError {
        GraphError::Node {
            node: self.node,
            op: self.op,
            msg: msg.into(),
        }
    }
    fn tensor(&self, id: TensorId) -> GraphResult<&'g Tensor> {
        self.g
            .tensors
            .get(id)
            .ok_or_else(|| self.node_err(format!("tensor index {id} out of range")))
    }
    fn count(&self, min: usize, max: usize, outs: usize) -> GraphResult<()> {
        let n = self.inputs.len();
        if n < min || n > max {
            let want = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.node_err(format!("expected {want} inputs, got {n}")));
        }
        if self.outputs.len() != outs {
            return Err(self.node_err(format!(
                "expected {outs} output(s), got {}",
                self.outputs.len()
            )));
        }
        Ok(())
    }
    /// A required operand.
    fn input(&self, k: usize) -> GraphResult<&'g Tensor> {
        match self.inputs.get(k).copied().flatten() {
            Some(id) => self.tensor(id),
            None => Err(self.node_err(format!("required input {k} is missing"))),
        }
    }
    /// An optional operand (TFLite index −1 or absent).
    fn opt_input(&self, k: usize) -> GraphResult<Option<&'g Tensor>> {
        match self.inputs.get(k).copied().flatten() {
            Some(id) => self.tensor(id).map(Some),
            None => Ok(None),
        }
    }
    fn output(&self, k: usize) -> GraphResult<&'g Tensor> {
        match self.outputs.get(k) {
            Some(&id) => self.tensor(id),
            None => Err(self.node_err(format!("output {k} is missing"))),
        }
    }
    fn rank(&self, t: &Tensor, what: &str, rank: usize) -> GraphResult<()> {
        if t.shape.len() != rank {
            return Err(self.shape_err(format!(
                "{what} `{}` must have rank {rank}, has shape {:?}",
                t.name, t.shape
            )));
        }
        Ok(())
    }
    fn dtype_in(&self, t: &Tensor, what: &str, allowed: &[DType]) -> GraphResult<()> {
        if !allowed.contains(&t.dtype) {
            let names: Vec<&str> = allowed.iter().map(|d| d.name()).collect();
            return Err(self.node_err(format!(
                "{what} `{}` has dtype {}, expected {}",
                t.name,
                t.dtype.name(),
                names.join(" or ")
            )));
        }
        Ok(())
    }
    fn same_dtype(&self, a: &Tensor, b: &Tensor) -> GraphResult<()> {
        if a.dtype != b.dtype {
            return Err(self.node_err(format!(
                "`{}` is {} but `{}` is {}",
                a.name,
                a.dtype.name(),
                b.name,
                b.dtype.name()
            )));
        }
        Ok(())
    }
    /// Quantized (integer) tensors need quantization parameters; `channels` is the allowed
    /// per-channel count (besides 1), if any.
    fn quant(&self, t: &Tensor, what: &str, channels: Option<usize>) -> GraphResult<()> {
        if !is_quantized_dtype(t.dtype) {
            return Ok(());
        }
        let Some(q) = &t.quant else {
            return Err(self.node_err(format!(
                "{what} `{}` is {} but has no quantization parameters",
                t.name,
                t.dtype.name()
            )));
        };
        let n = q.scale.len();
        if n == 0 || q.zero_point.len() != n {
            return Err(self.node_err(format!(
                "{what} `{}` has {} scales and {} zero points",
                t.name,
                n,
                q.zero_point.len()
            )));
        }
        if n != 1 && Some(n) != channels {
            return Err(self.node_err(format!(
                "{what} `{}` has {n} quantization scales; expected 1{}",
                t.name,
                channels.map(|c| format!(" or {c}")).unwrap_or_default()
            )));
        }
        if q.scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(self.node_err(format!(
                "{what} `{}` has a non-positive or non-finite scale",
                t.name
            )));
        }
        Ok(())
    }
    /// Integer values of a constant int32/int64 operand (shape, axes, paddings).
    fn const_ints(&self, t: &Tensor, what: &str) -> GraphResult<Option<Vec<i64>>> {
        let Some(data) = &t.data else {
            return Ok(None);
        };
        let n = checked_elements(&t.shape)
            .ok_or_else(|| self.shape_err(format!("{what} shape overflows")))?;
        let vals: Vec<i64> = match t.dtype {
            DType::I32 => data
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DType::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            _ => {
                return Err(self.node_err(format!(
                    "{what} `{}` must be int32 or int64, is {}",
                    t.name,
                    t.dtype.name()
                )))
            }
        };
        if vals.len() != n {
            return Err(self.node_err(format!(
                "{what} `{}` holds {} values, its shape says {n}",
                t.name,
                vals.len()
            )));
        }
        Ok(Some(vals))
    }
    /// Normalises a possibly negative axis against `rank`.
    fn axis(&self, axis: i64, rank: usize, what: &str) -> GraphResult<usize> {
        let r = rank as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r {
            return Err(self.shape_err(format!("{what} {axis} out of range for rank {rank}")));
        }
        Ok(a as usize)
    }
}

/// Integer dtypes that carry quantization parameters when used as activations or weights.
fn is_quantized_dtype(d: DType) -> bool {
    matches!(
        d,
        DType::I8 | DType::U8 | DType::I16 | DType::I4 | DType::I2
    )
}

/// Checks node `node_idx`'s operands and returns the shapes its outputs must have.
///
/// Errors name the node and op. Never panics, whatever the graph.
pub fn infer_node(g: &Graph, node_idx: usize) -> GraphResult<Vec<Vec<usize>>> {
    let Some(node) = g.nodes.get(node_idx) else {
        return Err(GraphError::Invalid(format!(
            "node {node_idx} does not exist ({} nodes)",
            g.nodes.len()
        )));
    };
    let c = Ctx {
        g,
        node: node_idx,
        op: node.op.name(),
        inputs: &node.inputs,
        outputs: &node.outputs,
    };
    let out = match &node.op {
        Op::Conv2d(o) => {
            c.count(2, 3, 1)?;
            conv(&c, o, c.output(0)?)?
        }
        Op::Conv2dAdd {
            conv: o, conv_out, ..
        } => {
            c.count(4, 4, 1)?;
            let conv_t = c.tensor(*conv_out)?;
            let conv_shape = conv(&c, o, conv_t)?;
            if conv_shape != conv_t.shape {
                return Err(c.shape_err(format!(
                    "convolution result is {conv_shape:?} but `{}` declares {:?}",
                    conv_t.name, conv_t.shape
                )));
            }
            let skip = c.input(3)?;
            let out = c.output(0)?;
            c.dtype_in(skip, "skip", &[DType::I8])?;
            c.quant(skip, "skip", None)?;
            c.dtype_in(out, "output", &[DType::I8])?;
            if skip.shape != conv_shape {
                return Err(c.shape_err(format!(
                    "skip `{}` {:?} differs from the convolution result {conv_shape:?}",
                    skip.name, skip.shape
                )));
            }
            conv_shape
        }
        Op::DepthwiseConv2d(o) => {
            c.count(2, 3, 1)?;
            let (x, f, out) = (c.input(0)?, c.input(1)?, c.output(0)?);
            c.rank(x, "input", 4)?;
            c.rank(f, "filter", 4)?;
            weights_dtypes(&c, x, f, c.opt_input(2)?, out)?;
            let (ic, oc) = (x.shape[3], f.shape[3]);
            if f.shape[0] != 1 {
                return Err(c.shape_err(format!(
                    "filter `{}` must be [1, KH, KW, C·M], is {:?}",
                    f.name, f.shape
                )));
            }
            if ic == 0 || oc % ic != 0 {
                return Err(c.shape_err(format!(
                    "filter channels {oc} are not a multiple of input channels {ic}"
                )));
            }
            if o.depth_multiplier != 0 && ic.checked_mul(o.depth_multiplier) != Some(oc) {
                return Err(c.shape_err(format!(
                    "depth multiplier {} × input channels {ic} ≠ filter channels {oc}",
                    o.depth_multiplier
                )));
            }
            c.quant(f, "filter", Some(oc))?;
            bias_check(&c, c.opt_input(2)?, oc)?;
            let oh = spatial(
                &c,
                x.shape[1],
                f.shape[1],
                o.stride_h,
                o.dilation_h,
                o.padding,
            )?;
            let ow = spatial(
                &c,
                x.shape[2],
                f.shape[2],
                o.stride_w,
                o.dilation_w,
                o.padding,
            )?;
            vec![x.shape[0], oh, ow, oc]
        }
        Op::FullyConnected(o) => {
            c.count(2, 3, 1)?;
            let (x, w, out) = (c.input(0)?, c.input(1)?, c.output(0)?);
            c.rank(w, "weights", 2)?;
            weights_dtypes(&c, x, w, c.opt_input(2)?, out)?;
            let (units, depth) = (w.shape[0], w.shape[1]);
            c.quant(w, "weights", Some(units))?;
            bias_check(&c, c.opt_input(2)?, units)?;
            let elems =
                checked_elements(&x.shape).ok_or_else(|| c.shape_err("input shape overflows"))?;
            if depth == 0 || elems % depth != 0 {
                return Err(c.shape_err(format!(
                    "input {:?} ({elems} elements) cannot be flattened to rows of {depth}",
                    x.shape
                )));
            }
            if o.keep_num_dims {
                if x.shape.last() != Some(&depth) {
                    return Err(c.shape_err(format!(
                        "keep_num_dims needs the input's last dim to be {depth}, input is {:?}",
                        x.shape
                    )));
                }
                let mut s = x.shape.clone();
                if let Some(l) = s.last_mut() {
                    *l = units;
                }
                s
            } else {
                vec![elems / depth, units]
            }
        }
        Op::AveragePool2d(o) | Op::MaxPool2d(o) => {
            c.count(1, 1, 1)?;
            let (x, out) = (c.input(0)?, c.output(0)?);
            c.rank(x, "input", 4)?;
            act_dtypes(&c, x, out, &[DType::F32, DType::I8, DType::I16])?;
            c.same_dtype(x, out)?;
            let oh = spatial(&c, x.shape[1], o.filter_h, o.stride_h, 1, o.padding)?;
            let ow = spatial(&c, x.shape[2], o.filter_w, o.stride_w, 1, o.padding)?;
            vec![x.shape[0], oh, ow, x.shape[3]]
        }
        Op::Add { .. } | Op::Mul { .. } => {
            c.count(2, 2, 1)?;
            let (a, b, out) = (c.input(0)?, c.input(1)?, c.output(0)?);
            let allowed = [DType::F32, DType::I8, DType::I16, DType::I32];
            act_dtypes(&c, a, out, &allowed)?;
            c.same_dtype(a, b)?;
            c.quant(b, "input 1", None)?;
            broadcast_shapes(&a.shape, &b.shape).ok_or_else(|| {
                c.shape_err(format!(
                    "shapes {:?} and {:?} do not broadcast",
                    a.shape, b.shape
                ))
            })?
        }
        Op::Reshape => {
            c.count(1, 2, 1)?;
            let (x, out) = (c.input(0)?, c.output(0)?);
            c.same_dtype(x, out)?;
            let elems =
                checked_elements(&x.shape).ok_or_else(|| c.shape_err("input shape overflows"))?;
            let target: Vec<i64> = match c.opt_input(1)? {
                Some(s) => match c.const_ints(s, "shape operand")? {
                    Some(v) => v,
                    // A computed shape tensor: the declared output shape is all we know.
                    None => out.shape.iter().map(|&d| d as i64).collect(),
                },
                None => out.shape.iter().map(|&d| d as i64).collect(),
            };
            reshape_target(&c, &target, elems)?
        }
        Op::Squeeze { dims } => {
            c.count(1, 1, 1)?;
            let (x, out) = (c.input(0)?, c.output(0)?);
            c.same_dtype(x, out)?;
            let rank = x.shape.len();
            let mut drop = vec![false; rank];
            if dims.is_empty() {
                for (d, s) in drop.iter_mut().zip(&x.shape) {
                    *d = *s == 1;
                }
            } else {
                for &d in dims {
                    let a = c.axis(i64::from(d), rank, "squeeze dim")?;
                    if x.shape[a] != 1 {
                        return Err(c.shape_err(format!(
                            "cannot squeeze dim {d} of size {} in {:?}",
                            x.shape[a], x.shape
                        )));
                    }
                    drop[a] = true;
                }
            }
            x.shape
                .iter()
                .zip(&drop)
                .filter(|(_, &d)| !d)
                .map(|(&s, _)| s)
                .collect()
        }
        Op::Softmax { beta } => {
            c.count(1, 1, 1)?;
            let (x, out) = (c.input(0)?, c.output(0)?);
            act_dtypes(&c, x, out, &[DType::F32, DType::I8, DType::I16])?;
            c.dtype_in(out, "output", &[DType::F32, DType::I8, DType::I16])?;
            if !beta.is_finite() {
                return Err(c.node_err("beta is not finite"));
            }
            if x.shape.is_empty() {
                return Err(c.shape_err("input must have rank ≥ 1"));
            }
            x.shape.clone()
        }
        Op::Logistic | Op::Tanh | Op::Relu | Op::Relu6 => {
            c.count(1, 1, 1)?;
            let (x, out) = (c.input(0)?, c.output(0)?);
            act_dtypes(&c, x, out, &[DType::F32, DType::I8, DType::I16])?;
            c.same_dtype(x, out)?;
            x.shape.clone()
        }
        Op::Pad => {
            c.count(2, 3, 1)?;
            let (x, p, out) = (c.input(0)?, c.input(1)?, c.output(0)?);
            c.same_dtype(x, out)?;
            act_dtypes(&c, x, out, &[DType::F32, DType::I8, DType::I16, DType::I32])?;
            let rank = x.shape.len();
            if p.shape != [rank, 2] {
                return Err(c.shape_err(format!(
                    "paddings `{}` must be [{rank}, 2], is {:?}",
                    p.name, p.shape
                )));
            }
            match c.const_ints(p, "paddings")? {
                Some(v) => {
                    let mut s = Vec::with_capacity(rank);
                    for (i, &d) in x.shape.iter().enumerate() {
                        let (b, a) = (v[2 * i], v[2 * i + 1]);
                        if b < 0 || a < 0 {
                            return Err(
                                c.shape_err(format!("negative padding ({b}, {a}) on dim {i}"))
                            );
                        }
                        let n = usize::try_from(b)
                            .ok()
                            .zip(usize::try_from(a).ok())
                            .and_then(|(b, a)| d.checked_add(b)?.checked_add(a))
                            .ok_or_else(|| c.shape_err("padded shape overflows"))?;
                        s.push(n);
                    }
                    s
                }
                None => {
                    // Computed paddings: only ranks and growth can be checked.
                    if out.shape.len() != rank || out.shape.iter().zip(&x.shape).any(|(o, i)| o < i)
                    {
                        return Err(c.shape_err(format!(
                            "output {:?} cannot be a padding of {:?}",
                            out.shape, x.shape
                        )));
                    }
                    out.shape.clone()
                }
            }
        }
        Op::Concatenation { axis, .. } => {
            if node.inputs.is_empty() || node.outputs.len() != 1 {
                return Err(c.node_err(format!(
                    "expected ≥ 1 inputs and 1 output, got {} and {}",
                    node.inputs.len(),
                    node.outputs.len()
                )));
            }
            let out = c.output(0)?;
            let first = c.input(0)?;
            act_dtypes(
                &c,
                first,
                out,
                &[DType::F32, DType::I8, DType::I16, DType::I32],
            )?;
            let rank = first.shape.len();
            let a = c.axis(i64::from(*axis), rank, "axis")?;
            let mut s = first.shape.clone();
            for k in 1..node.inputs.len() {
                let t = c.input(k)?;
                c.same_dtype(first, t)?;
                c.quant(t, "input", None)?;
                let compatible = t.shape.len() == rank
                    && t.shape
                        .iter()
                        .enumerate()
                        .all(|(i, &d)| i == a || d == s[i]);
                if !compatible {
                    return Err(c.shape_err(format!(
                        "input {k} {:?} does not match {:?} outside axis {a}",
                        t.shape, first.shape
                    )));
                }
                s[a] = s[a]
                    .checked_add(t.shape[a])
                    .ok_or_else(|| c.shape_err("concatenated size overflows"))?;
            }
            s
        }
        Op::Mean { keep_dims } => {
            c.count(2, 2, 1)?;
            let (x, ax, out) = (c.input(0)?, c.input(1)?, c.output(0)?);
            act_dtypes(&c, x, out, &[DType::F32, DType::I8, DType::I16])?;
            c.same_dtype(x, out)?;
            let rank = x.shape.len();
            match c.const_ints(ax, "axes")? {
                Some(v) => {
                    let mut reduce = vec![false; rank];
                    for a in v {
                        // Duplicate axes are allowed (TFLite deduplicates them).
                        reduce[c.axis(a, rank, "axis")?] = true;
                    }
                    if *keep_dims {
                        x.shape
                            .iter()
                            .zip(&reduce)
                            .map(|(&d, &r)| if r { 1 } else { d })
                            .collect()
                    } else {
                        x.shape
                            .iter()
                            .zip(&reduce)
                            .filter(|(_, &r)| !r)
                            .map(|(&d, _)| d)
                            .collect()
                    }
                }
                None => out.shape.clone(),
            }
        }
        Op::Quantize => {
            c.count(1, 1, 1)?;
            let (x, out) = (c.input(0)?, c.output(0)?);
            c.dtype_in(x, "input", &[DType::F32, DType::I8, DType::U8, DType::I16])?;
            c.dtype_in(out, "output", &[DType::I8, DType::U8, DType::I16])?;
            c.quant(x, "input", None)?;
            c.quant(out, "output", None)?;
            x.shape.clone()
        }
        Op::Dequantize => {
            c.count(1, 1, 1)?;
            let (x, out) = (c.input(0)?, c.output(0)?);
            c.dtype_in(x, "input", &[DType::I8, DType::U8, DType::I16])?;
            c.dtype_in(out, "output", &[DType::F32])?;
            c.quant(x, "input", None)?;
            x.shape.clone()
        }
    };
    Ok(vec![out])
}

/// Shape of a CONV_2D result (used for both plain and fused convolutions).
fn conv(c: &Ctx<'_>, o: &crate::ir::Conv2dOptions, out: &Tensor) -> GraphResult<Vec<usize>> {
    let (x, f) = (c.input(0)?, c.input(1)?);
    c.rank(x, "input", 4)?;
    c.rank(f, "filter", 4)?;
    weights_dtypes(c, x, f, c.opt_input(2)?, out)?;
    let (oc, fi, ic) = (f.shape[0], f.shape[3], x.shape[3]);
    // Grouped convolution: input channels a multiple of the filter's, as TFLM accepts.
    if fi == 0 || ic == 0 || ic % fi != 0 {
        return Err(c.shape_err(format!(
            "input channels {ic} are not a multiple of filter input channels {fi}"
        )));
    }
    let groups = ic / fi;
    if oc % groups != 0 {
        return Err(c.shape_err(format!(
            "output channels {oc} are not divisible by {groups} groups"
        )));
    }
    c.quant(f, "filter", Some(oc))?;
    bias_check(c, c.opt_input(2)?, oc)?;
    let oh = spatial(
        c,
        x.shape[1],
        f.shape[1],
        o.stride_h,
        o.dilation_h,
        o.padding,
    )?;
    let ow = spatial(
        c,
        x.shape[2],
        f.shape[2],
        o.stride_w,
        o.dilation_w,
        o.padding,
    )?;
    Ok(vec![x.shape[0], oh, ow, oc])
}

fn spatial(
    c: &Ctx<'_>,
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> GraphResult<usize> {
    conv_output_size(input, filter, stride, dilation, padding).ok_or_else(|| {
        c.shape_err(format!(
            "window {filter} (stride {stride}, dilation {dilation}, {padding:?}) does not fit input size {input}"
        ))
    })
}

/// Dtype/quant rules of the weighted ops (conv, depthwise, fully connected):
/// float: all f32; int8: int8 (or packed int4 / int2) weights, int32 bias; int16x8: int64 bias.
fn weights_dtypes(
    c: &Ctx<'_>,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    out: &Tensor,
) -> GraphResult<()> {
    match x.dtype {
        DType::F32 => {
            if matches!(w.dtype, DType::I8 | DType::I4 | DType::I2) {
                return Err(c.node_err(format!(
                    "hybrid op (float32 input, {} weights `{}`) is not supported, as in TFLite \
                     Micro: quantize the whole model or store float weights",
                    w.dtype.name(),
                    w.name
                )));
            }
            c.dtype_in(w, "weights", &[DType::F32])?;
            c.dtype_in(out, "output", &[DType::F32])?;
            if let Some(b) = bias {
                c.dtype_in(b, "bias", &[DType::F32])?;
            }
        }
        DType::I8 | DType::I16 => {
            c.dtype_in(w, "weights", &[DType::I8, DType::I4, DType::I2])?;
            c.same_dtype(x, out)?;
            c.quant(x, "input", None)?;
            c.quant(out, "output", None)?;
            if let Some(b) = bias {
                let want = if x.dtype == DType::I8 {
                    DType::I32
                } else {
                    DType::I64
                };
                c.dtype_in(b, "bias", &[want])?;
            }
        }
        _ => {
            return Err(c.node_err(format!(
                "input `{}` has dtype {}, expected float32, int8 or int16",
                x.name,
                x.dtype.name()
            )))
        }
    }
    Ok(())
}

fn bias_check(c: &Ctx<'_>, bias: Option<&Tensor>, units: usize) -> GraphResult<()> {
    if let Some(b) = bias {
        if checked_elements(&b.shape) != Some(units) {
            return Err(c.shape_err(format!(
                "bias `{}` {:?} must have {units} elements",
                b.name, b.shape
            )));
        }
    }
    Ok(())
}

/// Shared rules of activation-in/activation-out ops: allowed dtypes, quant on integer tensors.
fn act_dtypes(c: &Ctx<'_>, x: &Tensor, out: &Tensor, allowed: &[DType]) -> GraphResult<()> {
    c.dtype_in(x, "input", allowed)?;
    c.quant(x, "input", None)?;
    c.quant(out, "output", None)?;
    Ok(())
}

/// Resolves a RESHAPE target (one −1 wildcard allowed) against the input's element count.
fn reshape_target(c: &Ctx<'_>, target: &[i64], elems: usize) -> GraphResult<Vec<usize>> {
    let mut wildcard = None;
    let mut known = 1usize;
    for (i, &d) in target.iter().enumerate() {
        if d == -1 {
            if wildcard.replace(i).is_some() {
                return Err(c.shape_err("more than one -1 in the new shape"));
            }
        } else {
            let d = usize::try_from(d)
                .map_err(|_| c.shape_err(format!("negative dim {d} in the new shape")))?;
            known = known
                .checked_mul(d)
                .ok_or_else(|| c.shape_err("new shape overflows"))?;
        }
    }
    let mut s: Vec<usize> = target.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = wildcard {
        if elems.checked_rem(known) != Some(0) {
            return Err(c.shape_err(format!(
                "cannot infer -1 in {target:?} for {elems} elements"
            )));
        }
        s[i] = elems / known;
    } else if known != elems {
        return Err(c.shape_err(format!(
            "new shape {target:?} has {known} elements, input has {elems}"
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_sizes_follow_tflite() {
        assert_eq!(conv_output_size(49, 10, 2, 1, Padding::Same), Some(25));
        assert_eq!(conv_output_size(10, 4, 2, 1, Padding::Same), Some(5));
        assert_eq!(conv_output_size(32, 3, 1, 1, Padding::Valid), Some(30));
        assert_eq!(conv_output_size(5, 3, 2, 2, Padding::Valid), Some(1));
        assert_eq!(conv_output_size(2, 3, 1, 1, Padding::Valid), None);
        assert_eq!(conv_output_size(8, 3, 0, 1, Padding::Same), None);
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_shapes(&[1, 4, 4, 8], &[8]),
            Some(vec![1, 4, 4, 8])
        );
        assert_eq!(broadcast_shapes(&[2, 1], &[1, 3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shapes(&[], &[3]), Some(vec![3]));
        assert_eq!(broadcast_shapes(&[2, 3], &[4, 3]), None);
    }

    #[test]
    fn overflow_is_detected() {
        assert_eq!(checked_elements(&[usize::MAX, 2]), None);
        assert_eq!(checked_elements(&[]), Some(1));
    }
}
