//! Int8 max pool: TFLM's `reference_integer_ops::MaxPool`, plus a channel-inner fast variant
//! behind [`max_pool2d_s8`].

use super::{PoolS8Params, BLOCK};
use crate::KernelResult;

/// Int8 max pool (channel-inner loops); identical to [`max_pool2d_s8_ref`].
pub fn max_pool2d_s8(p: &PoolS8Params, input: &[i8], output: &mut [i8]) -> KernelResult {
    p.check(Some((input.len(), output.len())))?;
    let w = &p.window;
    let (os, c) = (w.output_shape, w.input_shape.c);
    // `check` keeps the clamp bounds inside int8.
    let (lo, hi) = (p.act_min as i8, p.act_max as i8);
    let mut acc = [i8::MIN; BLOCK];
    for b in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                let (y0, y1, x0, x1) = w.taps(oy, ox);
                let out_base = os.offset(b, oy, ox, 0);
                let mut c0 = 0;
                while c0 < c {
                    let n = (c - c0).min(BLOCK);
                    let acc = &mut acc[..n];
                    acc.fill(i8::MIN);
                    for fy in y0..y1 {
                        for fx in x0..x1 {
                            let x = &input[w.pixel(b, oy, ox, fy, fx) + c0..][..n];
                            for i in 0..n {
                                acc[i] = acc[i].max(x[i]);
                            }
                        }
                    }
                    let out = &mut output[out_base + c0..][..n];
                    for i in 0..n {
                        out[i] = acc[i].max(lo).min(hi);
                    }
                    c0 += n;
                }
            }
        }
    }
    Ok(())
}

/// The reference loops (the spec).
pub fn max_pool2d_s8_ref(p: &PoolS8Params, input: &[i8], output: &mut [i8]) -> KernelResult {
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
                    let mut max = i8::MIN as i32;
                    for fy in fy0..fy1 {
                        for fx in fx0..fx1 {
                            let (iy, ix) = ((in_y0 + fy) as usize, (in_x0 + fx) as usize);
                            max = max.max(input[is.offset(b, iy, ix, ch)] as i32);
                        }
                    }
                    max = max.max(p.act_min).min(p.act_max);
                    output[os.offset(b, oy, ox, ch)] = max as i8;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testcase::random_window;
    use super::super::PoolWindow;
    use super::*;
    use crate::conv::testutil::Rng;
    use crate::conv::ConvGeometry;
    use crate::{KernelError, Shape4};

    #[test]
    fn hand_checked_stride_2() {
        let window = PoolWindow {
            input_shape: Shape4::new(1, 2, 4, 1),
            output_shape: Shape4::new(1, 1, 2, 1),
            filter_h: 2,
            filter_w: 2,
            geometry: ConvGeometry {
                stride_h: 2,
                stride_w: 2,
                ..ConvGeometry::default()
            },
        };
        let p = PoolS8Params {
            window,
            act_min: -128,
            act_max: 5,
        };
        let mut out = [0i8; 2];
        max_pool2d_s8(&p, &[1, -7, 3, 9, 2, -1, 4, 0], &mut out).unwrap();
        assert_eq!(out, [2, 5]);
    }

    #[test]
    fn fast_equals_reference() {
        let mut r = Rng::new(111);
        for i in 0..500 {
            let window = random_window(&mut r);
            let (lo, hi) = r.act_range();
            let p = PoolS8Params {
                window,
                act_min: lo,
                act_max: hi,
            };
            let input = r.i8s(window.input_shape.elements().unwrap());
            let n = window.output_shape.elements().unwrap();
            let (mut want, mut got) = (vec![0i8; n], vec![1i8; n]);
            max_pool2d_s8_ref(&p, &input, &mut want).unwrap();
            max_pool2d_s8(&p, &input, &mut got).unwrap();
            assert_eq!(want, got, "case {i}: {window:?}");
        }
    }

    #[test]
    fn bad_sizes_are_errors() {
        let mut r = Rng::new(112);
        let window = random_window(&mut r);
        let p = PoolS8Params {
            window,
            act_min: -128,
            act_max: 127,
        };
        let mut out = vec![0i8; window.output_shape.elements().unwrap() + 1];
        let input = vec![0i8; window.input_shape.elements().unwrap()];
        assert_eq!(
            max_pool2d_s8(&p, &input, &mut out),
            Err(KernelError::BufferSize)
        );
    }
}
