//! General int8 convolution without im2col: for each output pixel the valid part of each
//! filter row is one contiguous run in NHWC input and in the `[O, KH, KW, I]` filter (when
//! `dilation_w == 1`; else each tap is a run of `I`), so each output channel is a sum of
//! contiguous dot products. Out-of-image taps are skipped, exactly like the reference, so no
//! zero-point correction is needed. Four output channels are computed per pass over a run.
//!
//! Applies to ungrouped convolutions with `input_offset` in [−127, 128]; bit-identical to
//! [`conv2d_s8_ref`](super::conv2d_s8_ref). No scratch.

use super::conv2d_s8::{Conv2dS8Params, OutSink};
use super::dot::{dot1, dot4};
use super::quant::requantize_s8;
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

/// The kernel body over checked, applicable params.
pub(crate) fn conv2d_s8_fast_into<S: OutSink + ?Sized>(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    out: &mut S,
) {
    let (fs, os) = (p.filter_shape, p.output_shape);
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
