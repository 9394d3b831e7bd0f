//! Activation kernels (SOFTMAX, LOGISTIC, TANH, RELU, RELU6) and fused-activation ranges.
//!
//! [`FusedActivation`] and the two range functions reproduce TFLM's
//! `CalculateActivationRange(Quantized)`: every op with a fused activation (ADD, MUL, and the
//! conv family) clamps its output to the range computed here. Int8 kernels use the gemmlowp
//! fixed-point functions in [`crate::gemmlowp`]; float kernels use the `no_std` math in
//! [`mathf`].

pub mod logistic_f32;
pub mod logistic_s8;
pub mod mathf;
pub mod relu_f32;
pub mod relu_s8;
pub mod softmax_f32;
pub mod softmax_s8;
pub mod tanh_f32;
pub mod tanh_s8;

use crate::quantize::{round_half_away_f32, QInt, QuantParams};
use crate::KernelError;

/// The fused activation of `.tflite` builtin options. One enum serves the whole crate; it is
/// defined beside the convolution kernels, which were first to need it.
pub use crate::conv::quant::FusedActivation;

/// TFLM `CalculateActivationRangeQuantized` for an output of storage type `T`: the bounds are
/// `zero_point + roundf(bound / scale)` in `f32` arithmetic, intersected with `T`'s range.
pub fn quantized_activation_range<T: QInt>(
    act: FusedActivation,
    output: QuantParams,
) -> Result<(i32, i32), KernelError> {
    let o = output.checked_for::<T>()?;
    let q = |x: f32| {
        o.zero_point
            .saturating_add(round_half_away_f32(x / o.scale))
    };
    let (lo, hi) = match act {
        FusedActivation::None => (T::MIN, T::MAX),
        FusedActivation::Relu => (T::MIN.max(q(0.0)), T::MAX),
        FusedActivation::Relu6 => (T::MIN.max(q(0.0)), T::MAX.min(q(6.0))),
        FusedActivation::ReluN1To1 => (T::MIN.max(q(-1.0)), T::MAX.min(q(1.0))),
    };
    Ok((lo, hi))
}

/// TFLM `CalculateActivationRange` for float outputs.
pub fn float_activation_range(act: FusedActivation) -> (f32, f32) {
    match act {
        FusedActivation::None => (f32::MIN, f32::MAX),
        FusedActivation::Relu => (0.0, f32::MAX),
        FusedActivation::Relu6 => (0.0, 6.0),
        FusedActivation::ReluN1To1 => (-1.0, 1.0),
    }
}

/// `ActivationFunctionWithMinMax`: `min(max(x, lo), hi)` as TFLite writes it (NaN passes
/// through `max`'s second operand like `std::max(x, lo)` returns `x` when `x` is NaN).
#[inline(always)]
pub fn clamp_f32(x: f32, lo: f32, hi: f32) -> f32 {
    let a = if x < lo { lo } else { x };
    if hi < a {
        hi
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_ranges() {
        let o = QuantParams::new(0.05, -10);
        assert_eq!(
            quantized_activation_range::<i8>(FusedActivation::None, o),
            Ok((-128, 127))
        );
        assert_eq!(
            quantized_activation_range::<i8>(FusedActivation::Relu, o),
            Ok((-10, 127))
        );
        assert_eq!(
            quantized_activation_range::<i8>(FusedActivation::Relu6, o),
            Ok((-10, 110))
        );
        assert_eq!(
            quantized_activation_range::<i8>(FusedActivation::ReluN1To1, o),
            Ok((-30, 10))
        );
        let wide = QuantParams::new(1.0, 120);
        assert_eq!(
            quantized_activation_range::<i8>(FusedActivation::Relu6, wide),
            Ok((120, 126))
        );
        assert!(
            quantized_activation_range::<i8>(FusedActivation::Relu, QuantParams::new(0.0, 0))
                .is_err()
        );
        assert_eq!(float_activation_range(FusedActivation::Relu6), (0.0, 6.0));
        // The conv kernels' int8 range helper must agree with this generic one.
        for act in [
            FusedActivation::None,
            FusedActivation::Relu,
            FusedActivation::Relu6,
            FusedActivation::ReluN1To1,
        ] {
            for (scale, zp) in [(0.05f32, -10), (0.013, 3), (1.7, 120), (0.0234, -128)] {
                assert_eq!(
                    quantized_activation_range::<i8>(act, QuantParams::new(scale, zp)),
                    crate::conv::quant::activation_range_s8(act, scale, zp)
                );
            }
        }
        assert_eq!(clamp_f32(7.0, 0.0, 6.0), 6.0);
        assert_eq!(clamp_f32(-7.0, 0.0, 6.0), 0.0);
    }
}
