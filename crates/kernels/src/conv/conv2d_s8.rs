//! Int8 2-D convolution with per-channel requantization: TFLM's
//! `reference_integer_ops::ConvPerChannel`, bit for bit.
//!
//! `acc = Σ w·(x + input_offset) (+ bias)`, then `MultiplyByQuantizedMultiplier(acc, m[o],
//! s[o]) + output_offset`, clamped to `[act_min, act_max]`. Grouped convolution is supported as
//! TFLM does (`groups = input_c / filter_c`).
//!
//! [`conv2d_s8`] validates, then dispatches (all variants produce identical bytes):
//! 1. grouped conv or an input offset outside [−127, 128] → [`conv2d_s8_ref`];
//! 2. AVX2 CPU and a small filter (`KH·KW·I <= 64`, `O <= 64`) →
//!    [`conv2d_s8_outer`](super::conv2d_s8_outer);
//! 3. 1×1 over at most 8 input channels → [`conv2d_s8_1x1`](super::conv2d_s8_1x1);
//! 4. otherwise [`conv2d_s8_fast`](super::conv2d_s8_fast) (stack patch + GEMM tiles, or
//!    contiguous runs for filters over `PATCH` weights), except large 1×1 which use
//!    `conv2d_s8_1x1`.
//!
//! The rules come from timings of the MLPerf Tiny layer shapes (`benches/kernels.rs`).

use super::quant::{
    activation_range_s8, populate_multipliers, requantize_s8, shifts_ok, FusedActivation,
};
use super::{check_conv_buffers, ConvGeometry};
use crate::{KernelError, KernelResult, Shape4};

/// Float quantization parameters of a conv-like op, as read from the model, for `prepare`.
#[derive(Debug, Clone, Copy)]
pub struct ConvQuant<'q> {
    pub input_scale: f32,
    pub input_zero_point: i32,
    /// One scale (per-tensor) or one per output channel.
    pub filter_scales: &'q [f32],
    pub output_scale: f32,
    pub output_zero_point: i32,
    pub activation: FusedActivation,
}

/// Everything `conv2d_s8` reads besides the tensors (TFLM's `OpDataConv` + `ConvParams`).
#[derive(Debug, Clone, Copy)]
pub struct Conv2dS8Params<'a> {
    /// `[N, H, W, C]`.
    pub input_shape: Shape4,
    /// `[O, KH, KW, I]` with `I = C / groups`.
    pub filter_shape: Shape4,
    /// `[N, OH, OW, O]`.
    pub output_shape: Shape4,
    pub geometry: ConvGeometry,
    /// `−input_zero_point`.
    pub input_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// One Q31 multiplier per output channel.
    pub output_multiplier: &'a [i32],
    /// One shift per output channel (TFLM convention: > 0 is a left shift).
    pub output_shift: &'a [i32],
}

