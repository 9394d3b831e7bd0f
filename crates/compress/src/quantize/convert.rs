//! Float graph + activation ranges → integer graph, following the TFLite converter's conventions
//! so that TFLite Micro accepts the result and computes exactly what `tinyforge-runtime` does.
//!
//! - Weights of CONV_2D / DEPTHWISE_CONV_2D: symmetric per output channel (axis 0 for conv
//!   `[O,KH,KW,I]`, axis 3 for depthwise `[1,KH,KW,C]`), zero point 0, range `−q..q` with
//!   `q = 2^(bits−1) − 1` (127 for int8, 7 for int4) and scale `max|w| / q`.
//!   FULLY_CONNECTED: per-tensor (the converter's default, which every TFLM version runs)
//!   unless asked for per-channel.
//! - 2-bit weights (`DType::I2`, tinyforge's packing) use all four levels −2..1 (a symmetric
//!   ternary grid −1..1 would waste one) with zero point 0, so the grid is asymmetric:
//!   `{−2s, −s, 0, s}`. A max-abs scale is poor at 2 bits (one outlier zeroes most weights),
//!   so each channel's scale is the one of [`MSE_CANDIDATES`] fractions of `max|w|` (plus the
//!   scales that put the largest positive weight at +1 or the most negative at −2) that
//!   minimises the channel's squared rounding error; ties keep the smaller candidate index.
//!   [`quantize_weights`] is the one place that rule lives: quantization-aware training
//!   fake-quantizes with it too, so converted weights are the trained ones.
//! - Biases: int32, scale `input_scale × weight_scale[c]`, zero point 0; a missing conv bias
//!   becomes a zero bias as the converter emits one.
//! - Activations: int8 per-tensor asymmetric from the calibrated range (which contains 0).
//!   Fixed outputs: SOFTMAX and LOGISTIC `1/256, −128`, TANH `1/128, 0`. RESHAPE, SQUEEZE,
//!   MAX/AVERAGE_POOL_2D, PAD and CONCATENATION outputs share their inputs' parameters (TFLM
//!   requires it for pooling and concatenation): such tensors are tied into groups whose range
//!   is the union of the members'. ADD, MUL and MEAN get their own.
//! - Other float constants (e.g. an ADD operand): per-tensor asymmetric int8.
//! - Graph inputs/outputs: int8, or kept float with QUANTIZE / DEQUANTIZE nodes at the edges.
//!
//! Tensor ids of the float graph are kept (activations change dtype in place; new tensors are
//! appended), so per-layer comparisons can pair tensors by id.
//! Neighbours: [`super::calibrate`] gives the ranges, [`super::packed`] packs sub-8-bit weights.
use std::collections::HashMap;

use tinyforge_graph::{DType, Graph, Node, Op, Quant, Tensor, TensorId};

use super::calibrate::affine_params;
use super::packed;
use crate::error::{CompressError, CompressResult};

/// How the converter quantizes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertOptions {
    /// Weight bit width (8, 4 or 2) per node index of the float graph; nodes absent use
    /// `default_bits`. Only CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED weights are affected.
    pub layer_bits: HashMap<usize, u8>,
    pub default_bits: u8,
    /// Keep float graph inputs/outputs, with QUANTIZE/DEQUANTIZE at the edges.
    pub float_io: bool,
    /// Per-channel FULLY_CONNECTED weights (per-tensor otherwise, as the converter does).
    pub fc_per_channel: bool,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            layer_bits: HashMap::new(),
            default_bits: 8,
            float_io: false,
            fc_per_channel: false,
        }
    }
}

impl ConvertOptions {
    /// Weight bits of node `n`.
    pub fn bits(&self, n: usize) -> u8 {
        self.layer_bits
            .get(&n)
            .copied()
            .unwrap_or(self.default_bits)
    }
}

/// Largest symmetric magnitude for `bits`-bit weights.
pub fn qmax(bits: u8) -> i32 {
    (1i32 << (bits.clamp(2, 8) - 1)) - 1
}

/// The integer range `(lo, hi)` of `bits`-bit weights: `−q..q` for 8 and 4 bits, the full
/// two's complement `−2..1` for 2 bits.
pub fn weight_grid(bits: u8) -> (i32, i32) {
    match bits {
        2 => (-2, 1),
        b => (-qmax(b), qmax(b)),
    }
}

