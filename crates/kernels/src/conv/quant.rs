//! Prepare-time quantization helpers shared by conv, depthwise, fully connected and pools.
//!
//! These reproduce TFLite Micro's `kernel_util.cc`: `CalculateActivationRangeQuantized` (the
//! fused-activation bounds are quantized in **f32**, `zp + (int)round(x / scale)`, exactly as
//! TFLM's `Quantize` lambda does), `CalculateActivationRange` for float, and
//! `PopulateConvolutionQuantizationParams` (per-channel `effective_scale =
//! (double)input_scale · (double)filter_scale[c] / (double)output_scale`, then
//! `QuantizeMultiplier`). They run once
//! per op in the runtime or the code generator, never inside a kernel loop.

use crate::fixedpoint::quantize_multiplier;
use crate::{KernelError, KernelResult};

/// TFLite's fused activation of conv-like and arithmetic ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FusedActivation {
    #[default]
    None,
    Relu,
    /// Clamp to [−1, 1].
    ReluN1To1,
    Relu6,
}

/// `std::round` on f32 (half away from zero) without libm; exact for every f32.
fn round_f32(x: f32) -> f32 {
    // Beyond 2^23 every f32 is already an integer (and NaN/inf pass through).
    if x.is_nan() || x.abs() >= 8_388_608.0 {
        return x;
    }
    let t = x as i32 as f32;
    let frac = x - t; // exact: both operands are below 2^23 in magnitude
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// TFLM's `Quantize(scale, zero_point, f)`: errors where TFLM's `TF_LITE_ENSURE` fails.
fn quantize_bound(scale: f32, zero_point: i32, f: f32) -> Result<i32, KernelError> {
    let tmp = round_f32(f / scale);
    if !(tmp >= i32::MIN as f32 && tmp <= i32::MAX as f32) {
        return Err(KernelError::BadParams);
    }
    // `i32::MAX as f32` rounds up to 2^31, so the cast saturates exactly where C++ would be UB.
    zero_point
        .checked_add(tmp as i32)
        .ok_or(KernelError::BadParams)
}

/// `CalculateActivationRangeQuantized` for an output of integer range `[qmin, qmax]`.
pub fn activation_range_quantized(
    activation: FusedActivation,
    output_scale: f32,
    output_zero_point: i32,
    qmin: i32,
    qmax: i32,
) -> Result<(i32, i32), KernelError> {
    let q = |f: f32| quantize_bound(output_scale, output_zero_point, f);
    Ok(match activation {
        FusedActivation::None => (qmin, qmax),
        FusedActivation::Relu => (qmin.max(q(0.0)?), qmax),
        FusedActivation::Relu6 => (qmin.max(q(0.0)?), qmax.min(q(6.0)?)),
        FusedActivation::ReluN1To1 => (qmin.max(q(-1.0)?), qmax.min(q(1.0)?)),
    })
}

/// Activation range of an int8 output: `activation_range_quantized` over `[-128, 127]`.
pub fn activation_range_s8(
    activation: FusedActivation,
    output_scale: f32,
    output_zero_point: i32,
) -> Result<(i32, i32), KernelError> {
    activation_range_quantized(activation, output_scale, output_zero_point, -128, 127)
}

/// TFLite's float `CalculateActivationRange`.
pub fn activation_range_f32(activation: FusedActivation) -> (f32, f32) {
    match activation {
        FusedActivation::None => (f32::MIN, f32::MAX),
        FusedActivation::Relu => (0.0, f32::MAX),
        FusedActivation::Relu6 => (0.0, 6.0),
        FusedActivation::ReluN1To1 => (-1.0, 1.0),
    }
}

/// `PopulateConvolutionQuantizationParams`: one Q31 multiplier and shift per output channel.
///
/// `filter_scales` has one entry (per-tensor weights, broadcast to every channel) or one per
/// channel; `multipliers` and `shifts` are the caller's storage, one slot per output channel.
/// Scales must be positive and finite (TFLM asserts the same).
pub fn populate_multipliers(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
    multipliers: &mut [i32],
    shifts: &mut [i32],
) -> KernelResult {
    let channels = multipliers.len();
    if shifts.len() != channels
        || channels == 0
        || !(filter_scales.len() == 1 || filter_scales.len() == channels)
    {
        return Err(KernelError::BadParams);
    }
    let ok = |s: f32| s.is_finite() && s > 0.0;
    if !ok(input_scale) || !ok(output_scale) {
        return Err(KernelError::BadParams);
    }
    let per_channel = filter_scales.len() == channels;
    for c in 0..channels {
        let fs = filter_scales[if per_channel { c } else { 0 }];
        // TFLM accepts a zero weight scale (an all-zero channel) and yields multiplier 0.
        if !(fs.is_finite() && fs >= 0.0) {
            return Err(KernelError::BadParams);
        }
        let effective = input_scale as f64 * fs as f64 / output_scale as f64;
        let (m, s) = quantize_multiplier(effective);
        multipliers[c] = m;
        shifts[c] = s;
    }
    Ok(())
}

/// Requantize one int32 accumulator to an int8 output exactly as TFLM's conv-like kernels do:
/// `MultiplyByQuantizedMultiplier`, add the output zero point, clamp.
#[inline(always)]
pub fn requantize_s8(
    acc: i32,
    multiplier: i32,
    shift: i32,
    output_offset: i32,
    min: i32,
    max: i32,
) -> i8 {
    let v = crate::fixedpoint::multiply_by_quantized_multiplier(acc, multiplier, shift)
        .wrapping_add(output_offset);
    v.clamp(min, max) as i8
}

/// [`requantize_s8`] written branch-free for auto-vectorization across lanes (channels or
/// pixels): the same arithmetic step by step, so results are identical for every input with
/// `shift` in `[-31, 30]` (which the params' checks guarantee).
#[inline(always)]
pub(crate) fn requantize_s8_lane(
    acc: i32,
    multiplier: i32,
    shift: i32,
    output_offset: i32,
    min: i32,
    max: i32,
) -> i8 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    // MultiplyByQuantizedMultiplier: x · 2^left (wrapping, as C++ on every target) ...
    let x = acc.wrapping_mul(1i32.wrapping_shl(left as u32));
    let high = srdhm_lane(x, multiplier);
    rdbp_lane(high, right)
        .wrapping_add(output_offset)
        .clamp(min, max) as i8
}

