//! Quantization parameters and the QUANTIZE / DEQUANTIZE / requantize kernels.
//!
//! [`QuantParams`] is the per-tensor `(scale, zero_point)` pair every int8/int16 kernel's
//! `prepare` takes; [`QInt`] lets one kernel body serve int8 and int16 storage the way TFLM's
//! templates do. The kernels live one per file: [`quantize_f32`], [`dequantize`],
//! [`requantize`].

pub mod dequantize;
pub mod quantize_f32;
pub mod requantize;

use crate::KernelError;

/// Per-tensor affine quantization: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    pub scale: f32,
    pub zero_point: i32,
}

impl QuantParams {
    pub const fn new(scale: f32, zero_point: i32) -> Self {
        QuantParams { scale, zero_point }
    }

    /// Rejects scales no runtime can use (zero, negative, NaN, infinite): TFLM would divide
    /// by them or assert in Prepare.
    pub fn checked(self) -> Result<Self, KernelError> {
        if self.scale.is_finite() && self.scale > 0.0 {
            Ok(self)
        } else {
            Err(KernelError::BadParams)
        }
    }

    /// Checks the zero point lies in the storage type's range.
    pub fn checked_for<T: QInt>(self) -> Result<Self, KernelError> {
        let s = self.checked()?;
        if (T::MIN..=T::MAX).contains(&s.zero_point) {
            Ok(s)
        } else {
            Err(KernelError::BadParams)
        }
    }
}

/// Integer storage types of quantized tensors (int8, int16).
pub trait QInt: Copy + Default + 'static {
    const MIN: i32;
    const MAX: i32;
    const BITS: u32;
    fn to_i32(self) -> i32;
    /// Narrows a value already clamped to `[MIN, MAX]`.
    fn from_i32(v: i32) -> Self;
    /// Clamps to the type's range, then narrows.
    #[inline(always)]
    fn saturate(v: i32) -> Self {
        Self::from_i32(v.clamp(Self::MIN, Self::MAX))
    }
}

impl QInt for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    const BITS: u32 = 8;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v as i8
    }
}

impl QInt for i16 {
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    const BITS: u32 = 16;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v as i16
    }
}

/// `roundf` for `f32`: half away from zero, in `f32` arithmetic like TFLM's `TfLiteRound(float)`.
/// Returns a value clamped to the `i32` range (NaN maps to 0), enough for every caller here.
#[inline]
pub fn round_half_away_f32(x: f32) -> i32 {
    if x.is_nan() {
        return 0;
    }
    // Below 2^23 `x + 0.5` could round up in f32 (0.49999997 + 0.5 == 1.0), so work on the
    // truncated part: frac >= 0.5 is exact in f32.
    let t = x as i64; // truncates toward zero, saturating
    let frac = x - t as f32;
    let r = if x >= 0.0 {
        if frac >= 0.5 {
            t.saturating_add(1)
        } else {
            t
        }
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    };
    r.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// `std::round` for `f64`, clamped to `i32` (NaN maps to 0).
#[inline]
pub fn round_half_away_f64(x: f64) -> i32 {
    if x.is_nan() {
        return 0;
    }
    let t = x as i64;
    let frac = x - t as f64;
    let r = if x >= 0.0 {
        if frac >= 0.5 {
            t.saturating_add(1)
        } else {
            t
        }
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    };
    r.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_half_away_f32(0.5), 1);
        assert_eq!(round_half_away_f32(-0.5), -1);
        assert_eq!(round_half_away_f32(0.49999997), 0);
        assert_eq!(round_half_away_f32(2.5), 3);
        assert_eq!(round_half_away_f32(-2.4), -2);
        assert_eq!(round_half_away_f32(1e20), i32::MAX);
        assert_eq!(round_half_away_f32(f32::NAN), 0);
        assert_eq!(round_half_away_f64(-1.5), -2);
        assert_eq!(round_half_away_f64(0.49999999999999994), 0);
        for i in -4000..4000 {
            let x = i as f32 * 0.37;
            assert_eq!(round_half_away_f32(x), x.round() as i32, "{x}");
            assert_eq!(round_half_away_f64(x as f64), (x as f64).round() as i32);
        }
    }

    #[test]
    fn bad_scales_are_rejected() {
        assert!(QuantParams::new(0.0, 0).checked().is_err());
        assert!(QuantParams::new(-1.0, 0).checked().is_err());
        assert!(QuantParams::new(f32::NAN, 0).checked().is_err());
        assert!(QuantParams::new(0.1, 200).checked_for::<i8>().is_err());
        assert!(QuantParams::new(0.1, 200).checked_for::<i16>().is_ok());
    }
}
