//! General int8 convolution with a per-pixel patch on the stack (no im2col buffer).
//!
//! When a filter's `KH·KW·I` weights fit [`PATCH`] elements, the receptive field of two output
//! pixels is gathered into two i16 patches holding `x + input_offset` (and 0 for taps outside
//! the image, which is exactly "skip the tap" as the reference does), and each output channel
//! is one contiguous patch × weight-row dot product; a 2×4 tile of (pixels × channels) shares
//! every load. Larger filters use runs instead: the valid part of each filter row is one
//! contiguous run in the NHWC input and the `[O, KH, KW, I]` filter (each tap is its own run
//! when `dilation_w > 1`), four output channels per pass.
//!
//! Applies to ungrouped convolutions with `input_offset` in [−127, 128]; bit-identical to
//! [`conv2d_s8_ref`](super::conv2d_s8_ref). No caller scratch: the patches are
//! `2 · PATCH · 2` bytes of stack.

use super::conv2d_s8::{Conv2dS8Params, OutSink};
use super::cpu::Avx2;
use super::dot::{dot1, dot4};
use super::quant::requantize_s8;
use super::tile::{write_rows, I16Rows, Requant};
use super::ConvGeometry;
use crate::{KernelError, KernelResult};

/// Fast general int8 conv. `BadParams` if the variant does not apply (grouped conv or an
/// input offset outside [−127, 128]); [`conv2d_s8`](super::conv2d_s8) never calls it then.
pub fn conv2d_s8_fast(
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
    if p.input_shape.c != p.filter_shape.c || !p.fast_offset_ok() {
        return Err(KernelError::BadParams);
    }
    conv2d_s8_fast_into(p, input, filter, bias, output);
    Ok(())
}

/// The kernel over checked, applicable params: the AVX2 build (with the intrinsic GEMM tile)
/// when the CPU has it, else the portable build.
pub(crate) fn conv2d_s8_fast_into<S: OutSink + ?Sized>(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    out: &mut S,
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = Avx2::detect() {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<S: OutSink + ?Sized>(
            simd: Avx2,
            p: &Conv2dS8Params<'_>,
            input: &[i8],
            filter: &[i8],
            bias: Option<&[i32]>,
            out: &mut S,
        ) {
            conv2d_s8_fast_body(Some(simd), p, input, filter, bias, out)
        }
        // SAFETY: `Avx2::detect` succeeded, so the CPU supports AVX2.
        unsafe { avx2(simd, p, input, filter, bias, out) };
        return;
    }
    conv2d_s8_fast_body(None, p, input, filter, bias, out)
}

/// The kernel body; `simd` selects the intrinsic tile (only with AVX2 proven present).
#[inline(always)]
pub(crate) fn conv2d_s8_fast_body<S: OutSink + ?Sized>(
    simd: Option<Avx2>,
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    out: &mut S,
) {
    let fs = p.filter_shape;
    if fs.h * fs.w * fs.c <= PATCH {
        return patch_body(simd, p, input, filter, bias, out);
    }
    let os = p.output_shape;
    let off = p.input_offset as i16;
    let k_total = fs.h * fs.w * fs.c;
    let oc4 = os.c / 4 * 4;
    let row = |o: usize| &filter[o * k_total..(o + 1) * k_total];
    let requant = |acc: i32, o: usize| {
        requantize_s8(
            acc,
            p.output_multiplier[o],
            p.output_shift[o],
            p.output_offset,
            p.act_min,
            p.act_max,
        )
    };
    for b in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                let base = os.offset(b, oy, ox, 0);
                let mut o = 0;
                while o < oc4 {
                    let mut acc = match bias {
                        Some(bias) => [bias[o], bias[o + 1], bias[o + 2], bias[o + 3]],
                        None => [0; 4],
                    };
                    let w = [row(o), row(o + 1), row(o + 2), row(o + 3)];
                    for_each_run(p, input, b, oy, ox, |x: &[i8], fo: usize| {
                        let d = dot4(x, off, [&w[0][fo..], &w[1][fo..], &w[2][fo..], &w[3][fo..]]);
                        for (a, d) in acc.iter_mut().zip(d) {
                            *a = a.wrapping_add(d);
                        }
                    });
                    for (j, &a) in acc.iter().enumerate() {
                        out.put(base + o + j, requant(a, o + j));
                    }
                    o += 4;
                }
                while o < os.c {
                    let mut acc = bias.map_or(0, |b| b[o]);
                    let w = row(o);
                    for_each_run(p, input, b, oy, ox, |x: &[i8], fo: usize| {
                        acc = acc.wrapping_add(dot1(x, off, &w[fo..]));
                    });
                    out.put(base + o, requant(acc, o));
                    o += 1;
                }
            }
        }
    }
}