/// Scales tried per channel by the 2-bit scale search: `k / MSE_CANDIDATES × max|w|`.
pub const MSE_CANDIDATES: usize = 100;

/// Squared error of `w` on the grid `lo..hi` with scale `s`.
fn grid_error(w: &[f32], s: f32, (lo, hi): (f32, f32)) -> f64 {
    w.iter()
        .map(|&v| {
            let d = v - (v / s).round().clamp(lo, hi) * s;
            f64::from(d * d)
        })
        .sum()
}

/// The scale of one channel (values `w`) on `bits`-bit grid; see the module docs.
pub fn channel_scale(w: &[f32], bits: u8) -> f32 {
    let m = w.iter().fold(0f32, |a, v| a.max(v.abs()));
    if m <= 0.0 || !m.is_finite() {
        // An all-zero channel gets scale 1: any positive scale represents it exactly, and 1
        // keeps the bias scale and requantization multiplier ordinary.
        return 1.0;
    }
    let (lo, hi) = weight_grid(bits);
    if bits != 2 {
        return m / hi as f32;
    }
    let grid = (lo as f32, hi as f32);
    let pos = w.iter().fold(0f32, |a, &v| a.max(v));
    let neg = w.iter().fold(0f32, |a, &v| a.min(v));
    let exact = [pos / hi as f32, -neg / -lo as f32];
    let mut best = (f64::INFINITY, m);
    let fractions = (1..=MSE_CANDIDATES).map(|k| m * k as f32 / MSE_CANDIDATES as f32);
    for s in exact.into_iter().chain(fractions) {
        if s > 0.0 {
            let e = grid_error(w, s, grid);
            if e < best.0 {
                best = (e, s);
            }
        }
    }
    best.1
}

/// Union-find over tensor ids, for parameter sharing.
struct Groups(Vec<usize>);

impl Groups {
    fn find(&mut self, mut a: usize) -> usize {
        while self.0[a] != a {
            self.0[a] = self.0[self.0[a]];
            a = self.0[a];
        }
        a
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra] = rb;
        }
    }
}

