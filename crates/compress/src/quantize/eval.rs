//! Measuring a quantized model against its float original: run either on float samples
//! ([`Model`]), output agreement ([`agreement`]), accuracy ([`accuracy`]) and the error of every
//! layer's output ([`layer_errors`]).
//!
//! A quantized graph with int8 inputs is fed `round(x / scale) + zero_point` (saturated), and its
//! int8 outputs are dequantized, so float and quantized models are compared on the same float
//! samples. Neighbours: [`super::ptq`] uses [`agreement`] to pick a calibration method; the CLI
//! prints the rest.
use std::collections::HashMap;

use tinyforge_graph::{DType, Graph, TensorId};
use tinyforge_runtime::Runtime;

use super::calibrate::{check_samples, f32_bytes};
use crate::error::{CompressError, CompressResult};

/// Per-tensor `(scale, zero_point)` of an int8 tensor, `None` for float.
fn int8_params(g: &Graph, id: TensorId) -> CompressResult<Option<(f32, i32)>> {
    let t = &g.tensors[id];
    match t.dtype {
        DType::F32 => Ok(None),
        DType::I8 => {
            let q = t.quant.as_ref().ok_or_else(|| {
                CompressError::Unsupported(format!("int8 `{}` has no parameters", t.name))
            })?;
            Ok(Some((q.scale[0], q.zero_point[0] as i32)))
        }
        d => Err(CompressError::Unsupported(format!(
            "`{}` is {}: only float and int8 model inputs/outputs are handled",
            t.name,
            d.name()
        ))),
    }
}

/// Quantizes `x` to int8 bytes with `(scale, zero_point)`.
pub fn quantize_input(x: &[f32], (s, z): (f32, i32)) -> Vec<u8> {
    x.iter()
        .map(|&v| ((v / s).round() + z as f32).clamp(-128.0, 127.0) as i8 as u8)
        .collect()
}

fn decode(bytes: &[u8], q: Option<(f32, i32)>) -> Vec<f32> {
    match q {
        None => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Some((s, z)) => bytes
            .iter()
            .map(|&b| s * ((b as i8) as i32 - z) as f32)
            .collect(),
    }
}

/// A float or quantized single-input model run on float samples.
#[derive(Debug)]
pub struct Model {
    rt: Runtime,
    input: Option<(f32, i32)>,
    output: Option<(f32, i32)>,
}

impl Model {
    pub fn new(graph: &Graph) -> CompressResult<Model> {
        let (Some(&i), Some(&o)) = (graph.inputs.first(), graph.outputs.first()) else {
            return Err(CompressError::Unsupported(
                "graph without input or output".into(),
            ));
        };
        Ok(Model {
            input: int8_params(graph, i)?,
            output: int8_params(graph, o)?,
            rt: Runtime::new(graph.clone())?,
        })
    }

    /// The raw bytes the model takes for float sample `x`.
    pub fn input_bytes(&self, x: &[f32]) -> Vec<u8> {
        match self.input {
            Some(q) => quantize_input(x, q),
            None => f32_bytes(x),
        }
    }

    /// Output 0 for sample `x`, as float (dequantized when int8).
    pub fn run(&mut self, x: &[f32]) -> CompressResult<Vec<f32>> {
        let bytes = self.input_bytes(x);
        self.rt.invoke(&[&bytes])?;
        Ok(decode(self.rt.output(0), self.output))
    }

    /// Runs `x`, calling `observe(tensor, values)` with every node output as float.
    pub(crate) fn run_observed(
        &mut self,
        x: &[f32],
        observe: &mut dyn FnMut(TensorId, Vec<f32>),
    ) -> CompressResult<()> {
        let bytes = self.input_bytes(x);
        let g = self.rt.graph().clone();
        self.rt.invoke_observed(&[&bytes], &mut |id, b| {
            if let Ok(q) = int8_params(&g, id) {
                observe(id, decode(b, q));
            }
        })?;
        Ok(())
    }
}