/// Largest `KH·KW·I` handled by the patch path (3×3×128; a multiple of 16).
pub const PATCH: usize = 1152;

/// Stack bytes for row-padded copies of small filters.
const WPAD: usize = 4096;

/// Output pixel coordinates `(b, oy, ox)`, stepped in NHWC order without divisions.
#[derive(Clone, Copy)]
pub(crate) struct Pixel {
    pub b: usize,
    pub oy: usize,
    pub ox: usize,
}

impl Pixel {
    #[inline(always)]
    pub(crate) fn advance(&mut self, os: &crate::Shape4) {
        self.ox += 1;
        if self.ox == os.w {
            self.ox = 0;
            self.oy += 1;
            if self.oy == os.h {
                self.oy = 0;
                self.b += 1;
            }
        }
    }
}

/// Gathers output pixel `px`'s receptive field as `x + input_offset` (0 outside the image).
#[inline(always)]
pub(crate) fn fill_patch(p: &Conv2dS8Params<'_>, input: &[i8], px: Pixel, patch: &mut [i16]) {
    let (is, fs, g) = (p.input_shape, p.filter_shape, p.geometry);
    let off = p.input_offset as i16;
    let kc = fs.c;
    let Pixel { b, oy, ox } = px;
    let (ky0, ky1) = ConvGeometry::tap_range(oy, g.stride_h, g.pad_h, g.dilation_h, fs.h, is.h);
    let (kx0, kx1) = ConvGeometry::tap_range(ox, g.stride_w, g.pad_w, g.dilation_w, fs.w, is.w);
    let row_len = fs.w * kc;
    for ky in 0..fs.h {
        let dst = &mut patch[ky * row_len..(ky + 1) * row_len];
        if ky < ky0 || ky >= ky1 || kx0 >= kx1 {
            dst.fill(0);
            continue;
        }
        let iy = oy * g.stride_h + ky * g.dilation_h - g.pad_h;
        dst[..kx0 * kc].fill(0);
        dst[kx1 * kc..].fill(0);
        if g.dilation_w == 1 {
            let ix = ox * g.stride_w + kx0 - g.pad_w;
            let src = &input[is.offset(b, iy, ix, 0)..][..(kx1 - kx0) * kc];
            for (d, &s) in dst[kx0 * kc..kx1 * kc].iter_mut().zip(src) {
                *d = s as i16 + off;
            }
        } else {
            for kx in kx0..kx1 {
                let ix = ox * g.stride_w + kx * g.dilation_w - g.pad_w;
                let src = &input[is.offset(b, iy, ix, 0)..][..kc];
                for (d, &s) in dst[kx * kc..(kx + 1) * kc].iter_mut().zip(src) {
                    *d = s as i16 + off;
                }
            }
        }
    }
}

/// The patch path: two pixels × four channels per step.
#[inline(always)]
fn patch_body<S: OutSink + ?Sized>(
    simd: Option<Avx2>,
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    out: &mut S,
) {
    let (fs, os) = (p.filter_shape, p.output_shape);
    let k = fs.h * fs.w * fs.c;
    let oc = os.c;
    let pixels = os.n * os.h * os.w;
    let rq = Requant {
        multiplier: p.output_multiplier,
        shift: p.output_shift,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
    };
    // Small filters: copy the weights with rows padded to a multiple of 16 so every dot
    // product is whole vectors (a 27-long row would otherwise run 11 scalar steps). The
    // patches' padding stays 0 (`fill_patch` writes only the first `k`), contributing nothing.
    let kp = k.div_ceil(16) * 16;
    let mut wpad = [0i8; WPAD];
    let (weights, kw) = if kp != k && kp * oc <= WPAD {
        for o in 0..oc {
            wpad[o * kp..o * kp + k].copy_from_slice(&filter[o * k..(o + 1) * k]);
        }
        (&wpad[..kp * oc], kp)
    } else {
        (filter, k)
    };
    let mut buf = [0i16; 2 * PATCH];
    let (pa, pb) = buf.split_at_mut(PATCH);
    let (pa, pb) = (&mut pa[..kw], &mut pb[..kw]);
    let mut i = 0;
    let mut px = Pixel { b: 0, oy: 0, ox: 0 };
    while i < pixels {
        let pair = i + 1 < pixels;
        fill_patch(p, input, px, &mut pa[..k]);
        px.advance(&os);
        if pair {
            fill_patch(p, input, px, &mut pb[..k]);
            px.advance(&os);
        }
        let dots = I16Rows {
            avx2: simd,
            x0: pa,
            x1: pb,
            pair,
            filter: weights,
            k: kw,
        };
        write_rows(&rq, bias, oc, pair, (i * oc, (i + 1) * oc), out, &dots);
        i += if pair { 2 } else { 1 };
    }
}

