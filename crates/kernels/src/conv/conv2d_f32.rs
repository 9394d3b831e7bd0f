//! Float 2-D convolution: TFLite's `reference_ops::Conv` (float), with the fused activation
//! as an explicit `[act_min, act_max]` clamp (see [`activation_range_f32`]).
//!
//! Summation order is part of the float result, so [`conv2d_f32`] keeps the reference order
//! for every output (taps row-major, channels innermost, bias added last) and only gains speed
//! from computing four independent output channels per pass; it is bit-identical to
//! [`conv2d_f32_ref`]. Grouped convolution as in TFLite (`groups = input_c / filter_c`).
//!
//! [`activation_range_f32`]: super::quant::activation_range_f32

use super::quant::{activation_range_f32, FusedActivation};
use super::{check_conv_buffers, ConvGeometry};
use crate::{KernelError, KernelResult, Shape4};

/// Shapes, geometry and activation clamp of a float conv.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dF32Params {
    /// `[N, H, W, C]`.
    pub input_shape: Shape4,
    /// `[O, KH, KW, C / groups]`.
    pub filter_shape: Shape4,
    /// `[N, OH, OW, O]`.
    pub output_shape: Shape4,
    pub geometry: ConvGeometry,
    pub act_min: f32,
    pub act_max: f32,
}

impl Conv2dF32Params {
    /// Prepare: the activation clamp from the fused activation.
    pub fn prepare(
        input_shape: Shape4,
        filter_shape: Shape4,
        output_shape: Shape4,
        geometry: ConvGeometry,
        activation: FusedActivation,
    ) -> Result<Self, KernelError> {
        let (act_min, act_max) = activation_range_f32(activation);
        let p = Conv2dF32Params {
            input_shape,
            filter_shape,
            output_shape,
            geometry,
            act_min,
            act_max,
        };
        p.check_params()?;
        Ok(p)
    }

