//! Int8 ADD parameters for the fused conv + add epilogue (TFLite Micro's `add_common.cc`
//! Prepare and `reference_integer_ops::AddFunc`).
//!
//! Both inputs are offset, shifted left by 20, scaled by Q31 multipliers `< 1` relative to
//! twice the larger input scale, summed, rescaled to the output and clamped. The arithmetic
//! and the prepare rules live once, in [`crate::elementwise::add_s8`]; this module only gives
//! the fused kernel a flat-argument `prepare` and converts, so the fused conv + add equals
//! conv followed by the ADD kernel byte for byte.

use super::quant::FusedActivation;
use crate::elementwise::add_s8::{add_s8_element, AddParamsS8};
use crate::quantize::QuantParams;
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

impl From<AddParamsS8> for AddS8Params {
    fn from(p: AddParamsS8) -> Self {
        AddS8Params {
            input1_offset: p.input1_offset,
            input2_offset: p.input2_offset,
            output_offset: p.output_offset,
            left_shift: p.left_shift,
            input1_multiplier: p.input1_multiplier,
            input1_shift: p.input1_shift,
            input2_multiplier: p.input2_multiplier,
            input2_shift: p.input2_shift,
            output_multiplier: p.output_multiplier,
            output_shift: p.output_shift,
            act_min: p.act_min,
            act_max: p.act_max,
        }
    }
}

impl From<AddS8Params> for AddParamsS8 {
    fn from(p: AddS8Params) -> Self {
        AddParamsS8 {
            input1_offset: p.input1_offset,
            input2_offset: p.input2_offset,
            output_offset: p.output_offset,
            left_shift: p.left_shift,
            input1_multiplier: p.input1_multiplier,
            input1_shift: p.input1_shift,
            input2_multiplier: p.input2_multiplier,
            input2_shift: p.input2_shift,
            output_multiplier: p.output_multiplier,
            output_shift: p.output_shift,
            act_min: p.act_min,
            act_max: p.act_max,
        }
    }
}

impl AddS8Params {
    /// TFLM's int8 ADD Prepare from the float scales and zero points of both inputs and the
    /// output, in the model's operand order (delegates to the ADD kernel's prepare).
    pub fn prepare(
        input1_scale: f32,
        input1_zero_point: i32,
        input2_scale: f32,
        input2_zero_point: i32,
        output_scale: f32,
        output_zero_point: i32,
        activation: FusedActivation,
    ) -> Result<AddS8Params, KernelError> {
        AddParamsS8::prepare::<i8>(
            QuantParams::new(input1_scale, input1_zero_point),
            QuantParams::new(input2_scale, input2_zero_point),
            QuantParams::new(output_scale, output_zero_point),
            activation,
        )
        .map(AddS8Params::from)
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

/// TFLM's int8 `AddFunc(x, y)`: `x` is input 1, `y` is input 2 — the ADD kernel's own
/// per-element function, so fused and unfused results cannot drift apart. Params must pass
/// [`AddS8Params::check`].
#[inline(always)]
pub fn add_s8_elem(p: &AddS8Params, x: i8, y: i8) -> i8 {
    add_s8_element(&AddParamsS8::from(*p), x, y)
}

/// [`add_s8_elem`] written branch-free for auto-vectorization across a row of the fused
/// epilogue; identical results for params passing [`AddS8Params::check`] (tested
/// exhaustively over all input pairs).
#[inline(always)]
pub(crate) fn add_s8_lane(p: &AddS8Params, x: i8, y: i8) -> i8 {
    use super::quant::{rdbp_lane, srdhm_lane};
    let s1 = p
        .input1_offset
        .wrapping_add(x as i32)
        .wrapping_mul(1i32 << p.left_shift);
    let s2 = p
        .input2_offset
        .wrapping_add(y as i32)
        .wrapping_mul(1i32 << p.left_shift);
    let r1 = rdbp_lane(srdhm_lane(s1, p.input1_multiplier), -p.input1_shift);
    let r2 = rdbp_lane(srdhm_lane(s2, p.input2_multiplier), -p.input2_shift);
    let raw = rdbp_lane(
        srdhm_lane(r1.wrapping_add(r2), p.output_multiplier),
        -p.output_shift,
    )
    .wrapping_add(p.output_offset);
    raw.clamp(p.act_min, p.act_max) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_add_equals_tflm_add_for_all_inputs() {
        let mut r = crate::conv::testutil::Rng::new(171);
        for _ in 0..12 {
            let act = [
                FusedActivation::None,
                FusedActivation::Relu,
                FusedActivation::Relu6,
            ][r.usize(0, 2)];
            let p = AddS8Params::prepare(
                r.f32(0.001, 0.5),
                r.range(-128, 127) as i32,
                r.f32(0.001, 0.5),
                r.range(-128, 127) as i32,
                r.f32(0.002, 0.8),
                r.range(-128, 127) as i32,
                act,
            )
            .unwrap();
            for x in -128..=127i32 {
                for y in -128..=127i32 {
                    let (x, y) = (x as i8, y as i8);
                    assert_eq!(
                        add_s8_lane(&p, x, y),
                        add_s8_elem(&p, x, y),
                        "{p:?} {x} {y}"
                    );
                }
            }
        }
    }

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