impl<'a> Conv2dS8Params<'a> {
    /// TFLM's conv Prepare: per-channel multipliers (written into the caller's `multipliers`
    /// and `shifts`, one slot per output channel) and the activation range.
    pub fn prepare(
        input_shape: Shape4,
        filter_shape: Shape4,
        output_shape: Shape4,
        geometry: ConvGeometry,
        quant: &ConvQuant<'_>,
        multipliers: &'a mut [i32],
        shifts: &'a mut [i32],
    ) -> Result<Self, KernelError> {
        if multipliers.len() != filter_shape.n {
            return Err(KernelError::BadParams);
        }
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
        let p = Conv2dS8Params {
            input_shape,
            filter_shape,
            output_shape,
            geometry,
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

    /// Shape and parameter consistency, independent of the buffers.
    pub fn check_params(&self) -> KernelResult {
        self.geometry.check()?;
        let (i, f, o) = (self.input_shape, self.filter_shape, self.output_shape);
        if f.c == 0 || f.n == 0 || f.h == 0 || f.w == 0 || i.c % f.c != 0 {
            return Err(KernelError::BadParams);
        }
        let groups = i.c / f.c;
        if groups == 0 || f.n % groups != 0 || o.c != f.n || o.n != i.n {
            return Err(KernelError::BadParams);
        }
        if self.output_multiplier.len() != o.c
            || self.output_shift.len() != o.c
            || !shifts_ok(self.output_shift)
            || self.act_min > self.act_max
        {
            return Err(KernelError::BadParams);
        }
        Ok(())
    }

    /// Full validation against the buffers a kernel is about to touch.
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

    /// Whether the i16 widening trick of the fast kernels is exact: `x + input_offset` must
    /// stay in `[-255, 255]` so every product fits the i16×i8 → i32 pattern without wrap.
    pub(crate) fn fast_offset_ok(&self) -> bool {
        (-127..=128).contains(&self.input_offset)
    }
}

/// Scratch bytes `conv2d_s8` needs: none.
pub const fn scratch_size() -> usize {
    0
}

/// Int8 convolution: validates, then picks the fastest exact variant.
pub fn conv2d_s8(
    p: &Conv2dS8Params<'_>,
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
    conv2d_s8_dispatch_into(p, input, filter, bias, output);
    Ok(())
}

/// The dispatch rule over already-checked params, shared with the fused conv + add.
pub(crate) fn conv2d_s8_dispatch_into<S: OutSink + ?Sized>(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    out: &mut S,
) {
    let grouped = p.input_shape.c != p.filter_shape.c;
    if grouped || !p.fast_offset_ok() {
        conv2d_s8_ref_into(p, input, filter, bias, out);
    } else if super::conv2d_s8_outer::applies(p) {
        super::conv2d_s8_outer::conv2d_s8_outer_into(p, input, filter, bias, out);
    } else if super::conv2d_s8_1x1::applies(p) && p.filter_shape.c <= 8 {
        // Measured: with very few input channels the direct 1×1 tile beats the patch copy.
        super::conv2d_s8_1x1::conv2d_s8_1x1_into(p, input, filter, bias, out);
    } else if fs_k(p) <= super::conv2d_s8_fast::PATCH || !super::conv2d_s8_1x1::applies(p) {
        super::conv2d_s8_fast::conv2d_s8_fast_into(p, input, filter, bias, out);
    } else {
        super::conv2d_s8_1x1::conv2d_s8_1x1_into(p, input, filter, bias, out);
    }
}

/// Weights per output channel.
fn fs_k(p: &Conv2dS8Params<'_>) -> usize {
    p.filter_shape.h * p.filter_shape.w * p.filter_shape.c
}

/// The reference loops (the spec). Always applicable.
pub fn conv2d_s8_ref(
    p: &Conv2dS8Params<'_>,
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
    conv2d_s8_ref_into(p, input, filter, bias, output);
    Ok(())
}

/// Where a conv kernel's int8 results go: a plain store, or a fused epilogue such as the
/// residual ADD of [`conv2d_s8_add`](super::conv2d_s8_add). `i` is the NHWC output index;
/// every index is written exactly once.
pub(crate) trait OutSink {
    fn put(&mut self, i: usize, v: i8);

    /// `put(base + j, v[j])` for a contiguous row (overridable with a vectorizable loop).
    #[inline(always)]
    fn put_row(&mut self, base: usize, v: &[i8]) {
        for (j, &x) in v.iter().enumerate() {
            self.put(base + j, x);
        }
    }
}

impl OutSink for [i8] {
    #[inline(always)]
    fn put(&mut self, i: usize, v: i8) {
        self[i] = v;
    }

    #[inline(always)]
    fn put_row(&mut self, base: usize, v: &[i8]) {
        self[base..base + v.len()].copy_from_slice(v);
    }
}

/// Reference loops over already-checked params.
pub(crate) fn conv2d_s8_ref_into<S: OutSink + ?Sized>(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    out: &mut S,
) {
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    let groups = is.c / fs.c;
    let filters_per_group = fs.n / groups;
    for b in 0..os.n {
        for oy in 0..os.h {
            let in_y0 = (oy * g.stride_h) as isize - g.pad_h as isize;
            for ox in 0..os.w {
                let in_x0 = (ox * g.stride_w) as isize - g.pad_w as isize;
                for oc in 0..os.c {
                    let group = oc / filters_per_group;
                    let mut acc: i32 = 0;
                    for ky in 0..fs.h {
                        let iy = in_y0 + (g.dilation_h * ky) as isize;
                        for kx in 0..fs.w {
                            let ix = in_x0 + (g.dilation_w * kx) as isize;
                            if iy < 0 || iy >= is.h as isize || ix < 0 || ix >= is.w as isize {
                                continue;
                            }
                            let ib = is.offset(b, iy as usize, ix as usize, group * fs.c);
                            let fb = fs.offset(oc, ky, kx, 0);
                            for ic in 0..fs.c {
                                let x = input[ib + ic] as i32;
                                let w = filter[fb + ic] as i32;
                                acc = acc
                                    .wrapping_add(w.wrapping_mul(x.wrapping_add(p.input_offset)));
                            }
                        }
                    }
                    if let Some(bias) = bias {
                        acc = acc.wrapping_add(bias[oc]);
                    }
                    let v = requantize_s8(
                        acc,
                        p.output_multiplier[oc],
                        p.output_shift[oc],
                        p.output_offset,
                        p.act_min,
                        p.act_max,
                    );
                    out.put(os.offset(b, oy, ox, oc), v);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::testutil::Rng;
    use super::*;

    /// A random valid conv problem; `Vec`s own what the params borrow.
    pub(crate) struct Case {
        pub is: Shape4,
        pub fs: Shape4,
        pub os: Shape4,
        pub g: ConvGeometry,
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
        pub(crate) fn params(&self) -> Conv2dS8Params<'_> {
            Conv2dS8Params {
                input_shape: self.is,
                filter_shape: self.fs,
                output_shape: self.os,
                geometry: self.g,
                input_offset: self.input_offset,
                output_offset: self.output_offset,
                act_min: self.act.0,
                act_max: self.act.1,
                output_multiplier: &self.mult,
                output_shift: &self.shift,
            }
        }

        pub(crate) fn random(r: &mut Rng, force_1x1: bool, groups_ok: bool) -> Case {
            let n = r.usize(1, 2);
            let h = r.usize(1, 12);
            let w = r.usize(1, 12);
            let (kh, kw) = if force_1x1 {
                (1, 1)
            } else {
                (r.usize(1, 5), r.usize(1, 5))
            };
            let groups = if groups_ok && r.range(0, 3) == 0 {
                r.usize(2, 3)
            } else {
                1
            };
            let ic = r.usize(1, 20);
            let c = ic * groups;
            let oc = r.usize(1, 9) * groups;
            let stride = (r.usize(1, 3), r.usize(1, 3));
            let dil = if force_1x1 || r.range(0, 2) != 0 {
                (1, 1)
            } else {
                (r.usize(1, 3), r.usize(1, 3))
            };
            let (g, oh, ow) = if force_1x1 {
                let (g, oh, ow) = ConvGeometry::from_padding(
                    crate::padding::Padding::Valid,
                    (h, w),
                    (1, 1),
                    stride,
                    dil,
                )
                .unwrap();
                (g, oh, ow)
            } else if r.range(0, 3) == 0 {
                // Arbitrary explicit padding, output size from the padded extent.
                let (ph, pw) = (r.usize(0, 3), r.usize(0, 3));
                let g = ConvGeometry {
                    stride_h: stride.0,
                    stride_w: stride.1,
                    dilation_h: dil.0,
                    dilation_w: dil.1,
                    pad_h: ph,
                    pad_w: pw,
                };
                (g, r.usize(1, 8), r.usize(1, 8))
            } else {
                let pad = if r.range(0, 1) == 0 {
                    crate::padding::Padding::Same
                } else {
                    crate::padding::Padding::Valid
                };
                match ConvGeometry::from_padding(pad, (h, w), (kh, kw), stride, dil) {
                    Ok((g, oh, ow)) if oh > 0 && ow > 0 => (g, oh, ow),
                    _ => ConvGeometry::from_padding(
                        crate::padding::Padding::Same,
                        (h, w),
                        (kh, kw),
                        stride,
                        dil,
                    )
                    .unwrap(),
                }
            };
            let is = Shape4::new(n, h, w, c);
            let fs = Shape4::new(oc, kh, kw, ic);
            let os = Shape4::new(n, oh, ow, oc);
            let (mult, shift) = r.multipliers(oc);
            let bias = if r.range(0, 3) == 0 {
                None
            } else {
                Some(r.i32s(oc, -20000, 20000))
            };
            Case {
                is,
                fs,
                os,
                g,
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
    fn hand_checked_3x3_same() {
        // 1×3×3×1 input 1..9, one 3×3 all-ones filter, zp 0, identity-ish requant (×0.5, shift 1 = ×1).
        let input: Vec<i8> = (1..=9).collect();
        let filter = [1i8; 9];
        let mult = [1 << 30];
        let shift = [1];
        let (g, oh, ow) = ConvGeometry::from_padding(
            crate::padding::Padding::Same,
            (3, 3),
            (3, 3),
            (1, 1),
            (1, 1),
        )
        .unwrap();
        let p = Conv2dS8Params {
            input_shape: Shape4::new(1, 3, 3, 1),
            filter_shape: Shape4::new(1, 3, 3, 1),
            output_shape: Shape4::new(1, oh, ow, 1),
            geometry: g,
            input_offset: 0,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
            output_multiplier: &mult,
            output_shift: &shift,
        };
        let mut out = [0i8; 9];
        conv2d_s8(&p, &input, &filter, None, &mut out).unwrap();
        // Sums of 3×3 neighbourhoods (zero padded).
        assert_eq!(out, [12, 21, 16, 27, 45, 33, 24, 39, 28]);
        // With input zero point 1 (offset −1) padded taps contribute nothing, in-image ones x−1.
        let p = Conv2dS8Params {
            input_offset: -1,
            ..p
        };
        conv2d_s8(&p, &input, &filter, Some(&[5]), &mut out).unwrap();
        assert_eq!(
            out,
            [
                12 - 4 + 5,
                21 - 6 + 5,
                16 - 4 + 5,
                27 - 6 + 5,
                45 - 9 + 5,
                33 - 6 + 5,
                24 - 4 + 5,
                39 - 6 + 5,
                28 - 4 + 5
            ]
        );
    }

    #[test]
    fn prepare_matches_tflm_formulas() {
        let mut m = [0; 2];
        let mut s = [0; 2];
        let q = ConvQuant {
            input_scale: 0.5,
            input_zero_point: -3,
            filter_scales: &[0.01, 0.02],
            output_scale: 0.25,
            output_zero_point: 7,
            activation: FusedActivation::Relu,
        };
        let p = Conv2dS8Params::prepare(
            Shape4::new(1, 4, 4, 3),
            Shape4::new(2, 3, 3, 3),
            Shape4::new(1, 4, 4, 2),
            ConvGeometry::default(),
            &q,
            &mut m,
            &mut s,
        )
        .unwrap();
        assert_eq!(p.input_offset, 3);
        assert_eq!(p.output_offset, 7);
        assert_eq!((p.act_min, p.act_max), (7, 127));
        let (m0, s0) = crate::fixedpoint::quantize_multiplier(0.5f64 * 0.01f32 as f64 / 0.25);
        assert_eq!((p.output_multiplier[0], p.output_shift[0]), (m0, s0));
        let (m1, s1) = crate::fixedpoint::quantize_multiplier(0.5f64 * 0.02f32 as f64 / 0.25);
        assert_eq!((p.output_multiplier[1], p.output_shift[1]), (m1, s1));
    }

    #[test]
    fn dispatch_equals_reference_on_random_shapes() {
        let mut r = Rng::new(1);
        for i in 0..600 {
            let c = Case::random(&mut r, i % 4 == 0, true);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(
                want, got,
                "case {i}: {:?} {:?} {:?} {:?}",
                c.is, c.fs, c.os, c.g
            );
        }
    }

    #[test]
    fn bad_buffers_are_errors() {
        let mut r = Rng::new(2);
        let c = Case::random(&mut r, false, false);
        let p = c.params();
        let mut out = vec![0i8; c.out_len()];
        let short = &c.input[..c.input.len() - 1];
        assert_eq!(
            conv2d_s8(&p, short, &c.filter, None, &mut out),
            Err(KernelError::BufferSize)
        );
        assert_eq!(
            conv2d_s8(&p, &c.input, &c.filter, Some(&[0; 100]), &mut out),
            Err(KernelError::BufferSize)
        );
        let mut long = vec![0i8; c.out_len() + 1];
        assert_eq!(
            conv2d_s8(&p, &c.input, &c.filter, None, &mut long),
            Err(KernelError::BufferSize)
        );
        let bad = Conv2dS8Params {
            output_multiplier: &[],
            ..p
        };
        assert_eq!(
            conv2d_s8(&bad, &c.input, &c.filter, None, &mut out),
            Err(KernelError::BadParams)
        );
        let bad = Conv2dS8Params {
            geometry: ConvGeometry {
                stride_h: 0,
                ..p.geometry
            },
            ..p
        };
        assert_eq!(
            conv2d_s8(&bad, &c.input, &c.filter, None, &mut out),
            Err(KernelError::BadParams)
        );
        let bad = Conv2dS8Params {
            act_min: 5,
            act_max: 4,
            ..p
        };
        assert_eq!(
            conv2d_s8(&bad, &c.input, &c.filter, None, &mut out),
            Err(KernelError::BadParams)
        );
    }

    #[test]
    fn out_of_range_input_offset_falls_back_to_reference() {
        let mut r = Rng::new(3);
        for _ in 0..50 {
            let mut c = Case::random(&mut r, false, false);
            c.input_offset = r.range(-1000, 1000) as i32;
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(want, got);
        }
    }
}
