//! Int8 RELU and RELU6 as TFLM executes them (`activations_common.cc`).
//!
//! RELU requantizes: `clamp(zp_out + MultiplyByQuantizedMultiplier(x − zp_in, M, s))` with
//! `M·2^s = scale_in / scale_out` and the lower bound `zp_out + round(0 / scale_out)`.
//! RELU6 does not requantize in TFLM: it clamps the raw input to
//! `[zp_in, zp_in + round(6 / scale_in)]` and writes that, so input and output are assumed
//! to share quantization parameters (the converter emits them that way).

use crate::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::quantize::{round_half_away_f32, QuantParams};
use crate::{KernelError, KernelResult};

/// Prepared int8 RELU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReluParamsS8 {
    pub input_offset: i32,
    pub output_offset: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl ReluParamsS8 {
    /// TFLM `CalculateReluOpData<int8_t>`.
    pub fn prepare(input: QuantParams, output: QuantParams) -> Result<Self, KernelError> {
        let i = input.checked_for::<i8>()?;
        let o = output.checked_for::<i8>()?;
        let (output_multiplier, output_shift) =
            quantize_multiplier(i.scale as f64 / o.scale as f64);
        Ok(ReluParamsS8 {
            input_offset: i.zero_point,
            output_offset: o.zero_point,
            output_multiplier,
            output_shift,
            act_min: (-128i32).max(o.zero_point + round_half_away_f32(0.0 / o.scale)),
            act_max: 127,
        })
    }

    #[inline(always)]
    pub fn apply(&self, x: i8) -> i8 {
        // Saturating: an extreme scale ratio must clamp, not overflow.
        let v = multiply_by_quantized_multiplier(
            x as i32 - self.input_offset,
            self.output_multiplier,
            self.output_shift,
        )
        .saturating_add(self.output_offset);
        v.clamp(self.act_min, self.act_max) as i8
    }
}

/// Elementwise int8 RELU.
pub fn relu_s8(p: &ReluParamsS8, input: &[i8], output: &mut [i8]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &x) in output.iter_mut().zip(input) {
        *o = p.apply(x);
    }
    Ok(())
}

/// Prepared int8 RELU6: the clamp bounds in the input's quantized domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relu6ParamsS8 {
    pub zero: i8,
    pub six: i8,
}

impl Relu6ParamsS8 {
    /// TFLM `Relu6Prepare`: `zero = zp_in`, `six = FloatToQuantizedType<int8_t>(6, scale_in, zp_in)`.
    pub fn prepare(input: QuantParams) -> Result<Self, KernelError> {
        let i = input.checked_for::<i8>()?;
        let six = i
            .zero_point
            .saturating_add(round_half_away_f32(6.0 / i.scale))
            .clamp(-128, 127);
        Ok(Relu6ParamsS8 {
            zero: i.zero_point as i8,
            six: six as i8,
        })
    }
}

/// Elementwise int8 RELU6 (clamp to `[zero, six]`, upper bound checked first as TFLM does).
pub fn relu6_s8(p: &Relu6ParamsS8, input: &[i8], output: &mut [i8]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &x) in output.iter_mut().zip(input) {
        *o = if x > p.six {
            p.six
        } else if x < p.zero {
            p.zero
        } else {
            x
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_requantizes_and_clamps() {
        let p = ReluParamsS8::prepare(QuantParams::new(0.1, -20), QuantParams::new(0.05, -128))
            .unwrap();
        let mut y = [0i8; 5];
        relu_s8(&p, &[-20, -128, -19, 100, 127], &mut y).unwrap();
        assert_eq!(y, [-128, -128, -126, 112, 127]);
        assert!(ReluParamsS8::prepare(QuantParams::new(0.1, 0), QuantParams::new(0.0, 0)).is_err());
        assert_eq!(relu_s8(&p, &[1], &mut y), Err(KernelError::BufferSize));
    }

    #[test]
    fn relu6_clamps_in_input_domain() {
        let p = Relu6ParamsS8::prepare(QuantParams::new(0.05, -100)).unwrap();
        assert_eq!(
            p,
            Relu6ParamsS8 {
                zero: -100,
                six: 20
            }
        );
        let mut y = [0i8; 4];
        relu6_s8(&p, &[-128, -50, 21, 127], &mut y).unwrap();
        assert_eq!(y, [-100, -50, 20, 20]);
        // 6 / 0.01 = 600 steps: the upper bound saturates at 127.
        assert_eq!(
            Relu6ParamsS8::prepare(QuantParams::new(0.01, 0))
                .unwrap()
                .six,
            127
        );
    }
}