/// How closely a quantized model's outputs follow the float model's.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Agreement {
    /// Fraction of samples with the same output argmax (1.0 for single-value outputs).
    pub argmax: f64,
    /// `‖q − f‖ / ‖f‖` over all outputs.
    pub rel_error: f64,
    /// Mean squared output difference.
    pub mse: f64,
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Compares `quant` with `float` on `samples`.
pub fn agreement(float: &Graph, quant: &Graph, samples: &[&[f32]]) -> CompressResult<Agreement> {
    check_samples(float, samples)?;
    let (mut f, mut q) = (Model::new(float)?, Model::new(quant)?);
    let (mut same, mut num, mut den, mut count) = (0usize, 0f64, 0f64, 0usize);
    for s in samples {
        let (a, b) = (f.run(s)?, q.run(s)?);
        same += usize::from(argmax(&a) == argmax(&b));
        for (x, y) in a.iter().zip(&b) {
            num += f64::from(x - y).powi(2);
            den += f64::from(*x).powi(2);
        }
        count += a.len();
    }
    Ok(Agreement {
        argmax: same as f64 / samples.len() as f64,
        rel_error: if den > 0.0 {
            (num / den).sqrt()
        } else {
            num.sqrt()
        },
        mse: num / count.max(1) as f64,
    })
}

/// Classification accuracy of `graph` on `samples` with `labels` (argmax of output 0).
pub fn accuracy(graph: &Graph, samples: &[&[f32]], labels: &[u32]) -> CompressResult<f64> {
    if samples.len() != labels.len() || samples.is_empty() {
        return Err(CompressError::Data(format!(
            "{} samples and {} labels",
            samples.len(),
            labels.len()
        )));
    }
    let mut m = Model::new(graph)?;
    let mut right = 0usize;
    for (s, &l) in samples.iter().zip(labels) {
        right += usize::from(argmax(&m.run(s)?) == l as usize);
    }
    Ok(right as f64 / samples.len() as f64)
}

/// Error of one layer's output in the quantized model, against the float model.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerError {
    /// Node index in the float graph.
    pub node: usize,
    pub op: &'static str,
    /// Output tensor name.
    pub tensor: String,
    /// Signal-to-quantization-noise ratio in dB (`10 log10(Σf² / Σ(q−f)²)`).
    pub sqnr_db: f64,
    /// `‖q − f‖ / ‖f‖`.
    pub rel_error: f64,
}

/// Per-layer output error of `quant` against `float` on `samples`, in float node order. Layers
/// whose output the quantized model does not materialise (fused) are left out.
pub fn layer_errors(
    float: &Graph,
    quant: &Graph,
    samples: &[&[f32]],
) -> CompressResult<Vec<LayerError>> {
    check_samples(float, samples)?;
    let (mut f, mut q) = (Model::new(float)?, Model::new(quant)?);
    let mut acc: HashMap<TensorId, (f64, f64)> = HashMap::new();
    for s in samples {
        let mut fv: HashMap<TensorId, Vec<f32>> = HashMap::new();
        f.run_observed(s, &mut |id, v| {
            fv.insert(id, v);
        })?;
        q.run_observed(s, &mut |id, v| {
            if let Some(r) = fv.get(&id) {
                if r.len() == v.len() {
                    let e = acc.entry(id).or_default();
                    for (a, b) in r.iter().zip(&v) {
                        e.0 += f64::from(*a).powi(2);
                        e.1 += f64::from(a - b).powi(2);
                    }
                }
            }
        })?;
    }
    let mut out = Vec::new();
    for (n, node) in float.nodes.iter().enumerate() {
        let id = node.outputs[0];
        if let Some(&(sig, noise)) = acc.get(&id) {
            out.push(LayerError {
                node: n,
                op: node.op.name(),
                tensor: float.tensors[id].name.clone(),
                sqnr_db: if noise > 0.0 {
                    10.0 * (sig.max(1e-30) / noise).log10()
                } else {
                    f64::INFINITY
                },
                rel_error: if sig > 0.0 {
                    (noise / sig).sqrt()
                } else {
                    noise.sqrt()
                },
            });
        }
    }
    Ok(out)
}
