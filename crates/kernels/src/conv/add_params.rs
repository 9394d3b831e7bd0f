//! Int8 ADD arithmetic of TFLite Micro (`add_common.cc` Prepare, `reference_integer_ops::
//! AddFunc`), per element, for the fused conv + add epilogue and for a plain ADD kernel.
//!
//! Both inputs are offset, shifted left by 20, scaled by Q31 multipliers `< 1` relative to
//! twice the larger input scale, summed, rescaled to the output and clamped. Any change here
//! must keep [`add_s8_elem`] identical to TFLM, since the fused conv + add must equal conv
//! followed by ADD byte for byte.

use super::quant::{activation_range_s8, FusedActivation};
use crate::fixedpoint::{
    multiply_by_quantized_multiplier_smaller_than_one_exp, quantize_multiplier,
};
use crate::KernelError;

/// TFLM's `OpDataAdd` for int8 (the `ArithmeticParams` fields the int8 path reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddS8Params {
    /// `−input1_zero_point`.
    pub input1_offset: i32,
    /// `−input2_zero_point`.
    pub input2_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// 20 for int8.
    pub left_shift: i32,
    pub input1_multiplier: i32,
    pub input1_shift: i32,
    pub input2_multiplier: i32,
    pub input2_shift: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// `QuantizeMultiplierSmallerThanOneExp`: TFLM aborts outside `(0, 1)`; we return an error.
fn quantize_smaller_than_one(m: f64) -> Result<(i32, i32), KernelError> {
    if !(m > 0.0 && m < 1.0) {
        return Err(KernelError::BadParams);
    }
    let (q, shift) = quantize_multiplier(m);
    if shift > 0 {
        return Err(KernelError::BadParams);
    }
    Ok((q, shift))
}

impl AddS8Params {
    /// TFLM's int8 ADD Prepare from the float scales and zero points of both inputs and the
    /// output. Input 1 / input 2 are in the model's operand order.
    pub fn prepare(
        input1_scale: f32,
        input1_zero_point: i32,
        input2_scale: f32,
        input2_zero_point: i32,
        output_scale: f32,
        output_zero_point: i32,
        activation: FusedActivation,
    ) -> Result<AddS8Params, KernelError> {
        let ok = |s: f32| s.is_finite() && s > 0.0;
        if !ok(input1_scale) || !ok(input2_scale) || !ok(output_scale) {
            return Err(KernelError::BadParams);
        }
        let left_shift = 20;
        // The max is taken in f32, the doubling in f64, as TFLM does.
        let twice_max_input_scale = 2.0 * input1_scale.max(input2_scale) as f64;
        let real_input1 = input1_scale as f64 / twice_max_input_scale;
        let real_input2 = input2_scale as f64 / twice_max_input_scale;
        let real_output =
            twice_max_input_scale / ((1i64 << left_shift) as f64 * output_scale as f64);
        let (input1_multiplier, input1_shift) = quantize_smaller_than_one(real_input1)?;
        let (input2_multiplier, input2_shift) = quantize_smaller_than_one(real_input2)?;
        let (output_multiplier, output_shift) = quantize_smaller_than_one(real_output)?;
        let (act_min, act_max) = activation_range_s8(activation, output_scale, output_zero_point)?;
        Ok(AddS8Params {
            input1_offset: input1_zero_point
                .checked_neg()
                .ok_or(KernelError::BadParams)?,
            input2_offset: input2_zero_point
                .checked_neg()
                .ok_or(KernelError::BadParams)?,
            output_offset: output_zero_point,
            left_shift,
            input1_multiplier,
            input1_shift,
            input2_multiplier,
            input2_shift,
            output_multiplier,
            output_shift,
            act_min,
            act_max,
        })
    }

    /// Parameter sanity the element function relies on (shifts in range, ordered clamp).
    pub fn check(&self) -> Result<(), KernelError> {
        let shift_ok = |s: i32| (-31..=0).contains(&s);
        if !(0..=30).contains(&self.left_shift)
            || !shift_ok(self.input1_shift)
            || !shift_ok(self.input2_shift)
            || !shift_ok(self.output_shift)
            || self.act_min > self.act_max
        {
            return Err(KernelError::BadParams);
        }
        Ok(())
    }
}

/// TFLM's int8 `AddFunc(x, y)`: `x` is input 1, `y` is input 2. Params must pass
/// [`AddS8Params::check`].
#[inline(always)]
pub fn add_s8_elem(p: &AddS8Params, x: i8, y: i8) -> i8 {
    let v1 = p.input1_offset.wrapping_add(x as i32);
    let v2 = p.input2_offset.wrapping_add(y as i32);
    let s1 = v1.wrapping_mul(1i32 << p.left_shift);
    let s2 = v2.wrapping_mul(1i32 << p.left_shift);
    let r1 = multiply_by_quantized_multiplier_smaller_than_one_exp(
        s1,
        p.input1_multiplier,
        p.input1_shift,
    );
    let r2 = multiply_by_quantized_multiplier_smaller_than_one_exp(
        s2,
        p.input2_multiplier,
        p.input2_shift,
    );
    let raw = multiply_by_quantized_multiplier_smaller_than_one_exp(
        r1.wrapping_add(r2),
        p.output_multiplier,
        p.output_shift,
    )
    .wrapping_add(p.output_offset);
    raw.clamp(p.act_min, p.act_max) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_scales_add_exactly() {
        // Same scale everywhere, zero points 0: int8 add is plain saturating addition.
        let p = AddS8Params::prepare(0.1, 0, 0.1, 0, 0.1, 0, FusedActivation::None).unwrap();
        assert_eq!(p.left_shift, 20);
        assert_eq!(p.input1_multiplier, 1 << 30);
        assert_eq!(p.input1_shift, 0);
        for (x, y, want) in [
            (1i8, 2i8, 3i8),
            (-5, 3, -2),
            (100, 100, 127),
            (-100, -100, -128),
            (0, 0, 0),
        ] {
            assert_eq!(add_s8_elem(&p, x, y), want, "{x}+{y}");
        }
    }

    #[test]
    fn matches_float_within_one_step() {
        let p = AddS8Params::prepare(0.05, 3, 0.02, -7, 0.06, 2, FusedActivation::Relu).unwrap();
        for x in -128..=127i32 {
            for y in (-128..=127i32).step_by(7) {
                let real = 0.05 * (x - 3) as f64 + 0.02 * (y + 7) as f64;
                let want = ((real / 0.06).round() as i32 + 2).clamp(2, 127);
                let got = add_s8_elem(&p, x as i8, y as i8) as i32;
                assert!((got - want).abs() <= 1, "{x} {y}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn rejects_multipliers_tflm_would_abort_on() {
        // Output scale so small the output multiplier reaches 1.
        assert!(AddS8Params::prepare(1.0, 0, 1.0, 0, 1e-7, 0, FusedActivation::None).is_err());
        assert!(AddS8Params::prepare(0.0, 0, 1.0, 0, 1.0, 0, FusedActivation::None).is_err());
    }
}
