//! Int8 SOFTMAX, int8 → int8 and int8 → int16 (TFLM `reference_ops::Softmax` for quantized
//! types with `SoftmaxParams` from `softmax_common.cc`).
//!
//! Per row of the last dimension: `diff = x − max(row)`; entries with `diff < diff_min`
//! contribute nothing (their exp underflows); the rest are rescaled into Q5.26, exponentiated
//! with gemmlowp's `exp_on_negative_values`, summed in Q12.19, and each exp is multiplied by
//! the sum's fixed-point reciprocal. The output is fixed: zero point −128, scale 1/256 for int8
//! (−32768, 1/65536 for int16), as TFLM requires.

use crate::fixedpoint::{
    multiply_by_quantized_multiplier_greater_than_one, quantize_multiplier, rounding_divide_by_pot,
};
use crate::gemmlowp::{exp_on_negative_values, fx_mul, get_reciprocal, rescale};
use crate::quantize::{QInt, QuantParams};
use crate::{KernelError, KernelResult};

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Prepared int8 SOFTMAX parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxParamsS8 {
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    /// Most negative `x − max` that still contributes (`-CalculateInputRadius(5, shift)`).
    pub diff_min: i32,
}

/// TFLite's `CalculateInputRadius`: the largest input magnitude (in input units) that still
/// fits `input_integer_bits` after the left shift.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
    total_signed_bits: i32,
) -> i32 {
    let max_input_rescaled = ((1i64 << input_integer_bits) - 1) as f64
        * (1i64 << (total_signed_bits - input_integer_bits)) as f64
        / (1i64 << input_left_shift) as f64;
    // floor of a non-negative value: truncation.
    max_input_rescaled as i32
}

impl SoftmaxParamsS8 {
    /// TFLM `CalculateSoftmaxParams` for an int8 input: `PreprocessSoftmaxScaling(beta,
    /// input_scale, 5)` then `diff_min`. `output` must be (1/256, −128) for an int8 output or
    /// (1/65536, −32768) for int16, as TFLM checks.
    pub fn prepare<O: QInt>(
        beta: f32,
        input: QuantParams,
        output: QuantParams,
    ) -> Result<Self, KernelError> {
        let i = input.checked_for::<i8>()?;
        let o = output.checked_for::<O>()?;
        let ok_out = match O::BITS {
            8 => o.zero_point == -128 && o.scale == 1.0 / 256.0,
            // TFLM allows a small tolerance on the int16 scale.
            _ => {
                o.zero_point == -32768 && (o.scale - 1.0 / 65536.0).abs() <= (1.0 / 65536.0) * 1e-3
            }
        };
        if !ok_out || !beta.is_finite() || beta <= 0.0 {
            return Err(KernelError::BadParams);
        }
        // PreprocessSoftmaxScaling (double rounding build): the real multiplier is capped so
        // the rescaled difference fits 31 bits.
        let max_real_multiplier = ((1i64 << 31) - 1) as f64;
        let real =
            (beta as f64 * i.scale as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64)
                .min(max_real_multiplier);
        // QuantizeMultiplierGreaterThanOne requires > 1; tiny input scales can't be executed.
        if real <= 1.0 {
            return Err(KernelError::BadParams);
        }
        let (input_multiplier, input_left_shift) = quantize_multiplier(real);
        if input_left_shift < 0 {
            return Err(KernelError::BadParams);
        }
        let diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, input_left_shift, 31);
        Ok(SoftmaxParamsS8 {
            input_multiplier,
            input_left_shift,
            diff_min,
        })
    }
}

