//! gemmlowp's fixed-point transcendental functions, on raw `i32` values.
//!
//! TFLite Micro's int8 SOFTMAX, LOGISTIC and TANH call gemmlowp's `FixedPoint<int32_t, N>`
//! templates (`fixedpoint.h`). A `FixedPoint<i32, N>` is just an `i32` with `N` integer bits
//! and `31 - N` fractional bits; the integer-bit count lives in the type there and in the
//! function names and `const` generics here. Every operation below reproduces gemmlowp's
//! rounding and saturation exactly, because the kernels in `activation/` must match TFLM bit
//! for bit. Neighbours: [`crate::fixedpoint`] holds the scalar primitives these build on.

use crate::fixedpoint::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};

/// Raw value of `1.0` in a `FixedPoint<i32, 0>` (saturates to the largest representable).
pub const Q0_ONE: i32 = i32::MAX;

/// `a * b` for fixed-point values: the product's integer bits are the sum of the operands'.
#[inline(always)]
pub fn fx_mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// gemmlowp `SaturatingRoundingMultiplyByPOT<EXPONENT>`: `x · 2^EXPONENT`, rounding when the
/// exponent is negative and saturating when it is positive.
#[inline(always)]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent == 0 {
        x
    } else if exponent > 0 {
        let threshold: i32 = ((1i64 << (31 - exponent)) - 1) as i32;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x.wrapping_shl(exponent as u32)
        }
    } else {
        rounding_divide_by_pot(x, -exponent)
    }
}

/// gemmlowp `Rescale<DST_BITS>(FixedPoint<i32, SRC_BITS>)`.
#[inline(always)]
pub fn rescale(x: i32, src_integer_bits: i32, dst_integer_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)
}

/// gemmlowp `RoundingHalfSum` for `i32`: `(a + b) / 2`, rounded away from zero.
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(a)` for `a` in `[-1/4, 0)`, `a` and the result in Q0.31.
#[inline]
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    // Taylor expansion around −1/8; the constants are exp(−1/8) and 1/3 in Q0.31.
    const CONSTANT_TERM: i32 = 1_895_147_668;
    const CONSTANT_1_OVER_3: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28);
    let x2 = fx_mul(x, x);
    let x3 = fx_mul(x2, x);
    let x4 = fx_mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly = saturating_rounding_multiply_by_pot(
        fx_mul(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.wrapping_add(fx_mul(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values(FixedPoint<i32, integer_bits>)` → Q0.31.
///
/// `a` must be `<= 0`. `integer_bits` is gemmlowp's template parameter (5 for softmax, 4 for
/// logistic, 5 for tanh after its `ExactMulByPot<1>`).
#[inline]
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let fractional_bits = 31 - integer_bits;
    let one_quarter: i32 = 1 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);

    // The barrel shifter: exp(−2^k) in Q0.31 for k = −2..=4, applied per set bit of the
    // remainder. gemmlowp skips the stages that the integer-bit count cannot reach.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for &(exponent, multiplier) in BARREL.iter() {
        if integer_bits > exponent {
            let shift = fractional_bits + exponent;
            if remainder & (1i32.wrapping_shl(shift as u32)) != 0 {
                result = fx_mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let b = 36 - integer_bits;
        let clamp = -(1i32 << b);
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = Q0_ONE;
    }
    result
}

