//! Int8 LOGISTIC (TFLM `reference_integer_ops::Logistic`, Prepare from `logistic_common.cc`).
//!
//! The input offset by its zero point is rescaled to Q4.27 and fed to gemmlowp's fixed-point
//! `logistic`; inputs beyond `input_range_radius` saturate directly to −128 / 127. Output is
//! fixed at scale 1/256, zero point −128.

use crate::fixedpoint::{frexp, multiply_by_quantized_multiplier, rounding_divide_by_pot};
use crate::gemmlowp::logistic;
use crate::quantize::QuantParams;
use crate::{KernelError, KernelResult};

use super::softmax_s8::calculate_input_radius;

pub(crate) const INPUT_INTEGER_BITS: i32 = 4;

/// Prepared parameters shared by int8 LOGISTIC and TANH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigmoidLikeParamsS8 {
    pub input_zero_point: i32,
    pub input_range_radius: i32,
    pub input_multiplier: i32,
    pub input_left_shift: i32,
}

/// Alias for the LOGISTIC kernel's parameters.
pub type LogisticParamsS8 = SigmoidLikeParamsS8;

impl SigmoidLikeParamsS8 {
    /// The common Prepare of TFLM's int8 LOGISTIC and TANH: `input_scale · 2^27` split by
    /// `frexp` into a Q31 multiplier (rounded, without `QuantizeMultiplier`'s overflow fix-up)
    /// and a left shift.
    pub(crate) fn prepare_input(input: QuantParams) -> Result<Self, KernelError> {
        let i = input.checked_for::<i8>()?;
        let real = i.scale as f64 * (1i64 << (31 - INPUT_INTEGER_BITS)) as f64;
        let (q, input_left_shift) = frexp(real);
        // TFLM: static_cast<int32_t>(TfLiteRound(q · 2^31)). A mantissa rounding up to 2^31
        // wraps to INT32_MIN on the targets TFLM runs on; reproduce that rather than panic.
        let exact = crate::fixedpoint::round_half_away(q * (1i64 << 31) as f64) as i64;
        let input_multiplier = if exact >= 1i64 << 31 {
            i32::MIN
        } else {
            exact as i32
        };
        if !(0..31).contains(&input_left_shift) {
            // Shifts outside this range make TFLM's radius computation overflow; such scales
            // (≥ 16 or < 2^−27 per LSB) are not produced by any converter.
            return Err(KernelError::BadParams);
        }
        Ok(SigmoidLikeParamsS8 {
            input_zero_point: i.zero_point,
            input_range_radius: calculate_input_radius(INPUT_INTEGER_BITS, input_left_shift, 31),
            input_multiplier,
            input_left_shift,
        })
    }

    /// TFLM int8 LOGISTIC Prepare; the output must have zero point −128 (TFLM checks it; the
    /// kernel's arithmetic assumes scale 1/256).
    pub fn prepare(input: QuantParams, output: QuantParams) -> Result<Self, KernelError> {
        let o = output.checked_for::<i8>()?;
        if o.zero_point != -128 {
            return Err(KernelError::BadParams);
        }
        Self::prepare_input(input)
    }
}

/// Int8 logistic of one value.
#[inline]
pub fn logistic_s8_one(p: &SigmoidLikeParamsS8, x: i8) -> i8 {
    let input = x as i32 - p.input_zero_point;
    if input <= -p.input_range_radius {
        i8::MIN
    } else if input >= p.input_range_radius {
        i8::MAX
    } else {
        let input_in_q4 =
            multiply_by_quantized_multiplier(input, p.input_multiplier, p.input_left_shift);
        let out_q0 = logistic(input_in_q4, INPUT_INTEGER_BITS);
        let out = rounding_divide_by_pot(out_q0, 31 - 8) - 128;
        out.clamp(-128, 127) as i8
    }
}

/// Elementwise int8 logistic; `input` and `output` have the same length.
pub fn logistic_s8(p: &LogisticParamsS8, input: &[i8], output: &mut [i8]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &x) in output.iter_mut().zip(input) {
        *o = logistic_s8_one(p, x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_sigmoid_curve() {
        let p = LogisticParamsS8::prepare(
            QuantParams::new(0.0625, 0),
            QuantParams::new(1.0 / 256.0, -128),
        )
        .unwrap();
        let all: [i8; 256] = core::array::from_fn(|i| (i as i32 - 128) as i8);
        let mut y = [0i8; 256];
        logistic_s8(&p, &all, &mut y).unwrap();
        for (i, &x) in all.iter().enumerate() {
            let want = (256.0 / (1.0 + (-(x as f64) * 0.0625).exp()) - 128.0)
                .round()
                .clamp(-128.0, 127.0);
            assert!((y[i] as f64 - want).abs() <= 1.0, "{x}: {} vs {want}", y[i]);
        }
        assert_eq!(logistic_s8_one(&p, 0), 0); // 0.5 · 256 − 128
        assert!(y.windows(2).all(|w| w[0] <= w[1]), "monotonic");
    }

    #[test]
    fn rejects_bad_output_and_lengths() {
        assert!(LogisticParamsS8::prepare(
            QuantParams::new(0.1, 0),
            QuantParams::new(1.0 / 256.0, 0)
        )
        .is_err());
        assert!(LogisticParamsS8::prepare(
            QuantParams::new(0.0, 0),
            QuantParams::new(1.0 / 256.0, -128)
        )
        .is_err());
        let p = LogisticParamsS8::prepare(
            QuantParams::new(0.1, 0),
            QuantParams::new(1.0 / 256.0, -128),
        )
        .unwrap();
        assert_eq!(
            logistic_s8(&p, &[1, 2], &mut [0]),
            Err(KernelError::BufferSize)
        );
    }
}