/// Calls `f(input_run, filter_offset)` for every contiguous valid run of output pixel
/// `(b, oy, ox)`; `filter_offset` indexes within one output channel's `KH·KW·I` weights.
#[inline(always)]
fn for_each_run<'i, F: FnMut(&'i [i8], usize)>(
    p: &Conv2dS8Params<'_>,
    input: &'i [i8],
    b: usize,
    oy: usize,
    ox: usize,
    mut f: F,
) {
    let (is, fs, g) = (p.input_shape, p.filter_shape, p.geometry);
    let kc = fs.c;
    let (ky0, ky1) = ConvGeometry::tap_range(oy, g.stride_h, g.pad_h, g.dilation_h, fs.h, is.h);
    let (kx0, kx1) = ConvGeometry::tap_range(ox, g.stride_w, g.pad_w, g.dilation_w, fs.w, is.w);
    if kx0 >= kx1 {
        return;
    }
    for ky in ky0..ky1 {
        let iy = oy * g.stride_h + ky * g.dilation_h - g.pad_h;
        if g.dilation_w == 1 {
            let ix = ox * g.stride_w + kx0 - g.pad_w;
            let start = is.offset(b, iy, ix, 0);
            let len = (kx1 - kx0) * kc;
            f(&input[start..start + len], (ky * fs.w + kx0) * kc);
        } else {
            for kx in kx0..kx1 {
                let ix = ox * g.stride_w + kx * g.dilation_w - g.pad_w;
                let start = is.offset(b, iy, ix, 0);
                f(&input[start..start + kc], (ky * fs.w + kx) * kc);
            }
        }
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
        let mut r = Rng::new(11);
        for i in 0..800 {
            let c = Case::random(&mut r, false, false);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8_fast(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(
                want, got,
                "case {i}: {:?} {:?} {:?} {:?}",
                c.is, c.fs, c.os, c.g
            );
        }
    }

    #[test]
    fn portable_build_equals_reference() {
        // The dispatch above runs the AVX2 build on capable hosts; check the baseline too.
        let mut r = Rng::new(13);
        for i in 0..300 {
            let c = Case::random(&mut r, false, false);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8_fast_body(
                None,
                &p,
                &c.input,
                &c.filter,
                c.bias.as_deref(),
                &mut got[..],
            );
            assert_eq!(want, got, "case {i}");
        }
    }

    #[test]
    fn filters_larger_than_the_patch_use_runs() {
        let mut r = Rng::new(14);
        for i in 0..40 {
            let mut c = Case::random(&mut r, false, false);
            // Widen to > PATCH weights per output channel.
            let ic = PATCH / (c.fs.h * c.fs.w) + 1 + r.usize(0, 50);
            c.is.c = ic;
            c.fs.c = ic;
            c.input = r.i8s(c.is.elements().unwrap());
            c.filter = r.i8s(c.fs.elements().unwrap());
            assert!(c.fs.h * c.fs.w * c.fs.c > PATCH);
            let p = c.params();
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            let mut portable = vec![2i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8_fast(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            conv2d_s8_fast_body(
                None,
                &p,
                &c.input,
                &c.filter,
                c.bias.as_deref(),
                &mut portable[..],
            );
            assert_eq!(want, got, "case {i}");
            assert_eq!(want, portable, "case {i}");
        }
    }

    #[test]
    fn refuses_grouped_conv() {
        let mut r = Rng::new(12);
        loop {
            let c = Case::random(&mut r, false, true);
            if c.is.c == c.fs.c {
                continue;
            }
            let mut out = vec![0i8; c.out_len()];
            assert_eq!(
                conv2d_s8_fast(
                    &c.params(),
                    &c.input,
                    &c.filter,
                    c.bias.as_deref(),
                    &mut out
                ),
                Err(KernelError::BadParams)
            );
            break;
        }
    }
}