fn f32_data(t: &Tensor) -> CompressResult<Vec<f32>> {
    let d = t
        .data
        .as_deref()
        .ok_or_else(|| CompressError::Unsupported(format!("`{}` must be a constant", t.name)))?;
    if t.dtype != DType::F32 || d.len() != t.elements() * 4 {
        return Err(CompressError::Unsupported(format!(
            "constant `{}` is {} with {} bytes, float32 {:?} expected",
            t.name,
            t.dtype.name(),
            d.len(),
            t.shape
        )));
    }
    Ok(d.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Per-channel quantization of `w` (shape `shape`) along `axis` (`None`: per-tensor) on the
/// `bits`-bit grid ([`weight_grid`]), zero point 0. Returns the integer values and the scale
/// of each channel ([`channel_scale`]).
pub fn quantize_weights(
    w: &[f32],
    shape: &[usize],
    axis: Option<usize>,
    bits: u8,
) -> (Vec<i8>, Vec<f32>) {
    let (lo, hi) = weight_grid(bits);
    let (lo, hi) = (lo as f32, hi as f32);
    let (channels, inner) = match axis {
        Some(a) if a < shape.len() => (shape[a].max(1), shape[a + 1..].iter().product::<usize>()),
        _ => (1, w.len().max(1)),
    };
    let chan = |i: usize| (i / inner.max(1)) % channels;
    let mut per: Vec<Vec<f32>> = vec![Vec::new(); channels];
    for (i, &v) in w.iter().enumerate() {
        per[chan(i)].push(v);
    }
    let scales: Vec<f32> = per.iter().map(|c| channel_scale(c, bits)).collect();
    let values = w
        .iter()
        .enumerate()
        .map(|(i, &v)| (v / scales[chan(i)]).round().clamp(lo, hi) as i8)
        .collect();
    (values, scales)
}

fn i8_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

/// The quantized form of a float graph's activation tensor ids, plus the new graph.
pub fn convert(
    float: &Graph,
    ranges: &[Option<(f32, f32)>],
    opts: &ConvertOptions,
) -> CompressResult<Graph> {
    tinyforge_graph::validate(float)?;
    let nt = float.tensors.len();
    for (n, node) in float.nodes.iter().enumerate() {
        if matches!(
            node.op,
            Op::Quantize | Op::Dequantize | Op::Conv2dAdd { .. }
        ) {
            return Err(CompressError::Unsupported(format!(
                "node {n} is {}: the model is already (partly) quantized",
                node.op.name()
            )));
        }
        for &o in &node.outputs {
            if float.tensors[o].dtype != DType::F32 {
                return Err(CompressError::Unsupported(format!(
                    "node {n} ({}) writes a {} tensor: the model is not a float model",
                    node.op.name(),
                    float.tensors[o].dtype.name()
                )));
            }
        }
    }
    let is_act =
        |id: TensorId| !float.tensors[id].is_const() && float.tensors[id].dtype == DType::F32;

    // Parameter sharing groups and fixed output parameters.
    let mut groups = Groups((0..nt).collect());
    let mut fixed: HashMap<TensorId, (f32, i64)> = HashMap::new();
    for node in &float.nodes {
        let out = node.outputs[0];
        let acts: Vec<TensorId> = node
            .inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&i| is_act(i))
            .collect();
        match &node.op {
            Op::Reshape
            | Op::Squeeze { .. }
            | Op::MaxPool2d(_)
            | Op::AveragePool2d(_)
            | Op::Pad
            | Op::Concatenation { .. } => {
                for a in acts {
                    groups.union(a, out);
                }
            }
            Op::Softmax { .. } | Op::Logistic => {
                fixed.insert(out, (1.0 / 256.0, -128));
            }
            Op::Tanh => {
                fixed.insert(out, (1.0 / 128.0, 0));
            }
            _ => {}
        }
    }
    let mut group_range: HashMap<usize, (f32, f32)> = HashMap::new();
    let mut group_fixed: HashMap<usize, (f32, i64)> = HashMap::new();
    for id in 0..nt {
        if !is_act(id) {
            continue;
        }
        let g = groups.find(id);
        if let Some(&f) = fixed.get(&id) {
            group_fixed.insert(g, f);
        }
        if let Some(Some((lo, hi))) = ranges.get(id) {
            let e = group_range.entry(g).or_insert((*lo, *hi));
            e.0 = e.0.min(*lo);
            e.1 = e.1.max(*hi);
        }
    }

    let mut g = float.clone();
    for id in 0..nt {
        if !is_act(id) {
            continue;
        }
        let root = groups.find(id);
        let (scale, zp) = match (group_fixed.get(&root), group_range.get(&root)) {
            (Some(&f), _) => f,
            (None, Some(&(lo, hi))) => {
                let (s, z) = affine_params(lo, hi);
                (s, i64::from(z))
            }
            (None, None) => {
                // Never written on the calibration data (e.g. an unused input): any valid
                // parameters do, pick the [-1, 1] range.
                let (s, z) = affine_params(-1.0, 1.0);
                (s, i64::from(z))
            }
        };
        let t = &mut g.tensors[id];
        t.dtype = DType::I8;
        t.quant = Some(Quant::per_tensor(scale, zp));
    }

    let act_scale = |g: &Graph, id: Option<TensorId>| -> CompressResult<f32> {
        id.and_then(|i| g.tensors[i].quant.as_ref())
            .and_then(|q| q.scale.first().copied())
            .ok_or_else(|| CompressError::Unsupported("operand without parameters".into()))
    };
    let mut done: HashMap<TensorId, ()> = HashMap::new();
    for n in 0..g.nodes.len() {
        let node = g.nodes[n].clone();
        let weights = match &node.op {
            Op::Conv2d(_) => Some(Some(0)),
            Op::DepthwiseConv2d(_) => Some(Some(3)),
            Op::FullyConnected(_) => Some(opts.fc_per_channel.then_some(0)),
            _ => None,
        };
        if let Some(axis) = weights {
            let bits = opts.bits(n);
            if !matches!(bits, 2 | 4 | 8) {
                return Err(CompressError::Option(format!(
                    "{bits}-bit weights (8, 4 or 2 supported)"
                )));
            }
            let fid = node.inputs.get(1).copied().flatten().ok_or_else(|| {
                CompressError::Unsupported(format!("node {n} ({}) has no weights", node.op.name()))
            })?;
            let in_scale = act_scale(&g, node.inputs.first().copied().flatten())?;
            let ft = float.tensors[fid].clone();
            let w = f32_data(&ft)?;
            let (values, scales) = quantize_weights(&w, &ft.shape, axis, bits);
            let quant = Quant {
                scale: scales.clone(),
                zero_point: vec![0; scales.len()],
                axis: axis.unwrap_or(0),
            };
            let (dtype, data) = match bits {
                8 => (DType::I8, i8_bytes(&values)),
                4 => (DType::I4, packed::pack_i4(&values)),
                _ => (DType::I2, packed::pack_i2(&values)),
            };
            let qt = Tensor {
                name: ft.name.clone(),
                shape: ft.shape.clone(),
                dtype,
                quant: Some(quant),
                data: Some(data),
            };
            // A filter shared by two layers is quantized once per layer.
            let new_fid = if done.insert(fid, ()).is_none() {
                g.tensors[fid] = qt;
                fid
            } else {
                g.add_tensor(qt)
            };
            g.nodes[n].inputs[1] = Some(new_fid);

            // Bias: int32 with per-channel scale input × weight.
            let out_ch = match axis {
                Some(a) => ft.shape.get(a).copied().unwrap_or(1),
                None => ft.shape.first().copied().unwrap_or(1),
            };
            let bias_f = match node.inputs.get(2).copied().flatten() {
                Some(b) => Some((b, f32_data(&float.tensors[b])?)),
                None => None,
            };
            if bias_f.is_none() && matches!(node.op, Op::FullyConnected(_)) {
                continue;
            }
            let bscale: Vec<f32> = (0..out_ch)
                .map(|c| in_scale * scales[if scales.len() == 1 { 0 } else { c }])
                .collect();
            let bvals: Vec<i32> = (0..out_ch)
                .map(|c| {
                    let b = bias_f
                        .as_ref()
                        .and_then(|(_, v)| v.get(c))
                        .copied()
                        .unwrap_or(0.0);
                    let q = (f64::from(b) / f64::from(bscale[c])).round();
                    q.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
                })
                .collect();
            let per_tensor = scales.len() == 1;
            let bq = Quant {
                scale: if per_tensor { vec![bscale[0]] } else { bscale },
                zero_point: vec![0; if per_tensor { 1 } else { out_ch }],
                axis: 0,
            };
            let bt = Tensor {
                name: match &bias_f {
                    Some((b, _)) => float.tensors[*b].name.clone(),
                    None => format!("{}_bias", ft.name),
                },
                shape: vec![out_ch],
                dtype: DType::I32,
                quant: Some(bq),
                data: Some(bvals.iter().flat_map(|v| v.to_le_bytes()).collect()),
            };
            let bid = match bias_f {
                Some((b, _)) if done.insert(b, ()).is_none() => {
                    g.tensors[b] = bt;
                    b
                }
                _ => g.add_tensor(bt),
            };
            if g.nodes[n].inputs.len() < 3 {
                g.nodes[n].inputs.resize(3, None);
            }
            g.nodes[n].inputs[2] = Some(bid);
            continue;
        }
        // Remaining float constants read as data (e.g. ADD/MUL/CONCATENATION operands).
        for (k, inp) in node.inputs.iter().enumerate() {
            let Some(id) = *inp else { continue };
            let t = &float.tensors[id];
            if !t.is_const() || t.dtype != DType::F32 || done.contains_key(&id) {
                continue;
            }
            if matches!(node.op, Op::Pad | Op::Reshape | Op::Mean { .. }) && k > 0 {
                continue;
            }
            let v = f32_data(t)?;
            let lo = v.iter().copied().fold(0.0f32, f32::min);
            let hi = v.iter().copied().fold(0.0f32, f32::max);
            let (s, z) = affine_params(lo, hi);
            let q: Vec<i8> = v
                .iter()
                .map(|&x| ((x / s).round() + z as f32).clamp(-128.0, 127.0) as i8)
                .collect();
            done.insert(id, ());
            let nt = &mut g.tensors[id];
            nt.dtype = DType::I8;
            nt.quant = Some(Quant::per_tensor(s, i64::from(z)));
            nt.data = Some(i8_bytes(&q));
        }
    }

    if opts.float_io {
        add_float_edges(&mut g, float);
    }
    tinyforge_graph::validate(&g)?;
    Ok(g)
}

/// Keeps the float graph's inputs and outputs float: QUANTIZE after each input, DEQUANTIZE
/// before each output.
fn add_float_edges(g: &mut Graph, float: &Graph) {
    let mut front = Vec::new();
    for &inp in &float.inputs {
        let q = g.tensors[inp].clone();
        let qid = g.add_tensor(Tensor {
            name: format!("{}_int8", q.name),
            ..q
        });
        for node in &mut g.nodes {
            for i in node.inputs.iter_mut().flatten() {
                if *i == inp {
                    *i = qid;
                }
            }
        }
        g.tensors[inp] = float.tensors[inp].clone();
        front.push(Node {
            op: Op::Quantize,
            inputs: vec![Some(inp)],
            outputs: vec![qid],
        });
    }
    let mut outputs = Vec::new();
    for &out in &float.outputs {
        let f = float.tensors[out].clone();
        let fid = g.add_tensor(Tensor {
            name: format!("{}_float", f.name),
            ..f
        });
        g.nodes.push(Node {
            op: Op::Dequantize,
            inputs: vec![Some(out)],
            outputs: vec![fid],
        });
        outputs.push(fid);
    }
    front.append(&mut g.nodes);
    g.nodes = front;
    g.outputs = outputs;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_weights_use_the_full_symmetric_range() {
        // Two output channels of a [2,1,1,2] conv filter.
        let w = [0.5, -1.0, 0.02, 0.011];
        let (q, s) = quantize_weights(&w, &[2, 1, 1, 2], Some(0), 8);
        assert_eq!(s, vec![1.0 / 127.0, 0.02 / 127.0]);
        assert_eq!(q, vec![64, -127, 127, 70]);
        // Depthwise: channels on the last axis.
        let (q, s) = quantize_weights(&w, &[1, 1, 2, 2], Some(3), 4);
        assert_eq!(s, vec![0.5 / 7.0, 1.0 / 7.0]);
        assert_eq!(q, vec![7, -7, 0, 0]);
        // All-zero channel: scale 1, values 0.
        let (q, s) = quantize_weights(&[0.0, 0.0], &[1, 2], None, 8);
        assert_eq!((q, s), (vec![0, 0], vec![1.0]));
    }

    #[test]
    fn two_bit_weights_use_four_levels_and_an_mse_scale() {
        // One large weight: a max-abs scale (0.9) would round every other weight to 0.
        let w = [
            0.9, -0.3, 0.25, -0.2, 0.2, 0.15, -0.15, 0.1, -0.1, 0.3, -0.25, 0.05, 0.22, -0.18,
        ];
        let (q, s) = quantize_weights(&w, &[1, 14], None, 2);
        assert!(q.iter().all(|&v| (-2..=1).contains(&v)));
        assert!(
            q.iter().filter(|&&v| v != 0).count() >= 10,
            "{q:?} at scale {s:?}"
        );
        let err = |s: f32| grid_error(&w, s, (-2.0, 1.0));
        assert!(err(s[0]) < 0.9 * err(0.9), "{} vs {}", err(s[0]), err(0.9));
        // Weights already on a 2-bit grid are reproduced exactly.
        let g = [-0.5, -0.25, 0.0, 0.25, 0.25, -0.5];
        let (q, s) = quantize_weights(&g, &[2, 3], Some(0), 2);
        for (i, (&v, &x)) in q.iter().zip(&g).enumerate() {
            assert_eq!(v as f32 * s[i / 3], x);
        }
    }

    #[test]
    fn two_bit_conversion_packs_four_weights_a_byte() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/models/hello_world_float.tflite"
        );
        let float = tinyforge_tflite::read_file(path).unwrap();
        let samples: Vec<[f32; 1]> = (0..32).map(|i| [i as f32 * 0.2]).collect();
        let refs: Vec<&[f32]> = samples.iter().map(|s| s.as_slice()).collect();
        let stats = super::super::calibrate::collect(&float, &refs, 256).unwrap();
        let opts = ConvertOptions {
            default_bits: 2,
            ..Default::default()
        };
        let ranges = stats.ranges(super::super::Calibration::MinMax);
        let g = convert(&float, &ranges, &opts).unwrap();
        let mut layers = 0;
        for node in &g.nodes {
            let w = &g.tensors[node.inputs[1].unwrap()];
            assert_eq!(w.dtype, DType::I2);
            assert_eq!(w.data.as_ref().unwrap().len(), w.elements().div_ceil(4));
            layers += 1;
        }
        assert_eq!(layers, 3);
        let bytes = tinyforge_tflite::write(&g).unwrap();
        assert_eq!(tinyforge_tflite::read(&bytes).unwrap(), g);
    }
}
