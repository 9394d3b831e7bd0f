//! Hybrid ("dynamic-range quantized") CONV_2D: float activations, int8 per-channel weights.
//!
//! TFLite Micro does not execute such files and graph validation rejects them; LiteRT does, and
//! float models exported with weight-only quantization (e.g. the MLPerf Tiny KWS float file)
//! need it. This reproduces LiteRT's two hybrid paths exactly:
//! - per-channel weight scales (`EvalHybridPerChannel`, `reference_ops::HybridConvPerChannel`):
//!   each batch of the input is quantized on the fly to int8 with an asymmetric per-batch scale
//!   and zero point (`AsymmetricQuantizeFloats`), the convolution accumulates `w · (q − zp)` in
//!   int32, and the result is `acc · weight_scale[c] · input_scale` (in that order);
//! - one weight scale (`EvalHybrid`, `optimized_ops::HybridConv`): symmetric per-batch input
//!   quantization (`SymmetricQuantizeFloats`, zero point 0, range ±127) and
//!   `acc · (input_scale · weight_scale)`;
//!
//! then the float bias is added and the activation range applied.
//!
//! Host-only: the quantized copy of the input lives in the runtime's staging buffer, not in the
//! planned arena (a device build of such a model would dequantize the weights instead).
use tinyforge_kernels::conv::ConvGeometry;
use tinyforge_kernels::{KernelError, KernelResult, Shape4};

/// Prepared hybrid convolution.
#[derive(Debug, Clone)]
pub struct HybridConv {
    pub input_shape: Shape4,
    /// `[O, KH, KW, I]`.
    pub filter_shape: Shape4,
    pub output_shape: Shape4,
    pub geometry: ConvGeometry,
    pub act_min: f32,
    pub act_max: f32,
    pub filter: Vec<i8>,
    /// One scale per output channel (asymmetric path), or a single scale (symmetric path).
    pub scales: Vec<f32>,
    pub bias: Option<Vec<f32>>,
}

/// `tensor_utils::AsymmetricQuantizeFloats`: returns `(scaling_factor, offset)`.
pub fn asymmetric_quantize(values: &[f32], out: &mut [i8]) -> (f32, i32) {
    let (mut mn, mut mx) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in values {
        // std::minmax_element with `<`: NaNs never replace the current extreme.
        if v < mn {
            mn = v;
        }
        if v > mx {
            mx = v;
        }
    }
    let rmin = 0f32.min(mn) as f64;
    let rmax = 0f32.max(mx) as f64;
    if rmin == rmax {
        out.fill(0);
        return (1.0, 0);
    }
    let (qmin, qmax) = (-128f64, 127f64);
    let scale = (rmax - rmin) / (qmax - qmin);
    let zp_from_min = qmin - rmin / scale;
    let zp_from_max = qmax - rmax / scale;
    let err_min = qmin.abs() + (rmin / scale).abs();
    let err_max = qmax.abs() + (rmax / scale).abs();
    let zp = if err_min < err_max {
        zp_from_min
    } else {
        zp_from_max
    };
    let offset = if zp <= qmin {
        -128
    } else if zp >= qmax {
        127
    } else {
        zp.round() as i32
    };
    let sf = scale as f32;
    let inv = (1.0f64 / sf as f64) as f32;
    for (q, &v) in out.iter_mut().zip(values) {
        let r = (offset as f32 + v * inv).round();
        // `static_cast<int32_t>` of a float in range, then clamp; NaN casts to 0 here.
        *q = (r as i32).clamp(-128, 127) as i8;
    }
    (sf, offset)
}

/// `tensor_utils::SymmetricQuantizeFloats`: returns the scaling factor.
pub fn symmetric_quantize(values: &[f32], out: &mut [i8]) -> f32 {
    let (mut mn, mut mx) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in values {
        if v < mn {
            mn = v;
        }
        if v > mx {
            mx = v;
        }
    }
    if values.is_empty() {
        return 1.0;
    }
    let range = mn.abs().max(mx.abs());
    if range == 0.0 {
        out.fill(0);
        return 1.0;
    }
    let inv = 127.0f32 / range;
    for (q, &v) in out.iter_mut().zip(values) {
        *q = ((v * inv).round() as i32).clamp(-127, 127) as i8;
    }
    range / 127.0
}

