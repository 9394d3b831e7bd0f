//! Int8 1×1 convolution as a GEMM: every output pixel is one contiguous run of input channels
//! dotted with each `[O, I]` weight row. Pixels are taken two at a time and output channels
//! four at a time (a 2×4 register tile), so each widened input and weight load is used twice
//! or four times. Strides are allowed (the pixel gather just skips input positions).
//!
//! Applies when the filter is 1×1, padding is zero, the conv is ungrouped, every output pixel
//! maps inside the input and `input_offset` is in [−127, 128]; bit-identical to
//! [`conv2d_s8_ref`](super::conv2d_s8_ref). No scratch.

use super::conv2d_s8::{Conv2dS8Params, OutSink};
use super::dot::{dot1, dot2x4, dot4};
use super::quant::requantize_s8;
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

/// The kernel body over checked, applicable params.
pub(crate) fn conv2d_s8_1x1_into<S: OutSink + ?Sized>(
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
    // Input offset of output pixel `i` (row-major over n, oy, ox).
    let src = |i: usize| {
        let ox = i % os.w;
        let oy = (i / os.w) % os.h;
        let b = i / (os.w * os.h);
        is.offset(b, oy * g.stride_h, ox * g.stride_w, 0)
    };
    let row = |o: usize| &filter[o * k..(o + 1) * k];
    let bias4 = |o: usize| match bias {
        Some(b) => [b[o], b[o + 1], b[o + 2], b[o + 3]],
        None => [0; 4],
    };
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
    let oc4 = oc / 4 * 4;
    let mut i = 0;
    while i + 1 < pixels {
        let x0 = &input[src(i)..][..k];
        let x1 = &input[src(i + 1)..][..k];
        let (o0, o1) = (i * oc, (i + 1) * oc);
        let mut o = 0;
        while o < oc4 {
            let d = dot2x4(x0, x1, off, [row(o), row(o + 1), row(o + 2), row(o + 3)]);
            let b = bias4(o);
            for j in 0..4 {
                out.put(o0 + o + j, requant(d[0][j].wrapping_add(b[j]), o + j));
                out.put(o1 + o + j, requant(d[1][j].wrapping_add(b[j]), o + j));
            }
            o += 4;
        }
        while o < oc {
            let b = bias.map_or(0, |b| b[o]);
            out.put(o0 + o, requant(dot1(x0, off, row(o)).wrapping_add(b), o));
            out.put(o1 + o, requant(dot1(x1, off, row(o)).wrapping_add(b), o));
            o += 1;
        }
        i += 2;
    }
    if i < pixels {
        let x0 = &input[src(i)..][..k];
        let o0 = i * oc;
        let mut o = 0;
        while o < oc4 {
            let d = dot4(x0, off, [row(o), row(o + 1), row(o + 2), row(o + 3)]);
            let b = bias4(o);
            for j in 0..4 {
                out.put(o0 + o + j, requant(d[j].wrapping_add(b[j]), o + j));
            }
            o += 4;
        }
        while o < oc {
            let b = bias.map_or(0, |b| b[o]);
            out.put(o0 + o, requant(dot1(x0, off, row(o)).wrapping_add(b), o));
            o += 1;
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
