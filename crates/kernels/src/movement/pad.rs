//! PAD / PADV2 for 4-D NHWC tensors (TFLM `reference_ops::Pad`).
//!
//! The pad value is the output zero point for int8 PAD (or PADV2's constant), `0.0` for float
//! PAD; [`pad_value_s8`] computes the int8 one.

use crate::quantize::QuantParams;
use crate::{KernelError, KernelResult, Shape4};

/// Elements added before and after each NHWC dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Paddings {
    pub before: [usize; 4],
    pub after: [usize; 4],
}

impl Paddings {
    /// From TFLite's `[rank, 2]` paddings tensor for a rank ≤ 4 input (leading dims are
    /// padded as NHWC from the right, like `Shape4`'s leading 1s). Negative pads are refused.
    pub fn from_tflite(pairs: &[[i32; 2]]) -> Result<Self, KernelError> {
        if pairs.len() > 4 {
            return Err(KernelError::BadParams);
        }
        let mut p = Paddings::default();
        let skip = 4 - pairs.len();
        for (k, pair) in pairs.iter().enumerate() {
            if pair[0] < 0 || pair[1] < 0 {
                return Err(KernelError::BadParams);
            }
            p.before[skip + k] = pair[0] as usize;
            p.after[skip + k] = pair[1] as usize;
        }
        Ok(p)
    }

    /// The padded shape, or `None` on overflow.
    pub fn output_shape(&self, s: Shape4) -> Option<Shape4> {
        let d = |k: usize, v: usize| v.checked_add(self.before[k])?.checked_add(self.after[k]);
        Some(Shape4::new(d(0, s.n)?, d(1, s.h)?, d(2, s.w)?, d(3, s.c)?))
    }
}

/// Int8 PAD value: the output zero point (TFLM requires input and output quantization to
/// match for int8 PAD).
pub fn pad_value_s8(output: QuantParams) -> Result<i8, KernelError> {
    let o = output.checked_for::<i8>()?;
    Ok(o.zero_point as i8)
}

/// Pads `input` (shape `shape`) into `output` (the padded shape) with `pad_value`.
pub fn pad<T: Copy>(
    paddings: &Paddings,
    shape: Shape4,
    input: &[T],
    pad_value: T,
    output: &mut [T],
) -> KernelResult {
    let out = paddings.output_shape(shape).ok_or(KernelError::BadParams)?;
    if shape.elements() != Some(input.len()) || out.elements() != Some(output.len()) {
        return Err(KernelError::BufferSize);
    }
    let [bn, bh, bw, bc] = paddings.before;
    let mut o = 0;
    for n in 0..out.n {
        for y in 0..out.h {
            for x in 0..out.w {
                let inside = (bn..bn + shape.n).contains(&n)
                    && (bh..bh + shape.h).contains(&y)
                    && (bw..bw + shape.w).contains(&x);
                let row = &mut output[o..o + out.c];
                if inside && shape.c > 0 {
                    let src = shape.offset(n - bn, y - bh, x - bw, 0);
                    row[..bc].fill(pad_value);
                    row[bc..bc + shape.c].copy_from_slice(&input[src..src + shape.c]);
                    row[bc + shape.c..].fill(pad_value);
                } else {
                    row.fill(pad_value);
                }
                o += out.c;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_spatially_and_in_channels() {
        let p = Paddings::from_tflite(&[[0, 0], [1, 0], [0, 1], [1, 1]]).unwrap();
        let s = Shape4::new(1, 1, 2, 1);
        assert_eq!(p.output_shape(s), Some(Shape4::new(1, 2, 3, 3)));
        let zp = pad_value_s8(QuantParams::new(0.1, -7)).unwrap();
        let mut y = [0i8; 18];
        pad(&p, s, &[1i8, 2], zp, &mut y).unwrap();
        #[rustfmt::skip]
        assert_eq!(y, [
            -7, -7, -7,  -7, -7, -7,  -7, -7, -7,
            -7, 1, -7,   -7, 2, -7,   -7, -7, -7,
        ]);
        let mut f = [9f32; 18];
        pad(&p, s, &[1.5f32, 2.5], 0.0, &mut f).unwrap();
        assert_eq!(f[10], 1.5);
        assert_eq!(f.iter().filter(|&&v| v == 0.0).count(), 16);
    }

    #[test]
    fn rejects_bad_pads_and_sizes() {
        assert!(Paddings::from_tflite(&[[-1, 0]]).is_err());
        assert!(Paddings::from_tflite(&[[0, 0]; 5]).is_err());
        let p = Paddings::from_tflite(&[[1, 1]]).unwrap();
        let mut y = [0i8; 3];
        assert_eq!(
            pad(&p, Shape4::new(1, 1, 1, 2), &[1, 2], 0, &mut y),
            Err(KernelError::BufferSize)
        );
    }
}