/// Softmax over rows of length `depth` (the last dimension). `input.len()` must be a multiple
/// of `depth` and equal `output.len()`.
pub fn softmax_s8<O: QInt>(
    p: &SoftmaxParamsS8,
    depth: usize,
    input: &[i8],
    output: &mut [O],
) -> KernelResult {
    if depth == 0 || input.len() != output.len() || !input.len().is_multiple_of(depth) {
        return Err(KernelError::BufferSize);
    }
    let out_shift_base = 31 - O::BITS as i32;
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max_in_row = row.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let scaled = |x: i8| -> Option<i32> {
            let diff = x as i32 - max_in_row;
            (diff >= p.diff_min).then(|| {
                let rescaled = multiply_by_quantized_multiplier_greater_than_one(
                    diff,
                    p.input_multiplier,
                    p.input_left_shift,
                );
                exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
            })
        };
        let mut sum_of_exps: i32 = 0;
        for &x in row {
            if let Some(e) = scaled(x) {
                sum_of_exps = sum_of_exps.wrapping_add(rescale(e, 0, ACCUMULATION_INTEGER_BITS));
            }
        }
        let (shifted_scale, num_bits_over_unit) =
            get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        for (o, &x) in out.iter_mut().zip(row) {
            *o = match scaled(x) {
                Some(e) => {
                    let unsat = rounding_divide_by_pot(
                        fx_mul(shifted_scale, e),
                        num_bits_over_unit + out_shift_base,
                    );
                    O::saturate(unsat.wrapping_add(O::MIN))
                }
                None => O::from_i32(O::MIN),
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(scale: f32) -> SoftmaxParamsS8 {
        SoftmaxParamsS8::prepare::<i8>(
            1.0,
            QuantParams::new(scale, 0),
            QuantParams::new(1.0 / 256.0, -128),
        )
        .unwrap()
    }

    #[test]
    fn uniform_row_splits_evenly() {
        let p = params(0.1);
        let mut y = [0i8; 4];
        softmax_s8(&p, 4, &[7i8; 4], &mut y).unwrap();
        assert_eq!(y, [-64; 4]); // 0.25 · 256 − 128
        let mut one = [0i8; 1];
        softmax_s8(&p, 1, &[-100], &mut one).unwrap();
        assert_eq!(one, [127]); // probability 1 saturates at 255/256
    }

    #[test]
    fn matches_float_softmax_within_one_lsb() {
        // xorshift: deterministic random rows with varied scales and lengths.
        let mut s: u32 = 0x1234_5678;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        for case in 0..300 {
            let scale = [0.02f32, 0.05, 0.1, 0.25, 0.6][case % 5];
            let depth = 2 + (next() % 40) as usize;
            let p = params(scale);
            let x: [i8; 64] = core::array::from_fn(|_| next() as i8);
            let x = &x[..depth];
            let mut y = [0i8; 64];
            softmax_s8(&p, depth, x, &mut y[..depth]).unwrap();
            let m = *x.iter().max().unwrap() as f64;
            let sum: f64 = x
                .iter()
                .map(|&v| ((v as f64 - m) * scale as f64).exp())
                .sum();
            let mut total = 0i32;
            for (i, &v) in x.iter().enumerate() {
                let want = ((v as f64 - m) * scale as f64).exp() / sum * 256.0 - 128.0;
                let want = want.round().clamp(-128.0, 127.0);
                assert!(
                    (y[i] as f64 - want).abs() <= 1.0,
                    "case {case} i {i}: {} vs {want}",
                    y[i]
                );
                total += y[i] as i32 + 128;
            }
            assert!(
                (total - 256).abs() <= depth as i32,
                "case {case}: sum {total}"
            );
        }
    }

    #[test]
    fn int16_output_and_errors() {
        let p = SoftmaxParamsS8::prepare::<i16>(
            1.0,
            QuantParams::new(0.1, 0),
            QuantParams::new(1.0 / 65536.0, -32768),
        )
        .unwrap();
        let mut y = [0i16; 2];
        softmax_s8(&p, 2, &[5, 5], &mut y).unwrap();
        assert_eq!(y, [0, 0]); // 0.5 · 65536 − 32768
        assert!(SoftmaxParamsS8::prepare::<i8>(
            1.0,
            QuantParams::new(0.1, 0),
            QuantParams::new(0.1, -128)
        )
        .is_err());
        assert!(SoftmaxParamsS8::prepare::<i8>(
            1.0,
            QuantParams::new(0.0, 0),
            QuantParams::new(1.0 / 256.0, -128)
        )
        .is_err());
        let p = params(0.1);
        let mut z = [0i8; 3];
        assert_eq!(
            softmax_s8(&p, 2, &[1, 2, 3], &mut z),
            Err(KernelError::BufferSize)
        );
        assert_eq!(
            softmax_s8(&p, 0, &[], &mut z[..0]),
            Err(KernelError::BufferSize)
        );
    }
}
