//! QUANTIZE int8/int16 → int8/int16 with new parameters (TFLM `reference_ops::Requantize`).
//!
//! `q_out = clamp(MultiplyByQuantizedMultiplier(q_in − zp_in, M, shift) + zp_out)` with
//! `M · 2^shift = scale_in / scale_out` computed in `f64`.

use super::{QInt, QuantParams};
use crate::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::{KernelError, KernelResult};

/// Prepared requantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequantizeParams {
    pub multiplier: i32,
    pub shift: i32,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
}

impl RequantizeParams {
    pub fn prepare<I: QInt, O: QInt>(
        input: QuantParams,
        output: QuantParams,
    ) -> Result<Self, KernelError> {
        let i = input.checked_for::<I>()?;
        let o = output.checked_for::<O>()?;
        let (multiplier, shift) = quantize_multiplier(i.scale as f64 / o.scale as f64);
        Ok(RequantizeParams {
            multiplier,
            shift,
            input_zero_point: i.zero_point,
            output_zero_point: o.zero_point,
        })
    }

    #[inline(always)]
    pub fn requantize_one<I: QInt, O: QInt>(&self, q: I) -> O {
        let v = multiply_by_quantized_multiplier(
            q.to_i32() - self.input_zero_point,
            self.multiplier,
            self.shift,
        );
        O::saturate(v.saturating_add(self.output_zero_point))
    }
}

/// Requantizes `input` into `output` (same length).
pub fn requantize<I: QInt, O: QInt>(
    p: &RequantizeParams,
    input: &[I],
    output: &mut [O],
) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &q) in output.iter_mut().zip(input) {
        *o = p.requantize_one(q);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requantizes_between_scales() {
        // Halving the scale doubles the integer distance from the zero point.
        let p = RequantizeParams::prepare::<i8, i8>(
            QuantParams::new(0.2, 10),
            QuantParams::new(0.1, -5),
        )
        .unwrap();
        let mut y = [0i8; 5];
        requantize(&p, &[10i8, 11, 9, 127, -128], &mut y).unwrap();
        assert_eq!(y, [-5, -3, -7, 127, -128]);
        // Identity parameters copy exactly.
        let id = RequantizeParams::prepare::<i8, i8>(
            QuantParams::new(0.05, 3),
            QuantParams::new(0.05, 3),
        )
        .unwrap();
        let all: [i8; 256] = core::array::from_fn(|i| (i as i32 - 128) as i8);
        let mut out = [0i8; 256];
        requantize(&id, &all, &mut out).unwrap();
        assert_eq!(out, all);
        // int8 → int16 widening.
        let w = RequantizeParams::prepare::<i8, i16>(
            QuantParams::new(1.0, 0),
            QuantParams::new(1.0 / 256.0, 0),
        )
        .unwrap();
        let mut o16 = [0i16; 2];
        requantize(&w, &[-128i8, 127], &mut o16).unwrap();
        assert_eq!(o16, [-32768, 32512]);
        assert_eq!(
            requantize(&w, &[1i8], &mut o16),
            Err(KernelError::BufferSize)
        );
    }
}
