//! Int8 average pool: TFLM's `reference_integer_ops::AveragePool`, plus a channel-inner fast
//! variant behind [`average_pool2d_s8`].

use super::{PoolS8Params, BLOCK};
use crate::{KernelError, KernelResult};

/// TFLM's rounding division of a window sum by its valid-element count.
#[inline(always)]
fn round_div(sum: i32, count: i32) -> i32 {
    if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    }
}

/// Int8 average pool (channel-inner loops); identical to [`average_pool2d_s8_ref`].
pub fn average_pool2d_s8(p: &PoolS8Params, input: &[i8], output: &mut [i8]) -> KernelResult {
    p.check(Some((input.len(), output.len())))?;
    let w = &p.window;
    let (os, c) = (w.output_shape, w.input_shape.c);
    let mut acc = [0i32; BLOCK];
    for b in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                let (y0, y1, x0, x1) = w.taps(oy, ox);
                let count = ((y1 - y0) * (x1 - x0)) as i32;
                if count == 0 {
                    return Err(KernelError::BadParams);
                }
                let out_base = os.offset(b, oy, ox, 0);
                let mut c0 = 0;
                while c0 < c {
                    let n = (c - c0).min(BLOCK);
                    let acc = &mut acc[..n];
                    acc.fill(0);
                    for fy in y0..y1 {
                        for fx in x0..x1 {
                            let x = &input[w.pixel(b, oy, ox, fy, fx) + c0..][..n];
                            for i in 0..n {
                                acc[i] += x[i] as i32;
                            }
                        }
                    }
                    let out = &mut output[out_base + c0..][..n];
                    for i in 0..n {
                        out[i] = round_div(acc[i], count).clamp(p.act_min, p.act_max) as i8;
                    }
                    c0 += n;
                }
            }
        }
    }
    Ok(())
}

/// The reference loops (the spec).
pub fn average_pool2d_s8_ref(p: &PoolS8Params, input: &[i8], output: &mut [i8]) -> KernelResult {
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
                    let mut acc: i32 = 0;
                    let mut count: i32 = 0;
                    for fy in fy0..fy1 {
                        for fx in fx0..fx1 {
                            let (iy, ix) = ((in_y0 + fy) as usize, (in_x0 + fx) as usize);
                            acc += input[is.offset(b, iy, ix, ch)] as i32;
                            count += 1;
                        }
                    }
                    if count == 0 {
                        return Err(KernelError::BadParams);
                    }
                    let v = round_div(acc, count).clamp(p.act_min, p.act_max);
                    output[os.offset(b, oy, ox, ch)] = v as i8;
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
    use crate::Shape4;

    #[test]
    fn rounding_matches_tflm() {
        assert_eq!(round_div(5, 2), 3);
        assert_eq!(round_div(-5, 2), -3);
        assert_eq!(round_div(4, 3), 1);
        assert_eq!(round_div(-4, 3), -1);
        assert_eq!(round_div(0, 4), 0);
        assert_eq!(round_div(-2, 4), -1);
        assert_eq!(round_div(2, 4), 1);
    }

    #[test]
    fn hand_checked_same_padding_counts_valid_only() {
        // 1×2×2×1 input [1, 2, 3, 4], 2×2 window stride 1 SAME: pad 0 before, 1 after.
        let window = PoolWindow {
            input_shape: Shape4::new(1, 2, 2, 1),
            output_shape: Shape4::new(1, 2, 2, 1),
            filter_h: 2,
            filter_w: 2,
            geometry: ConvGeometry::default(),
        };
        let p = PoolS8Params {
            window,
            act_min: -128,
            act_max: 127,
        };
        let mut out = [0i8; 4];
        average_pool2d_s8(&p, &[1, 2, 3, 4], &mut out).unwrap();
        // (10+2)/4 = 3, (6+1)/2 = 3, (7+1)/2 = 4, 4.
        assert_eq!(out, [3, 3, 4, 4]);
        average_pool2d_s8(&p, &[-1, -2, -3, -4], &mut out).unwrap();
        assert_eq!(out, [-3, -3, -4, -4]);
    }

    #[test]
    fn fast_equals_reference() {
        let mut r = Rng::new(101);
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
            average_pool2d_s8_ref(&p, &input, &mut want).unwrap();
            average_pool2d_s8(&p, &input, &mut got).unwrap();
            assert_eq!(want, got, "case {i}: {window:?}");
        }
    }

    #[test]
    fn empty_window_and_bad_sizes_are_errors() {
        let window = PoolWindow {
            input_shape: Shape4::new(1, 2, 2, 1),
            output_shape: Shape4::new(1, 1, 1, 1),
            filter_h: 1,
            filter_w: 1,
            geometry: ConvGeometry {
                pad_h: 5,
                ..ConvGeometry::default()
            },
        };
        let p = PoolS8Params {
            window,
            act_min: -128,
            act_max: 127,
        };
        let mut out = [0i8; 1];
        assert_eq!(
            average_pool2d_s8(&p, &[0; 4], &mut out),
            Err(KernelError::BadParams)
        );
        assert_eq!(
            average_pool2d_s8_ref(&p, &[0; 4], &mut out),
            Err(KernelError::BadParams)
        );
        assert_eq!(
            average_pool2d_s8(&p, &[0; 3], &mut out),
            Err(KernelError::BufferSize)
        );
        let dilated = PoolS8Params {
            window: PoolWindow {
                geometry: ConvGeometry {
                    dilation_h: 2,
                    ..ConvGeometry::default()
                },
                ..window
            },
            ..p
        };
        assert_eq!(
            average_pool2d_s8(&dilated, &[0; 4], &mut out),
            Err(KernelError::BadParams)
        );
    }
}
