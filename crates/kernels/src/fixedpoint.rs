//! Fixed-point arithmetic of the TFLite quantization spec (gemmlowp semantics).
//!
//! These functions are the heart of bit-exactness: they reproduce TFLite Micro's
//! `MultiplyByQuantizedMultiplier` (double rounding, the default build), `QuantizeMultiplier`
//! and friends exactly, including their saturation and tie-breaking behaviour.

/// `SaturatingRoundingDoublingHighMul` from gemmlowp: high 32 bits of `2·a·b`, rounded.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C++ integer division truncates toward zero; Rust's `/` does too.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `RoundingDivideByPOT`: `x / 2^exponent`, rounding half away from zero.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// TFLite Micro's `MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift)`.
/// `shift` > 0 shifts left before the multiply, < 0 rounds right after it.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, quantized_multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(
            x.wrapping_mul(1i32 << left_shift),
            quantized_multiplier,
        ),
        right_shift,
    )
}

/// TFLite's 64-bit-input variant (used by int16 activations with int64 accumulators).
#[inline(always)]
pub fn multiply_by_quantized_multiplier_i64(x: i64, quantized_multiplier: i32, shift: i32) -> i32 {
    // Mirrors tflite::MultiplyByQuantizedMultiplier(int64_t, int32_t, int).
    let total_shift = 31 - shift;
    let round: i64 = 1i64 << (total_shift - 1);
    let result = x
        .wrapping_mul(quantized_multiplier as i64)
        .wrapping_add(round);
    let result = result >> total_shift;
    result.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// `MultiplyByQuantizedMultiplierSmallerThanOneExp`: used by ADD / SUB style kernels.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    quantized_multiplier: i32,
    left_shift: i32,
) -> i32 {
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, quantized_multiplier),
        -left_shift,
    )
}

/// `MultiplyByQuantizedMultiplierGreaterThanOne`.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    quantized_multiplier: i32,
    left_shift: i32,
) -> i32 {
    saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left_shift), quantized_multiplier)
}

/// `frexp` for finite doubles: `x = m · 2^e` with `0.5 <= |m| < 1` (or `m = 0`).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * f64::from_bits(0x4350_0000_0000_0000)); // 2^54
        return (m, e - 54);
    }
    let e = exp - 1022;
    let m_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(m_bits), e)
}

/// `TfLiteRound` / `std::round`: half away from zero.
#[inline]
pub fn round_half_away(x: f64) -> f64 {
    // Values here are bounded by 2^31, so the i64 round trip is exact.
    if x >= 0.0 {
        ((x + 0.5) as i64) as f64
    } else {
        -(((-x + 0.5) as i64) as f64)
    }
}

/// TFLite's `QuantizeMultiplier`: a real multiplier as a Q31 value and a power-of-two shift.
pub fn quantize_multiplier(double_multiplier: f64) -> (i32, i32) {
    if double_multiplier == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(double_multiplier);
    let mut q_fixed = round_half_away(q * (1i64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    if shift > 30 {
        shift = 30;
        q_fixed = (1i64 << 31) - 1;
    }
    (q_fixed as i32, shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_matches_tflite_examples() {
        // 0.5 = 2^30 / 2^31 · 2^0
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
    }

    #[test]
    fn rounding_divide_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-4, 1), -2);
    }

    #[test]
    fn multiply_by_half_rounds() {
        let (m, s) = quantize_multiplier(0.5);
        assert_eq!(multiply_by_quantized_multiplier(7, m, s), 4);
        // gemmlowp's high-mul breaks negative ties toward zero: −3.5 → −3.
        assert_eq!(multiply_by_quantized_multiplier(-7, m, s), -3);
        assert_eq!(multiply_by_quantized_multiplier(100, m, s), 50);
    }

    #[test]
    fn frexp_roundtrips() {
        for &x in &[1.0, 0.75, 3.5e-5, 1234.5, -6.0] {
            let (m, e) = frexp(x);
            assert!((0.5..1.0).contains(&m.abs()), "{x}: {m}");
            assert_eq!(m * 2f64.powi(e), x);
        }
    }
}
