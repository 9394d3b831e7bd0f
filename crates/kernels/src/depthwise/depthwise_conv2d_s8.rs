//! Int8 depthwise convolution, reference loops and dispatch.
//!
//! `acc = Σ_taps w[tap, c·M+m]·(x[tap, c] + input_offset) (+ bias)`, requantized per output
//! channel like conv. [`depthwise_conv2d_s8`] runs
//! [`depthwise_conv2d_s8_fast`](super::depthwise_conv2d_s8_fast) when it applies (depth
//! multiplier 1, input offset in [−127, 128]) and the reference otherwise.

use crate::conv::quant::{activation_range_s8, populate_multipliers, requantize_s8, shifts_ok};
use crate::conv::{check_conv_buffers, ConvGeometry, ConvQuant};
use crate::{KernelError, KernelResult, Shape4};

/// Everything the int8 depthwise kernel reads besides the tensors.
#[derive(Debug, Clone, Copy)]
pub struct DepthwiseS8Params<'a> {
    /// `[N, H, W, C]`.
    pub input_shape: Shape4,
    /// `[1, KH, KW, C·M]`.
    pub filter_shape: Shape4,
    /// `[N, OH, OW, C·M]`.
    pub output_shape: Shape4,
    pub geometry: ConvGeometry,
    pub depth_multiplier: usize,
    /// `−input_zero_point`.
    pub input_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// One per output channel.
    pub output_multiplier: &'a [i32],
    pub output_shift: &'a [i32],
}

