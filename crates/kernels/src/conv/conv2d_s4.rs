//! Convolution with packed int4 or int2 weights ([`crate::packed`]) and int8 activations: the
//! int8 reference loops (TFLM's `reference_integer_ops::ConvPerChannel`) reading each weight
//! from its packed byte — no unpacked filter copy — so results are bit-identical to
//! `conv2d_s8_ref` on the unpacked weights.
use super::quant::requantize_s8;
use super::Conv2dS8Params;
use crate::packed::PackedWeights;
use crate::{KernelError, KernelResult};

/// Int8 convolution over packed weights (`filter.len` = the filter shape's element count).
pub fn conv2d_packed(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: PackedWeights<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    p.check(input.len(), filter.len, bias.map(|b| b.len()), output.len())?;
    if filter.data.len() != filter.bits.bytes_for(filter.len) {
        return Err(KernelError::BufferSize);
    }
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    let groups = is.c / fs.c.max(1);
    let filters_per_group = fs.n / groups.max(1);
    for b in 0..os.n {
        for oy in 0..os.h {
            let in_y0 = (oy * g.stride_h) as isize - g.pad_h as isize;
            for ox in 0..os.w {
                let in_x0 = (ox * g.stride_w) as isize - g.pad_w as isize;
                for oc in 0..os.c {
                    let group = oc / filters_per_group.max(1);
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
                                let w = filter.get(fb + ic);
                                acc = acc
                                    .wrapping_add(w.wrapping_mul(x.wrapping_add(p.input_offset)));
                            }
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{conv2d_s8_ref, ConvGeometry};
    use crate::packed::tests::{pack, weights};
    use crate::packed::WeightBits;
    use crate::Shape4;

    #[test]
    fn bit_identical_to_int8_on_unpacked_weights() {
        for (bits, stride, ic, oc) in [
            (WeightBits::I4, 1, 3, 5),
            (WeightBits::I4, 2, 4, 8),
            (WeightBits::I2, 1, 5, 3),
            (WeightBits::I2, 2, 2, 4),
        ] {
            let is = Shape4::new(1, 6, 5, ic);
            let fs = Shape4::new(oc, 3, 3, ic);
            let (geometry, oh, ow) = ConvGeometry::from_padding(
                crate::padding::Padding::Same,
                (is.h, is.w),
                (3, 3),
                (stride, stride),
                (1, 1),
            )
            .unwrap();
            let os = Shape4::new(1, oh, ow, oc);
            let nf = oc * 9 * ic;
            let w = weights(nf, bits, 11);
            let packed = pack(&w[..nf], bits);
            let input: [i8; 256] = core::array::from_fn(|i| (i as i32 * 53 % 256 - 128) as i8);
            let bias: [i32; 16] = core::array::from_fn(|i| i as i32 * 37 - 200);
            let mult: [i32; 16] = core::array::from_fn(|i| 1_200_000_000 + i as i32 * 20_000_000);
            let shift: [i32; 16] = core::array::from_fn(|i| -(3 + (i as i32 % 4)));
            let p = Conv2dS8Params {
                input_shape: is,
                filter_shape: fs,
                output_shape: os,
                geometry,
                input_offset: 7,
                output_offset: 2,
                act_min: -128,
                act_max: 127,
                output_multiplier: &mult[..oc],
                output_shift: &shift[..oc],
            };
            let n_in = 30 * ic;
            let n_out = oh * ow * oc;
            let mut a = [0i8; 512];
            let mut b = [0i8; 512];
            let pw = PackedWeights::new(&packed[..bits.bytes_for(nf)], bits, nf).unwrap();
            conv2d_packed(&p, &input[..n_in], pw, Some(&bias[..oc]), &mut a[..n_out]).unwrap();
            conv2d_s8_ref(
                &p,
                &input[..n_in],
                &w[..nf],
                Some(&bias[..oc]),
                &mut b[..n_out],
            )
            .unwrap();
            assert_eq!(a, b, "{bits:?} stride {stride}");
        }
    }
}