/// Newton–Raphson reciprocal shared by the two `*_for_x_in_0_1` functions: returns
/// `x ≈ 1 / ((1 + a) / 2)` in Q2.29.
#[inline]
fn newton_reciprocal_half_denominator(a: i32) -> i32 {
    const CONSTANT_48_OVER_17: i32 = 1_515_870_810;
    const CONSTANT_NEG_32_OVER_17: i32 = -1_010_580_540;
    const F2_ONE: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, Q0_ONE);
    let mut x = CONSTANT_48_OVER_17.wrapping_add(fx_mul(half_denominator, CONSTANT_NEG_32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = fx_mul(half_denominator, x);
        let one_minus = F2_ONE.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(fx_mul(x, one_minus), 4, 2));
    }
    x
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1`: `1 / (1 + a)` for `a` in `[0, 1)`, Q0.31.
#[inline]
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = newton_reciprocal_half_denominator(a);
    // ExactMulByPot<−1> reinterprets Q2.29 as Q1.30, then Rescale<0>.
    rescale(x, 1, 0)
}

/// gemmlowp `one_minus_x_over_one_plus_x_for_x_in_0_1`: `(1 − a) / (1 + a)`, Q0.31.
#[inline]
pub fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = newton_reciprocal_half_denominator(a);
    const F2_ONE: i32 = 1 << 29;
    rescale(x.wrapping_sub(F2_ONE), 2, 0)
}

/// gemmlowp `logistic(FixedPoint<i32, integer_bits>)` → Q0.31.
#[inline]
pub fn logistic(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 1 << 30;
    }
    let abs_input = if a > 0 { a } else { a.wrapping_neg() };
    let result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
        abs_input.wrapping_neg(),
        integer_bits,
    ));
    if a > 0 {
        result_if_positive
    } else {
        Q0_ONE.wrapping_sub(result_if_positive)
    }
}

/// gemmlowp `tanh(FixedPoint<i32, integer_bits>)` → Q0.31.
#[inline]
pub fn tanh(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 0;
    }
    let n = if a < 0 { a } else { a.wrapping_neg() };
    // neg_tanh_on_negative_values: ExactMulByPot<1> doubles the value by adding an integer bit.
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1));
    if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

/// TFLite's `GetReciprocal`: the reciprocal of a positive fixed-point `x` with
/// `x_integer_digits` integer bits, as a Q0.31 value and the number of bits above one.
#[inline]
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted_sum_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(x: f64, integer_bits: i32) -> i32 {
        (x * (1u64 << (31 - integer_bits)) as f64).round() as i32
    }
    fn f(raw: i32, integer_bits: i32) -> f64 {
        raw as f64 / (1u64 << (31 - integer_bits)) as f64
    }

    #[test]
    fn exp_matches_float_on_negative_range() {
        for i in 0..2000 {
            let x = -(i as f64) * 0.0155;
            let got = f(exp_on_negative_values(q(x, 5), 5), 0);
            assert!((got - x.exp()).abs() < 5e-7, "{x}: {got} vs {}", x.exp());
        }
        assert_eq!(exp_on_negative_values(0, 5), Q0_ONE);
    }

    #[test]
    fn reciprocal_and_logistic_and_tanh_are_accurate() {
        for i in 0..1000 {
            let a = i as f64 / 1000.0;
            let got = f(one_over_one_plus_x_for_x_in_0_1(q(a, 0)), 0);
            assert!((got - 1.0 / (1.0 + a)).abs() < 1e-8);
            let got = f(one_minus_x_over_one_plus_x_for_x_in_0_1(q(a, 0)), 0);
            assert!((got - (1.0 - a) / (1.0 + a)).abs() < 1e-8);
        }
        for i in -700..700 {
            let x = i as f64 / 100.0;
            let got = f(logistic(q(x, 4), 4), 0);
            assert!((got - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6, "{x}");
            let got = f(tanh(q(x, 4), 4), 0);
            assert!((got - x.tanh()).abs() < 1e-6, "{x}");
        }
    }

    #[test]
    fn saturating_pot_saturates() {
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 30, 1), i32::MAX);
        assert_eq!(
            saturating_rounding_multiply_by_pot(-(1 << 30) - 1, 1),
            i32::MIN
        );
        assert_eq!(saturating_rounding_multiply_by_pot(3, 2), 12);
        assert_eq!(saturating_rounding_multiply_by_pot(6, -2), 2);
        assert_eq!(rounding_half_sum(3, 4), 4);
        assert_eq!(rounding_half_sum(-3, -4), -4);
    }

    #[test]
    fn reciprocal_of_sum() {
        // 3 = 1.5 · 2^1, so the reciprocal is (1 / 1.5) · 2^−1.
        let (r, bits) = get_reciprocal(3 << 19, 12);
        assert_eq!(bits, 1);
        assert!((f(r, 0) - 2.0 / 3.0).abs() < 1e-8);
    }
}
