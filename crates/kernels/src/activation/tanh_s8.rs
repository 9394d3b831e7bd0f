//! Int8 TANH (TFLM `reference_integer_ops::Tanh`, Prepare from `tanh.cc`).
//!
//! Same input handling as [`super::logistic_s8`] (Q4.27 rescale, range radius), then gemmlowp's
//! fixed-point `tanh`, written out at scale 1/128, zero point 0.

use crate::fixedpoint::{multiply_by_quantized_multiplier, rounding_divide_by_pot};
use crate::gemmlowp::tanh;
use crate::quantize::QuantParams;
use crate::{KernelError, KernelResult};

use super::logistic_s8::{SigmoidLikeParamsS8, INPUT_INTEGER_BITS};

/// Prepared int8 TANH parameters.
pub type TanhParamsS8 = SigmoidLikeParamsS8;

/// TFLM int8 TANH Prepare. The kernel writes scale 1/128, zero point 0 regardless of the
/// output tensor's parameters (as TFLM does), so other output parameters are rejected.
pub fn prepare_tanh_s8(
    input: QuantParams,
    output: QuantParams,
) -> Result<TanhParamsS8, KernelError> {
    let o = output.checked_for::<i8>()?;
    if o.zero_point != 0 {
        return Err(KernelError::BadParams);
    }
    SigmoidLikeParamsS8::prepare_input(input)
}

/// Int8 tanh of one value.
#[inline]
pub fn tanh_s8_one(p: &TanhParamsS8, x: i8) -> i8 {
    let input = x as i32 - p.input_zero_point;
    if input <= -p.input_range_radius {
        i8::MIN
    } else if input >= p.input_range_radius {
        i8::MAX
    } else {
        let input_in_q4 =
            multiply_by_quantized_multiplier(input, p.input_multiplier, p.input_left_shift);
        let out_q0 = tanh(input_in_q4, INPUT_INTEGER_BITS);
        rounding_divide_by_pot(out_q0, 31 - 7).clamp(-128, 127) as i8
    }
}

/// Elementwise int8 tanh; `input` and `output` have the same length.
pub fn tanh_s8(p: &TanhParamsS8, input: &[i8], output: &mut [i8]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &x) in output.iter_mut().zip(input) {
        *o = tanh_s8_one(p, x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_tanh() {
        let p =
            prepare_tanh_s8(QuantParams::new(0.03, -5), QuantParams::new(1.0 / 128.0, 0)).unwrap();
        for x in -128..=127i32 {
            let got = tanh_s8_one(&p, x as i8);
            let want = (((x + 5) as f64 * 0.03).tanh() * 128.0)
                .round()
                .clamp(-128.0, 127.0);
            assert!((got as f64 - want).abs() <= 1.0, "{x}: {got} vs {want}");
        }
        assert_eq!(tanh_s8_one(&p, -5), 0);
        assert!(
            prepare_tanh_s8(QuantParams::new(0.03, 0), QuantParams::new(1.0 / 128.0, 3)).is_err()
        );
        assert_eq!(tanh_s8(&p, &[1], &mut []), Err(KernelError::BufferSize));
    }
}