/// Branch-free `SaturatingRoundingDoublingHighMul` (see [`requantize_s8_lane`]).
#[inline(always)]
pub(crate) fn srdhm_lane(x: i32, multiplier: i32) -> i32 {
    let ab = x as i64 * multiplier as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    let v = ab + nudge;
    // `v / 2^31` truncating toward zero, without 64-bit arithmetic shifts or division (which
    // AVX2 lacks and would force scalar code): the low 32 bits of the floor quotient are a
    // logical shift (the quotient fits in i32), plus one where a negative `v` had a remainder.
    let floor = ((v as u64) >> 31) as u32 as i32;
    let high = floor + i32::from(v < 0 && (v & 0x7fff_ffff) != 0);
    if x == i32::MIN && multiplier == i32::MIN {
        i32::MAX
    } else {
        high
    }
}

/// Branch-free `RoundingDivideByPOT(x, exponent)`, `exponent` in `0..=31`.
#[inline(always)]
pub(crate) fn rdbp_lane(x: i32, exponent: i32) -> i32 {
    let mask = (1u32.wrapping_shl(exponent as u32) as i32).wrapping_sub(1);
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// Whether a shift is one TFLM's `QuantizeMultiplier` can produce (what the kernels rely on).
pub(crate) fn shifts_ok(shifts: &[i32]) -> bool {
    shifts.iter().all(|s| (-31..=30).contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_requant_equals_scalar() {
        let mut r = super::super::testutil::Rng::new(5);
        for i in 0..200_000 {
            let acc = match i % 4 {
                0 => r.range(i32::MIN as i64, i32::MAX as i64) as i32,
                1 => [i32::MIN, i32::MAX, 0, -1, 1][r.usize(0, 4)],
                _ => r.range(-100_000, 100_000) as i32,
            };
            let m = if i % 97 == 0 {
                i32::MIN
            } else {
                r.range(0, i32::MAX as i64) as i32
            };
            let s = r.range(-31, 30) as i32;
            let off = r.range(-128, 127) as i32;
            assert_eq!(
                requantize_s8_lane(acc, m, s, off, -128, 127),
                requantize_s8(acc, m, s, off, -128, 127),
                "{acc} {m} {s}"
            );
        }
        assert!(shifts_ok(&[-31, 0, 30]));
        assert!(!shifts_ok(&[-32]));
        assert!(!shifts_ok(&[31]));
    }

    #[test]
    fn round_is_half_away_from_zero() {
        assert_eq!(round_f32(2.5), 3.0);
        assert_eq!(round_f32(-2.5), -3.0);
        assert_eq!(round_f32(2.4999), 2.0);
        assert_eq!(round_f32(-0.4), 0.0);
        assert_eq!(round_f32(1e10), 1e10);
        for i in -2000..2000 {
            let x = i as f32 * 0.173;
            assert_eq!(round_f32(x), x.round(), "{x}");
        }
    }

    #[test]
    fn relu6_range_quantizes_in_f32() {
        // scale 6/255, zp −128: relu6 upper bound is −128 + round(255) = 127.
        let (lo, hi) = activation_range_s8(FusedActivation::Relu6, 6.0 / 255.0, -128).unwrap();
        assert_eq!((lo, hi), (-128, 127));
        // A wider scale keeps relu6 inside the int8 range.
        let (lo, hi) = activation_range_s8(FusedActivation::Relu6, 0.1, -10).unwrap();
        assert_eq!((lo, hi), (-10, 50));
        let (lo, hi) = activation_range_s8(FusedActivation::Relu, 0.1, 5).unwrap();
        assert_eq!((lo, hi), (5, 127));
        let (lo, hi) = activation_range_s8(FusedActivation::ReluN1To1, 0.01, 0).unwrap();
        assert_eq!((lo, hi), (-100, 100));
        assert_eq!(
            activation_range_s8(FusedActivation::None, 0.01, 3).unwrap(),
            (-128, 127)
        );
        // A huge bound (tiny scale) is out of int32 range: TFLM refuses, so do we.
        assert!(activation_range_s8(FusedActivation::Relu6, 1e-30, 0).is_err());
    }

    #[test]
    fn multipliers_are_per_channel_or_broadcast() {
        let mut m = [0i32; 3];
        let mut s = [0i32; 3];
        populate_multipliers(0.5, &[0.25, 0.5, 1.0], 0.25, &mut m, &mut s).unwrap();
        // effective scales 0.5, 1.0, 2.0
        assert_eq!(m, [1 << 30; 3]);
        assert_eq!(s, [0, 1, 2]);
        populate_multipliers(0.5, &[0.25], 0.25, &mut m, &mut s).unwrap();
        assert_eq!(s, [0, 0, 0]);
        assert_eq!(
            populate_multipliers(0.5, &[0.25, 0.5], 0.25, &mut m, &mut s),
            Err(KernelError::BadParams)
        );
        assert_eq!(
            populate_multipliers(0.0, &[0.25], 0.25, &mut m, &mut s),
            Err(KernelError::BadParams)
        );
    }
}
