//! Int8 1×1 convolution as a GEMM: every output pixel is one contiguous run of input channels
//! dotted with each `[O, I]` weight row. Pixels are taken two at a time and output channels
//! four at a time (a 2×4 register tile), so each widened input and weight load is used twice
//! or four times. Strides are allowed (the pixel gather just skips input positions).
//!
//! Applies when the filter is 1×1, padding is zero, the conv is ungrouped, every output pixel
//! maps inside the input and `input_offset` is in [−127, 128]; bit-identical to
//! [`conv2d_s8_ref`](super::conv2d_s8_ref). No scratch.

use super::conv2d_s8::{Conv2dS8Params, OutSink};
use super::conv2d_s8_fast::Pixel;
use super::cpu::simd_dispatch;
use super::tile::{write_rows, I8Rows, Requant};
use crate::{KernelError, KernelResult};

/// Whether [`conv2d_s8_1x1`] can run these (already checked) params.
pub fn applies(p: &Conv2dS8Params<'_>) -> bool {
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    fs.h == 1
        && fs.w == 1
        && g.pad_h == 0
        && g.pad_w == 0
        && is.c == fs.c
        && p.fast_offset_ok()
        && (os.h == 0 || (os.h - 1) * g.stride_h < is.h)
        && (os.w == 0 || (os.w - 1) * g.stride_w < is.w)
}

/// Fast 1×1 int8 conv; `BadParams` where [`applies`] is false.
pub fn conv2d_s8_1x1(
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
    if !applies(p) {
        return Err(KernelError::BadParams);
    }
    conv2d_s8_1x1_into(p, input, filter, bias, output);
    Ok(())
}

simd_dispatch! {
    /// The kernel over checked, applicable params (AVX2 build when available).
    pub(crate) fn conv2d_s8_1x1_into<S: OutSink>(
        p: &Conv2dS8Params<'_>,
        input: &[i8],
        filter: &[i8],
        bias: Option<&[i32]>,
        out: &mut S,
    ) => conv2d_s8_1x1_body
}

/// The portable kernel body.
#[inline(always)]
pub(crate) fn conv2d_s8_1x1_body<S: OutSink + ?Sized>(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    out: &mut S,
) {
    let (is, os, g) = (p.input_shape, p.output_shape, p.geometry);
    let (k, oc) = (is.c, os.c);
    let off = p.input_offset as i16;
    let pixels = os.n * os.h * os.w;
    // Input offset of an output pixel (1×1, no padding: its single tap).
    let src = |px: Pixel| is.offset(px.b, px.oy * g.stride_h, px.ox * g.stride_w, 0);
    let mut px = Pixel { b: 0, oy: 0, ox: 0 };
    let rq = Requant {
        multiplier: p.output_multiplier,
        shift: p.output_shift,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
    };
    let mut i = 0;
    while i < pixels {
        let pair = i + 1 < pixels;
        let x0 = &input[src(px)..][..k];
        px.advance(&os);
        let x1 = if pair {
            let x1 = &input[src(px)..][..k];
            px.advance(&os);
            x1
        } else {
            x0
        };
        let dots = I8Rows {
            x0,
            x1,
            off,
            pair,
            filter,
            k,
        };
        write_rows(&rq, bias, oc, pair, (i * oc, (i + 1) * oc), out, &dots);
        i += if pair { 2 } else { 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv2d_s8::tests::Case;
    use super::super::conv2d_s8_ref;
    use super::super::testutil::Rng;
    use super::*;

    #[test]
    fn equals_reference_on_random_shapes() {
        let mut r = Rng::new(21);
        for i in 0..500 {
            let c = Case::random(&mut r, true, false);
            let p = c.params();
            assert!(applies(&p));
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8_1x1(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(
                want, got,
                "case {i}: {:?} {:?} {:?} {:?}",
                c.is, c.fs, c.os, c.g
            );
        }
    }

    #[test]
    fn portable_build_equals_reference() {
        let mut r = Rng::new(23);
        for i in 0..300 {
            let c = Case::random(&mut r, true, false);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8_1x1_body(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got[..]);
            assert_eq!(want, got, "case {i}");
        }
    }

    #[test]
    fn many_output_channels_cross_requant_blocks() {
        // More than one 64-channel requantization block, with a ragged tail.
        let mut r = Rng::new(24);
        for i in 0..30 {
            let mut c = Case::random(&mut r, true, false);
            let oc = r.usize(65, 200);
            c.fs.n = oc;
            c.os.c = oc;
            c.filter = r.i8s(c.fs.elements().unwrap());
            let (m, s) = r.multipliers(oc);
            c.mult = m;
            c.shift = s;
            c.bias = Some(r.i32s(oc, -5000, 5000));
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8_1x1(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(want, got, "case {i}");
        }
    }

    #[test]
    fn refuses_padded_or_3x3() {
        let mut r = Rng::new(22);
        let c = Case::random(&mut r, true, false);
        let mut p = c.params();
        p.geometry.pad_h = 1;
        assert!(!applies(&p));
        let mut out = vec![0i8; c.out_len()];
        assert_eq!(
            conv2d_s8_1x1(&p, &c.input, &c.filter, c.bias.as_deref(), &mut out),
            Err(KernelError::BadParams)
        );
    }
}