impl<'a> DepthwiseS8Params<'a> {
    /// TFLM's depthwise Prepare (same multiplier rule as conv, one per output channel),
    /// writing multipliers and shifts into the caller's slices (length `C·M`). The depth
    /// multiplier is `filter_c / input_c` (TFLM checks the model's field equals it).
    pub fn prepare(
        input_shape: Shape4,
        filter_shape: Shape4,
        output_shape: Shape4,
        geometry: ConvGeometry,
        quant: &ConvQuant<'_>,
        multipliers: &'a mut [i32],
        shifts: &'a mut [i32],
    ) -> Result<Self, KernelError> {
        if multipliers.len() != filter_shape.c || input_shape.c == 0 {
            return Err(KernelError::BadParams);
        }
        let depth_multiplier = filter_shape.c / input_shape.c;
        populate_multipliers(
            quant.input_scale,
            quant.filter_scales,
            quant.output_scale,
            multipliers,
            shifts,
        )?;
        let (act_min, act_max) = activation_range_s8(
            quant.activation,
            quant.output_scale,
            quant.output_zero_point,
        )?;
        let p = DepthwiseS8Params {
            input_shape,
            filter_shape,
            output_shape,
            geometry,
            depth_multiplier,
            input_offset: quant
                .input_zero_point
                .checked_neg()
                .ok_or(KernelError::BadParams)?,
            output_offset: quant.output_zero_point,
            act_min,
            act_max,
            output_multiplier: multipliers,
            output_shift: shifts,
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
            || self.output_multiplier.len() != o.c
            || self.output_shift.len() != o.c
            || !shifts_ok(self.output_shift)
            || self.act_min > self.act_max
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

/// Scratch bytes the depthwise kernels need: none.
pub const fn scratch_size() -> usize {
    0
}

/// Int8 depthwise conv: validates, then picks the fastest exact variant.
pub fn depthwise_conv2d_s8(
    p: &DepthwiseS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    p.check(
        input.len(),
        filter.len(),
        bias.map(|b| b.len()),
        output.len(),
    )?;
    if super::depthwise_conv2d_s8_fast::applies(p) {
        super::depthwise_conv2d_s8_fast::depthwise_conv2d_s8_fast(p, input, filter, bias, output)
    } else {
        depthwise_conv2d_s8_ref(p, input, filter, bias, output)
    }
}

/// The reference loops (the spec). Always applicable.
pub fn depthwise_conv2d_s8_ref(
    p: &DepthwiseS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    p.check(
        input.len(),
        filter.len(),
        bias.map(|b| b.len()),
        output.len(),
    )?;
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    let m_count = p.depth_multiplier;
    for b in 0..os.n {
        for oy in 0..os.h {
            let in_y0 = (oy * g.stride_h) as isize - g.pad_h as isize;
            for ox in 0..os.w {
                let in_x0 = (ox * g.stride_w) as isize - g.pad_w as isize;
                for ic in 0..is.c {
                    for m in 0..m_count {
                        let oc = m + ic * m_count;
                        let mut acc: i32 = 0;
                        for ky in 0..fs.h {
                            let iy = in_y0 + (g.dilation_h * ky) as isize;
                            for kx in 0..fs.w {
                                let ix = in_x0 + (g.dilation_w * kx) as isize;
                                if iy < 0 || iy >= is.h as isize || ix < 0 || ix >= is.w as isize {
                                    continue;
                                }
                                let x = input[is.offset(b, iy as usize, ix as usize, ic)] as i32;
                                let w = filter[fs.offset(0, ky, kx, oc)] as i32;
                                acc = acc
                                    .wrapping_add(w.wrapping_mul(x.wrapping_add(p.input_offset)));
                            }
                        }
                        if let Some(bias) = bias {
                            acc = acc.wrapping_add(bias[oc]);
                        }
                        output[os.offset(b, oy, ox, oc)] = requantize_s8(
                            acc,
                            p.output_multiplier[oc],
                            p.output_shift[oc],
                            p.output_offset,
                            p.act_min,
                            p.act_max,
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::conv::testutil::Rng;
    use crate::padding::Padding;

    pub(crate) struct Case {
        pub is: Shape4,
        pub fs: Shape4,
        pub os: Shape4,
        pub g: ConvGeometry,
        pub m: usize,
        pub input_offset: i32,
        pub output_offset: i32,
        pub act: (i32, i32),
        pub mult: Vec<i32>,
        pub shift: Vec<i32>,
        pub input: Vec<i8>,
        pub filter: Vec<i8>,
        pub bias: Option<Vec<i32>>,
    }

    impl Case {
        pub(crate) fn params(&self) -> DepthwiseS8Params<'_> {
            DepthwiseS8Params {
                input_shape: self.is,
                filter_shape: self.fs,
                output_shape: self.os,
                geometry: self.g,
                depth_multiplier: self.m,
                input_offset: self.input_offset,
                output_offset: self.output_offset,
                act_min: self.act.0,
                act_max: self.act.1,
                output_multiplier: &self.mult,
                output_shift: &self.shift,
            }
        }

        pub(crate) fn random(r: &mut Rng, m1: bool) -> Case {
            let n = r.usize(1, 2);
            let (h, w) = (r.usize(1, 12), r.usize(1, 12));
            let c = r.usize(1, 70);
            let m = if m1 || r.range(0, 1) == 0 {
                1
            } else {
                r.usize(2, 3)
            };
            let (kh, kw) = if r.range(0, 1) == 0 {
                (3, 3)
            } else {
                (r.usize(1, 5), r.usize(1, 5))
            };
            let stride = (r.usize(1, 3), r.usize(1, 3));
            let dil = if r.range(0, 3) == 0 {
                (r.usize(1, 3), r.usize(1, 3))
            } else {
                (1, 1)
            };
            let (g, oh, ow) = if r.range(0, 4) == 0 {
                let g = ConvGeometry {
                    stride_h: stride.0,
                    stride_w: stride.1,
                    dilation_h: dil.0,
                    dilation_w: dil.1,
                    pad_h: r.usize(0, 3),
                    pad_w: r.usize(0, 3),
                };
                (g, r.usize(1, 8), r.usize(1, 8))
            } else {
                let pad = if r.range(0, 1) == 0 {
                    Padding::Same
                } else {
                    Padding::Valid
                };
                match ConvGeometry::from_padding(pad, (h, w), (kh, kw), stride, dil) {
                    Ok((g, oh, ow)) if oh > 0 && ow > 0 => (g, oh, ow),
                    _ => ConvGeometry::from_padding(Padding::Same, (h, w), (kh, kw), stride, dil)
                        .unwrap(),
                }
            };
            let is = Shape4::new(n, h, w, c);
            let fs = Shape4::new(1, kh, kw, c * m);
            let os = Shape4::new(n, oh, ow, c * m);
            let (mult, shift) = r.multipliers(c * m);
            let bias = if r.range(0, 3) == 0 {
                None
            } else {
                Some(r.i32s(c * m, -20000, 20000))
            };
            Case {
                is,
                fs,
                os,
                g,
                m,
                input_offset: r.range(-127, 128) as i32,
                output_offset: r.range(-128, 127) as i32,
                act: r.act_range(),
                mult,
                shift,
                input: r.i8s(is.elements().unwrap()),
                filter: r.i8s(fs.elements().unwrap()),
                bias,
            }
        }

        pub(crate) fn out_len(&self) -> usize {
            self.os.elements().unwrap()
        }
    }

    #[test]
    fn hand_checked_multiplier_2() {
        // 1×1×2×2 input, 1×2 filter, M = 2: four output channels.
        // in[x][c]: x0 = [1, 2], x1 = [3, 4]; filter[kx][oc]: kx0 = [1, 2, 3, 4], kx1 = [5, 6, 7, 8].
        let input = [1i8, 2, 3, 4];
        let filter = [1i8, 2, 3, 4, 5, 6, 7, 8];
        let mult = [1 << 30; 4];
        let shift = [1; 4];
        let p = DepthwiseS8Params {
            input_shape: Shape4::new(1, 1, 2, 2),
            filter_shape: Shape4::new(1, 1, 2, 4),
            output_shape: Shape4::new(1, 1, 1, 4),
            geometry: ConvGeometry::default(),
            depth_multiplier: 2,
            input_offset: 0,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
            output_multiplier: &mult,
            output_shift: &shift,
        };
        let mut out = [0i8; 4];
        depthwise_conv2d_s8(&p, &input, &filter, Some(&[0, 0, 0, 100]), &mut out).unwrap();
        // oc0 = c0·m0: 1·1 + 3·5 = 16; oc1 = c0·m1: 1·2 + 3·6 = 20;
        // oc2 = c1·m0: 2·3 + 4·7 = 34; oc3 = c1·m1: 2·4 + 4·8 + 100 = 140 → clamps to 127.
        assert_eq!(out, [16, 20, 34, 127]);
    }

    #[test]
    fn dispatch_equals_reference_on_random_shapes() {
        let mut r = Rng::new(51);
        for i in 0..600 {
            let c = Case::random(&mut r, false);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            depthwise_conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            depthwise_conv2d_s8(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(
                want, got,
                "case {i}: {:?} {:?} {:?} {:?}",
                c.is, c.fs, c.os, c.g
            );
        }
    }

    #[test]
    fn bad_buffers_and_params_are_errors() {
        let mut r = Rng::new(52);
        let c = Case::random(&mut r, true);
        let p = c.params();
        let mut out = vec![0i8; c.out_len()];
        assert_eq!(
            depthwise_conv2d_s8(&p, &c.input[1..], &c.filter, None, &mut out),
            Err(KernelError::BufferSize)
        );
        assert_eq!(
            depthwise_conv2d_s8(&p, &c.input, &c.filter[1..], None, &mut out),
            Err(KernelError::BufferSize)
        );
        let bad = DepthwiseS8Params {
            depth_multiplier: 2,
            ..p
        };
        assert_eq!(
            depthwise_conv2d_s8(&bad, &c.input, &c.filter, None, &mut out),
            Err(KernelError::BadParams)
        );
        let bad = DepthwiseS8Params {
            depth_multiplier: 0,
            ..p
        };
        assert_eq!(
            depthwise_conv2d_s8(&bad, &c.input, &c.filter, None, &mut out),
            Err(KernelError::BadParams)
        );
    }

    #[test]
    fn prepare_sets_offsets_and_range() {
        let mut m = [0; 8];
        let mut s = [0; 8];
        let q = ConvQuant {
            input_scale: 0.02,
            input_zero_point: 4,
            filter_scales: &[0.003],
            output_scale: 0.05,
            output_zero_point: -128,
            activation: crate::conv::FusedActivation::Relu6,
        };
        let p = DepthwiseS8Params::prepare(
            Shape4::new(1, 5, 5, 4),
            Shape4::new(1, 3, 3, 8),
            Shape4::new(1, 5, 5, 8),
            ConvGeometry {
                pad_h: 1,
                pad_w: 1,
                ..ConvGeometry::default()
            },
            &q,
            &mut m,
            &mut s,
        )
        .unwrap();
        assert_eq!(p.input_offset, -4);
        assert_eq!((p.act_min, p.act_max), (-128, -8));
        let (m0, s0) = crate::fixedpoint::quantize_multiplier(
            0.02f32 as f64 * 0.003f32 as f64 / 0.05f32 as f64,
        );
        assert!(p.output_multiplier.iter().all(|&x| x == m0));
        assert!(p.output_shift.iter().all(|&x| x == s0));
    }
}
