//! Quantized MUL for int8 and int16 (TFLM `mul_common.cc` Prepare,
//! `reference_integer_ops::Mul` / `BroadcastMul4DSlow`).
//!
//! `q = clamp(zp_out + MultiplyByQuantizedMultiplier((x − zp1)(y − zp2), M, s))` with
//! `M·2^s = s1·s2 / s_out` computed in `f64`.

use crate::activation::{quantized_activation_range, FusedActivation};
use crate::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::quantize::{QInt, QuantParams};
use crate::{KernelResult, Shape4};

use super::for_each_broadcast;

/// Prepared quantized MUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulParamsS8 {
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl MulParamsS8 {
    /// TFLM `CalculateOpDataMul` for storage type `T` (`i8` or `i16`).
    pub fn prepare<T: QInt>(
        input1: QuantParams,
        input2: QuantParams,
        output: QuantParams,
        act: FusedActivation,
    ) -> Result<Self, crate::KernelError> {
        let i1 = input1.checked_for::<T>()?;
        let i2 = input2.checked_for::<T>()?;
        let o = output.checked_for::<T>()?;
        let real = i1.scale as f64 * i2.scale as f64 / o.scale as f64;
        let (output_multiplier, output_shift) = quantize_multiplier(real);
        let (act_min, act_max) = quantized_activation_range::<T>(act, o)?;
        Ok(MulParamsS8 {
            input1_offset: -i1.zero_point,
            input2_offset: -i2.zero_point,
            output_offset: o.zero_point,
            output_multiplier,
            output_shift,
            act_min,
            act_max,
        })
    }

    /// One output value from two raw quantized inputs.
    #[inline(always)]
    pub fn mul_element(&self, x: i32, y: i32) -> i32 {
        let a = self.input1_offset.wrapping_add(x);
        let b = self.input2_offset.wrapping_add(y);
        let v = multiply_by_quantized_multiplier(
            a.wrapping_mul(b),
            self.output_multiplier,
            self.output_shift,
        )
        // Saturating: an extreme scale ratio must clamp, not wrap to the other end.
        .saturating_add(self.output_offset);
        v.clamp(self.act_min, self.act_max)
    }
}

/// Quantized MUL with broadcasting for int8 or int16 storage.
pub fn mul_quantized<T: QInt>(
    p: &MulParamsS8,
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
            output[o] = T::from_i32(p.mul_element(input1[a].to_i32(), input2[b].to_i32()));
        },
    )?;
    Ok(())
}

/// Int8 MUL with broadcasting.
pub fn mul_s8(
    p: &MulParamsS8,
    shape1: Shape4,
    input1: &[i8],
    shape2: Shape4,
    input2: &[i8],
    output: &mut [i8],
) -> KernelResult {
    mul_quantized(p, shape1, input1, shape2, input2, output)
}

/// Int16 MUL with broadcasting (params prepared with `T = i16`).
pub fn mul_s16(
    p: &MulParamsS8,
    shape1: Shape4,
    input1: &[i16],
    shape2: Shape4,
    input2: &[i16],
    output: &mut [i16],
) -> KernelResult {
    mul_quantized(p, shape1, input1, shape2, input2, output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KernelError;

    #[test]
    fn multiplies_like_float() {
        let a = QuantParams::new(0.02, 5);
        let b = QuantParams::new(0.035, -7);
        let o = QuantParams::new(0.03, 3);
        let p = MulParamsS8::prepare::<i8>(a, b, o, FusedActivation::None).unwrap();
        for x in (-128..=127).step_by(3) {
            for y in (-128..=127).step_by(5) {
                let got = p.mul_element(x, y);
                let fx = 0.02f32 as f64 * (x - 5) as f64;
                let fy = 0.035f32 as f64 * (y + 7) as f64;
                let want = (fx * fy / 0.03f32 as f64 + 3.0)
                    .round()
                    .clamp(-128.0, 127.0);
                assert!((got as f64 - want).abs() <= 1.0, "{x}*{y}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn hand_checked_broadcast_and_errors() {
        let s = QuantParams::new(0.5, 0);
        let o = QuantParams::new(0.25, 0);
        let p = MulParamsS8::prepare::<i8>(s, s, o, FusedActivation::Relu).unwrap();
        let mut out = [0i8; 4];
        // real: x·y·0.25/0.25 = x·y
        mul_s8(
            &p,
            Shape4::new(1, 1, 2, 2),
            &[1, 2, -3, 20],
            Shape4::new(1, 1, 1, 1),
            &[3],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [3, 6, 0, 60]);
        mul_s8(
            &p,
            Shape4::new(1, 1, 2, 2),
            &[1, 2, -3, 20],
            Shape4::new(1, 1, 1, 1),
            &[10],
            &mut out,
        )
        .unwrap();
        assert_eq!(out[3], 127);
        let mut o16 = [0i16; 2];
        let p16 = MulParamsS8::prepare::<i16>(s, s, o, FusedActivation::None).unwrap();
        mul_s16(
            &p16,
            Shape4::new(1, 1, 1, 2),
            &[300, -300],
            Shape4::new(1, 1, 1, 2),
            &[300, 300],
            &mut o16,
        )
        .unwrap();
        assert_eq!(o16, [32767, -32768]);
        assert_eq!(
            MulParamsS8::prepare::<i8>(s, QuantParams::new(0.0, 0), o, FusedActivation::None),
            Err(KernelError::BadParams)
        );
        assert_eq!(
            mul_s8(
                &p,
                Shape4::new(1, 1, 2, 2),
                &[1, 2, 3],
                Shape4::new(1, 1, 1, 1),
                &[3],
                &mut out
            ),
            Err(KernelError::BufferSize)
        );
    }
}
