//! QUANTIZE float → int8/int16 (TFLM `reference_ops::AffineQuantize`).
//!
//! `q = clamp(roundf(x / scale) + zero_point)` with the division in `f32`: TFLM keeps the
//! scale as a `double` but divides the float input by it cast back to `float`. (Dividing in
//! `f64` instead disagrees with TFLM on about a third of inputs lying near a rounding tie;
//! checked against TFLM fixtures.) NaN inputs map to the zero point, as on Arm, where the
//! float→int conversion of NaN yields 0.

use super::{round_half_away_f32, QInt, QuantParams};
use crate::{KernelError, KernelResult};

/// Prepared QUANTIZE: the output tensor's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizeParams {
    pub scale: f32,
    pub zero_point: i32,
}

impl QuantizeParams {
    pub fn prepare<T: QInt>(output: QuantParams) -> Result<Self, KernelError> {
        let o = output.checked_for::<T>()?;
        Ok(QuantizeParams {
            scale: o.scale,
            zero_point: o.zero_point,
        })
    }

    /// One element, as the kernel computes it.
    #[inline]
    pub fn quantize_one<T: QInt>(&self, x: f32) -> T {
        let r = round_half_away_f32(x / self.scale);
        T::saturate(r.saturating_add(self.zero_point))
    }
}

/// Quantizes `input` into `output` (same length).
pub fn quantize_f32<T: QInt>(p: &QuantizeParams, input: &[f32], output: &mut [T]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &x) in output.iter_mut().zip(input) {
        *o = p.quantize_one(x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizes_with_rounding_and_clamping() {
        let p = QuantizeParams::prepare::<i8>(QuantParams::new(0.5, -3)).unwrap();
        let x = [0.0f32, 0.25, -0.25, 0.74, 1000.0, -1000.0, f32::NAN, 0.75];
        let mut y = [0i8; 8];
        quantize_f32(&p, &x, &mut y).unwrap();
        assert_eq!(y, [-3, -2, -4, -2, 127, -128, -3, -1]);
        let p16 = QuantizeParams::prepare::<i16>(QuantParams::new(1.0 / 32768.0, 0)).unwrap();
        let mut y16 = [0i16; 3];
        quantize_f32(&p16, &[0.5, -1.0, 1.0], &mut y16).unwrap();
        assert_eq!(y16, [16384, -32768, 32767]);
        // 0.35 / 0.1 is exactly 3.5 in f32 (it is 3.4999… in f64): TFLM rounds it to 4.
        let p = QuantizeParams::prepare::<i8>(QuantParams::new(0.1, 0)).unwrap();
        assert_eq!(p.quantize_one::<i8>(0.35), 4);
        assert_eq!(p.quantize_one::<i8>(-0.35), -4);
    }

    #[test]
    fn rejects_bad_params_and_lengths() {
        assert_eq!(
            QuantizeParams::prepare::<i8>(QuantParams::new(0.0, 0)),
            Err(KernelError::BadParams)
        );
        let p = QuantizeParams::prepare::<i8>(QuantParams::new(1.0, 0)).unwrap();
        assert_eq!(
            quantize_f32(&p, &[1.0], &mut [0i8; 2]),
            Err(KernelError::BufferSize)
        );
    }
}