    pub fn check_params(&self) -> KernelResult {
        self.geometry.check()?;
        let (i, f, o) = (self.input_shape, self.filter_shape, self.output_shape);
        if f.c == 0 || f.n == 0 || f.h == 0 || f.w == 0 || i.c % f.c != 0 {
            return Err(KernelError::BadParams);
        }
        let groups = i.c / f.c;
        if groups == 0
            || f.n % groups != 0
            || o.c != f.n
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

/// TFLite's `ActivationFunctionWithMinMax`: `min(max(x, lo), hi)` with C++ `std::` semantics
/// (a NaN passes through).
#[inline(always)]
pub(crate) fn clamp_f32(x: f32, lo: f32, hi: f32) -> f32 {
    let v = if x < lo { lo } else { x };
    if hi < v {
        hi
    } else {
        v
    }
}

/// Float conv, four output channels per pass, reference summation order.
pub fn conv2d_f32(
    p: &Conv2dF32Params,
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
    let groups = is.c / fs.c;
    let per_group = fs.n / groups;
    let kc = fs.c;
    let k_total = fs.h * fs.w * kc;
    for b in 0..os.n {
        for oy in 0..os.h {
            let (ky0, ky1) =
                ConvGeometry::tap_range(oy, g.stride_h, g.pad_h, g.dilation_h, fs.h, is.h);
            for ox in 0..os.w {
                let (kx0, kx1) =
                    ConvGeometry::tap_range(ox, g.stride_w, g.pad_w, g.dilation_w, fs.w, is.w);
                let base = os.offset(b, oy, ox, 0);
                let mut o = 0;
                while o < os.c {
                    // A block of up to 4 channels of the same group.
                    let group = o / per_group;
                    let n = (per_group - o % per_group).min(4).min(os.c - o);
                    let mut acc = [0f32; 4];
                    for ky in ky0..ky1 {
                        let iy = oy * g.stride_h + ky * g.dilation_h - g.pad_h;
                        for kx in kx0..kx1 {
                            let ix = ox * g.stride_w + kx * g.dilation_w - g.pad_w;
                            let x = &input[is.offset(b, iy, ix, group * kc)..][..kc];
                            let fo = (ky * fs.w + kx) * kc;
                            for (j, a) in acc.iter_mut().enumerate().take(n) {
                                let w = &filter[(o + j) * k_total + fo..][..kc];
                                for c in 0..kc {
                                    *a += x[c] * w[c];
                                }
                            }
                        }
                    }
                    for (j, &a) in acc.iter().enumerate().take(n) {
                        let bv = bias.map_or(0.0, |bb| bb[o + j]);
                        output[base + o + j] = clamp_f32(a + bv, p.act_min, p.act_max);
                    }
                    o += n;
                }
            }
        }
    }
    Ok(())
}

/// The reference loops (the spec).
pub fn conv2d_f32_ref(
    p: &Conv2dF32Params,
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
    let groups = is.c / fs.c;
    let per_group = fs.n / groups;
    for b in 0..os.n {
        for oy in 0..os.h {
            let in_y0 = (oy * g.stride_h) as isize - g.pad_h as isize;
            for ox in 0..os.w {
                let in_x0 = (ox * g.stride_w) as isize - g.pad_w as isize;
                for oc in 0..os.c {
                    let group = oc / per_group;
                    let mut total = 0f32;
                    for ky in 0..fs.h {
                        let iy = in_y0 + (g.dilation_h * ky) as isize;
                        for kx in 0..fs.w {
                            let ix = in_x0 + (g.dilation_w * kx) as isize;
                            if iy < 0 || iy >= is.h as isize || ix < 0 || ix >= is.w as isize {
                                continue;
                            }
                            for ic in 0..fs.c {
                                let x = input
                                    [is.offset(b, iy as usize, ix as usize, group * fs.c + ic)];
                                total += x * filter[fs.offset(oc, ky, kx, ic)];
                            }
                        }
                    }
                    let bv = bias.map_or(0.0, |bb| bb[oc]);
                    output[os.offset(b, oy, ox, oc)] = clamp_f32(total + bv, p.act_min, p.act_max);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::conv2d_s8::tests::Case;
    use super::super::testutil::Rng;
    use super::*;

    #[test]
    fn fast_order_equals_reference_bitwise() {
        let mut r = Rng::new(41);
        for i in 0..400 {
            let c = Case::random(&mut r, i % 4 == 0, true);
            let act = [
                FusedActivation::None,
                FusedActivation::Relu,
                FusedActivation::Relu6,
            ][i % 3];
            let p = Conv2dF32Params::prepare(c.is, c.fs, c.os, c.g, act).unwrap();
            let input = r.f32s(c.input.len(), -2.0, 2.0);
            let filter = r.f32s(c.filter.len(), -1.0, 1.0);
            let bias = r.f32s(c.os.c, -1.0, 1.0);
            let bias = if i % 2 == 0 { Some(&bias[..]) } else { None };
            let mut want = vec![0f32; c.out_len()];
            let mut got = vec![9f32; c.out_len()];
            conv2d_f32_ref(&p, &input, &filter, bias, &mut want).unwrap();
            conv2d_f32(&p, &input, &filter, bias, &mut got).unwrap();
            let wb: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
            let gb: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(wb, gb, "case {i}");
        }
    }

    #[test]
    fn hand_checked_relu6() {
        let p = Conv2dF32Params::prepare(
            Shape4::new(1, 2, 2, 1),
            Shape4::new(1, 2, 2, 1),
            Shape4::new(1, 1, 1, 1),
            ConvGeometry::default(),
            FusedActivation::Relu6,
        )
        .unwrap();
        let mut out = [0f32];
        conv2d_f32(
            &p,
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 1.0, 1.0, 1.0],
            Some(&[-5.0]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [5.0]);
        conv2d_f32(
            &p,
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 1.0, 1.0, 1.0],
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [6.0]);
        assert_eq!(
            conv2d_f32(&p, &[1.0, 2.0, 3.0], &[1.0; 4], None, &mut out),
            Err(KernelError::BufferSize)
        );
    }
}
