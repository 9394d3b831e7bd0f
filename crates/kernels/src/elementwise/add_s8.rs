//! Quantized ADD for int8 and int16 (TFLM `add_common.cc` Prepare, `reference_integer_ops::Add`
//! / `BroadcastAdd4DSlow`).
//!
//! Both inputs are shifted left by `left_shift` (20 for int8, 15 for int16) to gain headroom,
//! scaled to the common scale `2·max(s1, s2)` with Q31 multipliers smaller than one, summed,
//! and scaled to the output. [`AddParamsS8::add_element`] is that per-element arithmetic; the
//! conv kernels fuse it into their epilogue and must call exactly this function.

use crate::activation::{quantized_activation_range, FusedActivation};
use crate::fixedpoint::{
    multiply_by_quantized_multiplier_smaller_than_one_exp, quantize_multiplier,
};
use crate::quantize::{QInt, QuantParams};
use crate::{KernelError, KernelResult, Shape4};

use super::for_each_broadcast;

/// Prepared quantized ADD (TFLM `OpDataAdd` for int8/int16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParamsS8 {
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
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

/// Same parameters for int16 storage (left shift 15).
pub type AddParamsS16 = AddParamsS8;

/// `QuantizeMultiplierSmallerThanOneExp`: TFLM aborts outside (0, 1); we refuse instead.
fn smaller_than_one(m: f64) -> Result<(i32, i32), KernelError> {
    if !(m > 0.0 && m < 1.0) {
        return Err(KernelError::BadParams);
    }
    let (q, shift) = quantize_multiplier(m);
    if shift > 0 {
        return Err(KernelError::BadParams);
    }
    Ok((q, shift))
}

