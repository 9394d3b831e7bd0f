//! Float depthwise convolution: TFLite's float `DepthwiseConv` with the activation as an
//! explicit clamp.
//!
//! Each output is a sum over taps only (no channel reduction), so [`depthwise_conv2d_f32`]
//! can run channels innermost — vectorizable — while adding each output's taps in exactly the
//! reference order (row-major taps, then bias): it is bit-identical to
//! [`depthwise_conv2d_f32_ref`].

use crate::conv::conv2d_f32::clamp_f32;
use crate::conv::quant::{activation_range_f32, FusedActivation};
use crate::conv::{check_conv_buffers, ConvGeometry};
use crate::{KernelError, KernelResult, Shape4};

const BLOCK: usize = 64;

/// Shapes, geometry and clamp of a float depthwise conv (filter `[1, KH, KW, C·M]`).
#[derive(Debug, Clone, Copy)]
pub struct DepthwiseF32Params {
    pub input_shape: Shape4,
    pub filter_shape: Shape4,
    pub output_shape: Shape4,
    pub geometry: ConvGeometry,
    pub depth_multiplier: usize,
    pub act_min: f32,
    pub act_max: f32,
}

impl DepthwiseF32Params {
    /// Prepare: depth multiplier from the shapes, clamp from the fused activation.
    pub fn prepare(
        input_shape: Shape4,
        filter_shape: Shape4,
        output_shape: Shape4,
        geometry: ConvGeometry,
        activation: FusedActivation,
    ) -> Result<Self, KernelError> {
        if input_shape.c == 0 {
            return Err(KernelError::BadParams);
        }
        let (act_min, act_max) = activation_range_f32(activation);
        let p = DepthwiseF32Params {
            input_shape,
            filter_shape,
            output_shape,
            geometry,
            depth_multiplier: filter_shape.c / input_shape.c,
            act_min,
            act_max,
        };
        p.check_params()?;
        Ok(p)
    }

    pub fn check_params(&self) -> KernelResult {
        self.geometry.check()?;
        let (i, f, o) = (self.input_shape, self.filter_shape, self.output_shape);
        let m = self.depth_multiplier;
        if m == 0
            || f.n != 1
            || f.h == 0
            || f.w == 0
            || i.c.checked_mul(m) != Some(f.c)
            || o.c != f.c
            || o.n != i.n
            || self
                .act_min
                .partial_cmp(&self.act_max)
                .is_none_or(|o| o.is_gt())
        {
            return Err(KernelError::BadParams);
        }
        Ok(())
    }

    pub fn check(
        &self,
        input: usize,
        filter: usize,
        bias: Option<usize>,
        output: usize,
    ) -> KernelResult {
        self.check_params()?;
        check_conv_buffers(
            (&self.input_shape, &self.filter_shape, &self.output_shape),
            input,
            filter,
            bias,
            output,
        )
    }
}

/// Float depthwise conv, channels innermost, reference summation order.
pub fn depthwise_conv2d_f32(
    p: &DepthwiseF32Params,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
) -> KernelResult {
    p.check(
        input.len(),
        filter.len(),
        bias.map(|b| b.len()),
        output.len(),
    )?;
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    let (oc_total, m) = (os.c, p.depth_multiplier);
    let mut acc = [0f32; BLOCK];
    for b in 0..os.n {
        for oy in 0..os.h {
            let (ky0, ky1) =
                ConvGeometry::tap_range(oy, g.stride_h, g.pad_h, g.dilation_h, fs.h, is.h);
            for ox in 0..os.w {
                let (kx0, kx1) =
                    ConvGeometry::tap_range(ox, g.stride_w, g.pad_w, g.dilation_w, fs.w, is.w);
                let out_base = os.offset(b, oy, ox, 0);
                let mut c0 = 0;
                while c0 < oc_total {
                    let n = (oc_total - c0).min(BLOCK);
                    let acc = &mut acc[..n];
                    acc.fill(0.0);
                    for ky in ky0..ky1 {
                        let iy = oy * g.stride_h + ky * g.dilation_h - g.pad_h;
                        for kx in kx0..kx1 {
                            let ix = ox * g.stride_w + kx * g.dilation_w - g.pad_w;
                            let pix = is.offset(b, iy, ix, 0);
                            let w = &filter[(ky * fs.w + kx) * oc_total + c0..][..n];
                            if m == 1 {
                                let x = &input[pix + c0..][..n];
                                for i in 0..n {
                                    acc[i] += x[i] * w[i];
                                }
                            } else {
                                for i in 0..n {
                                    acc[i] += input[pix + (c0 + i) / m] * w[i];
                                }
                            }
                        }
                    }
                    let out = &mut output[out_base + c0..][..n];
                    for i in 0..n {
                        let bv = bias.map_or(0.0, |bb| bb[c0 + i]);
                        out[i] = clamp_f32(acc[i] + bv, p.act_min, p.act_max);
                    }
                    c0 += n;
                }
            }
        }
    }
    Ok(())
}