impl HybridConv {
    /// Scratch bytes: one quantized batch of the input.
    pub fn scratch_bytes(&self) -> usize {
        // Saturating: shapes come from files; the runtime refuses oversized staging anyway.
        self.input_shape
            .h
            .saturating_mul(self.input_shape.w)
            .saturating_mul(self.input_shape.c)
    }

    pub fn run(&self, input: &[f32], scratch: &mut [i8], output: &mut [f32]) -> KernelResult {
        let (is, fs, os, g) = (
            self.input_shape,
            self.filter_shape,
            self.output_shape,
            self.geometry,
        );
        let per_batch = self.scratch_bytes();
        if fs.c == 0 || is.c % fs.c != 0 || os.c != fs.n || is.n != os.n {
            return Err(KernelError::BadParams);
        }
        let groups = is.c / fs.c;
        let per_channel = self.scales.len() > 1;
        if groups == 0
            || fs.n % groups != 0
            || !(self.scales.len() == fs.n || self.scales.len() == 1)
        {
            return Err(KernelError::BadParams);
        }
        let filters_per_group = fs.n / groups;
        if Some(input.len()) != is.elements()
            || Some(output.len()) != os.elements()
            || Some(self.filter.len()) != fs.elements()
            || scratch.len() < per_batch
            || self.bias.as_ref().is_some_and(|b| b.len() != fs.n)
        {
            return Err(KernelError::BufferSize);
        }
        let q = &mut scratch[..per_batch];
        for b in 0..is.n {
            let x = &input[b * per_batch..(b + 1) * per_batch];
            let (sf, offset) = if per_channel {
                asymmetric_quantize(x, q)
            } else {
                (symmetric_quantize(x, q) * self.scales[0], 0)
            };
            for oy in 0..os.h {
                for ox in 0..os.w {
                    let y0 = (oy * g.stride_h) as isize - g.pad_h as isize;
                    let x0 = (ox * g.stride_w) as isize - g.pad_w as isize;
                    for oc in 0..os.c {
                        let group = oc / filters_per_group;
                        let mut acc: i32 = 0;
                        for fy in 0..fs.h {
                            let iy = y0 + (g.dilation_h * fy) as isize;
                            if iy < 0 || iy >= is.h as isize {
                                continue;
                            }
                            for fx in 0..fs.w {
                                let ix = x0 + (g.dilation_w * fx) as isize;
                                if ix < 0 || ix >= is.w as isize {
                                    continue;
                                }
                                let irow = (iy as usize * is.w + ix as usize) * is.c + group * fs.c;
                                let frow = fs.offset(oc, fy, fx, 0);
                                for ic in 0..fs.c {
                                    let x = q[irow + ic] as i32;
                                    let w = self.filter[frow + ic] as i32;
                                    acc = acc.wrapping_add(w.wrapping_mul(x - offset));
                                }
                            }
                        }
                        let mut v = if per_channel {
                            acc as f32 * self.scales[oc] * sf
                        } else {
                            acc as f32 * sf
                        };
                        if let Some(bias) = &self.bias {
                            v += bias[oc];
                        }
                        output[os.offset(b, oy, ox, oc)] = v.max(self.act_min).min(self.act_max);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asymmetric_quantization_covers_the_range() {
        let x = [-1.0f32, 0.0, 0.5, 3.0];
        let mut q = [0i8; 4];
        let (sf, off) = asymmetric_quantize(&x, &mut q);
        assert!((sf - 4.0 / 255.0).abs() < 1e-7);
        // Dequantized values land within half a step of the originals.
        for (&v, &qi) in x.iter().zip(&q) {
            assert!(
                ((qi as i32 - off) as f32 * sf - v).abs() <= sf / 2.0 + 1e-6,
                "{v}"
            );
        }
        assert_eq!(q[0], -128);
        assert_eq!(q[3], 127);
        let mut z = [5i8; 3];
        assert_eq!(asymmetric_quantize(&[0.0; 3], &mut z), (1.0, 0));
        assert_eq!(z, [0; 3]);
    }
}
