//! Float average pool: TFLite's float `AveragePool` (sum of valid taps in row-major order,
//! divided by the valid count as f32, then clamped), plus a channel-inner fast variant behind
//! [`average_pool2d_f32`] that keeps each channel's summation order (bit-identical).

use super::{PoolF32Params, BLOCK};
use crate::conv::conv2d_f32::clamp_f32;
use crate::{KernelError, KernelResult};

/// Float average pool (channel-inner loops); identical to [`average_pool2d_f32_ref`].
pub fn average_pool2d_f32(p: &PoolF32Params, input: &[f32], output: &mut [f32]) -> KernelResult {
    p.check(Some((input.len(), output.len())))?;
    let w = &p.window;
    let (os, c) = (w.output_shape, w.input_shape.c);
    let mut acc = [0f32; BLOCK];
    for b in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                let (y0, y1, x0, x1) = w.taps(oy, ox);
                let count = (y1 - y0) * (x1 - x0);
                if count == 0 {
                    return Err(KernelError::BadParams);
                }
                let count = count as i32 as f32;
                let out_base = os.offset(b, oy, ox, 0);
                let mut c0 = 0;
                while c0 < c {
                    let n = (c - c0).min(BLOCK);
                    let acc = &mut acc[..n];
                    acc.fill(0.0);
                    for fy in y0..y1 {
                        for fx in x0..x1 {
                            let x = &input[w.pixel(b, oy, ox, fy, fx) + c0..][..n];
                            for i in 0..n {
                                acc[i] += x[i];
                            }
                        }
                    }
                    let out = &mut output[out_base + c0..][..n];
                    for i in 0..n {
                        out[i] = clamp_f32(acc[i] / count, p.act_min, p.act_max);
                    }
                    c0 += n;
                }
            }
        }
    }
    Ok(())
}

/// The reference loops (the spec).
pub fn average_pool2d_f32_ref(
    p: &PoolF32Params,
    input: &[f32],
    output: &mut [f32],
) -> KernelResult {
    p.check(Some((input.len(), output.len())))?;
    let w = &p.window;
    let (is, os, g) = (w.input_shape, w.output_shape, w.geometry);
    for b in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                for ch in 0..is.c {
                    let in_x0 = (ox * g.stride_w) as isize - g.pad_w as isize;
                    let in_y0 = (oy * g.stride_h) as isize - g.pad_h as isize;
                    let fx0 = (-in_x0).max(0);
                    let fx1 = (w.filter_w as isize).min(is.w as isize - in_x0);
                    let fy0 = (-in_y0).max(0);
                    let fy1 = (w.filter_h as isize).min(is.h as isize - in_y0);
                    let mut total = 0f32;
                    let mut count: i32 = 0;
                    for fy in fy0..fy1 {
                        for fx in fx0..fx1 {
                            let (iy, ix) = ((in_y0 + fy) as usize, (in_x0 + fx) as usize);
                            total += input[is.offset(b, iy, ix, ch)];
                            count += 1;
                        }
                    }
                    if count == 0 {
                        return Err(KernelError::BadParams);
                    }
                    let avg = total / count as f32;
                    output[os.offset(b, oy, ox, ch)] = clamp_f32(avg, p.act_min, p.act_max);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testcase::random_window;
    use super::*;
    use crate::conv::testutil::Rng;
    use crate::conv::FusedActivation;

    #[test]
    fn fast_equals_reference_bitwise() {
        let mut r = Rng::new(121);
        for i in 0..300 {
            let window = random_window(&mut r);
            let act = [FusedActivation::None, FusedActivation::Relu6][i % 2];
            let p = PoolF32Params::prepare(window, act).unwrap();
            let input = r.f32s(window.input_shape.elements().unwrap(), -8.0, 8.0);
            let n = window.output_shape.elements().unwrap();
            let (mut want, mut got) = (vec![0f32; n], vec![1f32; n]);
            average_pool2d_f32_ref(&p, &input, &mut want).unwrap();
            average_pool2d_f32(&p, &input, &mut got).unwrap();
            let wb: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
            let gb: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(wb, gb, "case {i}");
        }
    }

    #[test]
    fn global_average() {
        let window = super::super::PoolWindow {
            input_shape: crate::Shape4::new(1, 2, 2, 2),
            output_shape: crate::Shape4::new(1, 1, 1, 2),
            filter_h: 2,
            filter_w: 2,
            geometry: crate::conv::ConvGeometry::default(),
        };
        let p = PoolF32Params::prepare(window, FusedActivation::None).unwrap();
        let mut out = [0f32; 2];
        average_pool2d_f32(&p, &[1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0], &mut out).unwrap();
        assert_eq!(out, [2.5, -2.5]);
        assert_eq!(
            average_pool2d_f32(&p, &[0.0; 7], &mut out),
            Err(KernelError::BufferSize)
        );
    }
}
