//! Int8 depthwise convolution with channel-inner loops (depth multiplier 1).
//!
//! NHWC keeps the channels of one pixel contiguous in the input, the `[1, KH, KW, C]` filter
//! and the output, so for each output pixel the accumulators of a block of channels are
//! updated tap by tap with straight vector loops. `(x + input_offset)·w` fits in i16 when the
//! offset is in [−127, 128] (|x + off| ≤ 255, |w| ≤ 128), so the multiply is done in i16 and
//! widened into the i32 accumulator: exact, and twice the lanes. Out-of-image taps are
//! skipped as in the reference, so results are byte-identical to
//! [`depthwise_conv2d_s8_ref`](super::depthwise_conv2d_s8_ref). No scratch (a 64-lane i32
//! accumulator block lives on the stack).

use super::depthwise_conv2d_s8::DepthwiseS8Params;
use crate::conv::cpu::Avx2;
use crate::conv::quant::requantize_s8_lane;
use crate::conv::ConvGeometry;
use crate::{KernelError, KernelResult};

const BLOCK: usize = 64;

/// Whether [`depthwise_conv2d_s8_fast`] can run these (already checked) params.
pub fn applies(p: &DepthwiseS8Params<'_>) -> bool {
    p.depth_multiplier == 1 && (-127..=128).contains(&p.input_offset)
}

/// Fast int8 depthwise conv; `BadParams` where [`applies`] is false.
pub fn depthwise_conv2d_s8_fast(
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
    if !applies(p) {
        return Err(KernelError::BadParams);
    }
    depthwise_s8_fast_into(p, input, filter, bias, output);
    Ok(())
}

/// The kernel over checked, applicable params: the AVX2 build (explicit 8-lane tap updates)
/// when the CPU has it, else the portable build.
fn depthwise_s8_fast_into(
    p: &DepthwiseS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = Avx2::detect() {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            simd: Avx2,
            p: &DepthwiseS8Params<'_>,
            input: &[i8],
            filter: &[i8],
            bias: Option<&[i32]>,
            output: &mut [i8],
        ) {
            depthwise_s8_fast_body(Some(simd), p, input, filter, bias, output)
        }
        // SAFETY: `Avx2::detect` succeeded, so the CPU supports AVX2.
        unsafe { avx2(simd, p, input, filter, bias, output) };
        return;
    }
    depthwise_s8_fast_body(None, p, input, filter, bias, output)
}

/// The kernel body; `simd` selects the intrinsic tap update (only with AVX2 proven present).
#[inline(always)]
pub(crate) fn depthwise_s8_fast_body(
    simd: Option<Avx2>,
    p: &DepthwiseS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    let c = is.c;
    let off = p.input_offset as i16;
    let mut acc = [0i32; BLOCK];
    for b in 0..os.n {
        for oy in 0..os.h {
            let (ky0, ky1) =
                ConvGeometry::tap_range(oy, g.stride_h, g.pad_h, g.dilation_h, fs.h, is.h);
            for ox in 0..os.w {
                let (kx0, kx1) =
                    ConvGeometry::tap_range(ox, g.stride_w, g.pad_w, g.dilation_w, fs.w, is.w);
                let out_base = os.offset(b, oy, ox, 0);
                let mut c0 = 0;
                while c0 < c {
                    let n = (c - c0).min(BLOCK);
                    let acc = &mut acc[..n];
                    match bias {
                        Some(bias) => acc.copy_from_slice(&bias[c0..c0 + n]),
                        None => acc.fill(0),
                    }
                    for ky in ky0..ky1 {
                        let iy = oy * g.stride_h + ky * g.dilation_h - g.pad_h;
                        for kx in kx0..kx1 {
                            let ix = ox * g.stride_w + kx * g.dilation_w - g.pad_w;
                            let x = &input[is.offset(b, iy, ix, c0)..][..n];
                            let w = &filter[(ky * fs.w + kx) * c + c0..][..n];
                            if let Some(simd) = simd {
                                simd.dw_mac(acc, x, w, off as i32);
                            } else {
                                for i in 0..n {
                                    let prod =
                                        (x[i] as i16).wrapping_add(off).wrapping_mul(w[i] as i16);
                                    acc[i] = acc[i].wrapping_add(prod as i32);
                                }
                            }
                        }
                    }
                    let out = &mut output[out_base + c0..][..n];
                    let mult = &p.output_multiplier[c0..c0 + n];
                    let shift = &p.output_shift[c0..c0 + n];
                    for i in 0..n {
                        out[i] = requantize_s8_lane(
                            acc[i],
                            mult[i],
                            shift[i],
                            p.output_offset,
                            p.act_min,
                            p.act_max,
                        );
                    }
                    c0 += n;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::depthwise_conv2d_s8::tests::Case;
    use super::super::depthwise_conv2d_s8_ref;
    use super::*;
    use crate::conv::testutil::Rng;

    #[test]
    fn equals_reference_on_random_shapes() {
        let mut r = Rng::new(61);
        for i in 0..800 {
            let c = Case::random(&mut r, true);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            depthwise_conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            depthwise_conv2d_s8_fast(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(
                want, got,
                "case {i}: {:?} {:?} {:?} {:?}",
                c.is, c.fs, c.os, c.g
            );
        }
    }

    #[test]
    fn portable_build_equals_reference() {
        let mut r = Rng::new(64);
        for i in 0..300 {
            let c = Case::random(&mut r, true);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            depthwise_conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            depthwise_s8_fast_body(None, &p, &c.input, &c.filter, c.bias.as_deref(), &mut got);
            assert_eq!(want, got, "case {i}");
        }
    }

    #[test]
    fn extreme_offsets_stay_exact() {
        // The i16 product bound is tight at offset 128 with x = 127 and w = −128.
        let mut r = Rng::new(62);
        for off in [-127, 128] {
            let mut c = Case::random(&mut r, true);
            c.input_offset = off;
            c.input
                .iter_mut()
                .for_each(|x| *x = if off > 0 { 127 } else { -128 });
            c.filter.iter_mut().for_each(|w| *w = -128);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            depthwise_conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            depthwise_conv2d_s8_fast(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(want, got);
        }
    }

    #[test]
    fn refuses_multiplier_above_one() {
        let mut r = Rng::new(63);
        loop {
            let c = Case::random(&mut r, false);
            if c.m == 1 {
                continue;
            }
            let mut out = vec![0i8; c.out_len()];
            assert_eq!(
                depthwise_conv2d_s8_fast(&c.params(), &c.input, &c.filter, None, &mut out),
                Err(KernelError::BadParams)
            );
            break;
        }
    }
}