/// The reference loops (the spec).
pub fn depthwise_conv2d_f32_ref(
    p: &DepthwiseF32Params,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
) -> KernelResult {
    p.check(
        input.len(),
        filter.len(),
        bias.map(|b| b.len()),
        output.len(),
    )?;
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    for b in 0..os.n {
        for oy in 0..os.h {
            let in_y0 = (oy * g.stride_h) as isize - g.pad_h as isize;
            for ox in 0..os.w {
                let in_x0 = (ox * g.stride_w) as isize - g.pad_w as isize;
                for ic in 0..is.c {
                    for m in 0..p.depth_multiplier {
                        let oc = m + ic * p.depth_multiplier;
                        let mut total = 0f32;
                        for ky in 0..fs.h {
                            let iy = in_y0 + (g.dilation_h * ky) as isize;
                            for kx in 0..fs.w {
                                let ix = in_x0 + (g.dilation_w * kx) as isize;
                                if iy < 0 || iy >= is.h as isize || ix < 0 || ix >= is.w as isize {
                                    continue;
                                }
                                total += input[is.offset(b, iy as usize, ix as usize, ic)]
                                    * filter[fs.offset(0, ky, kx, oc)];
                            }
                        }
                        let bv = bias.map_or(0.0, |bb| bb[oc]);
                        output[os.offset(b, oy, ox, oc)] =
                            clamp_f32(total + bv, p.act_min, p.act_max);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::depthwise_conv2d_s8::tests::Case;
    use super::*;
    use crate::conv::testutil::Rng;

    #[test]
    fn fast_equals_reference_bitwise() {
        let mut r = Rng::new(71);
        for i in 0..400 {
            let c = Case::random(&mut r, false);
            let act = [
                FusedActivation::None,
                FusedActivation::Relu,
                FusedActivation::Relu6,
            ][i % 3];
            let p = DepthwiseF32Params::prepare(c.is, c.fs, c.os, c.g, act).unwrap();
            assert_eq!(p.depth_multiplier, c.m);
            let input = r.f32s(c.input.len(), -3.0, 3.0);
            let filter = r.f32s(c.filter.len(), -1.0, 1.0);
            let bias = r.f32s(c.os.c, -1.0, 1.0);
            let bias = if i % 2 == 0 { Some(&bias[..]) } else { None };
            let mut want = vec![0f32; c.out_len()];
            let mut got = vec![9f32; c.out_len()];
            depthwise_conv2d_f32_ref(&p, &input, &filter, bias, &mut want).unwrap();
            depthwise_conv2d_f32(&p, &input, &filter, bias, &mut got).unwrap();
            let wb: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
            let gb: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(wb, gb, "case {i}");
        }
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let p = DepthwiseF32Params::prepare(
            Shape4::new(1, 3, 3, 2),
            Shape4::new(1, 3, 3, 2),
            Shape4::new(1, 1, 1, 2),
            ConvGeometry::default(),
            FusedActivation::None,
        )
        .unwrap();
        let mut out = [0f32; 2];
        assert_eq!(
            depthwise_conv2d_f32(&p, &[0.0; 17], &[0.0; 18], None, &mut out),
            Err(KernelError::BufferSize)
        );
        // All-ones: each output is the sum of its channel's 9 taps.
        let input: Vec<f32> = (0..18).map(|i| i as f32).collect();
        depthwise_conv2d_f32(&p, &input, &[1.0; 18], Some(&[0.5, 0.0]), &mut out).unwrap();
        assert_eq!(out, [72.5, 81.0]);
    }
}
