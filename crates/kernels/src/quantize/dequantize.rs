//! DEQUANTIZE int8/int16 → float (TFLM `reference_ops::Dequantize`).
//!
//! `x = (float)(scale · (q − zero_point))` with the product taken in `f64`, as TFLM does.

use super::{QInt, QuantParams};
use crate::{KernelError, KernelResult};

/// Prepared DEQUANTIZE: the input tensor's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DequantizeParams {
    pub scale: f64,
    pub zero_point: i32,
}

impl DequantizeParams {
    pub fn prepare<T: QInt>(input: QuantParams) -> Result<Self, KernelError> {
        let i = input.checked_for::<T>()?;
        Ok(DequantizeParams {
            scale: i.scale as f64,
            zero_point: i.zero_point,
        })
    }

    #[inline]
    pub fn dequantize_one<T: QInt>(&self, q: T) -> f32 {
        (self.scale * (q.to_i32() - self.zero_point) as f64) as f32
    }
}

/// Dequantizes `input` into `output` (same length).
pub fn dequantize<T: QInt>(p: &DequantizeParams, input: &[T], output: &mut [f32]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &q) in output.iter_mut().zip(input) {
        *o = p.dequantize_one(q);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize::quantize_f32::{quantize_f32, QuantizeParams};

    #[test]
    fn dequantizes_and_round_trips() {
        let qp = QuantParams::new(0.1, 5);
        let p = DequantizeParams::prepare::<i8>(qp).unwrap();
        let mut y = [0f32; 3];
        dequantize(&p, &[5i8, 15, -128], &mut y).unwrap();
        assert_eq!(
            y,
            [
                0.0,
                (0.1f32 as f64 * 10.0) as f32,
                (0.1f32 as f64 * -133.0) as f32
            ]
        );
        let all: [i8; 256] = core::array::from_fn(|i| (i as i32 - 128) as i8);
        let mut f = [0f32; 256];
        dequantize(&p, &all, &mut f).unwrap();
        let mut back = [0i8; 256];
        quantize_f32(&QuantizeParams::prepare::<i8>(qp).unwrap(), &f, &mut back).unwrap();
        assert_eq!(back, all);
        let p16 = DequantizeParams::prepare::<i16>(QuantParams::new(0.5, 0)).unwrap();
        let mut z = [0f32; 2];
        dequantize(&p16, &[-32768i16, 3], &mut z).unwrap();
        assert_eq!(z, [-16384.0, 1.5]);
        assert_eq!(
            dequantize(&p16, &[1i16], &mut z),
            Err(KernelError::BufferSize)
        );
    }
}