impl AddParamsS8 {
    /// TFLM `CalculateOpDataAdd` for storage type `T` (`i8` or `i16`).
    pub fn prepare<T: QInt>(
        input1: QuantParams,
        input2: QuantParams,
        output: QuantParams,
        act: FusedActivation,
    ) -> Result<Self, KernelError> {
        let i1 = input1.checked_for::<T>()?;
        let i2 = input2.checked_for::<T>()?;
        let o = output.checked_for::<T>()?;
        let left_shift = if T::BITS == 16 { 15 } else { 20 };
        // 2 · max(float, float) is exact in f32; TFLM then widens to double.
        let twice_max_input_scale = (2.0 * i1.scale.max(i2.scale)) as f64;
        let real_input1_multiplier = i1.scale as f64 / twice_max_input_scale;
        let real_input2_multiplier = i2.scale as f64 / twice_max_input_scale;
        // `(1 << left_shift) * output_scale` is an int × float product in f32 (exact: a
        // power of two) before the double division.
        let real_output_multiplier =
            twice_max_input_scale / (((1i32 << left_shift) as f32 * o.scale) as f64);
        let (input1_multiplier, input1_shift) = smaller_than_one(real_input1_multiplier)?;
        let (input2_multiplier, input2_shift) = smaller_than_one(real_input2_multiplier)?;
        let (output_multiplier, output_shift) = smaller_than_one(real_output_multiplier)?;
        let (act_min, act_max) = quantized_activation_range::<T>(act, o)?;
        Ok(AddParamsS8 {
            input1_offset: -i1.zero_point,
            input2_offset: -i2.zero_point,
            output_offset: o.zero_point,
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

    /// TFLM `AddFunc`: one output value from two raw quantized inputs, clamped to the
    /// activation range (which lies inside the storage type's range).
    #[inline(always)]
    pub fn add_element(&self, x: i32, y: i32) -> i32 {
        let input1_val = self.input1_offset.wrapping_add(x);
        let input2_val = self.input2_offset.wrapping_add(y);
        let shifted_input1_val = input1_val.wrapping_mul(1 << self.left_shift);
        let shifted_input2_val = input2_val.wrapping_mul(1 << self.left_shift);
        let scaled_input1_val = multiply_by_quantized_multiplier_smaller_than_one_exp(
            shifted_input1_val,
            self.input1_multiplier,
            self.input1_shift,
        );
        let scaled_input2_val = multiply_by_quantized_multiplier_smaller_than_one_exp(
            shifted_input2_val,
            self.input2_multiplier,
            self.input2_shift,
        );
        let raw_sum = scaled_input1_val.wrapping_add(scaled_input2_val);
        let raw_output = multiply_by_quantized_multiplier_smaller_than_one_exp(
            raw_sum,
            self.output_multiplier,
            self.output_shift,
        )
        .wrapping_add(self.output_offset);
        raw_output.clamp(self.act_min, self.act_max)
    }
}

/// The per-element int8 ADD, for fusion into other kernels' epilogues.
#[inline(always)]
pub fn add_s8_element(p: &AddParamsS8, x: i8, y: i8) -> i8 {
    p.add_element(x as i32, y as i32) as i8
}

/// Quantized ADD with broadcasting; `output` has the broadcast shape of the two inputs.
pub fn add_quantized<T: QInt>(
    p: &AddParamsS8,
    shape1: Shape4,
    input1: &[T],
    shape2: Shape4,
    input2: &[T],
    output: &mut [T],
) -> KernelResult {
    let len = output.len();
    for_each_broadcast(
        shape1,
        input1.len(),
        shape2,
        input2.len(),
        len,
        |a, b, o| {
            output[o] = T::from_i32(p.add_element(input1[a].to_i32(), input2[b].to_i32()));
        },
    )?;
    Ok(())
}

/// Int8 ADD with broadcasting.
pub fn add_s8(
    p: &AddParamsS8,
    shape1: Shape4,
    input1: &[i8],
    shape2: Shape4,
    input2: &[i8],
    output: &mut [i8],
) -> KernelResult {
    add_quantized(p, shape1, input1, shape2, input2, output)
}

/// Int16 ADD with broadcasting (params prepared with `T = i16`).
pub fn add_s16(
    p: &AddParamsS16,
    shape1: Shape4,
    input1: &[i16],
    shape2: Shape4,
    input2: &[i16],
    output: &mut [i16],
) -> KernelResult {
    add_quantized(p, shape1, input1, shape2, input2, output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dq(q: i8, p: QuantParams) -> f64 {
        p.scale as f64 * (q as i32 - p.zero_point) as f64
    }

    #[test]
    fn adds_like_float_within_one_lsb() {
        let a = QuantParams::new(0.02, 5);
        let b = QuantParams::new(0.035, -7);
        let o = QuantParams::new(0.05, 3);
        let p = AddParamsS8::prepare::<i8>(a, b, o, FusedActivation::None).unwrap();
        assert_eq!(p.left_shift, 20);
        for x in (-128..=127).step_by(3) {
            for y in (-128..=127).step_by(5) {
                let got = add_s8_element(&p, x as i8, y as i8);
                let want = ((dq(x as i8, a) + dq(y as i8, b)) / o.scale as f64 + 3.0)
                    .round()
                    .clamp(-128.0, 127.0);
                assert!((got as f64 - want).abs() <= 1.0, "{x}+{y}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn hand_checked_values_and_saturation() {
        // Identical scales, zero points 0: q_out = q1 + q2 exactly, saturating.
        let s = QuantParams::new(0.1, 0);
        let p = AddParamsS8::prepare::<i8>(s, s, s, FusedActivation::None).unwrap();
        let mut out = [0i8; 4];
        add_s8(
            &p,
            Shape4::new(1, 1, 1, 4),
            &[1, -5, 100, -100],
            Shape4::new(1, 1, 1, 4),
            &[2, 3, 100, -100],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [3, -2, 127, -128]);
        let relu = AddParamsS8::prepare::<i8>(s, s, s, FusedActivation::Relu).unwrap();
        assert_eq!(add_s8_element(&relu, -5, 2), 0);
        let relu6 = AddParamsS8::prepare::<i8>(s, s, s, FusedActivation::Relu6).unwrap();
        assert_eq!(add_s8_element(&relu6, 50, 50), 60);
    }

    #[test]
    fn broadcasts_scalar_and_channels() {
        let s = QuantParams::new(0.1, 0);
        let p = AddParamsS8::prepare::<i8>(s, s, s, FusedActivation::None).unwrap();
        let x = [1i8, 2, 3, 4, 5, 6];
        let mut out = [0i8; 6];
        add_s8(
            &p,
            Shape4::new(1, 1, 2, 3),
            &x,
            Shape4::new(1, 1, 1, 1),
            &[10],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [11, 12, 13, 14, 15, 16]);
        add_s8(
            &p,
            Shape4::new(1, 1, 1, 3),
            &[0, 10, 20],
            Shape4::new(1, 1, 2, 3),
            &x,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [1, 12, 23, 4, 15, 26]);
        assert_eq!(
            add_s8(
                &p,
                Shape4::new(1, 1, 2, 3),
                &x,
                Shape4::new(1, 1, 1, 2),
                &[1, 2],
                &mut out
            ),
            Err(KernelError::BadParams)
        );
        assert_eq!(
            add_s8(
                &p,
                Shape4::new(1, 1, 2, 3),
                &x[..5],
                Shape4::new(1, 1, 1, 1),
                &[1],
                &mut out
            ),
            Err(KernelError::BufferSize)
        );
    }

    #[test]
    fn int16_and_bad_params() {
        let s = QuantParams::new(1.0 / 4096.0, 0);
        let p = AddParamsS16::prepare::<i16>(s, s, s, FusedActivation::None).unwrap();
        assert_eq!(p.left_shift, 15);
        let mut out = [0i16; 3];
        add_s16(
            &p,
            Shape4::new(1, 1, 1, 3),
            &[1000, -32768, 30000],
            Shape4::new(1, 1, 1, 3),
            &[-1, -1, 30000],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [999, -32768, 32767]);
        let z = QuantParams::new(0.0, 0);
        assert_eq!(
            AddParamsS8::prepare::<i8>(z, s, s, FusedActivation::None),
            Err(KernelError::BadParams)
        );
        // An output scale so small that the output multiplier exceeds one.
        let tiny = QuantParams::new(1e-12, 0);
        assert_eq!(
            AddParamsS8::prepare::<i8>(s, s, tiny, FusedActivation::None),
            Err(KernelError::BadParams)
        );
    }
}
