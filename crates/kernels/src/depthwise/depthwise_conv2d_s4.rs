//! Depthwise convolution with packed int4 or int2 weights ([`crate::packed`]) and int8
//! activations: the int8 reference loops (TFLM's `DepthwiseConvPerChannel`) reading each
//! weight from its packed byte, bit-identical to `depthwise_conv2d_s8_ref` on the unpacked
//! weights.
use super::DepthwiseS8Params;
use crate::conv::quant::requantize_s8;
use crate::packed::PackedWeights;
use crate::{KernelError, KernelResult};

/// Int8 depthwise convolution over packed weights (`[1, KH, KW, C·M]`).
pub fn depthwise_conv2d_packed(
    p: &DepthwiseS8Params<'_>,
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
                                let w = filter.get(fs.offset(0, ky, kx, oc));
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
mod tests {
    use super::*;
    use crate::conv::ConvGeometry;
    use crate::depthwise::depthwise_conv2d_s8_ref;
    use crate::packed::tests::{pack, weights};
    use crate::packed::WeightBits;
    use crate::Shape4;

    #[test]
    fn bit_identical_to_int8_on_unpacked_weights() {
        for (bits, stride, c, m) in [
            (WeightBits::I4, 1, 5, 1),
            (WeightBits::I4, 2, 3, 2),
            (WeightBits::I2, 1, 4, 1),
            (WeightBits::I2, 2, 7, 1),
        ] {
            let is = Shape4::new(1, 6, 5, c);
            let fs = Shape4::new(1, 3, 3, c * m);
            let (geometry, oh, ow) = ConvGeometry::from_padding(
                crate::padding::Padding::Same,
                (6, 5),
                (3, 3),
                (stride, stride),
                (1, 1),
            )
            .unwrap();
            let os = Shape4::new(1, oh, ow, c * m);
            let nf = 9 * c * m;
            let w = weights(nf, bits, 5);
            let packed = pack(&w[..nf], bits);
            let input: [i8; 256] = core::array::from_fn(|i| (i as i32 * 29 % 256 - 128) as i8);
            let bias: [i32; 16] = core::array::from_fn(|i| 50 - i as i32 * 13);
            let mult: [i32; 16] = core::array::from_fn(|i| 1_100_000_000 + i as i32 * 30_000_000);
            let shift: [i32; 16] = core::array::from_fn(|i| -(2 + (i as i32 % 3)));
            let p = DepthwiseS8Params {
                input_shape: is,
                filter_shape: fs,
                output_shape: os,
                geometry,
                depth_multiplier: m,
                input_offset: -4,
                output_offset: 9,
                act_min: -128,
                act_max: 127,
                output_multiplier: &mult[..c * m],
                output_shift: &shift[..c * m],
            };
            let (n_in, n_out) = (30 * c, oh * ow * c * m);
            let mut a = [0i8; 512];
            let mut b = [0i8; 512];
            let pw = PackedWeights::new(&packed[..bits.bytes_for(nf)], bits, nf).unwrap();
            depthwise_conv2d_packed(
                &p,
                &input[..n_in],
                pw,
                Some(&bias[..c * m]),
                &mut a[..n_out],
            )
            .unwrap();
            depthwise_conv2d_s8_ref(
                &p,
                &input[..n_in],
                &w[..nf],
                Some(&bias[..c * m]),
                &mut b[..n_out],
            )
            .unwrap();
            assert_eq!(a, b, "{bits:?} stride {stride}");
        }
    }
}
